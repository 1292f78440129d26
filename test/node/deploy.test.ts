/**
 * `npm run deploy` (scripts/deploy.mjs) and docs/deploy.md: the shipped wrangler.jsonc refuses to
 * deploy while its placeholders are left; with the guide's edits the dry run builds and passes
 * `wrangler deploy --dry-run` with no network at all; and the account checks create missing
 * buckets (the archive locked), generate missing secrets only on a yes, never invent
 * PUBLISHER_KEYS, and deploy last — against a local stand-in for the account
 * (test/node/wrangler-account.mjs).
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
// @ts-expect-error: a plain .mjs script without types
import { ARCHIVE_RETENTION_DAYS } from "../../scripts/deploy.mjs";

const root = fileURLToPath(new URL("../..", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "warden-deploy-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Without a network: a fresh network namespace has only a loopback that is down. */
const offline = spawnSync("unshare", ["-n", "true"]).status === 0 ? ["unshare", "-n"] : [];

/** wrangler.jsonc after the guide's step "Put your domain", in its own directory. */
function guideConfig(domain = "warden.acme-corp.dev"): string {
  const text = readFileSync(join(root, "wrangler.jsonc"), "utf8")
    .replaceAll("warden.example.com", domain)
    .replace('"main": "worker/index.ts"', `"main": ${JSON.stringify(join(root, "worker/index.ts"))}`)
    .replace(/^\s*"\$schema".*\n/m, "");
  const file = join(dir, `wrangler-${Math.random().toString(36).slice(2)}.jsonc`);
  writeFileSync(file, text);
  return file;
}

function deploy(args: string[], env: Record<string, string> = {}) {
  const command = [...offline, process.execPath, join(root, "scripts/deploy.mjs"), ...args];
  const run = spawnSync(command[0]!, command.slice(1), { cwd: root, encoding: "utf8", env: { ...process.env, WRANGLER_SEND_METRICS: "false", ...env }, input: "" });
  return { status: run.status, output: `${run.stdout}${run.stderr}` };
}

interface Account {
  workerExists: boolean;
  listError?: string;
  buckets: string[];
  queues: string[];
  secrets: string[];
  locks: { bucket: string; name: string; prefix: string; days: number }[];
  uploaded: { name: string; length: number }[];
  deployed: string[];
  calls: string[];
}

