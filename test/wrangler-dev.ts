/**
 * A real Warden for the Node suites (the reviewer page in Chromium, the agent hooks through
 * the compiled CLI): `wrangler dev` on a free port with a temporary persist directory and
 * secrets made for this run, the example bundle signed, uploaded to local R2 and activated —
 * as `npm start` does, but isolated from it. A suite may add a canary bundle for one device
 * group, so its expectations do not move with the example bundle. The agents the example
 * bundle expects (policy-bundles/default/agents.json) are registered, as `npm start` does.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { bearerToken } from "../scripts/bearer-token.mjs";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import type { JWK } from "jose";
import { bundleStatement, signBundle, type BundleSources } from "../worker/policy/artifact.ts";
import { initSync } from "../worker/policy/cedar.ts";
import { compileSources } from "../worker/policy/compile.ts";
import { freePort } from "./free-port.ts";

const root = fileURLToPath(new URL("..", import.meta.url));
// Artifacts are compiled here, as `warden bundle build` compiles them; vitest's module runner has no
// import.meta.resolve (cli/cedar-node.ts), so the wasm is read from the package by path.
initSync({ module: readFileSync(join(root, "node_modules/@cedar-policy/cedar-wasm/web/cedar_wasm_bg.wasm")) });
const wranglerBin = createRequire(import.meta.url).resolve("wrangler/bin/wrangler.js");
const TENANT = "default";

export interface LocalWarden {
  /** The reviewer origin (what the browser opens and REVIEW_ORIGIN says). */
  url: string;
  /** The same server for Node clients, by address (no localhost resolution to ::1). */
  api: string;
  adminToken: string;
  /** wrangler dev's local state (R2, Durable Objects), for `warden bundle publish --persist-to`. */
  persist: string;
  /** AUDITOR_TOKEN of this run (exports, receipts, the compliance package). */
  auditorToken: string;
  /** The publisher keys this run trusts (PUBLISHER_KEYS, a JWK Set), as an auditor holds them to verify artifacts. */
  publisherKeys: string;
  stop(): Promise<void>;
  /** wrangler's output so far, for failure messages. */
  output(): string;
}

export interface WardenOptions {
  /** A bundle for the devices of one group (a canary), beside the example bundle for every other device. */
  canary?: { sources: BundleSources; group: string };
}

const env = { ...process.env, WRANGLER_SEND_METRICS: "false", CLOUDFLARE_CF_FETCH_ENABLED: "false", NO_COLOR: "1", CI: "true" };

