import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { basename, dirname, join, resolve } from "node:path";
import { formatPolicies } from "@cedar-policy/cedar-wasm/web";
import type { JWK } from "jose";
import "./cedar-node.ts";
import { group, JSON_OPTION, log, parseTime, parseWithPositionals, printResult, required, UsageError, type Command } from "./command.ts";
import { compileForTest, ExampleAgentsSchema, formatReport, registryFacts, reportJson, runBundleTests, TestCaseSchema, TestFileSchema, type ExampleAgents, type TestCase } from "./bundle-runner.ts";
import { checkCedarSources, formatDiagnostic, policyParseDiagnostics, position, type CedarDiagnostic } from "./cedar-diagnostics.ts";
import { EXIT, STATUS } from "./exit.ts";
import { ActionRequestSchema } from "../worker/decisions/request.ts";
import { HistoryCursor } from "../worker/history/cursor.ts";
import { BundleError, bundleStatement, signBundle, unverifiedStatement, type BundleSources } from "../worker/policy/artifact.ts";
import type { CompiledBundle } from "../worker/policy/bundle.ts";
import { compileSources } from "../worker/policy/compile.ts";
import { decide } from "../worker/policy/decide.ts";
import { StrictJsonError, parseStrictJson, type JsonValue } from "../worker/json/strict.ts";

/**
 * `warden bundle test | build | publish | fmt | eval`: what `opa test`, `opa build
 * --signing-key`, `opa fmt` and `opa eval` are for OPA, for Warden's Cedar bundles
 * (policy-bundles/<name>/). Exit status follows cli/exit.ts `STATUS`; `eval` exits as
 * `warden shim decide` does.
 */

interface BundleDir {
  dir: string;
  name: string;
  sources: BundleSources;
  tests: { file: string; cases: TestCase[] }[];
  /** `agents.json`: the registry the tests run against (none when absent). */
  agents: ExampleAgents;
}

/** A JSON file read strictly from its bytes: what the worker will read from it is what was tested. */
function readJsonFile(path: string): JsonValue {
  const bytes = readFileSync(path);
  try {
    return parseStrictJson(bytes);
  } catch (error) {
    if (!(error instanceof StrictJsonError)) throw error;
    const { line, column } = position(new TextDecoder().decode(bytes), error.offset);
    throw new Error(`${path}:${line}:${column}: not strict JSON (${error.code})`);
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
    if (!parsed.success) throw new Error(`${join(testDir, file)}: ${parsed.error.issues.map((issue) => `${issue.path.join(".")}: ${issue.message}`).join("; ")}`);
    return { file: `tests/${file}`, cases: parsed.data.cases };
  });
  let agents: ExampleAgents = [];
  if (existsSync(join(dir, "agents.json"))) {
    const parsed = ExampleAgentsSchema.safeParse(readJsonFile(join(dir, "agents.json")));
    if (!parsed.success) throw new Error(`agents.json: ${parsed.error.issues.map((issue) => `${issue.path.join(".")}: ${issue.message}`).join("; ")}`);
    agents = parsed.data.agents;
  }
  return { dir, name, sources: { policies: read("policies.cedar"), schema: read("schema.cedarschema"), manifest }, tests, agents };
}

/** A bundle that does not compile: Cedar's errors with file:line:column, or the compiler's refusal. */
interface Invalid {
  problems: CedarDiagnostic[];
  lines: string[];
}

/** Checks the sources as the worker will (Cedar errors located in their files), then compiles them. */
function compileDir(bundle: BundleDir): { compiled: CompiledBundle } | { invalid: Invalid } {
  const problems = checkCedarSources({
    schema: { file: join(bundle.dir, "schema.cedarschema"), text: bundle.sources.schema },
    policies: { file: join(bundle.dir, "policies.cedar"), text: bundle.sources.policies },
  });
  if (problems.length > 0) return { invalid: { problems, lines: problems.map(formatDiagnostic) } };
  try {
    return { compiled: compileForTest(bundle.sources) };
  } catch (error) {
    if (!(error instanceof BundleError)) throw error;
    return { invalid: { problems: [], lines: [`${bundle.dir}: error: ${error.message}`, ...error.details.map((detail) => `    ${detail}`)] } };
  }
}

