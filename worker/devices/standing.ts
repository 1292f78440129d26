import type { ServiceContext } from "../context.ts";
import type { AppendedEntry } from "../domain.ts";
import { StateError } from "../errors.ts";
import { cancelDeviceHolds } from "../review/holds.ts";

/**
 * What admins (and a bundle's playbook) do to a device that misbehaves: quarantine it and
 * release it, revoke its sessions or one action token. Each change is made in the device's
 * Durable Object — so it holds from the device's very next request — logged there, and recorded
 * in the tenant's admin log with who and why.
 */

export interface StandingOrder {
  /** Who ordered it: the person (their Access e-mail, or `bootstrap-token:admin`), or `playbook:<bundle digest>` for a bundle's playbook. */
  by: string;
  reason: string;
}

/**
 * Quarantines a device: every later decision denies (`device_quarantined`) until it is released,
 * and its holds end — pending ones, and approved ones whose token was not yet handed out, so no
 * approval given before the quarantine releases an action after it. A playbook's quarantine has
 * the same effect, carried out by the device's object after its commit (`DeviceLog.deliverOwed`).
 */
export async function quarantineDevice(ctx: ServiceContext, deviceId: string, order: StandingOrder): Promise<{ changed: boolean; log: AppendedEntry; cancelled_holds: string[] }> {
  const now = ctx.deps.now();
  const outcome = await ctx.deps.deviceStore(ctx.env, ctx.env.TENANT, deviceId).quarantine({ ...order, now });
  if (!outcome.ok) throw new StateError(outcome.code, `device ${deviceId} cannot be quarantined`);
  // After the standing changed: a hold made meanwhile by a decision logged just before can never be
  // collected, since the device's every request (a review poll too) is now refused.
  const holds = await cancelDeviceHolds(ctx, deviceId, { reason: order.reason, by: order.by, quarantineSeq: outcome.log.seq });
  await recordAdmin(ctx, "admin.device_quarantined", deviceId, order, outcome.log, now);
  return { changed: outcome.changed, log: outcome.log, cancelled_holds: holds.cancelled.map((hold) => hold.id) };
}

/** Lifts a device's quarantine. */
export async function releaseDevice(ctx: ServiceContext, deviceId: string, order: StandingOrder): Promise<{ changed: boolean; log: AppendedEntry }> {
  const now = ctx.deps.now();
  const outcome = await ctx.deps.deviceStore(ctx.env, ctx.env.TENANT, deviceId).release({ ...order, now });
  if (!outcome.ok) throw new StateError(outcome.code, `device ${deviceId} cannot be released`);
  await recordAdmin(ctx, "admin.device_released", deviceId, order, outcome.log, now);
  return { changed: outcome.changed, log: outcome.log };
}

/** Revokes one session of the device (`jti`) or all it has: the next request with one is `session_revoked`. */
export async function revokeSessions(ctx: ServiceContext, deviceId: string, order: StandingOrder & { jti?: string | undefined }): Promise<{ revoked: number; log: AppendedEntry }> {
  const now = ctx.deps.now();
  const outcome = await ctx.deps.deviceStore(ctx.env, ctx.env.TENANT, deviceId).revokeSessions({ ...order, now });
  if (!outcome.ok) throw new StateError(outcome.code, `device ${deviceId} has no such session to revoke`);
  await recordAdmin(ctx, "admin.sessions_revoked", deviceId, order, outcome.log, now);
  return { revoked: outcome.revoked, log: outcome.log };
}

/** An action token lives at most 60 s: its revocation is kept a little longer than any token could. */
const ACTION_TOKEN_REVOCATION_MS = 120_000;

/** Revokes one action token of a device: its redemption is refused (`token_revoked`). */
export async function revokeActionToken(ctx: ServiceContext, order: StandingOrder & { device: string; jti: string }): Promise<{ log: AppendedEntry }> {
  const now = ctx.deps.now();
  const outcome = await ctx.deps.deviceStore(ctx.env, ctx.env.TENANT, order.device).revokeActionToken({ jti: order.jti, expiresAt: now + ACTION_TOKEN_REVOCATION_MS, by: order.by, reason: order.reason, now });
  if (!outcome.ok) throw new StateError(outcome.code, `device ${order.device} cannot revoke a token`);
  await recordAdmin(ctx, "admin.action_token_revoked", order.device, order, outcome.log, now);
  return { log: outcome.log };
}

async function recordAdmin(ctx: ServiceContext, type: `admin.${string}`, device: string, order: StandingOrder & { jti?: string | undefined }, log: AppendedEntry, now: number): Promise<void> {
  const data = { device, by: order.by, reason: order.reason, jti: order.jti ?? null, device_log: { seq: log.seq, hash: log.hash } };
  await ctx.deps.bundleRegistry(ctx.env, ctx.env.TENANT).recordAdminAction({ type, data, now });
}
