import { deviceCall, type DeviceSession, type ServiceContext } from "../context.ts";
import type { AppendedEntry } from "../domain.ts";
import { StateError } from "../errors.ts";
import type { JsonValue } from "../log/canonical.ts";
import type { CompiledBundle } from "../policy/bundle.ts";
import { decide, readsConsent, readsRegistry, resolvedTargets, type CanonicalTarget, type DecisionFacts, type DerivedVerdictTarget, type DeviceContext, type ReasonCode, type Verdict } from "../policy/decide.ts";
import { loadAgentDirectory, standingOf } from "../agents/store.ts";
import { UNREGISTERED } from "../agents/types.ts";
import { compileConsent, type CompiledConsent } from "../consent/scope.ts";
import type { DeviceConsents } from "../consent/types.ts";
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
 *
 * What a decision knows beyond the request stays off the tenant-wide objects: the agent registry
 * is this isolate's copy of its R2 snapshot (worker/agents/store.ts), and the device user's
 * consents are the device's own copy, which the consent ledger keeps in step. This isolate
 * remembers that copy with its version; the device's Durable Object checks the version in the
 * transaction that appends, and a decision made with an older copy is made again with the
 * current one, so a revocation applies from the very next decision.
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
  /** Whether the verdict read the device's consents: then the commit checks their version. */
  usesConsent: boolean;
  /** Reported once the decision is logged (shadow evaluation), never for an attempt that was made again. */
  afterCommit?: () => void;
}

/** The device's consents as this isolate last saw them. */
interface KnownConsents {
  version: number;
  compiled: readonly CompiledConsent[];
}

/** A device whose copy could not be read: no version matches, so the commit hands over the copy. */
const UNKNOWN_CONSENTS: KnownConsents = { version: -1, compiled: [] };
const knownConsents = new Map<string, KnownConsents>();
const MAX_KNOWN_CONSENTS = 4096;
/** A copy that changed again while a batch was decided twice is rare; a third change denies the batch unlogged. */
const MAX_ATTEMPTS = 3;

function rememberConsents(session: DeviceSession, state: DeviceConsents): KnownConsents {
  const compiled: CompiledConsent[] = [];
  for (const consent of state.consents) {
    try {
      compiled.push(compileConsent(consent));
    } catch (error) {
      // Scopes are checked when a consent is given; one that no longer compiles covers nothing.
      console.error(JSON.stringify({ event: "consent.scope_invalid", consent: consent.id, error: String(error) }));
    }
  }
  const known = { version: state.version, compiled };
  if (knownConsents.size >= MAX_KNOWN_CONSENTS) knownConsents.clear();
  knownConsents.set(`${session.tenant}/${session.deviceId}`, known);
  return known;
}

/** Decides one action of the session's device, logged before it is answered. */
export async function decideOne(ctx: ServiceContext, session: DeviceSession, request: ActionRequest): Promise<DecisionAnswer> {
  const [answer] = await decideAll(ctx, session, [request]);
  return answer as DecisionAnswer;
}

/** Decides up to 30 actions of one device, logged together in request order. */
export async function decideBatch(ctx: ServiceContext, session: DeviceSession, requests: readonly ActionRequest[]): Promise<DecisionAnswer[]> {
  return decideAll(ctx, session, requests);
}

async function decideAll(ctx: ServiceContext, session: DeviceSession, requests: readonly ActionRequest[]): Promise<DecisionAnswer[]> {
  const now = ctx.deps.now();
  let consents = knownConsents.get(`${session.tenant}/${session.deviceId}`) ?? (await firstConsents(ctx, session));
  for (let attempt = 1; ; attempt += 1) {
    const pending = await Promise.all(requests.map((request) => prepare(ctx, session, request, now, consents)));
    const logged = await logAndAnswer(ctx, session, pending, now, consents.version, attempt === MAX_ATTEMPTS);
    if (!("stale" in logged)) return logged;
    consents = rememberConsents(session, logged.stale);
  }
}