/** The outcome of validating and testing a bundle directory, as `bundle test --json` prints it. */
type TestOutcome = { bundle: string; passed: boolean } & ({ problems: CedarDiagnostic[]; errors: string[] } | ReturnType<typeof reportJson>);

/** Validates and tests `dir`: the outcome, and the report as text. */
function testBundle(dir: string, now: Date): { outcome: TestOutcome; text: string[] } {
  const bundle = readBundleDir(dir);
  const compiled = compileDir(bundle);
  if ("invalid" in compiled) {
    return { outcome: { bundle: dir, passed: false, problems: compiled.invalid.problems, errors: compiled.invalid.lines }, text: compiled.invalid.lines };
  }
  const report = runBundleTests(compiled.compiled, bundle.tests, now, bundle.agents);
  return { outcome: { bundle: dir, ...reportJson(report) }, text: formatReport(report, compiled.compiled).split("\n") };
}

const test: Command = {
  summary: "Validate a bundle strictly against its schema and run its tests",
  help: `Usage: warden bundle test <dir> [--json]

Validates policies.cedar strictly against schema.cedarschema, checks manifest.json,
and runs every case in <dir>/tests/*.json ({ "cases": [{ name, device?, standing?,
consents?, request, expect: { decision, reason_code?, reasons?, tier?, consents? } }] })
through the worker's own decision code, with the agents of <dir>/agents.json registered
(a case's standing overrides what the registry says of its agent; consents are the
device user's). Reports each failure with its request, and per-policy coverage; fails
when a case fails or when a forbid or review policy has no case that it determines.
Cedar errors are reported as <file>:<line>:<column>: error: <message>.

Options:
  --json   Print the outcome as JSON: passed, each case, coverage, or the problems

Exit status: 0 all passed, 2 the bundle is invalid or a test failed, 1 usage or file error.`,
  async run(argv) {
    const { values, positionals } = parseWithPositionals("warden bundle test", argv, JSON_OPTION, 1);
    const { outcome, text } = testBundle(positionals[0]!, new Date());
    printResult(values.json, outcome, () => text);
    return outcome.passed ? STATUS.ok : STATUS.rejected;
  },
};