function account(initial: Partial<Account>): { file: string; read: () => Account } {
  const file = join(dir, `account-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(file, JSON.stringify({ workerExists: true, buckets: [], queues: [], secrets: [], locks: [], uploaded: [], deployed: [], calls: [], ...initial }));
  return { file, read: () => JSON.parse(readFileSync(file, "utf8")) as Account };
}

const standIn = (file: string) => ({ WARDEN_WRANGLER: join(root, "test/node/wrangler-account.mjs"), WARDEN_ACCOUNT_STATE: file });
/** The event queue and its dead-letter queue (wrangler.jsonc `queues`). */
const QUEUES = ["warden-events", "warden-events-dlq"];
const ALL_SECRETS = ["ADMIN_TOKEN", "AUDITOR_TOKEN", "SIGNING_KEY", "LOG_SIGNING_KEY", "LOG_HMAC_KEY", "VAULT_KEYS", "PUBLISHER_KEYS"];

describe("npm run deploy", () => {
  it("refuses the shipped configuration: every placeholder is named", () => {
    const run = deploy(["--dry-run", "--skip-tests"]);
    expect(run.status).toBe(1);
    for (const what of ["vars.LOG_ORIGIN", "vars.REVIEW_ORIGIN", "vars.REVIEW_RP_ID", "routes"]) expect(run.output).toContain(`env.production.${what}`);
    expect(run.output).not.toContain("wrangler deploy");
  });

  it("binds in production every Durable Object, bucket and queue the top level binds: an environment inherits none", async () => {
    const { unstable_readConfig } = await import("wrangler");
    const read = (env?: string) => unstable_readConfig({ config: join(root, "wrangler.jsonc"), ...(env ? { env } : {}) }, { hideWarnings: true });
    const top = read();
    const production = read("production");
    expect(top.durable_objects.bindings.length).toBeGreaterThan(0);
    expect(production.durable_objects).toEqual(top.durable_objects);
    expect(production.queues).toEqual(top.queues);
    expect(production.r2_buckets).toEqual(top.r2_buckets);
  });

  it("refuses an environment that leaves out a binding, naming it", () => {
    const file = guideConfig();
    writeFileSync(file, readFileSync(file, "utf8").replace(/(\n\s*"production": \{[\s\S]*?)\n\s*\{ "name": "EVENT_FEED", "class_name": "EventFeed" \},/, "$1"));
    const run = deploy(["--dry-run", "--skip-tests", "--config", file]);
    expect(run.status).toBe(1);
    expect(run.output).toContain("env.production.durable_objects binds no Durable Object as EVENT_FEED");
  });

  it("refuses an origin that passkeys cannot use, even without placeholders", () => {
    const file = guideConfig();
    writeFileSync(file, readFileSync(file, "utf8").replace('"REVIEW_RP_ID": "warden.acme-corp.dev"', '"REVIEW_RP_ID": "other.dev"'));
    const run = deploy(["--dry-run", "--skip-tests", "--config", file]);
    expect(run.status).toBe(1);
    expect(run.output).toContain("REVIEW_RP_ID must be REVIEW_ORIGIN's host");
  });

  it("follows the guide to a `wrangler deploy --dry-run` that passes offline", () => {
    const run = deploy(["--dry-run", "--skip-tests", "--config", guideConfig()]);
    expect(run.output).toContain("--dry-run: exiting now.");
    expect(run.output).toContain('env.REVIEW_ORIGIN ("https://warden.acme-corp.dev")');
    expect(run.output).toContain("dry run complete");
    expect(run.status, run.output).toBe(0);
  }, 120_000);

  it("creates missing buckets (the archive locked), queues and secrets on --yes, shows the tokens once, then deploys", () => {
    const state = account({ secrets: ["PUBLISHER_KEYS"] });
    const run = deploy(["--yes", "--skip-tests", "--config", guideConfig()], standIn(state.file));
    expect(run.status, run.output).toBe(0);
    const after = state.read();
    expect(after.buckets).toEqual(["warden-bundles", "warden-archive", "warden-vault"]);
    expect(after.locks).toEqual([{ bucket: "warden-archive", name: "segments-7y", prefix: "", days: ARCHIVE_RETENTION_DAYS }]);
    expect(after.queues).toEqual(QUEUES);
    expect([...after.secrets].sort()).toEqual([...ALL_SECRETS].sort());
    expect(after.uploaded.map((secret) => secret.name)).not.toContain("PUBLISHER_KEYS");
    expect(run.output).toMatch(/ADMIN_TOKEN = [A-Za-z0-9_-]{43}/);
    // The generated secrets travel with the deployment, whose file is gone afterwards.
    expect(after.deployed).toEqual([expect.stringMatching(/^deploy --env production --config \S+ --secrets-file$/)]);
    expect(after.calls.at(-1)).toMatch(/^deploy .*--secrets-file /);
    expect(after.uploaded.find((secret) => secret.name === "LOG_HMAC_KEY")?.length).toBe(43);
  });

  it("a worker never deployed has no secrets: it asks for PUBLISHER_KEYS first (wrangler secret put creates the worker)", () => {
    const state = account({ workerExists: false, buckets: ["warden-bundles", "warden-archive", "warden-vault"] });
    const run = deploy(["--yes", "--skip-tests", "--config", guideConfig()], standIn(state.file));
    expect(run.status).toBe(1);
    expect(run.output).toContain("wrangler secret put PUBLISHER_KEYS");
    expect(state.read().deployed).toEqual([]);
  });

  it("any other failure to list the secrets stops the deploy: nothing is generated over a secret that may be set", () => {
    const state = account({ listError: "Authentication error [code: 10000]", buckets: ["warden-bundles", "warden-archive", "warden-vault"] });
    const run = deploy(["--yes", "--skip-tests", "--config", guideConfig()], standIn(state.file));
    expect(run.status).toBe(1);
    expect(run.output).toContain("cannot list the worker's secrets, so nothing is generated: Authentication error");
    expect(state.read()).toMatchObject({ uploaded: [], deployed: [] });
  });

  it("creates nothing and deploys nothing without a yes", () => {
    const state = account({ secrets: ALL_SECRETS });
    const run = deploy(["--skip-tests", "--config", guideConfig()], standIn(state.file));
    expect(run.status).toBe(1);
    expect(run.output).toContain("R2 bucket warden-bundles is missing");
    expect(state.read()).toMatchObject({ buckets: [], deployed: [], locks: [] });
  });

  it("never invents PUBLISHER_KEYS: it says how to make and set it", () => {
    const state = account({ buckets: ["warden-bundles", "warden-archive", "warden-vault"] });
    const run = deploy(["--yes", "--skip-tests", "--config", guideConfig()], standIn(state.file));
    expect(run.status).toBe(1);
    expect(run.output).toContain("warden keys generate");
    expect(run.output).toContain("wrangler secret put PUBLISHER_KEYS");
    expect(state.read()).toMatchObject({ uploaded: [], deployed: [] });
  });

  it("touches nothing when everything exists, but deploys", () => {
    const state = account({ buckets: ["warden-bundles", "warden-archive", "warden-vault"], queues: QUEUES, secrets: ALL_SECRETS });
    const run = deploy(["--skip-tests", "--config", guideConfig()], standIn(state.file));
    expect(run.status, run.output).toBe(0);
    const after = state.read();
    expect(after.calls.filter((call) => /create|bulk|lock/.test(call))).toEqual([]);
    expect(after.deployed).toHaveLength(1);
  });
});
