import { createHash } from "node:crypto";
import { StrictJsonError, parseStrictJson } from "../json/strict.ts";
import { BundleError, publisherKeys, verifyBundleArtifact, type PublisherKeys } from "./artifact.ts";
import { openBundle, type CompiledBundle } from "./bundle.ts";
import { deploymentKey, type BundleRef, type Deployment } from "./deployment.ts";

export type BundleProblem = "no_active_bundle" | "bundle_invalid";

export type LoadedBundle = { ok: true; bundle: CompiledBundle; expiresAt: number } | { ok: false; code: BundleProblem; detail: string };

/** The tenant's deployment with every referenced bundle verified and compiled. */
export interface LoadedDeployment {
  generation: number;
  active: LoadedBundle;
  canary: { bundle: CompiledBundle; percent: number | null; group: string | null } | null;
  shadow: CompiledBundle | null;
}

interface CachedPointer {
  checkedAt: number;
  etag: string | null;
  deployment: LoadedDeployment;
  /** Cache keys of the artifacts the deployment names. */
  artifacts: string[];
}

const pointers = new Map<string, CachedPointer>();
/**
 * Opened bundles by artifact key and digest: verified and indexed once per isolate and version,
 * and kept only while a deployment this isolate knows names them. A load in progress is shared,
 * so requests arriving together in a new isolate verify an artifact once between them.
 */
const compiled = new Map<string, Promise<LoadedBundle>>();
/** Trusted publisher keys, parsed once per isolate and `PUBLISHER_KEYS` value. */
let trusted: { source: string | undefined; keys: Promise<PublisherKeys> } | undefined;

export function trustedKeys(source: string | undefined): Promise<PublisherKeys> {
  if (!trusted || trusted.source !== source) trusted = { source, keys: publisherKeys(source) };
  return trusted.keys;
}

const NO_BUNDLE: LoadedBundle = { ok: false, code: "no_active_bundle", detail: "no bundle has been activated" };

/**
 * The tenant's deployment as this isolate knows it. The R2 pointer is re-read at most
 * every `refreshSeconds` and only when its etag changed; an artifact is fetched and its
 * signature verified once, so the decision path normally costs a map lookup.
 */
export async function loadDeployment(env: Env, tenant: string, now: number): Promise<LoadedDeployment> {
  const cached = pointers.get(tenant);
  if (cached && now - cached.checkedAt < Number(env.BUNDLE_REFRESH_SECONDS) * 1000) return cached.deployment;
  const object = await env.BUNDLES.get(deploymentKey(tenant), cached?.etag ? { onlyIf: { etagDoesNotMatch: cached.etag } } : {});
  let pointer: CachedPointer;
  if (object === null) {
    pointer = { checkedAt: now, etag: null, deployment: { generation: 0, active: NO_BUNDLE, canary: null, shadow: null }, artifacts: [] };
  } else if (!("body" in object) && cached) {
    pointer = { ...cached, checkedAt: now };
  } else {
    const text = "body" in object ? await object.text() : "";
    pointer = { checkedAt: now, etag: object.etag, ...(await load(env, text, now)) };
  }
  pointers.set(tenant, pointer);
  forgetUnnamed();
  return pointer.deployment;
}

/**
 * Forgets this isolate's copy of the tenant's deployment pointer, so its next decision reads the
 * one just written. Other isolates still take up to `BUNDLE_REFRESH_SECONDS` to see it.
 */
export function forgetDeployment(tenant: string): void {
  pointers.delete(tenant);
}

/** Drops opened bundles no known deployment names any more (a replaced active bundle, an ended canary). */
function forgetUnnamed(): void {
  const named = new Set([...pointers.values()].flatMap((pointer) => pointer.artifacts));
  for (const key of compiled.keys()) if (!named.has(key)) compiled.delete(key);
}

const cacheKeyOf = (ref: BundleRef) => `${ref.key}|${ref.digest}`;

