#!/usr/bin/env node
// `npm start`: a local Warden on http://localhost:8787 with the example policy bundle active.
//
//  1. Creates .dev.vars (ADMIN_TOKEN, AUDITOR_TOKEN, SIGNING_KEY, LOG_SIGNING_KEY, LOG_HMAC_KEY,
//     PUBLISHER_KEYS) and the development publisher key .dev/publisher.jwk if there are none;
//     never overwrites them.
//  2. Tests and signs policy-bundles/default (`warden bundle build`) and uploads the artifact
//     to local R2, before wrangler dev holds the local state.
//  3. Runs `wrangler dev --persist-to .wrangler/state` with any extra arguments passed through
//     (`npm start -- --port 8788`), forwarding signals and its exit code; once it answers, and
//     if no bundle is active yet, activates the artifact through the admin API, as
//     `warden bundle publish` does.
//
// Everything runs locally (workerd through wrangler): no Cloudflare login, no metrics.
// The CLI runs from dist/: it is rebuilt first when cli/ or worker/ changed since the last build.

import { spawn, spawnSync } from "node:child_process";
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { appendFileSync, chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join, relative } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const PERSIST_TO = ".wrangler/state";
const BUNDLE_DIR = "policy-bundles/default";
const DEV_VARS = join(root, ".dev.vars");
const ARTIFACT_FILE = join(root, ".dev", "default.jws");
const PUBLISHER_KEY_FILE = join(root, ".dev", "publisher.jwk");
const REQUIRED_VARS = ["ADMIN_TOKEN", "AUDITOR_TOKEN", "SIGNING_KEY", "PUBLISHER_KEYS", "LOG_SIGNING_KEY", "LOG_HMAC_KEY"];
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

/** Removes comments and trailing commas outside strings: enough for wrangler.jsonc. */
function parseJsonc(text) {
  const withoutComments = scan(text, (at) => {
    if (text.startsWith("//", at)) {
      const end = text.indexOf("\n", at);
      return (end < 0 ? text.length : end) - at;
    }
    if (text.startsWith("/*", at)) {
      const end = text.indexOf("*/", at + 2);
      return (end < 0 ? text.length : end + 2) - at;
    }
    return 0;
  });
  const trailingComma = /,\s*[}\]]/y;
  return JSON.parse(
    scan(withoutComments, (at) => {
      trailingComma.lastIndex = at;
      return trailingComma.test(withoutComments) ? 1 : 0;
    }),
  );
}

/** Copies `text`, strings verbatim, elsewhere dropping the `skip(at)` characters starting at each position. */
function scan(text, skip) {
  let out = "";
  let at = 0;
  while (at < text.length) {
    if (text[at] === '"') {
      let end = at + 1;
      while (end < text.length && text[end] !== '"') end += text[end] === "\\" ? 2 : 1;
      out += text.slice(at, end + 1);
      at = end + 1;
    } else {
      const skipped = skip(at);
      if (skipped > 0) at += skipped;
      else out += text[at++];
    }
  }
  return out;
}

// 0. The compiled CLI, current with the sources.
const built = spawnSync(process.execPath, [join(root, "scripts", "build.mjs"), "--if-stale"], { cwd: root, env, stdio: "inherit" });
if (built.status !== 0) fail("building the CLI failed");

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

function devVars() {
  return Object.fromEntries(
    [...readFileSync(DEV_VARS, "utf8").matchAll(/^\s*([A-Z_][A-Z0-9_]*)=(.*)$/gm)].map(([, name, value]) => [name, value.replace(/^'(.*)'$/, "$1")]),
  );
}

function ensureDevVars() {
  const signingKey = generateKeyPairSync("ed25519").privateKey.export({ format: "jwk" });
  const logSigningKey = generateKeyPairSync("ed25519").privateKey.export({ format: "jwk" });
  const adminToken = randomBytes(32).toString("base64url");
  const contents = [
    "# Local development secrets, made by `npm start` (scripts/dev.mjs). Never commit this file.",
    `ADMIN_TOKEN=${adminToken}`,
    `AUDITOR_TOKEN=${randomBytes(32).toString("base64url")}`,
    `SIGNING_KEY='${JSON.stringify(signingKey)}'`,
    `LOG_SIGNING_KEY='${JSON.stringify(logSigningKey)}'`,
    `LOG_HMAC_KEY=${randomBytes(32).toString("base64url")}`,
    publisherKeysVar(),
    "",
  ].join("\n");
  try {
    writeFileSync(DEV_VARS, contents, { flag: "wx", mode: 0o600 });
  } catch (error) {
    if (error.code !== "EEXIST") throw error;
    say(`using existing ${DEV_VARS}`);
    const present = devVars();
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
function readConfig() {
  const config = parseJsonc(readFileSync(join(root, "wrangler.jsonc"), "utf8"));
  const tenant = config.vars?.TENANT;
  const bucket = config.r2_buckets?.find((binding) => binding.binding === "BUNDLES")?.bucket_name;
  if (typeof tenant !== "string" || !tenant) fail("wrangler.jsonc sets no vars.TENANT");
  if (typeof bucket !== "string" || !bucket) fail("wrangler.jsonc binds no R2 bucket as BUNDLES");
  return { tenant, bucket };
}

function buildAndUpload({ tenant, bucket }) {
  const built = spawnSync(
    process.execPath,
    [wardenBin, "bundle", "build", BUNDLE_DIR, "--key", PUBLISHER_KEY_FILE, "--tenant", tenant, "--out", ARTIFACT_FILE],
    { cwd: root, env, encoding: "utf8" },
  );
  if (built.status !== 0) fail(`warden bundle build ${BUNDLE_DIR} failed:\n${built.stdout}${built.stderr}`);
  const { version, digest } = JSON.parse(built.stdout.slice(built.stdout.lastIndexOf("\n{") + 1));
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

/** Once wrangler dev answers, activates `version` unless a bundle is already active. */
async function activateWhenReady(version) {
  const args = process.argv.slice(2);
  const portAt = args.indexOf("--port");
  const base = `http://localhost:${portAt >= 0 ? args[portAt + 1] : "8787"}`;
  for (let attempt = 0; attempt < 120; attempt += 1) {
    let health;
    try {
      health = await (await fetch(`${base}/healthz`)).json();
    } catch {
      await sleep(500);
      continue;
    }
    if (health.bundle?.active) {
      say(`bundle version ${health.bundle.version} is active (${health.bundle.digest})`);
      return;
    }
    const response = await fetch(`${base}/v1/bundles/activate`, {
      method: "POST",
      headers: { authorization: `Bearer ${devVars().ADMIN_TOKEN}`, "content-type": "application/json" },
      body: JSON.stringify({ version, reason: "npm start: example bundle" }),
    });
    const body = await response.json();
    if (response.status === 200) say(`activated ${BUNDLE_DIR} version ${version}; Warden is ready at ${base} (API reference at ${base}/docs)`);
    else say(`could not activate the example bundle: ${JSON.stringify(body)}`);
    return;
  }
  say(`wrangler dev did not answer at ${base}; the example bundle is uploaded but not active`);
}

// 3. wrangler dev, in the foreground.
function runWranglerDev() {
  const child = spawn(process.execPath, [wranglerBin, "dev", "--persist-to", PERSIST_TO, ...process.argv.slice(2)], { cwd: root, env, stdio: "inherit" });
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

ensureDevVars();
const version = buildAndUpload(readConfig());
runWranglerDev();
await activateWhenReady(version);
