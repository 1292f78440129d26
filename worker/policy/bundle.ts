import { z } from "zod";
import {
  checkParseSchema,
  policySetTextToParts,
  policyToJson,
  schemaToJson,
  validate,
  type DetailedError,
  type EntityJson,
  type PolicyJson,
} from "./cedar.ts";
import { BundleError, type BundleStatement } from "./artifact.ts";
import { compilePathClasses, type PathClasses } from "./path-classes.ts";
import { tpmReference } from "../verifiers/tpm/appraise.ts";
import { SnpManifestSchema, TdxManifestSchema } from "./cvm-reference.ts";
import { checkHistorySchema, compileHistorySpec, historyReads, type HistorySpec } from "../history/declarations.ts";
import { TicketTemplatesSchema } from "../review/ticket-templates.ts";
import { compilePrivacy } from "../privacy/policy.ts";

/** How far ahead a consent's expiry may lie when the bundle says nothing (`consent.max_days`). */
export const DEFAULT_CONSENT_MAX_DAYS = 90;

/** Allowed digests (hex, sizes checked by `tpmReference`) or "any". */
const digestList = z.union([z.literal("any"), z.array(z.string().max(128)).max(256)]);

/** The manifest: what the worker needs from a bundle beyond Cedar. */
export const BundleManifestSchema = z.strictObject({
  name: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/),
  description: z.string().max(1000).optional(),
  review_tiers: z
    .array(
      z.strictObject({
        name: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,31}$/),
        sla_minutes: z.int().min(1).max(7 * 24 * 60),
        on_timeout: z.enum(["deny", "permit"]).default("deny"),
        /** Distinct reviewers whose approvals release a hold at this tier. */
        approvers: z.int().min(1).max(10).default(1),
        /** A Jira issue and/or a ServiceNow incident opened when a hold enters this tier (worker/review/ticket-templates.ts). */
        tickets: TicketTemplatesSchema.optional(),
      }),
    )
    .max(8)
    .default([]),
  action_token: z
    .strictObject({
      ttl_seconds: z.int().min(1).max(60),
      /** Shorter lifetimes for some actions, e.g. `{ "command.exec": 10 }`. */
      per_action: z.record(z.string(), z.int().min(1).max(60)).default({}),
    })
    .default({ ttl_seconds: 60, per_action: {} }),
  /**
   * Named classes of paths: canonical paths and patterns over them (worker/policy/path-classes.ts),
   * e.g. `"secrets": ["/etc/shadow*", "/home/dev/.ssh/**", "!/home/dev/.ssh/*.pub"]`. A `File`
   * carries the names of the classes that cover it in `classes`, so policies name the class and
   * the manifest keeps the list.
   */
  path_classes: z
    .record(z.string().regex(/^[a-z0-9][a-z0-9_-]{0,31}$/), z.array(z.string().min(1).max(4096)).min(1).max(256))
    .default({}),
  /**
   * Attestation reference values. `tpm`: the PCR bank and indices a device's TPM2_Quote must
   * cover exactly, and per PCR (decimal index) the allowed values as hex; PCRs without an entry
   * are quoted and reported but not judged (worker/verifiers/tpm/appraise.ts).
   */
  /** Consent records the bundle accepts: `max_days` bounds how far ahead a consent's expiry may be. */
  consent: z.strictObject({ max_days: z.int().min(1).max(3650) }).default({ max_days: DEFAULT_CONSENT_MAX_DAYS }),
  attestation: z
    .strictObject({
      tpm: z
        .strictObject({
          pcr_bank: z.enum(["sha256", "sha384"]),
          pcrs: z.array(z.int().min(0).max(23)).min(1).max(24),
          reference: z.record(z.string(), z.array(z.string().max(128)).min(1).max(64)).default({}),
          /** Requires the measured-boot event log with every quote and appraises its facts (worker/verifiers/tpm/appraise.ts). */
          event_log: z
            .strictObject({
              secure_boot: z.boolean().optional(),
              pk: digestList.optional(),
              kek: digestList.optional(),
              db: digestList.optional(),
              dbx: digestList.optional(),
              boot_manager: digestList.optional(),
              kernel: digestList.optional(),
            })
            .optional(),
        })
        .superRefine((tpm, ctx) => {
          try {
            tpmReference(tpm);
          } catch (error) {
            ctx.addIssue({ code: "custom", message: error instanceof Error ? error.message : String(error) });
          }
        })
        .optional(),
      /** SEV-SNP and TDX reference values (worker/policy/cvm-reference.ts). */
      sev_snp: SnpManifestSchema.optional(),
      tdx: TdxManifestSchema.optional(),
    })
    .optional(),
  /**
   * History features policies read as `context.history.<name>`, detection rules over them and
   * the playbook that answers their findings (worker/history/declarations.ts, docs/history.md).
   * Checked there, each with its own refusal code, so they pass through here as they are.
   */
  history: z.unknown().optional(),
  detections: z.unknown().optional(),
  playbook: z.unknown().optional(),
  /** Which request fields are sensitive and how each is masked in the log (worker/privacy/policy.ts, docs/privacy.md); checked there (`bundle_privacy_invalid`). */
  privacy: z.unknown().optional(),
});
export type BundleManifest = z.infer<typeof BundleManifestSchema>;

