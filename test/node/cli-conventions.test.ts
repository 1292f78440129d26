/**
 * The CLI's conventions, through the compiled CLI as a user runs it: one exit-status table
 * (0 done, 1 usage or environment, 2 rejected; the shim's 10/11 for eval's deny and review),
 * --json on every result with stdout holding nothing else, --version, friendly file errors,
 * Cedar errors located as file:line:column, and `bundle fmt` / `bundle eval`.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import packageJson from "../../package.json";
import { warden, type Run } from "./cli.ts";

const root = fileURLToPath(new URL("../..", import.meta.url));
const work = mkdtempSync(join(tmpdir(), "warden-cli-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const PUBLISHER_KEY = join(work, "publisher.jwk");
beforeAll(async () => {
  const run = await warden(["keys", "generate", "--out", PUBLISHER_KEY]);
  expect(run.status, run.stderr).toBe(0);
  expect(run.stdout).toContain("PUBLISHER_KEYS");
});

/** A copy of the example bundle, changed by `edit`, in its own directory. */
function bundleCopy(name: string, edit: (files: { policies: string; schema: string }) => { policies?: string; schema?: string; tests?: Record<string, unknown> } = () => ({})): string {
  const dir = join(work, name);
  cpSync(join(root, "policy-bundles/default"), dir, { recursive: true });
  const read = (file: string) => readFileSync(join(dir, file), "utf8");
  const changed = edit({ policies: read("policies.cedar"), schema: read("schema.cedarschema") });
  if (changed.policies !== undefined) writeFileSync(join(dir, "policies.cedar"), changed.policies);
  if (changed.schema !== undefined) writeFileSync(join(dir, "schema.cedarschema"), changed.schema);
  for (const [file, value] of Object.entries(changed.tests ?? {})) writeFileSync(join(dir, "tests", file), JSON.stringify(value));
  return dir;
}

/** The line and column where `needle` first occurs in `text` (1-based). */
function lineColumn(text: string, needle: string): string {
  const before = text.slice(0, text.indexOf(needle)).split("\n");
  return `${before.length}:${before[before.length - 1]!.length + 1}`;
}

const READ_SHADOW = { agent: { id: "claude-code", version: "2.1.0" }, action: { type: "file.read", targets: [{ kind: "path", value: "/etc/shadow" }] } };
const WRITE_WORKSPACE = { agent: { id: "claude-code", version: "2.1.0" }, action: { type: "file.write", targets: [{ kind: "path", value: "/home/dev/workspace/a.ts" }] } };
const DELETE_GIT = { agent: { id: "claude-code", version: "2.1.0" }, action: { type: "file.delete", targets: [{ kind: "path", value: "/home/dev/workspace/.git/HEAD" }] } };
const EK = join(root, "test/fixtures/attestation/tpm/ek1-infineon-slb9670/ek.der");

const valid = () => bundleCopy(`valid-${Math.random().toString(36).slice(2)}`);
const unparsable = () =>
  bundleCopy(`parse-${Math.random().toString(36).slice(2)}`, ({ policies }) => ({ policies: policies.replace('resource.within.contains("/home/dev/workspace")', 'resource.within.contain("/home/dev/workspace")') }));
const failingTest = () =>
  bundleCopy(`failing-${Math.random().toString(36).slice(2)}`, () => ({
    tests: { "zz.json": { cases: [{ name: "shadow is permitted (it is not)", request: READ_SHADOW, expect: { decision: "permit" } }] } },
  }));

/**
 * The exit-status table: each row a command line, the status it must end with, and what its
 * output must show. Rows needing files build them first.
 */
