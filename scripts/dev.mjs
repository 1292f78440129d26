#!/usr/bin/env node
// `npm start`: a local Warden on http://localhost:8787 with the example policy bundle active.
//
//  1. Creates .dev.vars (ADMIN_TOKEN, AUDITOR_TOKEN, SIGNING_KEY) if there is none; never overwrites one.
//  2. Builds the bundle document of policy-bundles/default into .dev/bundle.json and puts it in
//     local R2 as the tenant's active bundle.
//  3. Runs `wrangler dev --persist-to .wrangler/state` with any extra arguments passed through
//     (`npm start -- --port 8788`), forwarding signals and its exit code.
//
// Everything runs locally (workerd through wrangler): no Cloudflare login, no metrics.

import { spawn, spawnSync } from "node:child_process";
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { tsImport } from "tsx/esm/api";

const root = fileURLToPath(new URL("..", import.meta.url));
const PERSIST_TO = ".wrangler/state";
const BUNDLE_DIR = "policy-bundles/default";
const DEV_VARS = join(root, ".dev.vars");
const BUNDLE_FILE = join(root, ".dev", "bundle.json");
const REQUIRED_VARS = ["ADMIN_TOKEN", "AUDITOR_TOKEN", "SIGNING_KEY"];

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

// 1. Secrets for local development.
function ensureDevVars() {
  const signingKey = generateKeyPairSync("ed25519").privateKey.export({ format: "jwk" });
  const adminToken = randomBytes(32).toString("base64url");
  const contents = [
    "# Local development secrets, made by `npm start` (scripts/dev.mjs). Never commit this file.",
    `ADMIN_TOKEN=${adminToken}`,
    `AUDITOR_TOKEN=${randomBytes(32).toString("base64url")}`,
    `SIGNING_KEY='${JSON.stringify(signingKey)}'`,
    "",
  ].join("\n");
  try {
    writeFileSync(DEV_VARS, contents, { flag: "wx", mode: 0o600 });
  } catch (error) {
    if (error.code !== "EEXIST") throw error;
    const present = new Set(readFileSync(DEV_VARS, "utf8").match(/^\s*[A-Z_][A-Z0-9_]*(?==)/gm)?.map((name) => name.trim()) ?? []);
    const missing = REQUIRED_VARS.filter((name) => !present.has(name));
    say(`using existing ${DEV_VARS} (not modified)`);
    if (missing.length > 0) say(`warning: ${DEV_VARS} does not set ${missing.join(", ")}; add them or delete the file to have it recreated`);
    return;
  }
  chmodSync(DEV_VARS, 0o600);
  say(`created ${DEV_VARS} (mode 600) with a fresh ADMIN_TOKEN, AUDITOR_TOKEN and SIGNING_KEY`);
  say(`admin token: ${adminToken}`);
}

// 2. The example bundle, active in local R2.
async function activateDefaultBundle() {
  const config = parseJsonc(readFileSync(join(root, "wrangler.jsonc"), "utf8"));
  const tenant = config.vars?.TENANT;
  const bucket = config.r2_buckets?.find((binding) => binding.binding === "BUNDLES")?.bucket_name;
  if (typeof tenant !== "string" || !tenant) fail("wrangler.jsonc sets no vars.TENANT");
  if (typeof bucket !== "string" || !bucket) fail("wrangler.jsonc binds no R2 bucket as BUNDLES");

  const { bundleDocument } = await tsImport("../worker/policy/artifact.ts", import.meta.url);
  const read = (name) => readFileSync(join(root, BUNDLE_DIR, name), "utf8");
  const document = bundleDocument({
    policies: read("policies.cedar"),
    schema: read("schema.cedarschema"),
    manifest: JSON.parse(read("manifest.json")),
  });
  mkdirSync(join(root, ".dev"), { recursive: true });
  writeFileSync(BUNDLE_FILE, JSON.stringify(document) + "\n");
  say(`built ${BUNDLE_DIR} into ${relative(root, BUNDLE_FILE)} (${document.digest})`);

  // Same key as activeBundleKey(tenant) in worker/policy/store.ts, which cannot load here without cedar-wasm.
  const object = `${bucket}/${tenant}/bundles/active.json`;
  const put = spawnSync(
    process.execPath,
    [wranglerBin, "r2", "object", "put", object, "--file", relative(root, BUNDLE_FILE), "--content-type", "application/json", "--local", "--persist-to", PERSIST_TO],
    { cwd: root, env, stdio: "inherit" },
  );
  if (put.error) fail(`wrangler r2 object put failed: ${put.error.message}`);
  if (put.status !== 0) fail(`wrangler r2 object put exited with ${put.status ?? put.signal}`);
  say(`activated it as ${object} in local R2 (${PERSIST_TO})`);
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
await activateDefaultBundle();
runWranglerDev();