export async function startWarden(options: WardenOptions = {}): Promise<LocalWarden> {
  const dir = mkdtempSync(join(tmpdir(), "warden-browser-"));
  const persist = join(dir, "state");
  const [port, inspectorPort] = [await freePort(), await freePort()];
  const url = `http://localhost:${port}`;
  // Tests pass them on command lines (`--admin-token <token>`), where a leading "-" reads as an option.
  const adminToken = bearerToken();
  const auditorToken = bearerToken();
  const jwk = () => generateKeyPairSync("ed25519").privateKey.export({ format: "jwk" }) as JWK;
  const publisher = jwk();
  const { d: _private, ...publisherPublic } = publisher;

  // 1. The example bundle (and the canary), signed with this run's publisher key, in local R2.
  const read = (name: string) => readFileSync(join(root, "policy-bundles/default", name), "utf8");
  const version = Date.now();
  const upload = async (sources: BundleSources, name: string, at: number) => {
    const { statement, body } = bundleStatement(sources, { name, tenant: TENANT, version: at, createdAt: new Date(), expiresAt: new Date(Date.now() + 86_400_000) }, compileSources(sources));
    const artifact = join(dir, `${at}.jws`);
    writeFileSync(artifact, await signBundle(statement, body, publisher));
    const put = spawnSync(
      process.execPath,
      [wranglerBin, "r2", "object", "put", `warden-bundles/${TENANT}/bundles/artifacts/${at}.jws`, "--file", artifact, "--local", "--persist-to", persist],
      { cwd: root, env, encoding: "utf8" },
    );
    if (put.status !== 0) throw new Error(`wrangler r2 object put failed: ${put.stdout}${put.stderr}`);
  };
  await upload({ policies: read("policies.cedar"), schema: read("schema.cedarschema"), manifest: JSON.parse(read("manifest.json")) }, "default", version);
  if (options.canary) await upload(options.canary.sources, "canary", version + 1);

  // 2. Secrets for this run only; the reviewer origin is this server's.
  const envFile = join(dir, "vars.env");
  const vars: Record<string, string> = {
    ADMIN_TOKEN: adminToken,
    AUDITOR_TOKEN: auditorToken,
    SIGNING_KEY: JSON.stringify(jwk()),
    LOG_SIGNING_KEY: JSON.stringify(jwk()),
    LOG_HMAC_KEY: randomBytes(32).toString("base64url"),
    // The example bundle hashes and tokenises (docs/privacy.md): its decisions are logged only with the vault's keys.
    VAULT_KEYS: JSON.stringify({ keys: [{ kty: "oct", kid: "run-vault-1", k: randomBytes(32).toString("base64url") }] }),
    PUBLISHER_KEYS: JSON.stringify({ keys: [publisherPublic] }),
    REVIEW_ORIGIN: url,
    REVIEW_RP_ID: "localhost",
    // The readiness probe must not leave an isolate trusting "no bundle" after activation.
    BUNDLE_REFRESH_SECONDS: "0",
  };
  writeFileSync(envFile, Object.entries(vars).map(([name, value]) => `${name}='${value}'`).join("\n") + "\n", { mode: 0o600 });

  // 3. wrangler dev, its own process group so stopping it stops workerd too.
  let output = "";
  const child: ChildProcess = spawn(
    process.execPath,
    [wranglerBin, "dev", "--port", String(port), "--ip", "127.0.0.1", "--inspector-port", String(inspectorPort), "--persist-to", persist, "--env-file", envFile, "--show-interactive-dev-session=false", "--log-level", "info"],
    { cwd: root, env, stdio: ["ignore", "pipe", "pipe"], detached: true },
  );
  child.stdout?.on("data", (chunk) => (output += chunk));
  child.stderr?.on("data", (chunk) => (output += chunk));
  const stop = async () => {
    if (child.exitCode === null && child.pid) {
      try {
        process.kill(-child.pid, "SIGTERM");
      } catch {
        // already gone
      }
      await Promise.race([new Promise((resolve) => child.once("exit", resolve)), sleep(5000)]);
    }
    rmSync(dir, { recursive: true, force: true });
  };

  try {
    for (let attempt = 0; ; attempt += 1) {
      if (child.exitCode !== null) throw new Error(`wrangler dev exited with ${child.exitCode}`);
      if (attempt > 240) throw new Error("wrangler dev did not answer within 60 s");
      try {
        // Any answer will do: /healthz says 503 until a bundle is active.
        await (await fetch(`http://127.0.0.1:${port}/healthz`)).body?.cancel();
        break;
      } catch {
        // not listening yet
      }
      await sleep(250);
    }
    // 4. Activate them through the admin API, as `warden bundle publish` does.
    const activate = async (body: Record<string, unknown>) => {
      const activated = await fetch(`http://127.0.0.1:${port}/v1/bundles/activate`, {
        method: "POST",
        headers: { authorization: `Bearer ${adminToken}`, "content-type": "application/json" },
        body: JSON.stringify({ ...body, reason: "node test suite" }),
      });
      if (activated.status !== 200) throw new Error(`activation failed: ${await activated.text()}`);
    };
    await activate({ version });
    if (options.canary) await activate({ version: version + 1, slot: "canary", group: options.canary.group });
    // 5. The example agents, which the example bundle alone lets act.
    const { agents } = JSON.parse(readFileSync(join(root, "policy-bundles/default/agents.json"), "utf8")) as { agents: { id: string }[] };
    for (const agent of agents) {
      const registered = await fetch(`http://127.0.0.1:${port}/v1/agents`, {
        method: "POST",
        headers: { authorization: `Bearer ${adminToken}`, "content-type": "application/json" },
        body: JSON.stringify(agent),
      });
      if (registered.status !== 201) throw new Error(`registering ${agent.id} failed: ${await registered.text()}`);
    }
  } catch (error) {
    await stop();
    throw new Error(`${String(error)}\n${output}`);
  }
  return { url, api: `http://127.0.0.1:${port}`, adminToken, auditorToken, persist, publisherKeys: vars["PUBLISHER_KEYS"] as string, stop, output: () => output };
}