const TABLE: [string, () => string[], number, (run: Run) => void][] = [
  ["--version", () => ["--version"], 0, (run) => expect(run.stdout).toBe(`warden ${packageJson.version}\n`)],
  ["-V", () => ["-V"], 0, (run) => expect(run.stdout).toBe(`warden ${packageJson.version}\n`)],
  ["no command", () => [], 1, (run) => expect(run.stdout).toBe("")],
  ["an unknown command", () => ["nope"], 1, (run) => expect(run.stderr).toContain("unknown command: nope")],
  ["an unknown option", () => ["bundle", "test", "policy-bundles/default", "--nope"], 1, (run) => expect(run.stderr).toContain("warden bundle test --help")],
  ["bundle test, passing", () => ["bundle", "test", valid()], 0, (run) => expect(run.stdout).toMatch(/\d+ passed, 0 failed/)],
  ["bundle test, a failing case", () => ["bundle", "test", failingTest()], 2, (run) => expect(run.stdout).toContain("shadow is permitted (it is not)")],
  ["bundle test, Cedar cannot parse", () => ["bundle", "test", unparsable()], 2, (run) => expect(run.stdout).toMatch(/policies\.cedar:\d+:\d+: error: /)],
  ["bundle test, no such directory", () => ["bundle", "test", join(work, "missing")], 1, (run) => expect(run.stderr).toBe(`warden: ${join(work, "missing", "manifest.json")}: no such file or directory\n`)],
  ["bundle build, failing", () => ["bundle", "build", failingTest(), "--key", PUBLISHER_KEY], 2, (run) => expect(run.stdout).toBe("")],
  ["bundle fmt --check, unformatted", () => ["bundle", "fmt", valid(), "--check"], 2, (run) => expect(run.stdout).toContain("is not formatted")],
  ["bundle eval, permit", () => ["bundle", "eval", valid(), "--request", JSON.stringify(WRITE_WORKSPACE)], 0, (run) => expect(run.stdout).toMatch(/^permit \(policy_permit\)/)],
  ["bundle eval, deny", () => ["bundle", "eval", valid(), "--request", JSON.stringify(READ_SHADOW)], 10, (run) => expect(run.stdout).toContain("reasons: secrets-never")],
  ["bundle eval, review", () => ["bundle", "eval", valid(), "--request", JSON.stringify(DELETE_GIT)], 11, (run) => expect(run.stdout).toContain("tier tier1")],
  ["bundle eval, a request that is not a decision request", () => ["bundle", "eval", valid(), "--request", '{"agent":{}}'], 1, (run) => expect(run.stderr).toContain("--request: ")],
  ["bundle eval, an invalid bundle", () => ["bundle", "eval", unparsable(), "--request", JSON.stringify(READ_SHADOW)], 2, (run) => expect(run.stdout).toMatch(/policies\.cedar:\d+:\d+: error: /)],
  ["keys generate over an existing file", () => ["keys", "generate", "--out", PUBLISHER_KEY], 1, (run) => expect(run.stderr).toBe(`warden: ${PUBLISHER_KEY} already exists (refusing to overwrite it)\n`)],
  ["evidence verify, valid", () => ["evidence", "verify", "--type", "tpm-ek", "--evidence", EK, "--now", "2026-11-22T00:00:00Z"], 0, (run) => expect(run.stdout).toMatch(/^valid: /)],
  ["evidence verify, rejected", () => ["evidence", "verify", "--type", "tpm-ek", "--evidence", EK, "--now", "2031-01-01T00:00:00Z"], 2, (run) => expect(run.stdout).toMatch(/^rejected: certificate_expired: /)],
  ["evidence verify, a bad --now", () => ["evidence", "verify", "--type", "tpm-ek", "--evidence", EK, "--now", "yesterday"], 1, (run) => expect(run.stderr).toContain("--now must be an RFC 3339 time")],
  ["evidence verify, no such file", () => ["evidence", "verify", "--type", "tdx", "--evidence", join(work, "quote.bin")], 1, (run) => expect(run.stderr).toContain("quote.bin: no such file or directory")],
  ["audit verify, no such file", () => ["audit", "verify", join(work, "export.jsonl"), "--keys", join(work, "keys.json")], 1, (run) => expect(run.stderr).toContain("keys.json: no such file or directory")],
];

describe("exit status", () => {
  it.each(TABLE)("%s", async (_name, args, status, check) => {
    const run = await warden(args());
    expect(run.status, `${run.stdout}\n${run.stderr}`).toBe(status);
    // Nothing but a result on stdout, and no raw errno names anywhere.
    expect(run.stderr).not.toMatch(/\bE(NOENT|EXIST|ACCES|ISDIR)\b/);
    check(run);
  });
});

