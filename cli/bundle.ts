import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { basename, dirname, join, resolve } from "node:path";
import type { JWK } from "jose";
import "./cedar-node.ts";
import { group, parseWithPositionals, required, UsageError, type Command } from "./command.ts";
import { compileForTest, formatReport, runBundleTests, TestFileSchema, type TestCase } from "./bundle-runner.ts";
import { BundleError, bundleStatement, signBundle, unverifiedStatement, type BundleSources } from "../worker/policy/artifact.ts";
import { compileSources } from "../worker/policy/compile.ts";
import { StrictJsonError, parseStrictJson, type JsonValue } from "../worker/json/strict.ts";

/**
 * `warden bundle test | build | publish`: what `opa test` and `opa build --signing-key`
 * are for OPA, for Warden's Cedar bundles (policy-bundles/<name>/).
 */

interface BundleDir {
  name: string;
  sources: BundleSources;
  tests: { file: string; cases: TestCase[] }[];
}

/** A JSON file read strictly from its bytes: what the worker will read from it is what was tested. */
function readJsonFile(path: string): JsonValue {
  try {
    return parseStrictJson(readFileSync(path));
  } catch (error) {
    if (error instanceof StrictJsonError) throw new Error(`${path} is not strict JSON (${error.code} at offset ${error.offset})`);
    throw error;
  }
}

function readBundleDir(dir: string): BundleDir {
  const read = (file: string) => readFileSync(join(dir, file), "utf8");
  const manifest = readJsonFile(join(dir, "manifest.json"));
  const name = typeof manifest === "object" && manifest !== null && !Array.isArray(manifest) && typeof manifest["name"] === "string" ? manifest["name"] : basename(resolve(dir));
  const testDir = join(dir, "tests");
  let testFiles: string[] = [];
  try {
    testFiles = readdirSync(testDir).filter((file) => file.endsWith(".json")).sort();
  } catch {
    // A bundle without tests/ has no cases: coverage then fails any forbid.
  }
  const tests = testFiles.map((file) => {
    const parsed = TestFileSchema.safeParse(readJsonFile(join(testDir, file)));
    if (!parsed.success) throw new Error(`tests/${file}: ${parsed.error.issues.map((issue) => `${issue.path.join(".")}: ${issue.message}`).join("; ")}`);
    return { file: `tests/${file}`, cases: parsed.data.cases };
  });
  return { name, sources: { policies: read("policies.cedar"), schema: read("schema.cedarschema"), manifest }, tests };
}

/** Validates and tests `dir`, printing the report; true when everything passed. */
function testBundle(dir: string, now: Date): boolean {
  const bundle = readBundleDir(dir);
  let compiled;
  try {
    compiled = compileForTest(bundle.sources);
  } catch (error) {
    if (!(error instanceof BundleError)) throw error;
    process.stdout.write(`✗ ${dir}: ${error.message}\n${error.details.map((detail) => `    ${detail}\n`).join("")}`);
    return false;
  }
  const report = runBundleTests(compiled, bundle.tests, now);
  process.stdout.write(formatReport(report, compiled) + "\n");
  return report.passed;
}

const test: Command = {
  summary: "Validate a bundle strictly against its schema and run its tests",
  help: `Usage: warden bundle test <dir>

Validates policies.cedar strictly against schema.cedarschema, checks manifest.json,
and runs every case in <dir>/tests/*.json ({ "cases": [{ name, device?, request,
expect: { decision, reasons?, tier? } }] }) through the worker's own decision code.
Reports each failure with its request, and per-policy coverage; fails when a case
fails or when a forbid or review policy has no case that it determines.

Exit status: 0 all passed, 1 otherwise.`,
  async run(argv) {
    const { positionals } = parseWithPositionals("warden bundle test", argv, {}, 1);
    return testBundle(positionals[0]!, new Date()) ? 0 : 1;
  },
};