/** The device's copy of its user's consents, read once per isolate (a device unknown here decides nothing anyway). */
async function firstConsents(ctx: ServiceContext, session: DeviceSession): Promise<KnownConsents> {
  const read = await ctx.deps.deviceStore(ctx.env, session.tenant, session.deviceId).consents();
  return read.ok ? rememberConsents(session, read.state) : UNKNOWN_CONSENTS;
}

/** What the policies of `bundle` read beyond the request: the agent's registry standing, the consents. */
async function factsFor(ctx: ServiceContext, bundle: CompiledBundle, request: ActionRequest, consents: KnownConsents, now: number): Promise<DecisionFacts> {
  const agent = readsRegistry(bundle) ? standingOf(await loadAgentDirectory(ctx.env, ctx.env.TENANT, now), request.agent) : UNREGISTERED;
  return { agent, consents: readsConsent(bundle) ? consents.compiled : [] };
}

function failClosed(reasonCode: ReasonCode, judged: Pick<Verdict, "targets" | "derived" | "commands"> = { targets: [], derived: [], commands: [] }): Verdict {
  return { decision: "deny", reasonCode, reasons: [], targets: judged.targets, derived: judged.derived, commands: judged.commands };
}

/** Decides one action; nothing thrown here escapes as an error response. */
async function prepare(ctx: ServiceContext, session: DeviceSession, request: ActionRequest, now: number, consents: KnownConsents): Promise<PendingDecision> {
  const { deps, env } = ctx;
  const id = deps.newId();
  let policy: string | null = null;
  let bundle: PendingDecision["bundle"] = null;
  let usesConsent = false;
  try {
    const deployment = await loadDeployment(env, env.TENANT, now);
    const chosen = bundleFor(deployment, { tenant: session.tenant, id: session.deviceId, groups: session.groups }, now);
    if (!chosen.ok) {
      console.warn(JSON.stringify({ event: "decision.no_bundle", code: chosen.code, detail: chosen.detail }));
      return { id, verdict: failClosed(chosen.code), policy, bundle, request, usesConsent };
    }
    policy = chosen.bundle.digest;
    bundle = { version: chosen.bundle.version, role: chosen.role };
    usesConsent = readsConsent(chosen.bundle);
    const device: DeviceContext = { id: session.deviceId, os: session.os, shell: session.shell, assurance: session.assurance };
    const verdict = decide(chosen.bundle, request, device, now, await factsFor(ctx, chosen.bundle, request, consents, now));
    const reportShadow = deployment.shadow && chosen.role === "active" ? await compareInShadow(ctx, deployment.shadow, verdict, request, device, consents, id, now) : null;
    const decided = { id, verdict, policy, bundle, request, usesConsent, ...(reportShadow ? { afterCommit: reportShadow } : {}) };
    const ttlSeconds = chosen.bundle.manifest.action_token.per_action[request.action.type] ?? chosen.bundle.manifest.action_token.ttl_seconds;
    if (verdict.decision === "review" && verdict.tier !== undefined) {
      return { ...decided, review: { ladder: reviewLadder(chosen.bundle, verdict.tier), tokenTtl: ttlSeconds } };
    }
    if (verdict.decision !== "permit") return decided;
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
    return { ...decided, token: { value: token, jti, expiresAt } };
  } catch (error) {
    console.error(JSON.stringify({ event: "decision.internal_error", error: String(error) }));
    return { id, verdict: failClosed("internal_error"), policy, bundle, request, usesConsent };
  }
}

/**
 * Evaluates the shadow bundle on the same request; what it returns reports the agreement once
 * the decision is logged, without waiting: the answer never depends on the candidate.
 */
