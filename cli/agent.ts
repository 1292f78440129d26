import { createHash } from "node:crypto";
import { createReadStream, readFileSync } from "node:fs";
import type { JWK } from "jose";
import { group, parseWithPositionals, required, UsageError, type Command } from "./command.ts";
import { StrictJsonError, parseStrictJson } from "../worker/json/strict.ts";
import { AGENT_ID, signArtifactStatement } from "../worker/agents/statement.ts";

/**
 * `warden agent sign`: the statement that approves one build of an agent, for its registration
 * (`POST /v1/agents`, `artifacts[].statement`; docs/agents.md).
 */

/** SHA-256 of a file, read as a stream: agent builds are large. */
async function fileSha256(path: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

function readKey(path: string): JWK {
  try {
    return parseStrictJson(readFileSync(path)) as unknown as JWK;
  } catch (error) {
    if (error instanceof StrictJsonError) throw new Error(`${path} is not strict JSON (${error.code} at offset ${error.offset})`);
    throw error;
  }
}

const SIGN = "warden agent sign";

const sign: Command = {
  summary: "Sign a statement approving one build of an agent (its artifact and SBOM digests)",
  help: `Usage: ${SIGN} <artifact> --sbom <file> --key <jwk> --agent <id>

Computes the SHA-256 of the agent build <artifact> and of its SBOM, and signs the
statement "this build, with this SBOM, is an approved build of <id>" with an
Ed25519 private JWK whose public key is in the tenant's ARTIFACT_KEYS (make one with
\`warden keys generate\`). Prints the compact JWS: put it in the agent's registration
as {"artifacts": [{"statement": "<it>"}]} (POST /v1/agents). A decision whose agent
reports that artifact_sha256 then has principal.artifact_approved.

Options:
  --sbom <file>   The build's SBOM (SPDX, CycloneDX …), hashed as it is
  --key <file>    The artifact signing key (Ed25519 private JWK)
  --agent <id>    The agent the build is approved for, as it sends agent.id
  -h, --help      Show this help

Exit status: 0 signed, 1 otherwise.`,
  async run(argv) {
    const { values, positionals } = parseWithPositionals(SIGN, argv, { sbom: { type: "string" }, key: { type: "string" }, agent: { type: "string" } }, 1);
    const agent = required<string>(SIGN, values, "agent");
    if (!AGENT_ID.test(agent)) throw new UsageError(`--agent must match ${AGENT_ID.source}`, SIGN);
    const [artifact_sha256, sbom_sha256] = await Promise.all([fileSha256(positionals[0]!), fileSha256(required<string>(SIGN, values, "sbom"))]);
    const statement = await signArtifactStatement(
      { format: "warden.agent-artifact.v1", agent, artifact_sha256, sbom_sha256, signed_at: new Date().toISOString() },
      readKey(required<string>(SIGN, values, "key")),
    );
    process.stdout.write(statement + "\n");
    return 0;
  },
};

export default group("agent", "Approve agent builds for the agent registry", { sign });