const build: Command = {
  summary: "Test a bundle, compile it and build one signed artifact (JWS, EdDSA)",
  help: `Usage: warden bundle build <dir> --key <publisher key file> [options]

Runs \`warden bundle test\` first and refuses to build on any failure. The artifact's
first line is a compact JWS (EdDSA, typ warden-bundle+jws, kid = key thumbprint)
over the canonical JSON of: name, tenant, version, created_at, expires_at, the
digest of the sources, the schema, the manifest, the precompiled index, and the
size and SHA-256 of what follows the line: policies.cedar, then one JSON line per
action (the policies that can apply to it), then one per policy in Cedar's JSON
form. Workers decide from those lines without compiling the policies again.

Options:
  --key <file>          Publisher private key (from \`warden keys generate\`)
  --tenant <tenant>     Tenant the bundle is for (default "default")
  --version <n>         Monotonic version (default: seconds since the epoch)
  --expires-in <days>   Validity (default 90)
  --out <file>          Output (default dist/<name>-<version>.jws)

Exit status: 0 built, 1 otherwise.`,
  async run(argv) {
    const command = "warden bundle build";
    const { values, positionals } = parseWithPositionals(
      command,
      argv,
      { key: { type: "string" }, tenant: { type: "string" }, version: { type: "string" }, "expires-in": { type: "string" }, out: { type: "string" } },
      1,
    );
    const dir = positionals[0]!;
    const now = new Date();
    const version = values.version === undefined ? Math.floor(now.getTime() / 1000) : Number(values.version);
    if (!Number.isSafeInteger(version) || version < 1) throw new UsageError("--version must be a positive integer", command);
    const days = values["expires-in"] === undefined ? 90 : Number(values["expires-in"]);
    if (!Number.isFinite(days) || days <= 0) throw new UsageError("--expires-in must be a positive number of days", command);
    const key = readJsonFile(required<string>(command, values, "key")) as JWK;

    if (!testBundle(dir, now)) {
      process.stderr.write("warden: the bundle's tests fail; nothing was built\n");
      return 1;
    }
    const bundle = readBundleDir(dir);
    // Compiled here, where there is time for it, so that no isolate has to: the artifact carries the index and every policy in Cedar's JSON form.
    const compiled = compileSources(bundle.sources);
    const { statement, body } = bundleStatement(
      bundle.sources,
      { name: bundle.name, tenant: values.tenant ?? "default", version, createdAt: now, expiresAt: new Date(now.getTime() + days * 86_400_000) },
      compiled,
    );
    const out = values.out ?? join("dist", `${bundle.name}-${version}.jws`);
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, await signBundle(statement, body, key));
    process.stdout.write(JSON.stringify({ artifact: out, name: statement.name, tenant: statement.tenant, version, digest: statement.digest, expires_at: statement.expires_at }, null, 2) + "\n");
    return 0;
  },
};

/** Uploads an artifact with wrangler and activates it through the admin API. */
export async function publishArtifact(args: {
  artifact: string;
  url: string;
  adminToken: string;
  target: { local: string } | "remote";
  bucket: string;
  slot: "active" | "canary" | "shadow";
  percent?: number;
  group?: string;
  rollback: boolean;
  reason?: string;
}): Promise<{ status: number; body: unknown }> {
  // Only to learn where to put it: the worker verifies the signature before trusting any of it.
  const { tenant, version } = unverifiedStatement(new Uint8Array(readFileSync(args.artifact)));
  if (typeof tenant !== "string" || typeof version !== "number") throw new Error(`${args.artifact} is not a warden bundle artifact`);
  const object = `${args.bucket}/${tenant}/bundles/artifacts/${version}.jws`;
  const wrangler = createRequire(import.meta.url).resolve("wrangler/bin/wrangler.js");
  const location = args.target === "remote" ? ["--remote"] : ["--local", "--persist-to", args.target.local];
  const put = spawnSync(process.execPath, [wrangler, "r2", "object", "put", object, "--file", args.artifact, "--content-type", "application/octet-stream", ...location], {
    stdio: ["ignore", "inherit", "inherit"],
    env: { ...process.env, WRANGLER_SEND_METRICS: "false" },
  });
  if (put.status !== 0) throw new Error(`wrangler r2 object put ${object} failed`);
  const body: Record<string, unknown> = { version, slot: args.slot, rollback: args.rollback };
  if (args.percent !== undefined) body["percent"] = args.percent;
  if (args.group !== undefined) body["group"] = args.group;
  if (args.reason !== undefined) body["reason"] = args.reason;
  const response = await fetch(`${args.url.replace(/\/+$/, "")}/v1/bundles/activate`, {
    method: "POST",
    headers: { authorization: `Bearer ${args.adminToken}`, "content-type": "application/json" },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(30_000),
  });
  return { status: response.status, body: parseStrictJson(new Uint8Array(await response.arrayBuffer())) };
}

