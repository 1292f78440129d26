/**
 * Node side: turns bundle sources into what the worker compiles and what R2 holds.
 *
 * worker/policy/artifact.ts is changing from unsigned bundle documents (`bundleDocument`)
 * to signed statements (`bundleStatement` + `signBundle`); the benchmark uses whichever
 * the tree it runs on has, so that it measures the code as it is.
 */
import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import * as artifact from "../worker/policy/artifact.ts";
import type { BundleSources } from "../worker/policy/artifact.ts";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");

type Exports = Record<string, unknown>;
const exported = artifact as unknown as Exports;

export function defaultSources(): BundleSources {
  const read = (name: string) => readFileSync(resolve(root, "policy-bundles/default", name), "utf8");
  return { policies: read("policies.cedar"), schema: read("schema.cedarschema"), manifest: JSON.parse(read("manifest.json")) };
}

/** What `compileBundle` takes on this tree: a signed bundle's statement, or an unsigned bundle document. */
export function compilable(sources: BundleSources, meta: { name: string; tenant: string; version?: number }): { digest: string } & Record<string, unknown> {
  if (typeof exported["bundleStatement"] === "function") {
    const now = Date.now();
    const build = exported["bundleStatement"] as (s: BundleSources, m: { name: string; tenant: string; version: number; createdAt: Date; expiresAt: Date }) => { digest: string };
    return build(sources, { name: meta.name, tenant: meta.tenant, version: meta.version ?? 1, createdAt: new Date(now - 60_000), expiresAt: new Date(now + 24 * 3600_000) }) as { digest: string } & Record<string, unknown>;
  }
  if (typeof exported["bundleDocument"] === "function") {
    return (exported["bundleDocument"] as (s: BundleSources) => { digest: string } & Record<string, unknown>)(sources);
  }
  throw new Error("worker/policy/artifact.ts exports neither bundleStatement nor bundleDocument");
}

/** Whether bundles on this tree are signed artifacts (then the worker needs trusted publisher keys). */
export function signedBundles(): boolean {
  return typeof exported["signBundle"] === "function";
}

/** Signs a statement as an artifact with the given publisher key (private Ed25519 JWK). */
export async function signed(statement: Record<string, unknown>, publisherJwk: Record<string, unknown>): Promise<string> {
  const sign = exported["signBundle"] as (s: unknown, k: unknown) => Promise<string>;
  return sign(statement, publisherJwk);
}

/**
 * Makes the default bundle active on the bench server the way this tree does it:
 * a signed artifact uploaded to R2 and activated through `POST /v1/bundles/activate`
 * (as `warden bundle publish` and test/helpers.ts do), or, on trees with unsigned
 * bundles, the bundle document put at `<tenant>/bundles/active.json`.
 */
export async function activateDefault(server: { mf: { getR2Bucket(name: string): Promise<{ put(key: string, value: string): Promise<unknown> }> }; url: string; adminToken: string; tenant: string; publisherKey: Record<string, unknown> }): Promise<{ digest: string; how: string }> {
  const bucket = await server.mf.getR2Bucket("BUNDLES");
  const version = 1;
  const statement = compilable(defaultSources(), { name: "default", tenant: server.tenant, version });
  if (!signedBundles()) {
    await bucket.put(`${server.tenant}/bundles/active.json`, JSON.stringify(statement));
    return { digest: statement.digest, how: `unsigned document at ${server.tenant}/bundles/active.json` };
  }
  // The artifact key the activation route reads (durable-objects/BundleRegistry.ts artifactKey; that module needs workerd).
  const key = `${server.tenant}/bundles/artifacts/${version}.jws`;
  await bucket.put(key, await signed(statement, server.publisherKey));
  const response = await fetch(`${server.url}/v1/bundles/activate`, {
    method: "POST",
    headers: { authorization: `Bearer ${server.adminToken}`, "content-type": "application/json" },
    body: JSON.stringify({ version, slot: "active" }),
  });
  const text = await response.text();
  if (response.status !== 200) throw new Error(`activating the default bundle failed: ${response.status} ${text}`);
  // The agents the bundle admits (it denies any other: agent_unregistered), as npm start registers them.
  const { agents } = JSON.parse(readFileSync(resolve(root, "policy-bundles/default/agents.json"), "utf8")) as { agents: { id: string }[] };
  for (const agent of agents) {
    const registered = await fetch(`${server.url}/v1/agents`, {
      method: "POST",
      headers: { authorization: `Bearer ${server.adminToken}`, "content-type": "application/json" },
      body: JSON.stringify(agent),
    });
    if (registered.status !== 201 && registered.status !== 200) throw new Error(`registering ${agent.id} failed: ${registered.status} ${await registered.text()}`);
  }
  return { digest: statement.digest, how: `signed artifact ${key}, activated by POST /v1/bundles/activate, example agents registered` };
}
