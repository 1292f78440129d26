#!/usr/bin/env node
// `npm start`: a local Warden on http://localhost:8787 (or `-- --port N --host H`) with the example
// policy bundle active.
//
//  1. Creates .dev.vars (ADMIN_TOKEN, AUDITOR_TOKEN, SIGNING_KEY, LOG_SIGNING_KEY, LOG_HMAC_KEY, VAULT_KEYS,
//     PUBLISHER_KEYS) and the development publisher key .dev/publisher.jwk if there are none;
//     never overwrites them.
//  2. Tests and signs policy-bundles/default (`warden bundle build`) and uploads the artifact
//     to local R2, before wrangler dev holds the local state.
//  3. Runs `wrangler dev --persist-to .wrangler/state` on the port and host asked for (see
//     serveOptions), with REVIEW_ORIGIN, REVIEW_RP_ID and LOG_ORIGIN following them and any other
//     arguments passed through, forwarding signals and its exit code; once it answers, and if no
//     bundle is active yet, activates the artifact through the admin API, as `warden bundle
//     publish` does, and registers the agents the example bundle expects
//     (policy-bundles/default/agents.json: the shim's default id and the ids the hooks send),
//     which it denies otherwise (`agent_unregistered`).
//  4. Runs the project's witness (witness/, C2SP tlog-witness) as a second `wrangler dev` on
//     port 8788 (WARDEN_WITNESS_PORT), with its own key in witness/.dev.vars and Warden's log key
//     (and the log origin of the first run) as what it trusts; Warden's .dev.vars gets WITNESSES
//     pointing at it, so every checkpoint is cosigned. Delete WITNESSES from .dev.vars to run
//     without, and witness/.dev.vars after serving on another --host.
//
// Everything runs locally (workerd through wrangler): no Cloudflare login, no metrics.
// The CLI runs from dist/: it is rebuilt first when cli/ or worker/ changed since the last build.