const build: Command = {
  summary: "Test a bundle, compile it and build one signed artifact (JWS, EdDSA)",
  help: `Usage: warden bundle build <dir> --key <publisher key file> [options]

Runs \`warden bundle test\` first (its report goes to stderr) and refuses to build on
any failure. The artifact's first line is a compact JWS (EdDSA, typ warden-bundle+jws,
kid = key thumbprint) over the canonical JSON of: name, tenant, version, created_at,
expires_at, the digest of the sources, the schema, the manifest, the precompiled
index, and the size and SHA-256 of what follows the line: policies.cedar, then one
JSON line per action (the policies that can apply to it), then one per policy in
Cedar's JSON form. Workers decide from those lines without compiling the policies again.

Options:
  --key <file>          Publisher private key (from \`warden keys generate\`)
  --tenant <tenant>     Tenant the bundle is for (default "default")
  --version <n>         Monotonic version (default: seconds since the epoch)
  --expires-in <days>   Validity (default 90)
  --out <file>          Output (default dist/<name>-<version>.jws)
  --json                Print the result as JSON: artifact, name, tenant, version, digest, expires_at

Exit status: 0 built, 2 the bundle is invalid or a test failed (nothing built), 1 usage or file error.`,
  async run(argv) {
    const command = "warden bundle build";
    const { values, positionals } = parseWithPositionals(
      command,
      argv,
      { key: { type: "string" }, tenant: { type: "string" }, version: { type: "string" }, "expires-in": { type: "string" }, out: { type: "string" }, ...JSON_OPTION },
      1,
    );
    const dir = positionals[0]!;
    const now = new Date();
    const version = values.version === undefined ? Math.floor(now.getTime() / 1000) : Number(values.version);
    if (!Number.isSafeInteger(version) || version < 1) throw new UsageError("--version must be a positive integer", command);
    const days = values["expires-in"] === undefined ? 90 : Number(values["expires-in"]);
    if (!Number.isFinite(days) || days <= 0) throw new UsageError("--expires-in must be a positive number of days", command);
    const key = readJsonFile(required<string>(command, values, "key")) as JWK;

    const tested = testBundle(dir, now);
    for (const line of tested.text) log(line);
    if (!tested.outcome.passed) {
      log("warden: the bundle is invalid or its tests fail; nothing was built");
      return STATUS.rejected;
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
    const result = { artifact: out, name: statement.name, tenant: statement.tenant, version, digest: statement.digest, expires_at: statement.expires_at };
    printResult(values.json, result, (r) => [`built ${r.artifact}: ${r.name} version ${r.version} for tenant ${r.tenant}, ${r.digest}, expires ${r.expires_at}`]);
    return STATUS.ok;
  },
};

/**
 * A Cloudflare Access service token from the environment, for a Warden whose admin routes sit
 * behind Access (docs/deploy.md): both or none.
 */
export function accessHeaders(env: NodeJS.ProcessEnv): Record<string, string> {
  const id = env["CF_ACCESS_CLIENT_ID"];
  const secret = env["CF_ACCESS_CLIENT_SECRET"];
  if (!id && !secret) return {};
  if (!id || !secret) throw new Error("set both CF_ACCESS_CLIENT_ID and CF_ACCESS_CLIENT_SECRET (an Access service token), or neither");
  return { "cf-access-client-id": id, "cf-access-client-secret": secret };
}

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
}): Promise<{ status: number; body: unknown; version: number }> {
  const access = accessHeaders(process.env);
  // Only to learn where to put it: the worker verifies the signature before trusting any of it.
  const { tenant, version } = unverifiedStatement(new Uint8Array(readFileSync(args.artifact)));
  if (typeof tenant !== "string" || typeof version !== "number") throw new Error(`${args.artifact} is not a warden bundle artifact`);
  const object = `${args.bucket}/${tenant}/bundles/artifacts/${version}.jws`;
  const wrangler = createRequire(import.meta.url).resolve("wrangler/bin/wrangler.js");
  const location = args.target === "remote" ? ["--remote"] : ["--local", "--persist-to", args.target.local];
  const put = spawnSync(process.execPath, [wrangler, "r2", "object", "put", object, "--file", args.artifact, "--content-type", "application/octet-stream", ...location], {
    // wrangler's output is a log: to stderr, so stdout carries only the result.
    stdio: ["ignore", process.stderr, "inherit"],
    env: { ...process.env, WRANGLER_SEND_METRICS: "false" },
  });
  if (put.status !== 0) throw new Error(`wrangler r2 object put ${object} failed`);
  const body: Record<string, unknown> = { version, slot: args.slot, rollback: args.rollback };
  if (args.percent !== undefined) body["percent"] = args.percent;
  if (args.group !== undefined) body["group"] = args.group;
  if (args.reason !== undefined) body["reason"] = args.reason;
  const response = await fetch(`${args.url.replace(/\/+$/, "")}/v1/bundles/activate`, {
    method: "POST",
    headers: { authorization: `Bearer ${args.adminToken}`, "content-type": "application/json", ...access },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(30_000),
  });
  return { status: response.status, body: parseStrictJson(new Uint8Array(await response.arrayBuffer())), version };
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
  --json                 Print Warden's answer as JSON

Environment: CF_ACCESS_CLIENT_ID and CF_ACCESS_CLIENT_SECRET, a Cloudflare Access service
token, when the admin routes are behind Access (docs/deploy.md).

The worker activates only artifacts signed by a key in its PUBLISHER_KEYS; under
\`npm start\` that is .dev/publisher.jwk (build with --key .dev/publisher.jwk, or add
your key's JWK Set to PUBLISHER_KEYS in .dev.vars and restart).

Exit status: 0 activated, 2 Warden refused the artifact, 1 usage, upload or network error.`,
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
        ...JSON_OPTION,
      },
      1,
    );
    const modes = [values.canary !== undefined, values.group !== undefined, values.shadow === true].filter(Boolean).length;
    if (modes > 1) throw new UsageError("choose at most one of --canary, --group, --shadow", command);
    const percent = values.canary === undefined ? undefined : Number(values.canary);
    if (percent !== undefined && !(percent > 0 && percent <= 100)) throw new UsageError("--canary takes a percentage in (0, 100]", command);
    const adminToken = values["admin-token"] ?? process.env["WARDEN_ADMIN_TOKEN"];
    if (!adminToken) throw new UsageError("--admin-token is required", command);
    const slot = values.shadow ? "shadow" : percent !== undefined || values.group !== undefined ? "canary" : "active";
    const result = await publishArtifact({
      artifact: positionals[0]!,
      url: required<string>(command, values, "url"),
      adminToken,
      target: values.remote ? "remote" : { local: values["persist-to"] ?? ".wrangler/state" },
      bucket: values.bucket ?? "warden-bundles",
      slot,
      ...(percent !== undefined ? { percent } : {}),
      ...(values.group !== undefined ? { group: values.group } : {}),
      rollback: values.rollback === true,
      ...(values.reason !== undefined ? { reason: values.reason } : {}),
    });
    const body = result.body as { code?: string; title?: string };
    printResult(values.json, result.body, () =>
      result.status === 200 ? [`activated version ${result.version} of ${positionals[0]} as the ${slot} bundle`] : [`refused: HTTP ${result.status} ${body.code ?? ""}: ${body.title ?? ""}`],
    );
    if (body.code === "bundle_untrusted_key") log("hint: Warden trusts only the keys in PUBLISHER_KEYS (npm start: .dev/publisher.jwk); see `warden bundle publish --help`");
    if (result.status === 200) return STATUS.ok;
    // A server that failed (5xx) did not judge the artifact: that is not a refusal of it.
    return result.status >= 500 ? STATUS.error : STATUS.rejected;
  },
};

