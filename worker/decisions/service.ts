import type { ShadowReport } from "../../durable-objects/BundleRegistry.ts";
import type { HistorySnapshot } from "../../durable-objects/device-history.ts";
import { deviceCall, type DeviceSession, type ServiceContext } from "../context.ts";
import type { AppendedEntry } from "../domain.ts";
import { StateError } from "../errors.ts";
import { HistoryCursor, runtimeFor } from "../history/cursor.ts";
import { decisionBundle } from "../history/deciding.ts";
import type { DecisionBundle } from "../history/declarations.ts";
import { heldVerdict, type DecisionHistory, type HistoryState } from "../history/effects.ts";
import { requestPrograms } from "../history/views.ts";
import type { JsonValue } from "../log/canonical.ts";
import type { CompiledBundle } from "../policy/bundle.ts";
import { decide, readsConsent, readsRegistry, resolvedTargets, type CanonicalTarget, type DecisionFacts, type DerivedVerdictTarget, type DeviceContext, type ReasonCode, type Verdict } from "../policy/decide.ts";
import { loadAgentDirectory, standingOf } from "../agents/store.ts";
import { UNREGISTERED } from "../agents/types.ts";
import { compileConsent, type CompiledConsent } from "../consent/scope.ts";
import type { DeviceConsents } from "../consent/types.ts";
import { recordedFacts, type RecordedFacts } from "../policy/facts.ts";
import { bundleFor, loadDeployment, type LoadedDeployment } from "../policy/store.ts";
import { holdForReview, reviewLadder, type HeldReview } from "../review/holds.ts";
import type { TierStep } from "../review/record.ts";
import { issueActionToken } from "../tokens/action.ts";
import { signingKey } from "../tokens/keys.ts";
import type { ActionRequest } from "./request.ts";
import { discardTokenised, maskForLog, privacyOf, type TokenisedValues } from "../privacy/service.ts";
import type { PrivacyPolicy } from "../privacy/policy.ts";

/**
 * The decision flow: choose the device's bundle → read the device's history when its policies
 * read any (docs/history.md) → decide (pure) → sign the permit's token → append every decision
 * to the device log with the request's proof (the commit point; the device's Durable Object
 * checks there that each decision's history is the log's, else it is decided again) → hold
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

/** Decisions a request gets on fresher history when concurrent ones moved it, before it denies (`history_contended`). */
const HISTORY_ATTEMPTS = 8;
/**
 * The history of each device this isolate decided for last, moved past the decisions it logged
 * there, under the spec it was read with. The device's object checks every recorded value at the
 * append, so a copy another isolate or another kind of entry moved costs one more round trip (the
 * object answers with the history as it is), never a wrong value in the log; a copy that is still
 * right spares the decision a read of the device's history before it.
 */
const knownHistories = new Map<string, { spec: string; snapshot: HistorySnapshot }>();
const MAX_KNOWN_HISTORIES = 4096;

function rememberHistory(key: string, spec: string, snapshot: HistorySnapshot | null): void {
  if (snapshot === null || snapshot.state === null) {
    knownHistories.delete(key);
    return;
  }
  if (knownHistories.size >= MAX_KNOWN_HISTORIES) knownHistories.clear();
  knownHistories.set(key, { spec, snapshot });
}

/** A consent copy that changed again while a batch was decided twice is rare; a third change denies the batch unlogged. */
export const CONSENT_ATTEMPTS = 3;

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
  /** The history it was decided on (`data.history`); null when no bundle decided it. */
  history: DecisionHistory | null;
  /** The registry standing and consents it was decided on, when its bundle reads them (worker/policy/facts.ts). */
  facts?: RecordedFacts | null;
  /** The programs of its command lines, logged for history filters. */
  programs: string[];
  /** On permit: what a playbook's hold needs to hold it for review instead. */
  reviewable?: { bundle: CompiledBundle; tokenTtl: number };
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

/** The device's copy of its user's consents, read once per isolate (a device unknown here decides nothing anyway). */
async function firstConsents(ctx: ServiceContext, session: DeviceSession): Promise<KnownConsents> {
  const read = await ctx.deps.deviceStore(ctx.env, session.tenant, session.deviceId).consents();
  return read.ok ? rememberConsents(session, read.state) : UNKNOWN_CONSENTS;
}

