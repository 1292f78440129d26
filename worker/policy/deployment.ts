/**
 * Where a tenant's bundles live and which one decides for whom: the pointer the BundleRegistry
 * Durable Object writes to R2 and every isolate reads (worker/policy/store.ts).
 */

/** A verified artifact in R2 that a deployment slot points at. */
export interface BundleRef {
  version: number;
  digest: string;
  name: string;
  /** R2 key of the signed artifact. */
  key: string;
  expiresAt: string;
}

/** Which bundle decides for whom. Written to R2 for every isolate to read (see worker/policy/store.ts). */
export interface Deployment {
  /** Bumped on every change, so a reader can tell a newer pointer from an older one. */
  generation: number;
  active: BundleRef | null;
  /** A candidate that decides for a stable share of devices or for one device group. */
  canary: { bundle: BundleRef; percent: number | null; group: string | null } | null;
  /** A candidate evaluated beside the active bundle without changing any answer. */
  shadow: BundleRef | null;
}

/** A deployment slot: the bundle that decides, a canary, or a shadow evaluated beside the active one. */
export type Slot = "active" | "canary" | "shadow";

/** R2 key of a tenant's deployment pointer. */
export function deploymentKey(tenant: string): string {
  return `${tenant}/bundles/deployment.json`;
}

/** R2 key of a published artifact. */
export function artifactKey(tenant: string, version: number): string {
  return `${tenant}/bundles/artifacts/${version}.jws`;
}