import { spawn, spawnSync } from "node:child_process";
import { createHash, generateKeyPairSync, randomBytes } from "node:crypto";
import { bearerToken } from "./bearer-token.mjs";
import { appendFileSync, chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { isIP } from "node:net";
import { join, relative } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const PERSIST_TO = ".wrangler/state";
const BUNDLE_DIR = "policy-bundles/default";
const AGENTS_FILE = join(root, BUNDLE_DIR, "agents.json");
const DEV_VARS = join(root, ".dev.vars");
const ARTIFACT_FILE = join(root, ".dev", "default.jws");
const PUBLISHER_KEY_FILE = join(root, ".dev", "publisher.jwk");
const REQUIRED_VARS = ["ADMIN_TOKEN", "AUDITOR_TOKEN", "SIGNING_KEY", "PUBLISHER_KEYS", "LOG_SIGNING_KEY", "LOG_HMAC_KEY", "VAULT_KEYS"];
const WITNESS_DEV_VARS = join(root, "witness", ".dev.vars");
const WITNESS_PORT = process.env.WARDEN_WITNESS_PORT ?? "8788";
const wardenBin = join(root, "bin", "warden.js");

const env = {
  ...process.env,
  WRANGLER_SEND_METRICS: "false",
  // Warden never reads request.cf: skip miniflare's download of it (and the warning without network).
  CLOUDFLARE_CF_FETCH_ENABLED: process.env.CLOUDFLARE_CF_FETCH_ENABLED ?? "false",
};
// The local wrangler, run by this node: no npx lookup, no shell, same on every OS.
const wranglerBin = createRequire(import.meta.url).resolve("wrangler/bin/wrangler.js");

function say(message) {
  console.log(`[warden dev] ${message}`);
}

function fail(message) {
  console.error(`[warden dev] ${message}`);
  process.exit(1);
}

/**
 * `npm start -- [--port N | --port=N] [--host H | --host=H]`: where to serve, and the origin every
 * origin-derived setting follows (REVIEW_ORIGIN and REVIEW_RP_ID for passkeys, the enrollment
 * links built from them, LOG_ORIGIN). Other arguments go to wrangler dev as they are.
 * Passkeys need a domain name (WebAuthn refuses an IP address as RP ID), so with an IP address
 * the server listens there but the origin stays http://localhost:<port>, and we say so.
 * Throws on a value it cannot use.
 */
export function serveOptions(argv) {
  const passthrough = [];
  let port = 8787;
  let host = "localhost";
  let protocol = "http";
  for (let at = 0; at < argv.length; at += 1) {
    const match = /^--(port|host|ip|local-protocol)(?:=(.*))?$/.exec(argv[at]);
    if (!match) {
      passthrough.push(argv[at]);
      continue;
    }
    const value = match[2] ?? argv[++at];
    if (value === undefined || value === "") throw new Error(`--${match[1]} needs a value`);
    if (match[1] === "port") {
      port = Number(value);
      if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`--port must be a port number, not ${JSON.stringify(value)}`);
    } else if (match[1] === "local-protocol") {
      if (value !== "http" && value !== "https") throw new Error(`--local-protocol must be http or https, not ${JSON.stringify(value)}`);
      protocol = value;
    } else host = value;
  }
  const isAddress = isIP(host.replace(/^\[|\]$/g, "")) !== 0;
  const originHost = isAddress ? "localhost" : host;
  const origin = `${protocol}://${originHost}:${port}`;
  // Reach the server the way it listens: "localhost" may resolve to ::1 while wrangler listens on 127.0.0.1.
  const listen = host === "localhost" ? "127.0.0.1" : host;
  const probeHost = listen === "0.0.0.0" || listen === "::" ? "127.0.0.1" : listen.includes(":") ? `[${listen}]` : listen;
  return {
    port,
    listen,
    origin,
    protocol,
    probe: `${protocol}://${probeHost}:${port}`,
    addressWarning: isAddress
      ? `passkeys need a domain name: open the reviewer pages at ${origin}, not at ${protocol}://${host}:${port}`
      : originHost !== "localhost" && protocol === "http"
        ? `passkeys need https except on localhost: add --local-protocol https for ${originHost}`
        : null,
    vars: { REVIEW_ORIGIN: origin, REVIEW_RP_ID: originHost, LOG_ORIGIN: `${originHost}/log` },
    passthrough,
  };
}

// 0. The compiled CLI, current with the sources.
function buildCli() {
  const built = spawnSync(process.execPath, [join(root, "scripts", "build.mjs"), "--if-stale"], { cwd: root, env, stdio: "inherit" });
  if (built.status !== 0) fail("building the CLI failed");
}

// 1. Secrets for local development.
/** The development publisher key, made once; its public half goes into PUBLISHER_KEYS. */
function publisherKeysVar() {
  mkdirSync(join(root, ".dev"), { recursive: true });
  if (!existsSync(PUBLISHER_KEY_FILE)) {
    const made = spawnSync(process.execPath, [wardenBin, "keys", "generate", "--out", PUBLISHER_KEY_FILE], { cwd: root, env, encoding: "utf8" });
    if (made.status !== 0) fail(`warden keys generate failed: ${made.stderr}`);
    say(`created the development publisher key ${relative(root, PUBLISHER_KEY_FILE)}`);
  }
  const { kty, crv, x, kid } = JSON.parse(readFileSync(PUBLISHER_KEY_FILE, "utf8"));
  return `PUBLISHER_KEYS='${JSON.stringify({ keys: [{ kty, crv, x, kid }] })}'`;
}

/** The vault's keys for local development (docs/privacy.md): one oct key; a bundle that hashes or tokenises needs it. */
function vaultKeysVar() {
  return `VAULT_KEYS='${JSON.stringify({ keys: [{ kty: "oct", kid: "dev-vault-1", k: randomBytes(32).toString("base64url") }] })}'`;
}

