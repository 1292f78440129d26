/**
 * The hold flows: queue a hold for a logged review decision, let the requesting device wait
 * on it and hand it the action token once approved, list pending holds, the reviewer page's
 * data, and cancel a quarantined device's holds. Each reads top-down and reaches the Durable
 * Objects through their stubs.
 */
import { deviceCall, type DeviceSession, type ServiceContext } from "../context.ts";
import type { AppendedEntry } from "../domain.ts";
import type { JsonValue } from "../log/canonical.ts";
import { ConfigurationError, StateError, WardenError } from "../errors.ts";
import type { CompiledBundle } from "../policy/bundle.ts";
import { resolvedTargets, type ResolvedTarget, type Verdict as PolicyVerdict } from "../policy/decide.ts";
import { privacyKeys } from "../privacy/keys.ts";
import { actionTokenExpiresAt, issueActionToken } from "../tokens/action.ts";
import { signingKey } from "../tokens/keys.ts";
import { actionHash, contextHash, scopeOfAction, type HoldRecord, type TierStep } from "./record.ts";
import type { ReviewScope } from "./scope.ts";
import type { HoldState, ReviewerRecord } from "./types.ts";

/** What a review decision answers with: the hold to wait on. */
export interface HeldReview {
  id: string;
  tier: string;
  deadline: string;
}

/** A hold as its reader gets it; the requesting device's first read after approval also gets the action token. */
export interface HoldAnswer {
  hold: HoldState;
  token?: { value: string; expiresAt: number };
}

/** The tiers a hold can climb: the one policy chose, then every later tier of the manifest. */
export function reviewLadder(bundle: CompiledBundle, tier: string): TierStep[] {
  const tiers = bundle.manifest.review_tiers;
  const start = tiers.findIndex((step) => step.name === tier);
  return tiers.slice(Math.max(start, 0)).map(({ name, sla_minutes, on_timeout, approvers, tickets }) => ({ name, sla_minutes, on_timeout, approvers, ...(tickets ? { tickets } : {}) }));
}

/**
 * The targets a hold shows: the decision's log entry's, masked by the bundle's privacy section as
 * the log holds them, checked to be the judged targets one for one (as many, each of the same
 * kind) and taking only their `value` from the entry. Anything else throws, and no hold is made:
 * a hold never shows the raw targets in place of the logged ones.
 */
function shownTargets(logged: JsonValue, judged: ResolvedTarget[]): ResolvedTarget[] {
  if (!Array.isArray(logged) || logged.length !== judged.length) throw new WardenError("internal_error", "the logged targets are not the judged ones");
  return judged.map((target, index) => {
    const entry = logged[index];
    if (typeof entry !== "object" || entry === null || Array.isArray(entry) || entry["kind"] !== target.kind || typeof entry["value"] !== "string") {
      throw new WardenError("internal_error", "the logged targets are not the judged ones");
    }
    return { ...target, value: entry["value"] };
  });
}

/**
 * Queues the hold for a logged review decision, or joins the identical one already
 * pending. Every later entry about the hold (`review.*`) names the decision id, which is
 * how the device log links them. Never throws: a hold that cannot be made is reported as
 * such and the decision denies.
 */
