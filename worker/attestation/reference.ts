import type { ServiceContext } from "../context.ts";
import type { DeviceRecord } from "../domain.ts";
import { StateError } from "../errors.ts";
import type { BundleManifest } from "../policy/bundle.ts";
import { bundleFor, loadDeployment } from "../policy/store.ts";

type AttestationManifest = NonNullable<BundleManifest["attestation"]>;

/** Reference values of one evidence family and the digest of the bundle they come from (the EAR's appraisal policy). */
export interface ReferenceValues<K extends keyof AttestationManifest> {
  values: NonNullable<AttestationManifest[K]>;
  /** Digest of the bundle whose manifest holds them. */
  policy: string;
}

/**
 * The bundle evidence is appraised under: the device's (active or canary), or without a device
 * (a relying party's `POST /v1/attestation/results`) the tenant's active bundle.
 */
async function chosenBundle(ctx: ServiceContext, device: Pick<DeviceRecord, "tenant" | "id" | "groups"> | null, now: number) {
  const deployment = await loadDeployment(ctx.env, ctx.env.TENANT, now);
  if (device) return bundleFor(deployment, { tenant: device.tenant, id: device.id, groups: device.groups }, now);
  const { active } = deployment;
  if (!active.ok) return active;
  return active.expiresAt <= now ? ({ ok: false, code: "bundle_invalid", detail: "the active bundle has expired" } as const) : ({ ok: true, bundle: active.bundle } as const);
}

/** The reference values of one evidence family in the device's bundle, if it has any. */
export async function referenceValuesFor<K extends keyof AttestationManifest>(
  ctx: ServiceContext,
  device: Pick<DeviceRecord, "tenant" | "id" | "groups">,
  family: K,
  now: number,
): Promise<AttestationManifest[K] | undefined> {
  const chosen = await chosenBundle(ctx, device, now);
  return chosen.ok ? chosen.bundle.manifest.attestation?.[family] : undefined;
}

/**
 * Like {@link referenceValuesFor}, but evidence of a family the bundle has no reference values
 * for is refused: there is nothing to appraise it against, which is the policy's gap, not the
 * device's fault nor a reason to pass it. `device` null: the tenant's active bundle.
 */
export async function requireReferenceValues<K extends keyof AttestationManifest>(
  ctx: ServiceContext,
  device: Pick<DeviceRecord, "tenant" | "id" | "groups"> | null,
  family: K,
  now: number,
): Promise<ReferenceValues<K>> {
  const chosen = await chosenBundle(ctx, device, now);
  const values = chosen.ok ? chosen.bundle.manifest.attestation?.[family] : undefined;
  if (!chosen.ok || values === undefined) throw new StateError("attestation_not_configured", `the ${device ? "device's " : "active "}bundle has no attestation.${family} reference values`);
  return { values: values as NonNullable<AttestationManifest[K]>, policy: chosen.bundle.digest };
}