const publish: Command = {
  summary: "Upload an artifact to R2 with wrangler and activate it (admin API)",
  help: `Usage: warden bundle publish <artifact> --url <warden> --admin-token <t> [options]

Puts the artifact into R2 at <tenant>/bundles/artifacts/<version>.jws with
\`wrangler r2 object put\`, then POST /v1/bundles/activate. The worker verifies the
signature, tenant, expiry and policies, and refuses a version not above the active
one unless --rollback.

Options:
  --url <url>            Warden base URL (http://localhost:8787 for npm start)
  --admin-token <token>  Admin bearer token (default: $WARDEN_ADMIN_TOKEN)
  --canary <percent>     Decide with it for this share of devices
  --group <name>         Decide with it for this device group
  --shadow               Evaluate it beside the active bundle without changing answers
  --rollback             Explicitly go back to a version that was active before
  --reason <text>        Recorded in the admin log
  --remote               Upload to the R2 bucket in your Cloudflare account (default: local, for wrangler dev)
  --persist-to <dir>     Local state directory of wrangler dev (default .wrangler/state)
  --bucket <name>        R2 bucket (default warden-bundles)

Exit status: 0 activated, 1 otherwise.`,
  async run(argv) {
    const command = "warden bundle publish";
    const { values, positionals } = parseWithPositionals(
      command,
      argv,
      {
        url: { type: "string" },
        "admin-token": { type: "string" },
        canary: { type: "string" },
        group: { type: "string" },
        shadow: { type: "boolean" },
        rollback: { type: "boolean" },
        reason: { type: "string" },
        remote: { type: "boolean" },
        "persist-to": { type: "string" },
        bucket: { type: "string" },
      },
      1,
    );
    const modes = [values.canary !== undefined, values.group !== undefined, values.shadow === true].filter(Boolean).length;
    if (modes > 1) throw new UsageError("choose at most one of --canary, --group, --shadow", command);
    const percent = values.canary === undefined ? undefined : Number(values.canary);
    if (percent !== undefined && !(percent > 0 && percent <= 100)) throw new UsageError("--canary takes a percentage in (0, 100]", command);
    const adminToken = values["admin-token"] ?? process.env["WARDEN_ADMIN_TOKEN"];
    if (!adminToken) throw new UsageError("--admin-token is required", command);
    const result = await publishArtifact({
      artifact: positionals[0]!,
      url: required<string>(command, values, "url"),
      adminToken,
      target: values.remote ? "remote" : { local: values["persist-to"] ?? ".wrangler/state" },
      bucket: values.bucket ?? "warden-bundles",
      slot: values.shadow ? "shadow" : percent !== undefined || values.group !== undefined ? "canary" : "active",
      ...(percent !== undefined ? { percent } : {}),
      ...(values.group !== undefined ? { group: values.group } : {}),
      rollback: values.rollback === true,
      ...(values.reason !== undefined ? { reason: values.reason } : {}),
    });
    process.stdout.write(JSON.stringify(result.body, null, 2) + "\n");
    return result.status === 200 ? 0 : 1;
  },
};

export default group("bundle", "Test, build, sign and publish policy bundles", { test, build, publish });