export async function holdForReview(
  scope: ReviewScope,
  session: DeviceSession,
  args: {
    decisionId: string;
    /** Where the decision was logged: the hold's record carries it, so a verdict and a ticket tie back to it. */
    log: AppendedEntry | null;
    policy: string | null;
    verdict: PolicyVerdict;
    request: {
      agent: { id: string; version: string; artifact_sha256?: string | undefined };
      action: { type: string; inputs_sha256?: string | undefined; sends_external?: boolean | undefined };
    };
    /**
     * The caller's context as the decision's entry holds it, after the bundle's privacy masking:
     * the hold's hash of it then ties to the log and reveals no more than the log does (a hash of
     * the raw context would let anyone who sees the hold guess a masked value and check it).
     */
    loggedContext: JsonValue;
    /** The action's targets as the decision's entry holds them, after the same masking: what the hold shows. */
    loggedTargets: JsonValue;
    /** The requesting device's registered user (the device log's, read where the decision was appended), or null: they may not approve the hold. */
    requesterUser: string | null;
    ladder: TierStep[];
    tokenTtl: number;
  },
  now: number,
): Promise<{ ok: true; review: HeldReview } | { ok: false }> {
  const { env, deps } = scope;
  try {
    if (args.policy === null || args.ladder.length === 0) throw new ConfigurationError("configuration_error", "a review needs its bundle and a tier");
    if (args.log === null) throw new ConfigurationError("configuration_error", "a hold needs its decision in the log");
    const agent = { id: args.request.agent.id, version: args.request.agent.version, artifact_sha256: args.request.agent.artifact_sha256 ?? null };
    // The action as policy judged it: what the hash identifies and an approval's token scopes, exactly as a permit's would.
    const judged = {
      type: args.request.action.type,
      targets: resolvedTargets(args.verdict),
      inputs_sha256: args.request.action.inputs_sha256 ?? null,
      sends_external: args.request.action.sends_external ?? false,
    };
    const scope = scopeOfAction(judged);
    // Keyed per tenant (worker/privacy/keys.ts): under the current key for the record, and under each older key too, so an
    // identical action still joins a hold made before a rotation of VAULT_KEYS.
    const keys = await privacyKeys(env.VAULT_KEYS, session.tenant);
    const identity = { tenant: session.tenant, device: session.deviceId, agent, action: judged };
    const older = [...keys.byKid.values()].filter((key) => key !== keys.current);
    const [hash, ...formerHashes] = await Promise.all([keys.current, ...older].map((key) => actionHash(key.action, identity)));
    const record: HoldRecord = {
      review_id: deps.newId(),
      decision_id: args.decisionId,
      tenant: session.tenant,
      requester: { device: session.deviceId, agent: agent.id },
      agent,
      action: { ...judged, targets: shownTargets(args.loggedTargets, judged.targets) },
      context_sha256: contextHash(args.loggedContext),
      policy: { digest: args.policy, reasons: [...args.verdict.reasons] },
      decision_log: { seq: args.log.seq, hash: args.log.hash },
      action_hash: hash as string,
      created_at: new Date(now).toISOString(),
    };
    const held = await deps.reviewHolds(env, session.tenant).hold({ record, scope, formerHashes, ladder: args.ladder, tokenTtl: args.tokenTtl, requesterUser: args.requesterUser }, now);
    if ("refused" in held) {
      console.warn(JSON.stringify({ event: "review.hold_refused", device: session.deviceId, decision_id: args.decisionId, reason: held.refused }));
      return { ok: false };
    }
    const { hold } = held;
    return { ok: true, review: { id: hold.id, tier: hold.shown.tier, deadline: hold.shown.deadline } };
  } catch (error) {
    console.error(JSON.stringify({ event: "review.hold_failed", device: session.deviceId, decision_id: args.decisionId, error: String(error) }));
    return { ok: false };
  }
}

/**
 * A read of one hold, waiting up to `waitSeconds` for a decision. `device` is the requesting
 * device (its proof is spent first; another device's hold is invisible to it), or null for
 * an admin or auditor. A device's read of an approved hold hands it the action token: the first
 * releases it, later ones hand the same token again until it is redeemed or expires.
 */
export async function waitOnHold(scope: ReviewScope, device: DeviceSession | null, id: string, waitSeconds: number): Promise<HoldAnswer> {
  const { env, deps } = scope;
  const holds = deps.reviewHolds(env, env.TENANT);
  if (device) {
    const spent = await deps.deviceStore(env, device.tenant, device.deviceId).spendProof(deviceCall(device), deps.now());
    if (!spent.ok) throw new StateError(spent.code, "the device's object refused the read (its proof, session or standing)");
  }
  // Another device's hold is not merely forbidden but invisible.
  const visible = (state: HoldState | null): state is HoldState => state !== null && (!device || state.shown.record.requester.device === device.deviceId);
  let hold = await holds.state(id, deps.now());
  if (!visible(hold)) throw new StateError("not_found", "no such review");
  if (hold.status === "pending" && waitSeconds > 0) {
    // The object ends the wait when the hold is decided: a wait costs the tenant's one holds object three calls, not one a second.
    await holds.waitDecided(id, device ? "device" : "staff", waitSeconds * 1000);
    const next = await holds.state(id, deps.now());
    if (!visible(next)) throw new StateError("not_found", "no such review");
    hold = next;
  }
  if (!device || hold.outcome !== "permit") return { hold };
  return releaseToken(scope, hold, device);
}