/**
 * The decision reason codes a forbid policy may name with `@reason("<code>")`, so a denial says
 * what the person can do about it (register the agent, use an approved build, give consent)
 * rather than only `policy_forbid`. When forbids with several of them deny one action, the
 * first in this order is the decision's.
 */
export const POLICY_REASON_CODES = ["agent_unregistered", "artifact_unapproved", "consent_required"] as const;
export type PolicyReasonCode = (typeof POLICY_REASON_CODES)[number];

/** Which policies can apply to a request with a given action, and whether a principal restricts them. */
export interface PolicyScope {
  id: string;
  effect: "permit" | "forbid";
  /** Tier named by `@review("<tier>")` on a forbid policy. */
  reviewTier?: string;
  /** Reason code named by `@reason("<code>")` on a forbid policy. */
  reasonCode?: PolicyReasonCode;
  /** `Agent` id the policy is restricted to by `principal ==`, or null when any principal can match. */
  principal: string | null;
  /**
   * A path the policy can only be satisfied within: a `when` clause has the conjunct
   * `resource.within.contains("<path>")`. For a target outside it the policy is false, so it
   * need not be evaluated. Null when the policy has no such conjunct.
   */
  within: string | null;
}

/**
 * The policies that can apply to one action: those naming one agent, and those for any agent,
 * the latter split by the path they require (see `PolicyScope.within`), so a large set of
 * per-directory rules costs a request only the rules on its own path.
 */
export interface ActionPolicies {
  anyAgent: readonly PolicyScope[];
  anyAgentWithin: ReadonlyMap<string, readonly PolicyScope[]>;
  byAgent: ReadonlyMap<string, readonly PolicyScope[]>;
}

/** The path of a top-level `resource.within.contains("…")` conjunct of a `when` clause, if any. */
function requiredWithin(json: PolicyJson): string | null {
  const conjuncts = (node: unknown): unknown[] => {
    const and = (node as { "&&"?: { left: unknown; right: unknown } } | null)?.["&&"];
    return and ? [...conjuncts(and.left), ...conjuncts(and.right)] : [node];
  };
  for (const condition of json.conditions) {
    if (condition.kind !== "when") continue;
    for (const conjunct of conjuncts(condition.body)) {
      const contains = (conjunct as { contains?: { left?: unknown; right?: unknown } } | null)?.contains;
      const left = contains?.left as { "."?: { left?: { Var?: string }; attr?: string } } | undefined;
      const right = contains?.right as { Value?: unknown } | undefined;
      if (left?.["."]?.left?.Var === "resource" && left["."].attr === "within" && typeof right?.Value === "string") return right.Value;
    }
  }
  return null;
}

/** A bundle parsed, validated and indexed once; evaluation only looks things up. */
export interface CompiledBundle {
  digest: string;
  version: number;
  name: string;
  manifest: BundleManifest;
  policyText: ReadonlyMap<string, string>;
  policies: ReadonlyMap<string, PolicyScope>;
  /** For each action in the schema: the resource entity types it applies to. */
  actions: ReadonlyMap<string, ReadonlySet<string>>;
  /** For each action: the policies whose action scope can include it, split by principal scope. */
  policiesByAction: ReadonlyMap<string, ActionPolicies>;
  /** Tier names in escalation order. */
  tierOrder: readonly string[];
  /** The manifest's path classes, for the `classes` of a `File`. */
  pathClasses: PathClasses;
  /** The attributes some policy reads: evaluation hands Cedar only these. */
  attributes: AttributeUse;
  /** For an action in an action group: the Action entities that carry the group hierarchy to Cedar. */
  actionEntities: ReadonlyMap<string, readonly EntityJson[]>;
  /** The history features, detection rules and playbook, normalised (worker/history/declarations.ts). */
  history: HistorySpec;
}

/**
 * Attribute names the policies read on the principal, the resource and the context. A bare
 * `context` (compared or passed whole) needs all of it: `null`.
 */
export interface AttributeUse {
  principal: ReadonlySet<string>;
  resource: ReadonlySet<string>;
  context: ReadonlySet<string> | null;
}

type VarName = "principal" | "resource" | "context";

