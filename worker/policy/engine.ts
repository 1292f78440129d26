import { preparsePolicySet, statefulIsAuthorized, type CedarValueJson, type Context, type EntityJson, type StatefulAuthorizationCall } from "./cedar.ts";
import type { CompiledBundle, CompiledPolicy, PolicyReasonCode } from "./bundle.ts";
import { WardenError } from "../errors.ts";

/** The outcome for one target, before targets are combined into a decision. */
export type TargetVerdict =
  | { outcome: "permit"; reasons: string[] }
  /** `reasonCodes`: each forbid's `@reason`, in the order of `reasons` (undefined where it names none). */
  | { outcome: "forbid"; reasons: string[]; reasonCodes: (PolicyReasonCode | undefined)[] }
  | { outcome: "review"; tier: string; reasons: string[] }
  | { outcome: "no_permit" }
  | { outcome: "error"; code: "policy_evaluation_error" | "evaluation_refused"; reasons: string[] };

/** One Cedar request: the agent acting, the action, one canonical target, the server-built context. */
export interface CedarRequest {
  agent: EntityJson;
  action: string;
  resource: EntityJson;
  context: Context;
}

/**
 * A map that keeps its `limit` most recently used entries: a Map iterates in insertion order,
 * so re-inserting on use keeps the oldest first in line for eviction.
 */
class Recent<V> {
  private readonly entries = new Map<string, V>();
  constructor(private readonly limit: number) {}

  get(key: string): V | undefined {
    const value = this.entries.get(key);
    if (value !== undefined) {
      this.entries.delete(key);
      this.entries.set(key, value);
    }
    return value;
  }

  /** Adds `value`; returns the entry evicted to make room, if any. */
  set(key: string, value: V): [string, V] | undefined {
    this.entries.set(key, value);
    if (this.entries.size <= this.limit) return undefined;
    const oldest = this.entries.entries().next().value as [string, V];
    this.entries.delete(oldest[0]);
    return oldest;
  }
}

/**
 * Preparsed slices, at most {@link MAX_SLICES} per isolate. Cedar keeps a preparsed set in
 * the wasm instance under a name until that name is preparsed again, and has no call to drop
 * one; so names are slots, reused when the least recently used slice is evicted, which bounds
 * the memory slices take however many bundles, agents and paths an isolate sees.
 */
const MAX_SLICES = 512;
const slices = new Recent<{ slot: string; byId: ReadonlyMap<string, CompiledPolicy> }>(MAX_SLICES);
const freeSlots: string[] = [];
let slotsMade = 0;

/**
 * The slice for one target: the action's policies for any agent, those naming this agent, and
 * of the path-bound ones only those bound to a directory on the target's path (`within`). Its
 * key names the bundle load (`serial`) and exactly which policies it holds (their positions).
 */
function slice(bundle: CompiledBundle, action: string, agentId: string, within: readonly string[], withReview: boolean): { key: string; slot: string; byId: ReadonlyMap<string, CompiledPolicy> } {
  const policies = bundle.policiesFor(action);
  const named = policies?.byAgent.get(agentId);
  const onPath = policies && policies.anyAgentWithin.size > 0 ? within.flatMap((prefix) => policies.anyAgentWithin.get(prefix) ?? []) : [];
  const key = `${bundle.serial}|${action}|${named ? agentId : "*"}|${withReview ? "all" : "no-review"}|${onPath.join(",")}`;
  const known = slices.get(key);
  if (known) return { key, ...known };
  const members = [...(policies?.anyAgent ?? []), ...onPath, ...(named ?? [])].map((position) => bundle.policy(position)).filter((policy) => withReview || policy.reviewTier === undefined);
  const slot = freeSlots.pop() ?? `slice-${(slotsMade += 1)}`;
  const prepared = preparsePolicySet(slot, { staticPolicies: Object.fromEntries(members.map((policy) => [policy.id, policy.json])) });
  if (prepared.type === "failure") {
    freeSlots.push(slot);
    throw new WardenError("internal_error", `policy slice ${key} failed to prepare: ${prepared.errors.map((e) => e.message).join("; ")}`);
  }
  const byId = new Map(members.map((policy) => [policy.id, policy]));
  const evicted = slices.set(key, { slot, byId });
  if (evicted) freeSlots.push(evicted[1].slot);
  return { key, slot, byId };
}

/** What evaluation reads of a Cedar answer; frozen, as memoised answers are shared. */
type Answer = Readonly<{ ok: false }> | Readonly<{ ok: true; allow: boolean; reasons: readonly string[]; errors: readonly string[] }>;

/**
 * Answers already computed, at most {@link MAX_ANSWERS} per isolate, by slice key and the
 * exact input of the Cedar call. Cedar evaluation is a pure function of the policies and of
 * that input — it has no clock, no randomness and no I/O — so an answer for the same policies
 * and the same input is the answer. The key holds both: the slice key names the bundle load and
 * the policies, and `callKey` serialises every entity, attribute and context value handed to
 * Cedar (time included whenever a policy reads `context.now`, since it is then in the input).
 * Why no change of bundle, clock or request can reach a stale answer: docs/scale.md › The
 * verdict memo.
 */
const MAX_ANSWERS = 4096;
const answers = new Recent<Answer>(MAX_ANSWERS);

/**
 * No schema at evaluation: the policies were validated strictly against it at build and at
 * activation, the worker builds every entity to that model, and the schema's only other
 * contribution, the action-group hierarchy, travels as Action entities. Request validation
 * and the conversion of attributes no policy reads are the bulk of a call's fixed cost.
 */