/** What the policies of `bundle` read beyond the request and history: the agent's registry standing, the consents. */
async function factsFor(ctx: ServiceContext, bundle: CompiledBundle, request: ActionRequest, consents: KnownConsents, now: number): Promise<DecisionFacts> {
  const agent = readsRegistry(bundle) ? standingOf(await loadAgentDirectory(ctx.env, ctx.env.TENANT, now), request.agent) : UNREGISTERED;
  return { agent, consents: readsConsent(bundle) ? consents.compiled : [] };
}

/** The device's whole history state, which this isolate then keeps moving past its own decisions; a failure to read it denies (`internal_error`). */
async function readHistory(store: ReturnType<ServiceContext["deps"]["deviceStore"]>, session: DeviceSession, bundle: DecisionBundle, now: number): Promise<HistorySnapshot | ReasonCode> {
  let read;
  try {
    read = await store.readHistory({ bundle, now });
  } catch (error) {
    console.error(JSON.stringify({ event: "decision.history_read_failed", device: session.deviceId, error: String(error) }));
    return "internal_error";
  }
  if (!read.ok) throw new StateError(read.code, "the device's history cannot be read");
  return read.snapshot as HistorySnapshot;
}

/** The deciding bundle, chosen once per request to the API: every decision of a batch is made under the same one. */
type BundleChoice =
  | { ok: true; bundle: CompiledBundle; role: "active" | "canary"; deployment: LoadedDeployment }
  | { ok: false; code: ReasonCode };

/** Decides one action of the session's device, logged before it is answered. */
export async function decideOne(ctx: ServiceContext, session: DeviceSession, request: ActionRequest): Promise<DecisionAnswer> {
  const [answer] = await decideAll(ctx, session, [request]);
  return answer as DecisionAnswer;
}

/** Decides up to 30 actions of one device, logged together in request order. */
export async function decideBatch(ctx: ServiceContext, session: DeviceSession, requests: readonly ActionRequest[]): Promise<DecisionAnswer[]> {
  return decideAll(ctx, session, requests);
}

function failClosed(reasonCode: ReasonCode, judged: Pick<Verdict, "targets" | "derived" | "commands"> = { targets: [], derived: [], commands: [] }): Verdict {
  return { decision: "deny", reasonCode, reasons: [], targets: judged.targets, derived: judged.derived, commands: judged.commands };
}

async function chooseBundle(ctx: ServiceContext, session: DeviceSession, now: number): Promise<BundleChoice> {
  try {
    const deployment = await loadDeployment(ctx.env, ctx.env.TENANT, now);
    const chosen = bundleFor(deployment, { tenant: session.tenant, id: session.deviceId, groups: session.groups }, now);
    if (!chosen.ok) {
      console.warn(JSON.stringify({ event: "decision.no_bundle", code: chosen.code, detail: chosen.detail }));
      return { ok: false, code: chosen.code };
    }
    return { ok: true, bundle: chosen.bundle, role: chosen.role, deployment };
  } catch (error) {
    console.error(JSON.stringify({ event: "decision.internal_error", error: String(error) }));
    return { ok: false, code: "internal_error" };
  }
}

/**
 * Decides every request on the history its entry will follow, and logs them. When the log
 * moved between the read and the append (another decision of the device, an entry of another
 * kind), the object appends nothing and hands back the history as it is now: the batch is
 * decided again, up to {@link HISTORY_ATTEMPTS} times, then denied (`history_contended`). When
 * the device's consents changed since this isolate read them, likewise with the current copy,
 * up to {@link CONSENT_ATTEMPTS} times, then denied unlogged.
 */
