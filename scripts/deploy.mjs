#!/usr/bin/env node
// `npm run deploy [-- options]`: Warden to your Cloudflare account, as docs/deploy.md describes.
//
//  1. Reads wrangler.jsonc's environment (default `production`) with wrangler's own reader and
//     refuses while a placeholder is left (warden.example.com and any other example.* domain),
//     or when the origin settings disagree (REVIEW_ORIGIN https, REVIEW_RP_ID its host or a
//     parent, LOG_ORIGIN without a scheme).
//  2. Checks that the R2 buckets, the queues and the secrets exist in the account; offers to create what is
//     missing (buckets, the archive's retention lock, queues, generated secrets) and creates nothing
//     without a yes. PUBLISHER_KEYS is never invented: it is the JWK Set of your publisher key.
//  3. Runs `npm test`, then `wrangler deploy --env <env>`, with the generated secrets
//     (`--secrets-file`, so they exist from the deployment on, even for a new worker).
//
// Options:
//   --env <name>      The wrangler environment (default production)
//   --dry-run         Check the configuration and build the bundle (`wrangler deploy --dry-run`):
//                     no account calls, nothing created, nothing deployed; runs offline
//   --yes             Answer yes to every offer to create (CI)
//   --skip-tests      Do not run `npm test` first (the deploy still refuses placeholders)
//   --config <file>   Another wrangler configuration file (default wrangler.jsonc)
//
// Account calls go through wrangler (`wrangler login` or CLOUDFLARE_API_TOKEN). WARDEN_WRANGLER
// names another wrangler entry point for them; the tests point it at a local stand-in.

import { spawnSync } from "node:child_process";
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { bearerToken } from "./bearer-token.mjs";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline/promises";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const root = fileURLToPath(new URL("..", import.meta.url));
const env = { ...process.env, WRANGLER_SEND_METRICS: "false" };
const wranglerBin = process.env.WARDEN_WRANGLER ?? createRequire(import.meta.url).resolve("wrangler/bin/wrangler.js");

/** The secrets the worker reads (env.d.ts), and how a missing one can be made here. */
const SECRETS = [
  { name: "ADMIN_TOKEN", make: () => bearerToken(), show: true },
  { name: "AUDITOR_TOKEN", make: () => bearerToken(), show: true },
  { name: "SIGNING_KEY", make: () => JSON.stringify(generateKeyPairSync("ed25519").privateKey.export({ format: "jwk" })), show: false },
  { name: "LOG_SIGNING_KEY", make: () => JSON.stringify(generateKeyPairSync("ed25519").privateKey.export({ format: "jwk" })), show: false },
  { name: "LOG_HMAC_KEY", make: () => randomBytes(32).toString("base64url"), show: false },
  // Masking and the vault (docs/privacy.md): a JWK Set whose first key hashes and encrypts; rotate by putting a new key first.
  { name: "VAULT_KEYS", make: () => vaultKeys(), show: false },
  // The publisher's public JWK Set: only its owner has it (`warden keys generate`).
  { name: "PUBLISHER_KEYS", make: null, show: false },
];

/** How long archive segments are locked against deletion and overwrite (seven years), as docs/deploy.md says. */
export const ARCHIVE_RETENTION_DAYS = 2557;

/** A fresh VAULT_KEYS: one oct key of 32 random bytes, named by the day it was made. */
function vaultKeys() {
  return JSON.stringify({ keys: [{ kty: "oct", kid: `vault-${new Date().toISOString().slice(0, 10)}`, k: randomBytes(32).toString("base64url") }] });
}

const PLACEHOLDER = /(^|[./@])example\.(com|org|net)\b/i;

function say(message) {
  process.stderr.write(`[warden deploy] ${message}\n`);
}

/** A refusal to deploy, with the reason to show. */
class DeployError extends Error {}

/**
 * What is wrong with the environment's configuration, as sentences; empty when it may deploy.
 * Pure over the config wrangler's reader returns, so a test can run it on any file.
 */