function authorize(bundle: CompiledBundle, request: CedarRequest, within: readonly string[], withReview: boolean): { answer: Answer; byId: ReadonlyMap<string, CompiledPolicy> } {
  const { key: sliceKey, slot, byId } = slice(bundle, request.action, agentId(request.agent), within, withReview);
  const call: StatefulAuthorizationCall = {
    principal: request.agent.uid,
    action: { type: "Action", id: request.action },
    resource: request.resource.uid,
    context: request.context,
    preparsedPolicySetId: slot,
    entities: [request.agent, request.resource, ...(bundle.actionEntities.get(request.action) ?? [])],
  };
  const input = callKey(call);
  const memoKey = input === null ? null : `${sliceKey}\n${input}`;
  const known = memoKey === null ? undefined : answers.get(memoKey);
  if (known) return { answer: known, byId };
  const result = statefulIsAuthorized(call);
  const answer: Answer =
    result.type === "failure"
      ? Object.freeze({ ok: false })
      : Object.freeze({
          ok: true,
          allow: result.response.decision === "allow",
          reasons: Object.freeze([...result.response.diagnostics.reason]),
          errors: Object.freeze([...new Set(result.response.diagnostics.errors.map((error) => error.policyId))]),
        });
  if (memoKey !== null) answers.set(memoKey, answer);
  return { answer, byId };
}

/**
 * The input of a Cedar call as one canonical string: principal, action, resource, context and
 * every entity with all their attributes, object members sorted (RFC 8785 order). The policy
 * set is named by the slice key, not here. Null — the call is not memoised — for anything
 * that is not plain JSON data (an `undefined` member, a number that is not finite), which has
 * no single serialisation to key on.
 */
function callKey(call: StatefulAuthorizationCall): string | null {
  try {
    return canonical([call.principal, call.action, call.resource, call.context, call.entities]);
  } catch {
    return null;
  }
}

function canonical(value: unknown): string {
  switch (typeof value) {
    case "string":
    case "boolean":
      return JSON.stringify(value);
    case "number":
      if (!Number.isFinite(value)) throw new RangeError("not finite");
      return JSON.stringify(value);
    case "object": {
      if (value === null) return "null";
      if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
      const record = value as Record<string, unknown>;
      const keys = Object.keys(record).sort();
      return `{${keys.map((key) => `${JSON.stringify(key)}:${canonical(record[key])}`).join(",")}}`;
    }
    default:
      throw new TypeError(`no canonical form for ${typeof value}`);
  }
}

/** Only the attributes some policy of the bundle reads. */
function leanRequest(bundle: CompiledBundle, request: CedarRequest): CedarRequest {
  const keep = (values: Record<string, CedarValueJson>, names: ReadonlySet<string> | null) => {
    if (names === null) return values;
    const kept: Record<string, CedarValueJson> = {};
    for (const name of names) if (name in values) kept[name] = values[name] as CedarValueJson;
    return kept;
  };
  const { attributes } = bundle;
  return {
    agent: { ...request.agent, attrs: keep(request.agent.attrs, attributes.principal) },
    action: request.action,
    resource: { ...request.resource, attrs: keep(request.resource.attrs, attributes.resource) },
    context: keep(request.context, attributes.context),
  };
}

function agentId(agent: EntityJson): string {
  const uid = agent.uid;
  return "__entity" in uid ? uid.__entity.id : uid.id;
}

/**
 * Evaluates one target. Cedar skips a policy that errors, which could let a permit
 * through past a broken forbid, so any evaluation error is its own outcome and the
 * caller denies. A forbid annotated `@review` holds the action only when it is the
 * sole reason for denial and the action would otherwise be permitted.
 */
export function evaluateTarget(bundle: CompiledBundle, fullRequest: CedarRequest): TargetVerdict {
  const request = leanRequest(bundle, fullRequest);
  const within = fullRequest.resource.attrs["within"];
  const path = Array.isArray(within) ? (within as string[]) : [];
  const { answer, byId } = authorize(bundle, request, path, true);
  if (!answer.ok) return { outcome: "error", code: "evaluation_refused", reasons: [] };
  if (answer.errors.length > 0) return { outcome: "error", code: "policy_evaluation_error", reasons: [...answer.errors] };
  if (answer.allow) return { outcome: "permit", reasons: [...answer.reasons] };
  if (answer.reasons.length === 0) return { outcome: "no_permit" };

  const tiers = answer.reasons.map((id) => byId.get(id)?.reviewTier);
  if (tiers.some((tier) => tier === undefined)) {
    const reasons = answer.reasons.filter((_, index) => tiers[index] === undefined);
    return { outcome: "forbid", reasons, reasonCodes: reasons.map((id) => byId.get(id)?.reasonCode) };
  }
  const { answer: withoutReview } = authorize(bundle, request, path, false);
  if (!withoutReview.ok) return { outcome: "error", code: "evaluation_refused", reasons: [] };
  if (withoutReview.errors.length > 0) return { outcome: "error", code: "policy_evaluation_error", reasons: [...withoutReview.errors] };
  if (!withoutReview.allow) return { outcome: "no_permit" };
  return { outcome: "review", tier: highestTier(bundle, tiers as string[]), reasons: [...answer.reasons] };
}

/** When targets ask for different tiers, the one furthest up the escalation order holds the action. */
export function highestTier(bundle: CompiledBundle, tiers: readonly string[]): string {
  return tiers.reduce((highest, tier) => (bundle.tierOrder.indexOf(tier) > bundle.tierOrder.indexOf(highest) ? tier : highest));
}