function collectAttributeUse(node: unknown, use: { principal: Set<string>; resource: Set<string>; context: Set<string> | null }): void {
  if (Array.isArray(node)) {
    for (const item of node) collectAttributeUse(item, use);
    return;
  }
  if (typeof node !== "object" || node === null) return;
  for (const [key, value] of Object.entries(node)) {
    if ((key === "." || key === "has") && typeof value === "object" && value !== null) {
      const { left, attr } = value as { left?: { Var?: string }; attr?: string };
      const name = left?.Var;
      if ((name === "principal" || name === "resource" || name === "context") && typeof attr === "string") {
        use[name as VarName]?.add(attr);
        continue;
      }
    }
    if (key === "Var" && value === "context") use.context = null;
    collectAttributeUse(value, use);
  }
}

const ENTITY_TYPE_BY_KIND = { path: "File", url: "Url", command: "Command", tool: "Tool" } as const;
export type TargetKind = keyof typeof ENTITY_TYPE_BY_KIND;
export function entityTypeFor(kind: TargetKind): string {
  return ENTITY_TYPE_BY_KIND[kind];
}

/**
 * Parses and strictly validates the policies of a verified statement against its
 * schema, and indexes every policy by the actions its scope admits. Throws
 * `BundleError` for anything that would make evaluation ambiguous.
 */
export function compileBundle(document: BundleStatement): CompiledBundle {
  const manifestResult = BundleManifestSchema.safeParse(document.manifest);
  if (!manifestResult.success) {
    throw new BundleError("bundle_invalid", "the manifest is invalid", manifestResult.error.issues.map((issue) => `${issue.path.join(".")}: ${issue.message}`));
  }
  const manifest = manifestResult.data;
  const tierOrder = manifest.review_tiers.map((tier) => tier.name);
  const pathClasses = compilePathClasses(manifest.path_classes);
  // Refused here, at activation; the decision path compiles it once per bundle (worker/privacy/service.ts `privacyOf`).
  compilePrivacy(manifest.privacy);

  const schemaCheck = checkParseSchema(document.schema);
  if (schemaCheck.type === "failure") throw new BundleError("bundle_invalid", "the schema does not parse", messages(schemaCheck.errors));

  const parts = policySetTextToParts(document.policies);
  if (parts.type === "failure") throw new BundleError("bundle_invalid", "the policies do not parse", messages(parts.errors));
  if (parts.policy_templates.length > 0) throw new BundleError("bundle_invalid", "policy templates are not supported");

  const policyText = new Map<string, string>();
  const scopes: { scope: PolicyScope; json: PolicyJson }[] = [];
  for (const text of parts.policies) {
    const parsed = policyToJson(text);
    if (parsed.type === "failure") throw new BundleError("bundle_invalid", "a policy does not parse", messages(parsed.errors));
    const json = parsed.json;
    const id = json.annotations?.["id"];
    if (!id) throw new BundleError("bundle_invalid", "every policy needs an @id annotation", [text.slice(0, 120)]);
    if (policyText.has(id)) throw new BundleError("bundle_invalid", `policy id ${id} is used twice`);
    const reviewTier = json.annotations?.["review"];
    if (reviewTier !== undefined) {
      if (json.effect !== "forbid") throw new BundleError("bundle_invalid", `policy ${id}: @review applies to forbid policies only`);
      if (!tierOrder.includes(reviewTier)) throw new BundleError("bundle_invalid", `policy ${id}: review tier ${reviewTier} is not in the manifest`);
    }
    const reason = json.annotations?.["reason"];
    if (reason !== undefined) {
      if (json.effect !== "forbid" || reviewTier !== undefined) throw new BundleError("bundle_invalid", `policy ${id}: @reason applies to forbid policies without @review`);
      if (!(POLICY_REASON_CODES as readonly string[]).includes(reason)) throw new BundleError("bundle_invalid", `policy ${id}: @reason must be one of ${POLICY_REASON_CODES.join(", ")}`);
    }
    policyText.set(id, text);
    const scope: PolicyScope = { id, effect: json.effect, principal: exactAgent(json), within: requiredWithin(json) };
    if (reviewTier !== undefined) scope.reviewTier = reviewTier;
    if (reason !== undefined) scope.reasonCode = reason as PolicyReasonCode;
    scopes.push({ scope, json });
  }

  const history = compileHistorySpec(manifest, historyReads(scopes.map(({ json }) => json.conditions)));
  const schemaJson = schemaToJson(document.schema);
  if (schemaJson.type === "failure") throw new BundleError("bundle_invalid", "the schema cannot be read", messages(schemaJson.errors));
  checkHistorySchema(schemaJson.json[""] ?? {}, history);

  const validation = validate({
    validationSettings: { mode: "strict" },
    schema: document.schema,
    policies: { staticPolicies: Object.fromEntries(policyText) },
  });
  if (validation.type === "failure") throw new BundleError("bundle_invalid", "validation could not run", messages(validation.errors));
  if (validation.validationErrors.length > 0) {
    throw new BundleError(
      "bundle_invalid",
      "the policies do not validate against the schema",
      validation.validationErrors.map((error) => `${error.policyId}: ${error.error.message}`),
    );
  }

  const attributeUse = { principal: new Set<string>(), resource: new Set<string>(), context: new Set<string>() as Set<string> | null };
  for (const { json } of scopes) collectAttributeUse(json.conditions, attributeUse);

  const actions = schemaActions(document.schema);
  const policiesByAction = new Map<string, ActionPolicies>();
  for (const [action, { ancestors }] of actions) {
    const anyAgent: PolicyScope[] = [];
    const anyAgentWithin = new Map<string, PolicyScope[]>();
    const byAgent = new Map<string, PolicyScope[]>();
    const push = (map: Map<string, PolicyScope[]>, key: string, scope: PolicyScope) => {
      const list = map.get(key);
      if (list) list.push(scope);
      else map.set(key, [scope]);
    };
    for (const { scope, json } of scopes) {
      if (!actionScopeAdmits(json, action, ancestors)) continue;
      if (scope.principal !== null) push(byAgent, scope.principal, scope);
      else if (scope.within !== null) push(anyAgentWithin, scope.within, scope);
      else anyAgent.push(scope);
    }
    policiesByAction.set(action, { anyAgent, anyAgentWithin, byAgent });
  }

  return {
    digest: document.digest,
    version: document.version,
    name: document.name,
    manifest,
    policyText,
    policies: new Map(scopes.map(({ scope }) => [scope.id, scope])),
    actions: new Map([...actions].map(([action, { resourceTypes }]) => [action, resourceTypes])),
    policiesByAction,
    tierOrder,
    pathClasses,
    attributes: attributeUse,
    actionEntities: new Map([...actions].map(([action, { ancestors, parents }]) => [action, actionHierarchy(action, ancestors, parents)])),
    history,
  };
}

