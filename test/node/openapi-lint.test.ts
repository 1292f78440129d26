/**
 * The OpenAPI document the worker serves, linted by Redocly CLI with redocly.yaml (the
 * recommended rules, with operationId, declared tags, summary, security, servers and license as
 * errors): zero errors. The same lint on a copy missing one operation's metadata must fail, so a
 * route added without it fails `npm test`.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, inject, it } from "vitest";

const ctx = inject("warden");
const root = fileURLToPath(new URL("../..", import.meta.url));
const redocly = createRequire(import.meta.url).resolve("@redocly/cli/bin/cli.js");
const dir = mkdtempSync(join(tmpdir(), "warden-openapi-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface LintReport {
  totals: { errors: number; warnings: number };
  problems: { ruleId: string; severity: string; message: string }[];
}

function lint(document: unknown): LintReport {
  const file = join(dir, `openapi-${Date.now()}.json`);
  writeFileSync(file, JSON.stringify(document, null, 2));
  // No telemetry and no update check: the lint runs offline.
  const run = spawnSync(process.execPath, [redocly, "lint", file, "--config", join(root, "redocly.yaml"), "--format=json"], {
    cwd: root,
    encoding: "utf8",
    env: { ...process.env, REDOCLY_TELEMETRY: "off", REDOCLY_SUPPRESS_UPDATE_NOTICE: "true", NO_COLOR: "1" },
  });
  return JSON.parse(run.stdout.slice(run.stdout.indexOf("{"))) as LintReport;
}

async function served(): Promise<{ paths: Record<string, Record<string, Record<string, unknown>>> }> {
  const response = await fetch(`${ctx.api}/openapi.json`);
  expect(response.status).toBe(200);
  return (await response.json()) as { paths: Record<string, Record<string, Record<string, unknown>>> };
}

describe("OpenAPI lint (Redocly, redocly.yaml)", () => {
  it("finds no error in the served document", async () => {
    const report = lint(await served());
    expect(report.problems.filter((problem) => problem.severity === "error")).toEqual([]);
    expect(report.totals.errors).toBe(0);
  });

  it("fails an operation without operationId, tags or security, and a tag it does not declare", async () => {
    const document = await served();
    const health = document.paths["/healthz"]!["get"]!;
    delete health["operationId"];
    delete health["tags"];
    delete health["security"];
    document.paths["/v1/devices"]!["post"]!["tags"] = ["undeclared"];
    const rules = lint(document).problems.filter((problem) => problem.severity === "error").map((problem) => problem.ruleId);
    expect(rules).toEqual(expect.arrayContaining(["operation-operationId", "operation-tag-defined", "security-defined"]));
  });
});