function devVars() {
  return Object.fromEntries(
    [...readFileSync(DEV_VARS, "utf8").matchAll(/^\s*([A-Z_][A-Z0-9_]*)=(.*)$/gm)].map(([, name, value]) => [name, value.replace(/^'(.*)'$/, "$1")]),
  );
}

function ensureDevVars() {
  const signingKey = generateKeyPairSync("ed25519").privateKey.export({ format: "jwk" });
  const logSigningKey = generateKeyPairSync("ed25519").privateKey.export({ format: "jwk" });
  const adminToken = bearerToken();
  const contents = [
    "# Local development secrets, made by `npm start` (scripts/dev.mjs). Never commit this file.",
    `ADMIN_TOKEN=${adminToken}`,
    `AUDITOR_TOKEN=${bearerToken()}`,
    `SIGNING_KEY='${JSON.stringify(signingKey)}'`,
    `LOG_SIGNING_KEY='${JSON.stringify(logSigningKey)}'`,
    `LOG_HMAC_KEY=${randomBytes(32).toString("base64url")}`,
    vaultKeysVar(),
    publisherKeysVar(),
    "",
  ].join("\n");
  try {
    writeFileSync(DEV_VARS, contents, { flag: "wx", mode: 0o600 });
  } catch (error) {
    if (error.code !== "EEXIST") throw error;
    say(`using existing ${DEV_VARS}`);
    const present = devVars();
    if (!present.VAULT_KEYS) {
      appendFileSync(DEV_VARS, vaultKeysVar() + "\n");
      say(`added VAULT_KEYS to ${DEV_VARS}`);
    }
    if (!present.PUBLISHER_KEYS) {
      appendFileSync(DEV_VARS, publisherKeysVar() + "\n");
      say(`added PUBLISHER_KEYS to ${DEV_VARS}`);
    }
    const missing = REQUIRED_VARS.filter((name) => !(name in devVars()));
    if (missing.length > 0) say(`warning: ${DEV_VARS} does not set ${missing.join(", ")}; add them or delete the file to have it recreated`);
    return;
  }
  chmodSync(DEV_VARS, 0o600);
  say(`created ${DEV_VARS} (mode 600) with fresh tokens, token and log signing keys, a log HMAC key and PUBLISHER_KEYS`);
  say(`admin token: ${adminToken}`);
}

// 2. The example bundle, tested, signed and uploaded to local R2.
async function readConfig() {
  // wrangler's own reader: the JSONC, its environments and its validation, as wrangler dev sees them.
  const { unstable_readConfig } = await import("wrangler");
  const config = unstable_readConfig({ config: join(root, "wrangler.jsonc") }, { hideWarnings: true });
  const tenant = config.vars?.TENANT;
  const bucket = config.r2_buckets?.find((binding) => binding.binding === "BUNDLES")?.bucket_name;
  if (typeof tenant !== "string" || !tenant) fail("wrangler.jsonc sets no vars.TENANT");
  if (typeof bucket !== "string" || !bucket) fail("wrangler.jsonc binds no R2 bucket as BUNDLES");
  return { tenant, bucket };
}

function buildAndUpload({ tenant, bucket }) {
  const built = spawnSync(
    process.execPath,
    [wardenBin, "bundle", "build", BUNDLE_DIR, "--key", PUBLISHER_KEY_FILE, "--tenant", tenant, "--out", ARTIFACT_FILE, "--json"],
    { cwd: root, env, encoding: "utf8" },
  );
  if (built.status !== 0) fail(`warden bundle build ${BUNDLE_DIR} failed:\n${built.stdout}${built.stderr}`);
  const { version, digest } = JSON.parse(built.stdout);
  say(`built and signed ${BUNDLE_DIR}: version ${version} (${digest})`);
  const object = `${bucket}/${tenant}/bundles/artifacts/${version}.jws`;
  const put = spawnSync(
    process.execPath,
    [wranglerBin, "r2", "object", "put", object, "--file", relative(root, ARTIFACT_FILE), "--content-type", "application/octet-stream", "--local", "--persist-to", PERSIST_TO],
    { cwd: root, env, stdio: ["ignore", "ignore", "inherit"] },
  );
  if (put.error) fail(`wrangler r2 object put failed: ${put.error.message}`);
  if (put.status !== 0) fail(`wrangler r2 object put exited with ${put.status ?? put.signal}`);
  return version;
}