async function load(env: Env, text: string, now: number): Promise<{ deployment: LoadedDeployment; artifacts: string[] }> {
  let deployment: Deployment;
  try {
    // R2 can be written around the registry (wrangler r2 object put): read as strictly as any input.
    deployment = parseStrictJson(text) as unknown as Deployment;
  } catch (error) {
    if (!(error instanceof StrictJsonError)) throw error;
    const active: LoadedBundle = { ok: false, code: "bundle_invalid", detail: `the deployment pointer is not strict JSON (${error.code})` };
    return { deployment: { generation: -1, active, canary: null, shadow: null }, artifacts: [] };
  }
  const active = deployment.active ? await loadArtifact(env, deployment.active, now) : NO_BUNDLE;
  // A candidate that fails to load is dropped, never substituted: the active bundle keeps deciding.
  const canaryBundle = deployment.canary ? await loadArtifact(env, deployment.canary.bundle, now) : null;
  const shadowBundle = deployment.shadow ? await loadArtifact(env, deployment.shadow, now) : null;
  return {
    deployment: {
      generation: deployment.generation,
      active,
      canary: deployment.canary && canaryBundle?.ok ? { bundle: canaryBundle.bundle, percent: deployment.canary.percent, group: deployment.canary.group } : null,
      shadow: shadowBundle?.ok ? shadowBundle.bundle : null,
    },
    artifacts: [deployment.active, deployment.canary?.bundle, deployment.shadow].flatMap((ref) => (ref ? [cacheKeyOf(ref)] : [])),
  };
}

/**
 * Fetches, verifies and opens one artifact; it must be exactly the one the pointer names. Nothing
 * is compiled here: the artifact's signed index is read as it is and each policy is parsed when
 * a slice first needs it (worker/policy/bundle.ts `openBundle`), so an isolate's first decision
 * costs the artifact's verification, not its policies' compilation.
 */
export function loadArtifact(env: Env, ref: BundleRef, now: number): Promise<LoadedBundle> {
  const cacheKey = cacheKeyOf(ref);
  const known = compiled.get(cacheKey);
  if (known) return known;
  const loading = openArtifact(env, ref, now);
  compiled.set(cacheKey, loading);
  // Not kept when it failed: a transient problem (or a fixed artifact) is retried on the next refresh.
  const forget = () => {
    if (compiled.get(cacheKey) === loading) compiled.delete(cacheKey);
  };
  loading.then((loaded) => (loaded.ok ? undefined : forget()), forget);
  return loading;
}

async function openArtifact(env: Env, ref: BundleRef, now: number): Promise<LoadedBundle> {
  const object = await env.BUNDLES.get(ref.key);
  if (!object) return { ok: false, code: "bundle_invalid", detail: `artifact ${ref.key} is missing` };
  try {
    const artifact = await verifyBundleArtifact(new Uint8Array(await object.arrayBuffer()), await trustedKeys(env.PUBLISHER_KEYS), now);
    const { statement } = artifact;
    if (statement.digest !== ref.digest || statement.version !== ref.version) throw new BundleError("bundle_digest_mismatch", "the artifact is not the one the deployment names");
    return { ok: true, bundle: openBundle(artifact), expiresAt: Date.parse(statement.expires_at) };
  } catch (error) {
    if (!(error instanceof BundleError)) throw error;
    return { ok: false, code: "bundle_invalid", detail: `${error.code}: ${error.message}` };
  }
}

/**
 * The bundle that decides for this device: the canary for its group or its stable
 * share of devices (by hash of tenant and device id), otherwise the active one. An
 * active bundle past its expiry decides nothing.
 */
export function bundleFor(
  deployment: LoadedDeployment,
  device: { tenant: string; id: string; groups: readonly string[] },
  now: number,
): { ok: true; bundle: CompiledBundle; role: "active" | "canary" } | { ok: false; code: BundleProblem; detail: string } {
  const { canary, active } = deployment;
  if (canary && (canary.group !== null ? device.groups.includes(canary.group) : canaryShare(device.tenant, device.id) < (canary.percent ?? 0))) {
    return { ok: true, bundle: canary.bundle, role: "canary" };
  }
  if (!active.ok) return active;
  if (active.expiresAt <= now) return { ok: false, code: "bundle_invalid", detail: "the active bundle has expired" };
  return { ok: true, bundle: active.bundle, role: "active" };
}

/** A device's position in [0, 100): stable across calls and isolates, uniform over devices. */
export function canaryShare(tenant: string, deviceId: string): number {
  const digest = createHash("sha256").update(`${tenant}/${deviceId}`).digest();
  return (digest.readUInt32BE(0) / 2 ** 32) * 100;
}