function configProblems(config, envName) {
  const problems = [];
  const vars = config.vars ?? {};
  const where = (key) => `env.${envName}.${key}`;
  for (const [name, value] of Object.entries(vars)) {
    if (typeof value === "string" && PLACEHOLDER.test(value)) problems.push(`${where(`vars.${name}`)} is still the placeholder ${JSON.stringify(value)}: put your domain`);
  }
  for (const route of config.routes ?? []) {
    const pattern = typeof route === "string" ? route : route.pattern;
    if (PLACEHOLDER.test(pattern)) problems.push(`${where("routes")} still names the placeholder ${JSON.stringify(pattern)}: put your domain`);
  }
  const origin = vars.REVIEW_ORIGIN;
  const rpId = vars.REVIEW_RP_ID;
  let host;
  try {
    const url = new URL(origin);
    if (url.protocol !== "https:" || url.origin !== origin) problems.push(`${where("vars.REVIEW_ORIGIN")} must be an https origin without a path, such as https://warden.your-company.com`);
    host = url.hostname;
  } catch {
    problems.push(`${where("vars.REVIEW_ORIGIN")} must be set to the https origin reviewers open`);
  }
  if (host && (typeof rpId !== "string" || !(host === rpId || host.endsWith(`.${rpId}`)))) problems.push(`${where("vars.REVIEW_RP_ID")} must be REVIEW_ORIGIN's host (${host}) or a parent domain of it`);
  if (typeof vars.LOG_ORIGIN !== "string" || vars.LOG_ORIGIN === "" || /:\/\//.test(vars.LOG_ORIGIN) || /\s/.test(vars.LOG_ORIGIN)) {
    problems.push(`${where("vars.LOG_ORIGIN")} must be a schema-less name for the logs, such as warden.your-company.com/log`);
  }
  if (typeof vars.TENANT !== "string" || vars.TENANT === "") problems.push(`${where("vars.TENANT")} must be set`);
  // Retention must never plan a deletion the archive's lock forbids (docs/deploy.md, worker/privacy/retention.ts).
  if (vars.RETENTION !== undefined) {
    let retention;
    try {
      retention = JSON.parse(vars.RETENTION);
    } catch {
      problems.push(`${where("vars.RETENTION")} must be JSON (docs/privacy.md)`);
    }
    const audit = [retention?.audit_days, ...Object.values(retention?.tenants ?? {}).map((tenant) => tenant?.audit_days)].filter((days) => days !== undefined);
    if (audit.some((days) => days < (retention?.archive_lock_days ?? ARCHIVE_RETENTION_DAYS))) {
      problems.push(`${where("vars.RETENTION")}: audit_days below the archive lock (${retention?.archive_lock_days ?? ARCHIVE_RETENTION_DAYS} days) would try deletions the lock forbids`);
    }
  }
  for (const binding of ["BUNDLES", "ARCHIVE", "VAULT"]) {
    if (!(config.r2_buckets ?? []).some((bucket) => bucket.binding === binding)) problems.push(`${where("r2_buckets")} binds no bucket as ${binding}`);
  }
  // Bindings are not inherited by an environment: one left out deploys a worker that fails on its first use.
  if (!(config.queues?.producers ?? []).some((producer) => producer.binding === "EVENTS_QUEUE")) problems.push(`${where("queues.producers")} binds no queue as EVENTS_QUEUE`);
  for (const binding of ["DEVICES", "BUNDLE_REGISTRY", "REVIEW_HOLDS", "REVIEWERS", "REVIEW_OUTBOX", "EVENT_FEED", "CONSENTS", "AGENTS"]) {
    if (!(config.durable_objects?.bindings ?? []).some((object) => object.name === binding)) problems.push(`${where("durable_objects")} binds no Durable Object as ${binding}`);
  }
  return problems;
}

