/**
 * Node side: turns bundle sources into what the worker compiles and what R2 holds, the way
 * `warden bundle build` does (cedar-wasm in Node, compile once, sign the precompiled artifact).
 */
import "../cli/cedar-node.ts";
import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { JWK } from "jose";
import { bundleDigest, bundleStatement, signBundle, type BundleSources, type BundleStatement } from "../worker/policy/artifact.ts";
import { compileSources } from "../worker/policy/compile.ts";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");

export function defaultSources(): BundleSources {
  const read = (name: string) => readFileSync(resolve(root, "policy-bundles/default", name), "utf8");
  return { policies: read("policies.cedar"), schema: read("schema.cedarschema"), manifest: JSON.parse(read("manifest.json")) };
}

/** What `compileBundle` (worker/policy/compile.ts) takes: the sources, with the digest, version and name an artifact would carry. */
export function compilable(sources: BundleSources, meta: { name: string; version?: number }): BundleSources & { digest: string; version: number; name: string } {
  return { ...sources, digest: bundleDigest(sources), version: meta.version ?? 1, name: meta.name };
}

/** A signed artifact of `sources`, compiled and signed as `warden bundle build` does; `buildMs` is the compilation and signing in Node. */
export async function buildArtifact(
  sources: BundleSources,
  meta: { name: string; tenant: string; version: number },
  publisherJwk: Record<string, unknown>,
): Promise<{ statement: BundleStatement; artifact: Uint8Array; buildMs: number }> {
  const t0 = performance.now();
  const now = Date.now();
  const { statement, body } = bundleStatement(sources, { ...meta, createdAt: new Date(now - 60_000), expiresAt: new Date(now + 24 * 3600_000) }, compileSources(sources));
  const artifact = await signBundle(statement, body, publisherJwk as JWK);
  return { statement, artifact, buildMs: performance.now() - t0 };
}

interface BenchTarget {
  mf: { getR2Bucket(name: string): Promise<{ put(key: string, value: Uint8Array | string): Promise<unknown> }> };
  url: string;
  adminToken: string;
  tenant: string;
  publisherKey: Record<string, unknown>;
}

/** Uploads an artifact where the activation route reads it (worker/policy/deployment.ts `artifactKey`) and activates it. */
export async function activateArtifact(server: BenchTarget, version: number, artifact: Uint8Array): Promise<{ key: string; activationMs: number }> {
  const bucket = await server.mf.getR2Bucket("BUNDLES");
  const key = `${server.tenant}/bundles/artifacts/${version}.jws`;
  await bucket.put(key, artifact);
  const t0 = performance.now();
  const response = await fetch(`${server.url}/v1/bundles/activate`, {
    method: "POST",
    headers: { authorization: `Bearer ${server.adminToken}`, "content-type": "application/json" },
    body: JSON.stringify({ version, slot: "active" }),
  });
  const text = await response.text();
  if (response.status !== 200) throw new Error(`activating version ${version} failed: ${response.status} ${text}`);
  return { key, activationMs: performance.now() - t0 };
}

/**
 * Makes the default bundle (policy-bundles/default) active on the bench server, as `warden bundle publish` does,
 * with the agents it admits registered (it denies any other: agent_unregistered), as npm start registers them.
 */
export async function activateDefault(server: BenchTarget, version = 1): Promise<{ digest: string; how: string }> {
  const { statement, artifact } = await buildArtifact(defaultSources(), { name: "default", tenant: server.tenant, version }, server.publisherKey);
  const { key } = await activateArtifact(server, version, artifact);
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