const FMT = "warden bundle fmt";

const fmt: Command = {
  summary: "Format a bundle's policies.cedar with Cedar's formatter (--check: only report)",
  help: `Usage: ${FMT} <dir> [--check] [--json]

Formats <dir>/policies.cedar in place with Cedar's own formatter (cedar-policy-formatter,
comments kept), as \`opa fmt -w\` does. With --check nothing is written: it reports
whether the file is formatted, for CI.

Options:
  --check  Do not write; exit 2 when the file is not formatted
  --json   Print { file, formatted, changed } as JSON

Exit status: 0 formatted (or already was), 2 --check found it unformatted or Cedar cannot
parse it (errors as <file>:<line>:<column>), 1 usage or file error.`,
  async run(argv) {
    const { values, positionals } = parseWithPositionals(FMT, argv, { check: { type: "boolean", default: false }, ...JSON_OPTION }, 1);
    const file = join(positionals[0]!, "policies.cedar");
    const text = readFileSync(file, "utf8");
    const answer = formatPolicies({ policyText: text, lineWidth: 100, indentWidth: 2 });
    if (answer.type === "failure") {
      const problems = policyParseDiagnostics(file, text);
      const lines = problems.length > 0 ? problems.map(formatDiagnostic) : answer.errors.map((error) => `${file}: error: ${error.message}`);
      printResult(values.json, { file, formatted: false, changed: false, errors: lines }, () => lines);
      return STATUS.rejected;
    }
    const formatted = answer.formatted_policy.endsWith("\n") ? answer.formatted_policy : `${answer.formatted_policy}\n`;
    const already = formatted === text;
    if (!already && !values.check) writeFileSync(file, formatted);
    const result = { file, formatted: already || !values.check, changed: !already && !values.check };
    printResult(values.json, result, (r) => [r.changed ? `formatted ${file}` : already ? `${file} is formatted` : `${file} is not formatted (run \`${FMT} ${positionals[0]}\`)`]);
    return result.formatted ? STATUS.ok : STATUS.rejected;
  },
};

const EVAL = "warden bundle eval";

/** `bundle eval --device`: the device a request is decided for, as a test case gives it. */
const EvalDeviceSchema = TestCaseSchema.shape.device;

/** `--request`: inline JSON, @file, or - for standard input. */
async function readRequestArgument(value: string): Promise<JsonValue> {
  let bytes: Uint8Array;
  let where = "--request";
  if (value === "-") {
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    bytes = Buffer.concat(chunks);
    where = "standard input";
  } else if (value.startsWith("@")) {
    bytes = readFileSync(value.slice(1));
    where = value.slice(1);
  } else bytes = new TextEncoder().encode(value);
  try {
    return parseStrictJson(bytes);
  } catch (error) {
    if (error instanceof StrictJsonError) throw new UsageError(`${where} is not strict JSON (${error.code} at offset ${error.offset})`, EVAL);
    throw error;
  }
}