/** Runs wrangler; `capture` keeps its stdout for us (else it goes to stderr with our log), `quiet` hides its errors. */
function wrangler(args, { capture = false, quiet = false } = {}) {
  const run = spawnSync(process.execPath, [wranglerBin, ...args], {
    cwd: root,
    env,
    encoding: "utf8",
    stdio: ["ignore", capture ? "pipe" : process.stderr, quiet ? "pipe" : "inherit"],
  });
  if (run.error) throw new DeployError(`cannot run wrangler: ${run.error.message}`);
  return run;
}

async function confirm(question, yes) {
  if (yes) {
    say(`${question} yes (--yes)`);
    return true;
  }
  if (!process.stdin.isTTY) return false;
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return /^y(es)?$/i.test((await rl.question(`[warden deploy] ${question} [y/N] `)).trim());
  } finally {
    rl.close();
  }
}

async function ensureBuckets(config, yes) {
  for (const { binding, bucket_name: bucket } of config.r2_buckets) {
    if (wrangler(["r2", "bucket", "info", bucket, "--json"], { capture: true, quiet: true }).status === 0) {
      say(`R2 bucket ${bucket} (${binding}) exists`);
      continue;
    }
    if (!(await confirm(`R2 bucket ${bucket} (${binding}) does not exist. Create it?`, yes))) throw new DeployError(`R2 bucket ${bucket} is missing: create it (docs/deploy.md) or answer yes`);
    if (wrangler(["r2", "bucket", "create", bucket]).status !== 0) throw new DeployError(`wrangler r2 bucket create ${bucket} failed`);
    if (binding === "ARCHIVE") {
      // Write-once retention: not even an account administrator can delete or overwrite a sealed segment early.
      const lock = ["r2", "bucket", "lock", "add", bucket, "segments-7y", "", "--retention-days", String(ARCHIVE_RETENTION_DAYS), "--force"];
      if (await confirm(`Lock ${bucket} so objects cannot be deleted or overwritten for ${ARCHIVE_RETENTION_DAYS} days (cannot be shortened)?`, yes)) {
        if (wrangler(lock).status !== 0) throw new DeployError(`wrangler ${lock.join(" ")} failed`);
      } else say(`no retention lock on ${bucket}: add one before relying on the archive (docs/deploy.md)`);
    }
  }
}

/** The queues the environment produces to or consumes from, dead-letter queues included: wrangler deploy refuses a binding to a queue that does not exist. */
function queueNames(config) {
  const queues = config.queues ?? {};
  return [...new Set([...(queues.producers ?? []).map((producer) => producer.queue), ...(queues.consumers ?? []).flatMap((consumer) => (consumer.dead_letter_queue ? [consumer.queue, consumer.dead_letter_queue] : [consumer.queue]))])];
}

async function ensureQueues(config, yes) {
  for (const queue of queueNames(config)) {
    if (wrangler(["queues", "info", queue], { capture: true, quiet: true }).status === 0) {
      say(`queue ${queue} exists`);
      continue;
    }
    if (!(await confirm(`Queue ${queue} does not exist. Create it?`, yes))) throw new DeployError(`queue ${queue} is missing: create it (docs/deploy.md) or answer yes`);
    if (wrangler(["queues", "create", queue]).status !== 0) throw new DeployError(`wrangler queues create ${queue} failed`);
  }
}

/**
 * The secrets to generate and upload with the deployment (`wrangler deploy --secrets-file`):
 * those missing that can be made here, after a yes. Only a worker that does not exist yet may
 * count as having none: any other failure to list them stops the deploy, since generating over
 * a secret that is set — a signing key above all — would replace it.
 */
