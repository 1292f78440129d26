import { preparsePolicySet, statefulIsAuthorized, type CedarValueJson, type Context, type EntityJson } from "./cedar.ts";
import type { CompiledBundle, PolicyScope } from "./bundle.ts";
import { WardenError } from "../errors.ts";

/** The outcome for one target, before targets are combined into a decision. */
export type TargetVerdict =
  | { outcome: "permit"; reasons: string[] }
  | { outcome: "forbid"; reasons: string[] }
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
 * Preparsed policy sets, one per (bundle, action, agent slice, with or without review
 * policies). Built on first use and kept for the isolate's life: a bundle's slices
 * are few (actions × agents its policies name), and per request only lookups remain.
 */
const preparsedSlices = new Map<string, string>();

/**
 * The slice for one target: the action's policies for any agent, those naming this agent, and
 * of the path-bound ones only those bound to a directory on the target's path (`within`).
 */
function sliceId(bundle: CompiledBundle, action: string, agentId: string, within: readonly string[], withReview: boolean): string {
  const policies = bundle.policiesByAction.get(action);
  const named = policies?.byAgent.get(agentId);
  const onPath = policies && policies.anyAgentWithin.size > 0 ? within.flatMap((prefix) => policies.anyAgentWithin.get(prefix) ?? []) : [];
  const key = `${bundle.digest}|${action}|${named ? agentId : "*"}|${withReview ? "all" : "no-review"}|${onPath.map((policy) => policy.id).join(",")}`;
  let id = preparsedSlices.get(key);
  if (id === undefined) {
    const slice: PolicyScope[] = [...(policies?.anyAgent ?? []), ...onPath, ...(named ?? [])].filter((policy) => withReview || policy.reviewTier === undefined);
    const staticPolicies = Object.fromEntries(slice.map((policy) => [policy.id, bundle.policyText.get(policy.id) ?? ""]));
    const prepared = preparsePolicySet(key, { staticPolicies });
    if (prepared.type === "failure") throw new WardenError("internal_error", `policy slice ${key} failed to prepare: ${prepared.errors.map((e) => e.message).join("; ")}`);
    preparsedSlices.set(key, key);
    id = key;
  }
  return id;
}

/**
 * No schema at evaluation: the policies were validated strictly against it when the bundle
 * loaded, the worker builds every entity to that model, and the schema's only other
 * contribution, the action-group hierarchy, travels as Action entities. Request validation
 * and the conversion of attributes no policy reads are the bulk of a call's fixed cost.
 */
function authorize(bundle: CompiledBundle, request: CedarRequest, within: readonly string[], withReview: boolean) {
  return statefulIsAuthorized({
    principal: request.agent.uid,
    action: { type: "Action", id: request.action },
    resource: request.resource.uid,
    context: request.context,
    preparsedPolicySetId: sliceId(bundle, request.action, agentId(request.agent), within, withReview),
    entities: [request.agent, request.resource, ...(bundle.actionEntities.get(request.action) ?? [])],
  });
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
  const answer = authorize(bundle, request, path, true);
  if (answer.type === "failure") return { outcome: "error", code: "evaluation_refused", reasons: [] };
  const { decision, diagnostics } = answer.response;
  if (diagnostics.errors.length > 0) {
    return { outcome: "error", code: "policy_evaluation_error", reasons: [...new Set(diagnostics.errors.map((error) => error.policyId))] };
  }
  if (decision === "allow") return { outcome: "permit", reasons: diagnostics.reason };
  if (diagnostics.reason.length === 0) return { outcome: "no_permit" };

  const tiers = diagnostics.reason.map((id) => bundle.policies.get(id)?.reviewTier);
  if (tiers.some((tier) => tier === undefined)) {
    return { outcome: "forbid", reasons: diagnostics.reason.filter((_, index) => tiers[index] === undefined) };
  }
  const withoutReview = authorize(bundle, request, path, false);
  if (withoutReview.type === "failure") return { outcome: "error", code: "evaluation_refused", reasons: [] };
  if (withoutReview.response.diagnostics.errors.length > 0) {
    return { outcome: "error", code: "policy_evaluation_error", reasons: withoutReview.response.diagnostics.errors.map((error) => error.policyId) };
  }
  if (withoutReview.response.decision !== "allow") return { outcome: "no_permit" };
  return { outcome: "review", tier: highestTier(bundle, tiers as string[]), reasons: diagnostics.reason };
}

/** When targets ask for different tiers, the one furthest up the escalation order holds the action. */
export function highestTier(bundle: CompiledBundle, tiers: readonly string[]): string {
  return tiers.reduce((highest, tier) => (bundle.tierOrder.indexOf(tier) > bundle.tierOrder.indexOf(highest) ? tier : highest));
}
