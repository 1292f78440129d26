import type { ShadowReport } from "../../durable-objects/BundleRegistry.ts";
import type { DeviceSession, ServiceContext } from "../context.ts";
import type { AppendedEntry } from "../domain.ts";
import { StateError } from "../errors.ts";
import type { JsonValue } from "../log/canonical.ts";
import type { CompiledBundle } from "../policy/bundle.ts";
import { decide, resolvedTargets, type CanonicalTarget, type DerivedVerdictTarget, type DeviceContext, type ReasonCode, type Verdict } from "../policy/decide.ts";
import { bundleFor, loadDeployment } from "../policy/store.ts";
import { holdForReview, reviewLadder, type HeldReview } from "../review/holds.ts";
import type { TierStep } from "../review/record.ts";
import { issueActionToken } from "../tokens/action.ts";
import { signingKey } from "../tokens/keys.ts";
import type { ActionRequest } from "./request.ts";

/**
 * The decision flow: choose the device's bundle → decide (pure) → sign the permit's token →
 * append every decision to the device log with the request's proof (the commit point) → hold
 * reviews → answer. Any failure before the append denies with its own reason code; an answer
 * never leaves without its log entry.
 */

/** A decision as the device receives it (`POST /v1/decisions`). */
export interface DecisionAnswer {
  decision: Verdict["decision"];
  reason_code: ReasonCode;
  reasons: string[];
  policy: string | null;
  decision_id: string;
  log: AppendedEntry | null;
  targets: CanonicalTarget[];
  derived: DerivedVerdictTarget[];
  token?: string;
  token_expires_at?: string;
  review?: HeldReview;
}

/** A verdict with what comes with it before it is logged: its id, bundle and, on permit, token. */
interface PendingDecision {
  id: string;
  verdict: Verdict;
  policy: string | null;
  bundle: { version: number; role: "active" | "canary" } | null;
  token?: { value: string; jti: string; expiresAt: number };
  request: ActionRequest;
  /** On review: the tiers the hold may climb and the lifetime of the token an approval releases. */
  review?: { ladder: TierStep[]; tokenTtl: number };
}

/** Decides one action of the session's device, logged before it is answered. */
export async function decideOne(ctx: ServiceContext, session: DeviceSession, request: ActionRequest): Promise<DecisionAnswer> {
  const now = ctx.deps.now();
  const [answer] = await logAndAnswer(ctx, session, [await prepare(ctx, session, request, now)], now);
  return answer as DecisionAnswer;
}

/** Decides up to 30 actions of one device, logged together in request order. */
export async function decideBatch(ctx: ServiceContext, session: DeviceSession, requests: readonly ActionRequest[]): Promise<DecisionAnswer[]> {
  const now = ctx.deps.now();
  const pending = await Promise.all(requests.map((request) => prepare(ctx, session, request, now)));
  return logAndAnswer(ctx, session, pending, now);
}

function failClosed(reasonCode: ReasonCode, judged: Pick<Verdict, "targets" | "derived"> = { targets: [], derived: [] }): Verdict {
  return { decision: "deny", reasonCode, reasons: [], targets: judged.targets, derived: judged.derived };
}

