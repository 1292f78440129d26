import type { ServiceContext } from "../context.ts";
import type { AppendedEntry } from "../domain.ts";
import { StateError } from "../errors.ts";
import type { TenantLegalHold } from "../../durable-objects/BundleRegistry.ts";

/**
 * Legal holds (docs/privacy.md › Legal hold): an admin suspends retention's deletions for one
 * device or the whole tenant, and lifts the suspension, each change logged with who and why.
 */

export interface HoldOrder {
  on: boolean;
  by: string;
  reason: string;
}

/**
 * Sets or lifts a device's hold in its Durable Object (which logs `device.legal_hold_set` /
 * `device.legal_hold_lifted`, and whose alarm reads it before deleting anything), then records it
 * in the tenant's admin log.
 */
export async function deviceLegalHold(ctx: ServiceContext, deviceId: string, order: HoldOrder): Promise<{ changed: boolean; log: AppendedEntry }> {
  const now = ctx.deps.now();
  const outcome = await ctx.deps.deviceStore(ctx.env, ctx.env.TENANT, deviceId).legalHold({ ...order, now });
  if (!outcome.ok) throw new StateError(outcome.code, `device ${deviceId} has no records to hold`);
  await ctx.deps.bundleRegistry(ctx.env, ctx.env.TENANT).recordAdminAction({
    type: order.on ? "admin.device_legal_hold_set" : "admin.device_legal_hold_lifted",
    data: { device: deviceId, by: order.by, reason: order.reason, changed: outcome.changed, device_log: { seq: outcome.log.seq, hash: outcome.log.hash } },
    now,
  });
  return { changed: outcome.changed, log: outcome.log };
}

/** Sets or lifts the tenant's hold (logged `admin.legal_hold_set` / `admin.legal_hold_lifted`). */
export async function tenantLegalHold(ctx: ServiceContext, order: HoldOrder): Promise<{ changed: boolean; log: AppendedEntry; hold: TenantLegalHold | null }> {
  return ctx.deps.bundleRegistry(ctx.env, ctx.env.TENANT).setLegalHold({ tenant: ctx.env.TENANT, ...order, now: ctx.deps.now() });
}

/** The tenant's hold, or null. */
export async function readTenantLegalHold(ctx: ServiceContext): Promise<TenantLegalHold | null> {
  return ctx.deps.bundleRegistry(ctx.env, ctx.env.TENANT).legalHold();
}