async function compareInShadow(ctx: ServiceContext, shadow: CompiledBundle, verdict: Verdict, request: ActionRequest, device: DeviceContext, consents: KnownConsents, decisionId: string, now: number): Promise<() => void> {
  let candidate: Verdict;
  try {
    candidate = decide(shadow, request, device, now, await factsFor(ctx, shadow, request, consents, now));
  } catch {
    candidate = failClosed("internal_error");
  }
  const summary = (v: Verdict) => ({ decision: v.decision, reason_code: v.reasonCode, reasons: [...v.reasons].sort() });
  const agree = JSON.stringify(summary(verdict)) === JSON.stringify(summary(candidate));
  const example = agree ? null : { time: new Date(now).toISOString(), device: device.id, decision_id: decisionId, active: summary(verdict), shadow: summary(candidate) };
  return () => {
    const report = ctx.deps.bundleRegistry(ctx.env, ctx.env.TENANT).recordShadow({ version: shadow.version, agree, example });
    ctx.waitUntil(report.catch((error: unknown) => console.error(JSON.stringify({ event: "shadow.report_failed", error: String(error) }))));
  };
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
      commands: verdict.commands.map((command) => ({ ...command, programs: [...command.programs], flags: [...command.flags] })),
      submitted: request.action.targets.map((target) => ({ ...target })),
      inputs_sha256: request.action.inputs_sha256 ?? null,
      sends_external: request.action.sends_external ?? false,
    },
    context: request.context ?? null,
    token_jti: pending.token?.jti ?? null,
    ...(verdict.consents ? { consents: verdict.consents } : {}),
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
 * decisions become denials without tokens: an unlogged permit never leaves. When a verdict
 * read consents of another version than the device's, nothing is logged and the device's
 * current copy comes back (`stale`) to decide with again; on the `last` attempt that, too, denies.
 */
async function logAndAnswer(
  ctx: ServiceContext,
  session: DeviceSession,
  pending: PendingDecision[],
  now: number,
  consentVersion: number,
  last: boolean,
): Promise<DecisionAnswer[] | { stale: DeviceConsents }> {
  const store = ctx.deps.deviceStore(ctx.env, session.tenant, session.deviceId);
  const unlogged = (reason: string) => {
    console.error(JSON.stringify({ event: "decision.log_append_failed", device: session.deviceId, error: reason }));
    return pending.map((item) => {
      const { token: _discarded, ...rest } = item;
      return answerOf({ ...rest, verdict: failClosed("log_append_failed", item.verdict) }, null);
    });
  };
  let outcome;
  try {
    const consents = pending.some((item) => item.usesConsent) ? { version: consentVersion } : undefined;
    outcome = await store.recordDecisions({ ...deviceCall(session), now, decisions: pending.map((item) => logData(item, session)), consents });
  } catch (error) {
    return unlogged(String(error));
  }
  if (!outcome.ok) throw new StateError(outcome.code, "the decision could not be recorded");
  if (outcome.stale) return last ? unlogged("the device's consents kept changing") : { stale: outcome.stale };
  for (const item of pending) item.afterCommit?.();
  if (outcome.quarantined) {
    // The object logged these as denials in the same transaction that read the quarantine.
    return pending.map((item, index) => {
      const { token: _discarded, ...rest } = item;
      return answerOf({ ...rest, verdict: failClosed("device_quarantined", item.verdict) }, outcome.logs[index] ?? null);
    });
  }
  return Promise.all(
    pending.map(async (item, index) => {
      const log = outcome.logs[index] ?? null;
      if (item.verdict.decision !== "review" || !item.review) return answerOf(item, log);
      // The hold is made only once the decision is in the log; without one there is nothing to wait on, so deny.
      const held = await holdForReview(ctx, session, { decisionId: item.id, log, policy: item.policy, verdict: item.verdict, request: item.request, ...item.review }, now);
      if (!held.ok) return answerOf({ ...item, verdict: failClosed("review_unavailable", item.verdict) }, log);
      return answerOf(item, log, held.review);
    }),
  );
}