async function missingSecrets(envName, configArgs, yes) {
  const listed = wrangler(["secret", "list", "--env", envName, "--format", "json", ...configArgs], { capture: true, quiet: true });
  let present;
  if (listed.status === 0) present = new Set(JSON.parse(listed.stdout).map((secret) => secret.name));
  else if (/\b10007\b|does not exist/i.test(`${listed.stdout}${listed.stderr}`)) present = new Set();
  else throw new DeployError(`cannot list the worker's secrets, so nothing is generated: ${`${listed.stderr}`.trim() || `wrangler exited with ${listed.status}`}`);
  const missing = SECRETS.filter((secret) => !present.has(secret.name));
  if (missing.length === 0) {
    say(`secrets present: ${SECRETS.map((secret) => secret.name).join(", ")}`);
    return {};
  }
  const unmakeable = missing.filter((secret) => secret.make === null);
  if (unmakeable.length > 0) {
    throw new DeployError(
      `secret ${unmakeable.map((secret) => secret.name).join(", ")} is missing: \`npx warden keys generate --out publisher.jwk\` prints the JWK Set; ` +
        `\`npx wrangler secret put PUBLISHER_KEYS --env ${envName}\` and paste it (docs/deploy.md)`,
    );
  }
  if (!(await confirm(`Secrets ${missing.map((secret) => secret.name).join(", ")} are not set. Generate them and upload them with the deployment?`, yes))) {
    throw new DeployError(`secrets ${missing.map((secret) => secret.name).join(", ")} are missing: set them with wrangler secret put (docs/deploy.md) or answer yes`);
  }
  return Object.fromEntries(missing.map((secret) => [secret.name, secret.make()]));
}

export async function deploy(argv) {
  const { values } = parseArgs({
    args: argv,
    options: {
      env: { type: "string", default: "production" },
      "dry-run": { type: "boolean", default: false },
      yes: { type: "boolean", default: false },
      "skip-tests": { type: "boolean", default: false },
      config: { type: "string" },
    },
    strict: true,
  });
  const configFile = values.config ?? join(root, "wrangler.jsonc");
  const configArgs = values.config ? ["--config", values.config] : [];
  const { unstable_readConfig } = await import("wrangler");
  const config = unstable_readConfig({ config: configFile, env: values.env }, { hideWarnings: true });

  const problems = configProblems(config, values.env);
  if (problems.length > 0) throw new DeployError(`refusing to deploy ${values.env}:\n  - ${problems.join("\n  - ")}`);
  say(`configuration of ${values.env} is complete (${config.name}, ${config.vars.REVIEW_ORIGIN})`);

  let secrets = {};
  if (!values["dry-run"]) {
    await ensureBuckets(config, values.yes);
    await ensureQueues(config, values.yes);
    secrets = await missingSecrets(values.env, configArgs, values.yes);
  }
  if (!values["skip-tests"]) {
    say("running npm test");
    const tested = spawnSync("npm", ["test"], { cwd: root, env, stdio: "inherit" });
    if (tested.status !== 0) throw new DeployError("npm test failed: nothing deployed");
  }
  const deployArgs = ["deploy", "--env", values.env, ...configArgs, ...(values["dry-run"] ? ["--dry-run"] : [])];
  say(`wrangler ${deployArgs.join(" ")}`);
  // Generated secrets travel with the deployment, from a file only this user can read, removed after.
  const dir = mkdtempSync(join(tmpdir(), "warden-secrets-"));
  try {
    if (Object.keys(secrets).length > 0) {
      const file = join(dir, "secrets.json");
      writeFileSync(file, JSON.stringify(secrets), { mode: 0o600 });
      deployArgs.push("--secrets-file", file);
    }
    const deployed = wrangler(deployArgs);
    if (deployed.status !== 0) throw new DeployError(`wrangler deploy exited with ${deployed.status}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  for (const secret of SECRETS.filter((secret) => secret.name in secrets)) {
    if (secret.show) say(`${secret.name} = ${secrets[secret.name]}  (shown once: keep it in your password manager)`);
    else say(`${secret.name} generated and stored`);
  }
  say(values["dry-run"] ? "dry run complete: nothing was created or deployed" : `deployed; roll back with \`npx wrangler rollback --env ${values.env}\` (docs/deploy.md)`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  try {
    await deploy(process.argv.slice(2));
  } catch (error) {
    // wrangler's reader and parseArgs explain themselves in their messages; a stack would bury that.
    say(error instanceof Error ? error.message : String(error));
    process.exit(1);
  }
}