/** Decides one action; nothing thrown here escapes as an error response. */
async function prepare(ctx: ServiceContext, session: DeviceSession, request: ActionRequest, now: number): Promise<PendingDecision> {
  const { deps, env } = ctx;
  const id = deps.newId();
  let policy: string | null = null;
  let bundle: PendingDecision["bundle"] = null;
  try {
    const deployment = await loadDeployment(env, env.TENANT, now);
    const chosen = bundleFor(deployment, { tenant: session.tenant, id: session.deviceId, groups: session.groups }, now);
    if (!chosen.ok) {
      console.warn(JSON.stringify({ event: "decision.no_bundle", code: chosen.code, detail: chosen.detail }));
      return { id, verdict: failClosed(chosen.code), policy, bundle, request };
    }
    policy = chosen.bundle.digest;
    bundle = { version: chosen.bundle.version, role: chosen.role };
    const device: DeviceContext = { id: session.deviceId, os: session.os, shell: session.shell, assurance: session.assurance };
    const verdict = decide(chosen.bundle, request, device, now);
    if (deployment.shadow && chosen.role === "active") compareInShadow(ctx, deployment.shadow, verdict, request, device, id, now);
    const ttlSeconds = chosen.bundle.manifest.action_token.per_action[request.action.type] ?? chosen.bundle.manifest.action_token.ttl_seconds;
    if (verdict.decision === "review" && verdict.tier !== undefined) {
      return { id, verdict, policy, bundle, request, review: { ladder: reviewLadder(chosen.bundle, verdict.tier), tokenTtl: ttlSeconds } };
    }
    if (verdict.decision !== "permit") return { id, verdict, policy, bundle, request };
    const jti = deps.newId();
    const { token, expiresAt } = await issueActionToken(await signingKey(env.SIGNING_KEY), {
      device: session.deviceId,
      tenant: session.tenant,
      jkt: session.jkt,
      os: session.os,
      shell: session.shell,
      groups: session.groups,
      jti,
      decisionId: id,
      policy,
      scope: {
        action: request.action.type,
        targets: resolvedTargets(verdict),
        ...(request.action.inputs_sha256 !== undefined ? { inputs_sha256: request.action.inputs_sha256 } : {}),
      },
      now,
      ttlSeconds,
    });
    return { id, verdict, policy, bundle, request, token: { value: token, jti, expiresAt } };
  } catch (error) {
    console.error(JSON.stringify({ event: "decision.internal_error", error: String(error) }));
    return { id, verdict: failClosed("internal_error"), policy, bundle, request };
  }
}

/**
 * Shadow comparisons counted in this isolate and sent to the tenant's registry at most once per
 * `SHADOW_REPORT_MS` per bundle version. The registry is one object for the whole tenant: an RPC
 * per decision would make it take every decision of every device (after the answer, but still
 * its load — thousands a second at 100,000 devices), where a batch per isolate and second is
 * bounded by the isolates, not the devices. A batch an isolate holds when it is evicted is lost:
 * shadow figures are a sample, never a record (docs/scale.md).
 */
const SHADOW_REPORT_MS = 1000;
const MAX_SHADOW_EXAMPLES_PER_REPORT = 20;
const shadowBatches = new Map<string, { version: number; agree: number; disagree: number; examples: ShadowExample[] }>();
type ShadowExample = ShadowReport["examples"][number];

/**
 * Evaluates the shadow bundle on the same request and counts agreement; the answer never
 * waits for, or depends on, the candidate, and the count reaches the registry with its batch.
 */
function compareInShadow(ctx: ServiceContext, shadow: CompiledBundle, verdict: Verdict, request: ActionRequest, device: DeviceContext, decisionId: string, now: number): void {
  let candidate: Verdict;
  try {
    candidate = decide(shadow, request, device, now);
  } catch {
    candidate = failClosed("internal_error");
  }
  const summary = (v: Verdict) => ({ decision: v.decision, reason_code: v.reasonCode, reasons: [...v.reasons].sort() });
  const agree = JSON.stringify(summary(verdict)) === JSON.stringify(summary(candidate));
  const key = `${ctx.env.TENANT}|${shadow.version}`;
  let batch = shadowBatches.get(key);
  if (!batch) {
    batch = { version: shadow.version, agree: 0, disagree: 0, examples: [] };
    shadowBatches.set(key, batch);
    // The batch's first comparison schedules its report; later ones only count.
    ctx.waitUntil(new Promise((resolve) => setTimeout(resolve, SHADOW_REPORT_MS)).then(() => reportShadow(ctx, key)));
  }
  if (agree) batch.agree += 1;
  else {
    batch.disagree += 1;
    if (batch.examples.length < MAX_SHADOW_EXAMPLES_PER_REPORT) {
      batch.examples.push({ time: new Date(now).toISOString(), device: device.id, decision_id: decisionId, active: summary(verdict), shadow: summary(candidate) });
    }
  }
}

