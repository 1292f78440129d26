import type { ServiceContext } from "../context.ts";
import { StateError, VerificationError, WardenError } from "../errors.ts";
import { BundleError, verifyBundleArtifact } from "../policy/artifact.ts";
import { openBundle } from "../policy/bundle.ts";
import { checkPrecompiled } from "../policy/compile.ts";
import { artifactKey, type BundleRef, type Slot } from "../policy/deployment.ts";
import { forgetDeployment, trustedKeys } from "../policy/store.ts";

export interface ActivationRequest {
  version: number;
  slot: Slot;
  percent?: number | undefined;
  group?: string | undefined;
  rollback: boolean;
  reason?: string | undefined;
  /** The person activating, as the admin log records them. */
  by: string;
}

/**
 * Activates the signed artifact of `version` as the active, canary or shadow bundle: it must
 * be in R2, signed by a trusted publisher key over exactly the bytes parsed, for this tenant and
 * version, unexpired, and compile strictly to exactly the index and policy JSON it carries (which
 * isolates then decide from without compiling); the registry then moves the deployment forward only
 * (a lower version needs `rollback`). Every activation and refusal lands in the admin log; on
 * any failure the previous bundle stays.
 */
export async function activateBundle(ctx: ServiceContext, request: ActivationRequest) {
  const { deps, env } = ctx;
  const now = deps.now();
  const tenant = env.TENANT;
  const registry = deps.bundleRegistry(env, tenant);
  const key = artifactKey(tenant, request.version);
  const object = await env.BUNDLES.get(key);
  if (!object) {
    await registry.recordRefusal({ version: request.version, code: "not_found", detail: `no artifact at ${key}`, by: request.by, now });
    throw new WardenError("not_found", `no artifact at ${key}: upload it first (warden bundle publish does)`);
  }
  let ref: BundleRef;
  try {
    const artifact = await verifyBundleArtifact(new Uint8Array(await object.arrayBuffer()), await trustedKeys(env.PUBLISHER_KEYS), now);
    const { statement } = artifact;
    if (statement.tenant !== tenant) throw new BundleError("bundle_invalid", `the artifact is for tenant ${statement.tenant}`);
    if (statement.version !== request.version) throw new BundleError("bundle_invalid", `the artifact at ${key} carries version ${statement.version}`);
    // The one full compilation of the bundle's life in the worker: strict validation, and the signed index and policy JSON compared with what the sources compile to.
    checkPrecompiled(artifact);
    openBundle(artifact);
    ref = { version: statement.version, digest: statement.digest, name: statement.name, key, expiresAt: statement.expires_at };
  } catch (error) {
    if (!(error instanceof BundleError)) throw error;
    const detail = [error.message, ...error.details].join("; ");
    await registry.recordRefusal({ version: request.version, code: error.code, detail, by: request.by, now });
    throw new VerificationError(error.code, detail);
  }
  const outcome = await registry.activate({ tenant, ref, slot: request.slot, percent: request.percent, group: request.group, rollback: request.rollback, reason: request.reason, by: request.by, now });
  if (!outcome.ok) throw new StateError(outcome.code, outcome.detail);
  // The isolate that activated answers with the new bundle at once, not after its refresh period.
  forgetDeployment(tenant);
  return { deployment: outcome.deployment, log: outcome.log };
}

/** Empties the canary or shadow slot; the active bundle keeps deciding. */
export async function clearCandidate(ctx: ServiceContext, slot: "canary" | "shadow", by: string) {
  const { deps, env } = ctx;
  const outcome = await deps.bundleRegistry(env, env.TENANT).clear({ tenant: env.TENANT, slot, by, now: deps.now() });
  if (!outcome.ok) throw new StateError(outcome.code, outcome.detail);
  forgetDeployment(env.TENANT);
  return outcome.deployment;
}