/**
 * Hands the approved action to its device as a single-use token, exactly as a permit would
 * have. The holds mark it released only once `review.released` (naming the token's `jti`)
 * and every earlier entry of the hold are in the device log; the token is signed after that.
 * A hold released before hands the same token again — same `jti`, same issue time, so the same
 * expiry and, Ed25519 being deterministic, the same bytes for the same session — while the
 * device has not redeemed, refused or had it revoked: an answer lost on the way costs the device
 * a read, not a second review, and no read adds authority (one `jti`, spent once).
 */
async function releaseToken(scope: ReviewScope, hold: HoldState, device: DeviceSession): Promise<HoldAnswer> {
  const { env, deps } = scope;
  const holds = deps.reviewHolds(env, env.TENANT);
  const now = deps.now();
  const released = await holds.release({ id: hold.id, device: device.deviceId, jti: deps.newId(), now });
  if (!released.ok) {
    if (released.code === "review_evidence_pending") throw new StateError(released.code, "the hold's evidence is not in the device log yet");
    return { hold: (await holds.state(hold.id, now)) ?? hold };
  }
  // Handed again past its expiry, or after the device used it, it would only be refused at redemption: not signed.
  if (actionTokenExpiresAt(released.releasedAt, released.hold.token_ttl, device.sessionExpiresAt) <= now) return { hold: released.hold };
  if (released.repeated && (await deps.deviceStore(env, device.tenant, device.deviceId).actionTokenSettled(released.jti))) return { hold: released.hold };
  const { record } = released.hold.shown;
  // The scope the holds kept beside the record, never shown: the action as policy judged it, raw values included, so the
  // token permits exactly the action that was held (the record shows its targets masked).
  const { token, expiresAt } = await issueActionToken(await signingKey(env.SIGNING_KEY), {
    device: device.deviceId,
    tenant: device.tenant,
    session: { id: device.sessionId, expiresAt: device.sessionExpiresAt },
    jkt: device.jkt,
    os: device.os,
    shell: device.shell,
    groups: device.groups,
    jti: released.jti,
    decisionId: record.decision_id,
    policy: record.policy.digest,
    scope: released.scope,
    now: released.releasedAt,
    ttlSeconds: released.hold.token_ttl,
  });
  return { hold: released.hold, token: { value: token, expiresAt } };
}

/** Pending holds of the tenant, by deadline. */
export function pendingHolds(scope: ReviewScope): Promise<HoldState[]> {
  const { env, deps } = scope;
  return deps.reviewHolds(env, env.TENANT).pending(deps.now());
}

/** What the reviewer page shows: the signed-in reviewer (null offers sign-in) and, for them, the pending holds. */
export async function reviewPageData(scope: ReviewScope, signedIn: { id: string } | null): Promise<{ reviewer: ReviewerRecord | null; holds: HoldState[]; now: number }> {
  const { env, deps } = scope;
  const reviewer = signedIn ? await deps.reviewerRegistry(env, env.TENANT).reviewer(signedIn.id) : null;
  const now = deps.now();
  const holds = reviewer ? await deps.reviewHolds(env, env.TENANT).pending(now) : [];
  return { reviewer, holds, now };
}

/**
 * Ends every hold of `device` that could still release a token (the quarantine flow calls this):
 * each becomes `cancelled` with outcome deny, `review.cancelled` (with `by` and `reason`) goes to
 * the device log and a signed `review.cancelled` webhook to the tier's channel. `logged` is false
 * when some entry is still on its way to the log (the outbox keeps retrying it); the holds are
 * cancelled either way. `quarantineSeq`, the quarantine's entry in the device log, fences the
 * device against a hold asked for later for a decision logged before it; null when no entry
 * stands behind the cancellation.
 */
export async function cancelDeviceHolds(
  ctx: Pick<ServiceContext, "env" | "deps">,
  device: string,
  args: { reason: string; by: string; quarantineSeq: number | null },
): Promise<{ cancelled: { id: string; previous: HoldState["status"] }[]; logged: boolean }> {
  const { env, deps } = ctx;
  return deps.reviewHolds(env, env.TENANT).cancelForDevice({ device, reason: args.reason, by: args.by, now: deps.now(), ...(args.quarantineSeq !== null ? { quarantineSeq: args.quarantineSeq } : {}) });
}