describe("--json: one JSON document on stdout, logs on stderr", () => {
  it.each([
    ["bundle test", () => ["bundle", "test", valid(), "--json"], { passed: true }],
    ["bundle test, invalid", () => ["bundle", "test", unparsable(), "--json"], { passed: false }],
    ["bundle eval", () => ["bundle", "eval", valid(), "--request", JSON.stringify(READ_SHADOW), "--json"], { decision: "deny", reason_code: "policy_forbid", reasons: ["secrets-never"] }],
    ["bundle fmt --check", () => ["bundle", "fmt", valid(), "--check", "--json"], { formatted: false, changed: false }],
    ["keys generate", () => ["keys", "generate", "--out", join(work, `k-${Date.now()}.jwk`), "--json"], { PUBLISHER_KEYS: { keys: [expect.objectContaining({ crv: "Ed25519" })] } }],
    ["evidence verify", () => ["evidence", "verify", "--type", "tpm-ek", "--evidence", EK, "--now", "2026-11-22T00:00:00Z", "--json"], { type: "tpm-ek", valid: true, vendor: "Infineon" }],
  ] as [string, () => string[], Record<string, unknown>][])("%s", async (_name, args, expected) => {
    const run = await warden(args());
    expect(JSON.parse(run.stdout)).toMatchObject(expected);
  });

  it("the shim takes --json too (its output is JSON either way)", async () => {
    const ctx = inject("warden");
    const device = `json-${Date.now()}`;
    const key = join(work, `${device}.jwk`);
    const registered = await warden(["shim", "register", "--url", ctx.api, "--admin-token", ctx.adminToken, "--device", device, "--key-out", key, "--json"]);
    expect(registered.status, registered.stderr).toBe(0);
    expect(JSON.parse(registered.stdout)).toMatchObject({ id: device });
    const decided = await warden(["shim", "decide", "--url", ctx.api, "--device", device, "--key", key, "--action", "file.read", "--target", "/etc/shadow", "--json"]);
    expect(decided.status).toBe(10);
    expect(JSON.parse(decided.stdout)).toMatchObject({ decision: "deny" });
  });

  it("bundle build prints its test report on stderr and only the artifact on stdout", async () => {
    const dir = valid();
    const out = join(work, "built.jws");
    const run = await warden(["bundle", "build", dir, "--key", PUBLISHER_KEY, "--out", out, "--version", "7", "--json"]);
    expect(run.status, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ artifact: out, version: 7, digest: expect.stringMatching(/^sha256:/) });
    expect(run.stderr).toMatch(/\d+ passed, 0 failed/);
  });
});

describe("Cedar errors carry file:line:column", () => {
  it("a parse error points at the bad method call", async () => {
    const dir = unparsable();
    const text = readFileSync(join(dir, "policies.cedar"), "utf8");
    const run = await warden(["bundle", "test", dir]);
    expect(run.stdout).toContain(`${join(dir, "policies.cedar")}:${lineColumn(text, "resource.within.contain(")}: error: `);
  });

  it("a validation error points into the policy, and names the schema's complaint", async () => {
    const dir = bundleCopy("validation", ({ policies }) => ({ policies: `${policies}\n@id("typo")\nforbid (principal, action, resource is File) when { resource.no_such_attribute };\n` }));
    const text = readFileSync(join(dir, "policies.cedar"), "utf8");
    const run = await warden(["bundle", "test", dir]);
    expect(run.status).toBe(2);
    const [line] = lineColumn(text, "resource.no_such_attribute").split(":");
    expect(run.stdout).toMatch(new RegExp(`policies\\.cedar:${line}:\\d+: error: .*no_such_attribute`));
  });

  it("a schema error points into schema.cedarschema", async () => {
    const dir = bundleCopy("schema", ({ schema }) => ({ schema: `${schema}\nentity Broken {` }));
    const run = await warden(["bundle", "test", dir]);
    expect(run.status).toBe(2);
    expect(run.stdout).toMatch(/schema\.cedarschema:\d+:\d+: error: /);
  });
});

describe("bundle fmt", () => {
  it("formats in place, keeps comments, and then passes --check", async () => {
    const dir = valid();
    const before = readFileSync(join(dir, "policies.cedar"), "utf8");
    expect((await warden(["bundle", "fmt", dir])).status).toBe(0);
    const after = readFileSync(join(dir, "policies.cedar"), "utf8");
    expect(after).not.toBe(before);
    expect(after.match(/^\/\/.*$/gm)).toEqual(before.match(/^\/\/.*$/gm));
    const check = await warden(["bundle", "fmt", dir, "--check"]);
    expect(check.status).toBe(0);
    expect((await warden(["bundle", "test", dir])).status).toBe(0);
  });
});

describe("bundle publish", () => {
  it("a refusal by Warden exits 2 with the code, and says which keys Warden trusts", async () => {
    const ctx = inject("warden");
    const artifact = join(work, "untrusted.jws");
    const built = await warden(["bundle", "build", valid(), "--key", PUBLISHER_KEY, "--out", artifact, "--json"]);
    expect(built.status, built.stderr).toBe(0);
    const run = await warden(["bundle", "publish", artifact, "--url", ctx.api, "--admin-token", ctx.adminToken, "--persist-to", ctx.persist, "--json"]);
    expect(run.status, run.stderr).toBe(2);
    expect(JSON.parse(run.stdout)).toMatchObject({ code: "bundle_untrusted_key" });
    expect(run.stderr).toContain("PUBLISHER_KEYS");
  });

  it("half an Access service token is an environment error (1), before anything is uploaded", async () => {
    const run = await warden(["bundle", "publish", join(work, "untrusted.jws"), "--url", "http://127.0.0.1:9", "--admin-token", "t"], { env: { CF_ACCESS_CLIENT_ID: "id.access" } });
    expect(run.status).toBe(1);
    expect(run.stderr).toContain("CF_ACCESS_CLIENT_SECRET");
    expect(run.stderr).not.toContain("wrangler");
  });
});
