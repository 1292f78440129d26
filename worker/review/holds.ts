import type { DeviceSession, ServiceContext } from "../context.ts";
import type { CompiledBundle } from "../policy/bundle.ts";
import { resolvedTargets, type Verdict as PolicyVerdict } from "../policy/decide.ts";
import { actionHash, contextHash, type HoldRecord, type TierStep } from "./record.ts";

/** What a review decision answers with: the hold to wait on. */
export interface HeldReview {
  id: string;
  tier: string;
  deadline: string;
}

/** The tiers a hold can climb: the one policy chose, then every later tier of the manifest. */
export function reviewLadder(bundle: CompiledBundle, tier: string): TierStep[] {
  const tiers = bundle.manifest.review_tiers;
  const start = tiers.findIndex((step) => step.name === tier);
  return tiers.slice(Math.max(start, 0)).map(({ name, sla_minutes, on_timeout, approvers }) => ({ name, sla_minutes, on_timeout, approvers }));
}

/**
 * Queues the hold for a logged review decision, or joins the identical one already
 * pending. Every later entry about the hold (`review.*`) names the decision id, which is
 * how the device log links them. Never throws: a hold that cannot be made is reported as
 * such and the decision denies.
 */
export async function holdForReview(
  ctx: Pick<ServiceContext, "env" | "deps">,
  session: DeviceSession,
  args: {
    decisionId: string;
    policy: string | null;
    verdict: PolicyVerdict;
    request: {
      agent: { id: string; version: string; artifact_sha256?: string | undefined };
      action: { type: string; inputs_sha256?: string | undefined; sends_external?: boolean | undefined };
      context?: { [key: string]: string | number | boolean } | undefined;
    };
    ladder: TierStep[];
    tokenTtl: number;
  },
  now: number,
): Promise<{ ok: true; review: HeldReview } | { ok: false }> {
  const { deps } = ctx;
  try {
    if (args.policy === null || args.ladder.length === 0) throw new Error("a review needs its bundle and a tier");
    const targets = resolvedTargets(args.verdict);
    const agent = { id: args.request.agent.id, version: args.request.agent.version, artifact_sha256: args.request.agent.artifact_sha256 ?? null };
    const action = {
      type: args.request.action.type,
      targets,
      inputs_sha256: args.request.action.inputs_sha256 ?? null,
      sends_external: args.request.action.sends_external ?? false,
    };
    const record: HoldRecord = {
      review_id: deps.newId(),
      decision_id: args.decisionId,
      tenant: session.tenant,
      requester: { device: session.deviceId, agent: agent.id },
      agent,
      action,
      context_sha256: contextHash(args.request.context),
      policy: { digest: args.policy, reasons: [...args.verdict.reasons] },
      action_hash: actionHash({ tenant: session.tenant, device: session.deviceId, agent, action }),
      created_at: new Date(now).toISOString(),
    };
    const { hold } = await deps.reviewQueue(ctx.env, session.tenant).hold({ record, ladder: args.ladder, tokenTtl: args.tokenTtl }, now);
    const review = { id: hold.id, tier: hold.shown.tier, deadline: hold.shown.deadline };
    return { ok: true, review };
  } catch (error) {
    console.error(JSON.stringify({ event: "review.hold_failed", device: session.deviceId, decision_id: args.decisionId, error: String(error) }));
    return { ok: false };
  }
}