async function decideAll(ctx: ServiceContext, session: DeviceSession, requests: readonly ActionRequest[]): Promise<DecisionAnswer[]> {
  const now = ctx.deps.now();
  const choice = await chooseBundle(ctx, session, now);
  const store = ctx.deps.deviceStore(ctx.env, session.tenant, session.deviceId);
  const bundle = choice.ok ? decisionBundle(choice.bundle) : null;
  const deviceKey = `${session.tenant}/${session.deviceId}`;
  const spec = choice.ok ? choice.bundle.history.digest : "";
  const known = knownHistories.get(deviceKey);
  // A bundle whose policies read no feature decides without reading history; the object still keeps it at the append.
  const readsHistory = choice.ok && choice.bundle.history.read.length > 0;
  // A device this isolate has not decided for yet: both reads go to its object at once, not one after the other.
  let [history, consents] = await Promise.all([
    !readsHistory ? null : known?.spec === spec ? known.snapshot : readHistory(store, session, bundle as DecisionBundle, now),
    knownConsents.get(deviceKey) ?? firstConsents(ctx, session),
  ]);
  let turn = history !== null && typeof history === "object" ? history.turn : null;
  // Shared by every attempt: a value masked again when the request is decided again is not stored again.
  const tokenised: TokenisedValues = new Map();
  let historyAttempts = 1;
  let consentAttempts = 1;
  for (;;) {
    const { pending, after } = await prepareAll(ctx, session, requests, now, choice, history, consents);
    const logged = await logAndAnswer(ctx, session, store, pending, now, bundle, turn, consents.version, consentAttempts === CONSENT_ATTEMPTS, privacyOf(choice.ok ? choice.bundle : null), tokenised);
    if ("staleConsents" in logged) {
      consents = rememberConsents(session, logged.staleConsents);
      consentAttempts += 1;
      continue;
    }
    if (!("staleHistory" in logged)) {
      // Only a batch the log took moved the history as `after` says; anything else is read afresh next time.
      rememberHistory(deviceKey, spec, logged.every((answer) => answer.log !== null) ? after : null);
      return logged;
    }
    turn = logged.staleHistory.turn;
    // Denials decided on no history record none, so the last attempt cannot be stale.
    history = historyAttempts < HISTORY_ATTEMPTS ? logged.staleHistory : "history_contended";
    if (history === "history_contended") console.warn(JSON.stringify({ event: "decision.history_contended", device: session.deviceId, attempts: historyAttempts }));
    historyAttempts += 1;
  }
}

/**
 * Decides each request in order. With history, each is decided on the history as its entry
 * will find it: the snapshot moved forward by the decisions before it in the batch. Without the
 * history the policies read (`history` is the reason it is missing), each denies.
 */
async function prepareAll(
  ctx: ServiceContext,
  session: DeviceSession,
  requests: readonly ActionRequest[],
  now: number,
  choice: BundleChoice,
  history: HistorySnapshot | ReasonCode | null,
  consents: KnownConsents,
): Promise<{ pending: PendingDecision[]; after: HistorySnapshot | null }> {
  if (typeof history === "string") return { pending: await Promise.all(requests.map((request) => prepare(ctx, session, request, now, { ok: false, code: history }, null, consents))), after: null };
  if (!choice.ok || history === null) return { pending: await Promise.all(requests.map((request) => prepare(ctx, session, request, now, choice, null, consents))), after: null };
  const spec = choice.bundle.history.digest;
  const values = history.values;
  // One request after a collision: the object computed the values it is decided on.
  if (values !== null && requests.length === 1) return { pending: [await prepare(ctx, session, requests[0] as ActionRequest, now, choice, () => ({ spec, values }), consents)], after: null };
  const cursor = new HistoryCursor(runtimeFor(choice.bundle.history), { ...history, state: history.state as HistoryState }, choice.bundle.tierOrder);
  const pending: PendingDecision[] = [];
  for (const request of requests) {
    const decided = await prepare(ctx, session, request, now, choice, (device) => cursor.historyFor(request, device, now), consents);
    cursor.followDecision(logData(decided, session), now);
    pending.push(decided);
  }
  return { pending, after: { ...cursor.snapshot(), values: null, turn: null } };
}

