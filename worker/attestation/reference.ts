import type { ServiceContext } from "../context.ts";
import type { DeviceRecord } from "../domain.ts";
import { StateError } from "../errors.ts";
import type { BundleManifest } from "../policy/bundle.ts";
import { bundleFor, loadDeployment } from "../policy/store.ts";

type AttestationManifest = NonNullable<BundleManifest["attestation"]>;

/** The reference values of one evidence family in the device's bundle, if it has any. */
export async function referenceValuesFor<K extends keyof AttestationManifest>(
  ctx: ServiceContext,
  device: Pick<DeviceRecord, "tenant" | "id" | "groups">,
  family: K,
  now: number,
): Promise<AttestationManifest[K] | undefined> {
  const chosen = bundleFor(await loadDeployment(ctx.env, ctx.env.TENANT, now), { tenant: device.tenant, id: device.id, groups: device.groups }, now);
  return chosen.ok ? chosen.bundle.manifest.attestation?.[family] : undefined;
}

/**
 * Like {@link referenceValuesFor}, but evidence of a family the bundle has no reference values
 * for is refused: there is nothing to appraise it against, which is the policy's gap, not the
 * device's fault nor a reason to pass it.
 */
export async function requireReferenceValues<K extends keyof AttestationManifest>(
  ctx: ServiceContext,
  device: Pick<DeviceRecord, "tenant" | "id" | "groups">,
  family: K,
  now: number,
): Promise<NonNullable<AttestationManifest[K]>> {
  const values = await referenceValuesFor(ctx, device, family, now);
  if (values === undefined) throw new StateError("attestation_not_configured", `the device's bundle has no attestation.${family} reference values`);
  return values;
}