/** Registers the example agents not registered yet; one an admin changed since is left as it is. */
async function registerAgents(base) {
  const { agents } = JSON.parse(readFileSync(AGENTS_FILE, "utf8"));
  const authorization = `Bearer ${devVars().ADMIN_TOKEN}`;
  const added = [];
  for (const agent of agents) {
    const known = await fetch(`${base}/v1/agents/${encodeURIComponent(agent.id)}`, { headers: { authorization } });
    await known.body?.cancel();
    if (known.status === 200) continue;
    const response = await fetch(`${base}/v1/agents`, {
      method: "POST",
      headers: { authorization, "content-type": "application/json" },
      body: JSON.stringify(agent),
    });
    if (response.status === 201) added.push(agent.id);
    else say(`could not register the agent ${agent.id}: ${await response.text()}`);
  }
  if (added.length > 0) say(`registered the example agents: ${added.join(", ")}`);
}

/** Once wrangler dev answers, activates `version` unless a bundle is already active, and registers the example agents. */
async function activateWhenReady(version, serve) {
  const ready = async () => {
    await registerAgents(serve.probe);
    say(`Warden is ready at ${serve.origin} (API reference ${serve.origin}/docs, reviewer page ${serve.origin}/review)`);
    if (serve.addressWarning) say(serve.addressWarning);
  };
  for (let attempt = 0; attempt < 120; attempt += 1) {
    let health;
    try {
      health = await (await fetch(`${serve.probe}/healthz`)).json();
    } catch {
      await sleep(500);
      continue;
    }
    if (health.bundle?.active) {
      say(`bundle version ${health.bundle.version} is active (${health.bundle.digest})`);
      await ready();
      return;
    }
    const response = await fetch(`${serve.probe}/v1/bundles/activate`, {
      method: "POST",
      headers: { authorization: `Bearer ${devVars().ADMIN_TOKEN}`, "content-type": "application/json" },
      body: JSON.stringify({ version, reason: "npm start: example bundle" }),
    });
    const body = await response.json();
    if (response.status === 200) {
      say(`activated ${BUNDLE_DIR} version ${version}`);
      await ready();
    } else say(`could not activate the example bundle: ${JSON.stringify(body)}`);
    return;
  }
  say(`wrangler dev did not answer at ${serve.probe}; the example bundle is uploaded but not active`);
}

// 4. The witness: its key once, the log key it trusts, and WITNESSES in Warden's .dev.vars.
/** tlog-cosignature key ID (hex): SHA-256(name ‖ "\n" ‖ 0x04 ‖ key)[:4], as worker/log/witness.ts computes it. */
function witnessVkey(name, x) {
  const key = Buffer.from(x, "base64url");
  const id = createHash("sha256").update(name).update(Buffer.of(0x0a, 0x04)).update(key).digest().subarray(0, 4).toString("hex");
  return `${name}+${id}+${Buffer.concat([Buffer.of(0x04), key]).toString("base64")}`;
}