/** Decides one action; nothing thrown here escapes as an error response. */
async function prepare(
  ctx: ServiceContext,
  session: DeviceSession,
  request: ActionRequest,
  now: number,
  choice: BundleChoice,
  historyOf: ((device: DeviceContext) => DecisionHistory) | null,
  consents: KnownConsents,
): Promise<PendingDecision> {
  const { deps, env } = ctx;
  const id = deps.newId();
  let policy: string | null = null;
  let bundle: PendingDecision["bundle"] = null;
  let history: DecisionHistory | null = null;
  const device: DeviceContext = { id: session.deviceId, os: session.os, shell: session.shell, assurance: session.assurance };
  let programs: string[] = [];
  let usesConsent = false;
  try {
    programs = requestPrograms(request, device);
    if (!choice.ok) return { id, verdict: failClosed(choice.code), policy, bundle, request, history, programs, usesConsent };
    const chosen = choice;
    policy = chosen.bundle.digest;
    bundle = { version: chosen.bundle.version, role: chosen.role };
    usesConsent = readsConsent(chosen.bundle);
    history = historyOf ? historyOf(device) : { spec: chosen.bundle.history.digest, values: {} };
    const facts = await factsFor(ctx, chosen.bundle, request, consents, now);
    const verdict = decide(chosen.bundle, request, device, now, { ...facts, history: history.values });
    const reportShadow = choice.deployment.shadow && chosen.role === "active" ? await compareInShadow(ctx, choice.deployment.shadow, verdict, request, device, consents, id, now, history) : null;
    const decided = { id, verdict, policy, bundle, request, history, facts: recordedFacts(chosen.bundle, facts, verdict), programs, usesConsent, ...(reportShadow ? { afterCommit: reportShadow } : {}) };
    const ttlSeconds = chosen.bundle.manifest.action_token.per_action[request.action.type] ?? chosen.bundle.manifest.action_token.ttl_seconds;
    if (verdict.decision === "review" && verdict.tier !== undefined) {
      return { ...decided, review: { ladder: reviewLadder(chosen.bundle, verdict.tier), tokenTtl: ttlSeconds } };
    }
    if (verdict.decision !== "permit") return decided;
    const jti = deps.newId();
    const { token, expiresAt } = await issueActionToken(await signingKey(env.SIGNING_KEY), {
      device: session.deviceId,
      tenant: session.tenant,
      session: { id: session.sessionId, expiresAt: session.sessionExpiresAt },
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
    // Kept for a playbook's hold, which the object may put on a permit at the append.
    return { ...decided, token: { value: token, jti, expiresAt }, reviewable: { bundle: chosen.bundle, tokenTtl: ttlSeconds } };
  } catch (error) {
    console.error(JSON.stringify({ event: "decision.internal_error", error: String(error) }));
    return { id, verdict: failClosed("internal_error"), policy, bundle, request, history: null, programs, usesConsent };
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
 * Evaluates the shadow bundle on the same request; what it returns counts the agreement in this
 * isolate's batch once the decision is logged (an attempt decided again after a stale history or
 * consent read is compared again, and must not be counted twice), without waiting: the answer
 * never depends on the candidate. A candidate whose policies read history features the active
 * bundle does not keep alike is not compared (null): the device's history is kept for the
 * deciding bundle only.
 */
async function compareInShadow(
  ctx: ServiceContext,
  shadow: CompiledBundle,
  verdict: Verdict,
  request: ActionRequest,
  device: DeviceContext,
  consents: KnownConsents,
  decisionId: string,
  now: number,
  history: DecisionHistory,
): Promise<(() => void) | null> {
  if (shadow.history.read.length > 0 && shadow.history.digest !== history.spec) return null;
  let candidate: Verdict;
  try {
    candidate = decide(shadow, request, device, now, { ...(await factsFor(ctx, shadow, request, consents, now)), history: history.values });
  } catch {
    candidate = failClosed("internal_error");
  }
  const summary = (v: Verdict) => ({ decision: v.decision, reason_code: v.reasonCode, reasons: [...v.reasons].sort() });
  const agree = JSON.stringify(summary(verdict)) === JSON.stringify(summary(candidate));
  const example: ShadowExample | null = agree ? null : { time: new Date(now).toISOString(), device: device.id, decision_id: decisionId, active: summary(verdict), shadow: summary(candidate) };
  return () => countShadow(ctx, shadow.version, example);
}

/** Counts one committed comparison (`example` when it disagreed) in its batch; the batch's first schedules the batch's report. */
function countShadow(ctx: ServiceContext, version: number, example: ShadowExample | null): void {
  const key = `${ctx.env.TENANT}|${version}`;
  let batch = shadowBatches.get(key);
  if (!batch) {
    batch = { version, agree: 0, disagree: 0, examples: [] };
    shadowBatches.set(key, batch);
    // The batch's first comparison schedules its report; later ones only count.
    ctx.waitUntil(new Promise((resolve) => setTimeout(resolve, SHADOW_REPORT_MS)).then(() => reportShadow(ctx, key)));
  }
  if (example === null) batch.agree += 1;
  else {
    batch.disagree += 1;
    if (batch.examples.length < MAX_SHADOW_EXAMPLES_PER_REPORT) batch.examples.push(example);
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
      commands: verdict.commands.map((command) => ({ ...command, programs: [...command.programs], flags: [...command.flags] })),
      submitted: request.action.targets.map((target) => ({ ...target })),
      inputs_sha256: request.action.inputs_sha256 ?? null,
      sends_external: request.action.sends_external ?? false,
      programs: pending.programs,
    },
    context: request.context ?? null,
    token_jti: pending.token?.jti ?? null,
    history: pending.history,
    ...(verdict.consents ? { consents: verdict.consents } : {}),
    ...(pending.facts ? { facts: pending.facts as unknown as JsonValue } : {}),
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
 * decisions become denials without tokens: an unlogged permit never leaves. If the object
 * finds the history moved, or a verdict read consents of another version than the device's,
 * nothing was logged: the caller decides again on what it returned — except consents on the
 * `lastConsentAttempt`, which deny.
 */
async function logAndAnswer(
  ctx: ServiceContext,
  session: DeviceSession,
  store: ReturnType<ServiceContext["deps"]["deviceStore"]>,
  pending: PendingDecision[],
  now: number,
  bundle: DecisionBundle | null,
  turn: string | null,
  consentVersion: number,
  lastConsentAttempt: boolean,
  privacy: PrivacyPolicy,
  tokenised: TokenisedValues,
): Promise<DecisionAnswer[] | { staleHistory: HistorySnapshot } | { staleConsents: DeviceConsents }> {
  const unlogged = (reason: string) => {
    console.error(JSON.stringify({ event: "decision.log_append_failed", device: session.deviceId, error: reason }));
    return pending.map((item) => {
      const { token: _discarded, ...rest } = item;
      return answerOf({ ...rest, verdict: failClosed("log_append_failed", item.verdict) }, null);
    });
  };
  let logged: { [key: string]: JsonValue }[];
  try {
    // Masked before the append (worker/privacy/): the log is hashed over what this returns, never over the raw request.
    logged = await maskForLog(ctx, session, privacy, pending.map((item) => logData(item, session)), tokenised);
  } catch (error) {
    await discardTokenised(ctx, session.tenant, tokenised);
    return unlogged(String(error));
  }
  let outcome;
  try {
    const consents = pending.some((item) => item.usesConsent) ? { version: consentVersion } : undefined;
    outcome = await store.recordDecisions({ ...deviceCall(session), now, decisions: logged, consents, bundle, turn });
  } catch (error) {
    return unlogged(String(error));
  }
  if (!outcome.ok) {
    if (outcome.code === "history_stale") return { staleHistory: (outcome as { stale: unknown }).stale as HistorySnapshot };
    await discardTokenised(ctx, session.tenant, tokenised);
    throw new StateError(outcome.code, "the decision could not be recorded");
  }
  if (outcome.stale) {
    if (!lastConsentAttempt) return { staleConsents: outcome.stale };
    await discardTokenised(ctx, session.tenant, tokenised);
    return unlogged("the device's consents kept changing");
  }
  for (const item of pending) item.afterCommit?.();
  const { logs, rewrites, hold, user, endsQuarantined } = outcome;
  return Promise.all(
    pending.map(async (decided, index) => {
      const log = logs[index] ?? null;
      let item = decided;
      const rewrite = rewrites[index] ?? null;
      if (rewrite !== null) {
        // The object logged it otherwise than decided, in the transaction that read the device's standing: no token leaves.
        const { token: _discarded, ...rest } = decided;
        if (rewrite === "device_quarantined") return answerOf({ ...rest, verdict: failClosed("device_quarantined", decided.verdict) }, log);
        if (!hold || !decided.reviewable) return answerOf({ ...rest, verdict: failClosed("review_unavailable", decided.verdict) }, log);
        const verdict = heldVerdict(decided.verdict, hold, decided.reviewable.bundle.tierOrder);
        item = { ...rest, verdict, review: { ladder: reviewLadder(decided.reviewable.bundle, verdict.tier as string), tokenTtl: decided.reviewable.tokenTtl } };
      }
      if (item.verdict.decision !== "review" || !item.review) return answerOf(item, log);
      // Logged for review before a playbook quarantined the device later in this batch: the quarantine ends the
      // device's holds after its commit, and may already have, so no hold is made for it to miss; it denies.
      if (endsQuarantined) {
        const { token: _discarded, ...rest } = item;
        return answerOf({ ...rest, verdict: failClosed("device_quarantined", item.verdict) }, log);
      }
      // The hold is made only once the decision is in the log; without one there is nothing to wait on, so deny.
      // What the hold shows of the context and the targets is what the entry holds, masked: never more than the log tells.
      const loggedContext = logged[index]?.["context"] ?? null;
      const loggedAction = logged[index]?.["action"];
      const loggedTargets = typeof loggedAction === "object" && loggedAction !== null && !Array.isArray(loggedAction) ? (loggedAction["targets"] ?? null) : null;
      const held = await holdForReview(ctx, session, { decisionId: item.id, log, policy: item.policy, verdict: item.verdict, request: item.request, loggedContext, loggedTargets, requesterUser: user, ...item.review }, now);
      if (!held.ok) return answerOf({ ...item, verdict: failClosed("review_unavailable", item.verdict) }, log);
      return answerOf(item, log, held.review);
    }),
  );
}
