import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { BundleSources } from "../../worker/policy/artifact.ts";

/**
 * The bundle the hook tests' devices get (a canary for the group "hooks"): small and fixed, so
 * every expected allow, deny and review below holds whatever the example bundle becomes. Its
 * schema and manifest are the example bundle's; `workspace` is the test's temporary project.
 */
export const HOOK_GROUP = "hooks";

export function hookTestBundle(workspace: string): BundleSources {
  const read = (name: string) => readFileSync(fileURLToPath(new URL(`../../policy-bundles/default/${name}`, import.meta.url)), "utf8");
  const policies = `
@id("hooks-workspace")
permit (principal, action in [Action::"file.read", Action::"file.write", Action::"file.delete"], resource)
when { resource.within.contains(${JSON.stringify(workspace)}) };

@id("hooks-dotenv")
forbid (principal, action, resource is File)
when { resource.segments.contains(".env") };

@id("hooks-commands")
permit (principal, action == Action::"command.exec", resource)
when { !resource.chained && ["git", "npm", "ls", "grep", "tar", "cp"].contains(resource.program) };

// Lines of tar and grep alone, chained: the link tests extract and then read in one line.
@id("hooks-archive-lines")
permit (principal, action == Action::"command.exec", resource)
when { ["tar", "grep"].contains(resource.program) };

@id("hooks-web")
permit (principal, action == Action::"http.request", resource)
when { resource.scheme == "https" };

@id("hooks-web-review")
@review("tier1")
forbid (principal, action == Action::"http.request", resource)
when { context.sends_external };

@id("hooks-mcp-github")
permit (principal, action == Action::"mcp.call", resource)
when { resource.server == "github" };

@id("hooks-agent-tools")
permit (principal, action == Action::"agent.tool", resource)
when { ["TodoWrite"].contains(resource.name) };
`;
  return { policies, schema: read("schema.cedarschema"), manifest: JSON.parse(read("manifest.json")) };
}