async function ensureWitness(origin) {
  const { unstable_readConfig } = await import("wrangler");
  const config = unstable_readConfig({ config: join(root, "witness", "wrangler.jsonc") }, { hideWarnings: true });
  const name = config.vars?.WITNESS_NAME;
  const logKey = devVars().LOG_SIGNING_KEY;
  if (typeof name !== "string" || !logKey) {
    say("no witness: witness/wrangler.jsonc names none, or .dev.vars has no LOG_SIGNING_KEY");
    return false;
  }
  if (!existsSync(WITNESS_DEV_VARS)) {
    const witnessKey = generateKeyPairSync("ed25519").privateKey.export({ format: "jwk" });
    const { x } = JSON.parse(logKey);
    const contents = [
      "# The local witness's secrets, made by `npm start` (scripts/dev.mjs). Never commit this file.",
      `WITNESS_SIGNING_KEY='${JSON.stringify(witnessKey)}'`,
      `WITNESS_LOGS_CONFIG='${JSON.stringify([{ origin_prefix: `${origin}/`, keys: [{ kty: "OKP", crv: "Ed25519", x }] }])}'`,
      "",
    ].join("\n");
    writeFileSync(WITNESS_DEV_VARS, contents, { flag: "wx", mode: 0o600 });
    say(`created ${relative(root, WITNESS_DEV_VARS)} with the witness's key, trusting the log key of .dev.vars`);
  }
  if (!("WITNESSES" in devVars())) {
    const witnessKey = readFileSync(WITNESS_DEV_VARS, "utf8").match(/^WITNESS_SIGNING_KEY='(.*)'$/m)?.[1];
    if (!witnessKey) fail(`${WITNESS_DEV_VARS} has no WITNESS_SIGNING_KEY`);
    const vkey = witnessVkey(name, JSON.parse(witnessKey).x);
    appendFileSync(DEV_VARS, `WITNESSES='${JSON.stringify([{ vkey, url: `http://localhost:${WITNESS_PORT}` }])}'\n`);
    say(`added WITNESSES to ${DEV_VARS}: checkpoints are cosigned by ${vkey}`);
  }
  return true;
}

/** The witness's wrangler dev, in the background; stopped when Warden's ends. */
function runWitnessDev() {
  const child = spawn(
    process.execPath,
    [wranglerBin, "dev", "--config", "witness/wrangler.jsonc", "--port", WITNESS_PORT, "--inspector-port", String(Number(WITNESS_PORT) + 1000), "--persist-to", PERSIST_TO, "--show-interactive-dev-session=false"],
    { cwd: root, env, stdio: ["ignore", "ignore", "inherit"] },
  );
  child.on("error", (error) => say(`cannot run the witness: ${error.message}`));
  process.on("exit", () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
  });
  say(`witness on http://localhost:${WITNESS_PORT}`);
}

// 3. wrangler dev, in the foreground.
function runWranglerDev(serve) {
  const vars = Object.entries(serve.vars).flatMap(([name, value]) => ["--var", `${name}:${value}`]);
  const args = ["dev", "--persist-to", PERSIST_TO, "--port", String(serve.port), "--ip", serve.listen, "--local-protocol", serve.protocol, ...vars, ...serve.passthrough];
  const child = spawn(process.execPath, [wranglerBin, ...args], { cwd: root, env, stdio: "inherit" });
  const signals = ["SIGINT", "SIGTERM", "SIGHUP"];
  const forward = (signal) => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
  };
  for (const signal of signals) process.on(signal, forward);
  child.on("error", (error) => fail(`cannot run wrangler dev: ${error.message}`));
  child.on("exit", (code, signal) => {
    for (const name of signals) process.off(name, forward);
    if (signal) {
      // Die of the same signal, so whoever started us sees how wrangler ended.
      process.kill(process.pid, signal);
      return;
    }
    process.exit(code ?? 1);
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  let serve;
  try {
    serve = serveOptions(process.argv.slice(2));
  } catch (error) {
    fail(error.message);
  }
  // wrangler dev's https certificate is self-signed; this process only talks to that local server.
  if (serve.protocol === "https") process.env.NODE_TLS_REJECT_UNAUTHORIZED = "0";
  buildCli();
  ensureDevVars();
  const version = buildAndUpload(await readConfig());
  if (await ensureWitness(serve.vars.LOG_ORIGIN)) runWitnessDev();
  runWranglerDev(serve);
  await activateWhenReady(version, serve);
}