const evaluate: Command = {
  summary: "Decide one request against a bundle directory, offline, with the reasons",
  help: `Usage: ${EVAL} <dir> --request <json | @file | -> [options]

Compiles the bundle as the worker does and decides one request with the worker's own
decision code, as \`opa eval\` evaluates one query: the decision, its reason code, the
determining policies (reasons), the review tier, and the canonical targets. The agent
stands as <dir>/agents.json registers it (an agent not there is unregistered), with no
consents, on a device with no history (every history feature at its start).

--request takes the body of POST /v1/decisions:
  { "agent": { "id": "claude-code", "version": "2.1.0" },
    "action": { "type": "file.read", "targets": [{ "kind": "path", "value": "/etc/shadow" }] } }

Options:
  --request <json|@file|->  The decision request: inline, from a file, or from standard input
  --device <json>           The device: { "os": "linux|macos|windows", "assurance":
                            "software|tpm|sev-snp|tdx", "shell"? } (default linux, software)
  --now <RFC 3339>          Decide at this time (default now)
  --json                    Print the verdict as JSON

Exit status: ${EXIT.permit} permit, ${EXIT.deny} deny, ${EXIT.review} review (as \`warden shim decide\`), 2 the bundle is
invalid, 1 usage or file error.`,
  async run(argv) {
    const { values, positionals } = parseWithPositionals(EVAL, argv, { request: { type: "string" }, device: { type: "string" }, now: { type: "string" }, ...JSON_OPTION }, 1);
    const now = values.now === undefined ? new Date() : parseTime(EVAL, values.now);
    const request = ActionRequestSchema.safeParse(await readRequestArgument(required<string>(EVAL, values, "request")));
    if (!request.success) throw new UsageError(`--request: ${request.error.issues.map((issue) => `${issue.path.join(".") || "(body)"}: ${issue.message}`).join("; ")}`, EVAL);
    const device = EvalDeviceSchema.safeParse(values.device === undefined ? undefined : parseStrictJsonArgument(values.device, "--device"));
    if (!device.success) throw new UsageError(`--device: ${device.error.issues.map((issue) => `${issue.path.join(".") || "(device)"}: ${issue.message}`).join("; ")}`, EVAL);

    const bundle = readBundleDir(positionals[0]!);
    const compiled = compileDir(bundle);
    if ("invalid" in compiled) {
      printResult(values.json, { bundle: bundle.dir, errors: compiled.invalid.lines, problems: compiled.invalid.problems }, () => compiled.invalid.lines);
      return STATUS.rejected;
    }
    // The agent stands as <dir>/agents.json registers it, as `bundle test` and `npm start` have it.
    // The history features are a device's that has done nothing yet.
    const evalDevice = { id: "eval", ...device.data };
    const history = HistoryCursor.fresh(compiled.compiled.history, compiled.compiled.digest, compiled.compiled.tierOrder).historyFor(request.data, evalDevice, now.getTime()).values;
    const verdict = decide(compiled.compiled, request.data, evalDevice, now.getTime(), { agent: registryFacts(bundle.agents, request.data.agent), consents: [], history });
    const result = {
      decision: verdict.decision,
      reason_code: verdict.reasonCode,
      reasons: verdict.reasons,
      ...(verdict.tier !== undefined ? { tier: verdict.tier } : {}),
      targets: verdict.targets,
      derived: verdict.derived,
    };
    printResult(values.json, result, (r) => [
      `${r.decision} (${r.reason_code})${r.tier ? ` tier ${r.tier}` : ""}`,
      `reasons: ${r.reasons.length > 0 ? r.reasons.join(", ") : "none"}`,
      ...r.targets.map((target) => `target: ${JSON.stringify(target)}`),
      ...r.derived.map((target) => `derived: ${JSON.stringify(target)}`),
    ]);
    return verdict.decision === "permit" ? EXIT.permit : verdict.decision === "deny" ? EXIT.deny : EXIT.review;
  },
};

function parseStrictJsonArgument(value: string, option: string): JsonValue {
  try {
    return parseStrictJson(value);
  } catch (error) {
    if (error instanceof StrictJsonError) throw new UsageError(`${option} is not strict JSON (${error.code} at offset ${error.offset})`, EVAL);
    throw error;
  }
}

export default group("bundle", "Test, build, sign, publish, format and evaluate policy bundles", { test, build, publish, fmt, eval: evaluate });