function messages(errors: DetailedError[]): string[] {
  return errors.map((error) => error.message);
}

/** The agent a policy names with `principal == Agent::"…"`; any other principal scope may match anyone. */
function exactAgent(json: PolicyJson): string | null {
  const principal = json.principal;
  if (principal.op !== "==" || !("entity" in principal)) return null;
  const uid = "__entity" in principal.entity ? principal.entity.__entity : principal.entity;
  return uid.type === "Agent" ? uid.id : null;
}

function actionScopeAdmits(json: PolicyJson, action: string, ancestors: ReadonlySet<string>): boolean {
  const scope = json.action;
  if (scope.op === "All") return true;
  const named = scope.op === "==" ? ("entity" in scope ? [scope.entity] : []) : "entity" in scope ? [scope.entity] : scope.entities;
  return named.some((uid) => {
    const { id } = "__entity" in uid ? uid.__entity : uid;
    return scope.op === "==" ? id === action : id === action || ancestors.has(id);
  });
}

/** The action and its groups as entities, so `action in Action::"<group>"` holds without the schema at evaluation. */
function actionHierarchy(action: string, ancestors: ReadonlySet<string>, parents: ReadonlyMap<string, string[]>): EntityJson[] {
  if (ancestors.size === 0) return [];
  return [action, ...ancestors].map((id) => ({ uid: { type: "Action", id }, attrs: {}, parents: (parents.get(id) ?? []).map((parent) => ({ type: "Action", id: parent })) }));
}

/** Actions of the (unnamespaced) schema with their resource types and action-group ancestors. */
function schemaActions(schema: string): Map<string, { resourceTypes: Set<string>; ancestors: Set<string>; parents: Map<string, string[]> }> {
  const json = schemaToJson(schema);
  if (json.type === "failure") throw new BundleError("bundle_invalid", "the schema cannot be read", messages(json.errors));
  const namespaces = Object.keys(json.json);
  if (namespaces.length !== 1 || namespaces[0] !== "") throw new BundleError("bundle_invalid", "the schema must not declare a namespace");
  const declared = json.json[""]?.actions ?? {};
  const parents = new Map<string, string[]>();
  for (const [name, action] of Object.entries(declared)) parents.set(name, (action.memberOf ?? []).map((parent) => parent.id));
  const ancestorsOf = (name: string, seen = new Set<string>()): Set<string> => {
    for (const parent of parents.get(name) ?? []) {
      if (!seen.has(parent)) {
        seen.add(parent);
        ancestorsOf(parent, seen);
      }
    }
    return seen;
  };
  const actions = new Map<string, { resourceTypes: Set<string>; ancestors: Set<string>; parents: Map<string, string[]> }>();
  for (const [name, action] of Object.entries(declared)) {
    if (!action.appliesTo) continue;
    actions.set(name, { resourceTypes: new Set(action.appliesTo.resourceTypes), ancestors: ancestorsOf(name), parents });
  }
  return actions;
}