async function reportShadow(ctx: ServiceContext, key: string): Promise<void> {
  const batch = shadowBatches.get(key);
  shadowBatches.delete(key);
  if (!batch) return;
  try {
    await ctx.deps.bundleRegistry(ctx.env, ctx.env.TENANT).recordShadow(batch);
  } catch (error) {
    console.error(JSON.stringify({ event: "shadow.report_failed", version: batch.version, agree: batch.agree, disagree: batch.disagree, error: String(error) }));
  }
}

function logData(pending: PendingDecision, session: DeviceSession): { [key: string]: JsonValue } {
  const { verdict, request } = pending;
  return {
    decision_id: pending.id,
    decision: verdict.decision,
    reason_code: verdict.reasonCode,
    reasons: verdict.reasons,
    policy: pending.policy,
    bundle: pending.bundle,
    tier: verdict.tier ?? null,
    session: session.sessionId,
    agent: { id: request.agent.id, version: request.agent.version, artifact_sha256: request.agent.artifact_sha256 ?? null },
    action: {
      type: request.action.type,
      targets: verdict.targets.map((target) => ({ ...target })),
      derived: verdict.derived.map((target) => ({ ...target })),
      submitted: request.action.targets.map((target) => ({ ...target })),
      inputs_sha256: request.action.inputs_sha256 ?? null,
      sends_external: request.action.sends_external ?? false,
    },
    context: request.context ?? null,
    token_jti: pending.token?.jti ?? null,
  };
}

function answerOf(pending: PendingDecision, log: AppendedEntry | null, held?: HeldReview): DecisionAnswer {
  const { verdict } = pending;
  const answer: DecisionAnswer = {
    decision: verdict.decision,
    reason_code: verdict.reasonCode,
    reasons: verdict.reasons,
    policy: pending.policy,
    decision_id: pending.id,
    log,
    targets: verdict.targets,
    derived: verdict.derived,
  };
  if (pending.token) {
    answer.token = pending.token.value;
    answer.token_expires_at = new Date(pending.token.expiresAt).toISOString();
  }
  if (held) answer.review = held;
  return answer;
}

/**
 * Logs the decisions and only then shapes the answers. If the append fails the
 * decisions become denials without tokens: an unlogged permit never leaves.
 */
async function logAndAnswer(ctx: ServiceContext, session: DeviceSession, pending: PendingDecision[], now: number): Promise<DecisionAnswer[]> {
  const store = ctx.deps.deviceStore(ctx.env, session.tenant, session.deviceId);
  let outcome;
  try {
    outcome = await store.recordDecisions({ proof: session.proof, now, decisions: pending.map((item) => logData(item, session)) });
  } catch (error) {
    console.error(JSON.stringify({ event: "decision.log_append_failed", device: session.deviceId, error: String(error) }));
    return pending.map((item) => {
      const { token: _discarded, ...rest } = item;
      return answerOf({ ...rest, verdict: failClosed("log_append_failed", item.verdict) }, null);
    });
  }
  if (!outcome.ok) throw new StateError(outcome.code, "the decision could not be recorded");
  return Promise.all(
    pending.map(async (item, index) => {
      const log = outcome.logs[index] ?? null;
      if (item.verdict.decision !== "review" || !item.review) return answerOf(item, log);
      // The hold is made only once the decision is in the log; without one there is nothing to wait on, so deny.
      const held = await holdForReview(ctx, session, { decisionId: item.id, policy: item.policy, verdict: item.verdict, request: item.request, ...item.review }, now);
      if (!held.ok) return answerOf({ ...item, verdict: failClosed("review_unavailable", item.verdict) }, log);
      return answerOf(item, log, held.review);
    }),
  );
}
