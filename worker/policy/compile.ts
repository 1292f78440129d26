import { checkParseSchema, policySetTextToParts, policyToJson, schemaToJson, validate, type DetailedError, type PolicyJson } from "./cedar.ts";
import { BundleError, artifactSources, type BundleIndex, type BundleSources, type CompiledParts, type VerifiedArtifact } from "./artifact.ts";
import { BundleManifestSchema, bundleFrom, compiledPolicy, type ActionLine, type CompiledBundle } from "./bundle.ts";
import { checkHistorySchema, compileHistorySpec, historyReads } from "../history/declarations.ts";
import { compilePathClasses } from "./path-classes.ts";
import { canonicalJson, type JsonValue } from "../log/canonical.ts";
import { StrictJsonError, parseStrictJson } from "../json/strict.ts";

// Cedar's compiler over a bundle's sources: parse, validate strictly against the schema, index.
// It runs where there is time for it — `warden bundle test|build` and activation — never in an
// isolate on its way to a decision (that one reads the index the artifact carries).

/** A bundle's sources compiled: the index, each action's policies, every policy in Cedar's JSON form, and all of it as an artifact's lines. */
export interface CompiledSources extends CompiledParts {
  actionLines: ActionLine[];
  policies: PolicyJson[];
}

/**
 * Parses and strictly validates the policies against the schema, checks the manifest, and
 * indexes every policy by the actions its scope admits, the agent it names and the path it
 * requires. Deterministic: the same sources give the same index and the same JSON, which is how
 * activation checks an artifact's precompiled part (`checkPrecompiled`). Throws `BundleError`
 * for anything that would make evaluation ambiguous.
 */
export function compileSources(sources: BundleSources): CompiledSources {
  const manifestResult = BundleManifestSchema.safeParse(sources.manifest);
  if (!manifestResult.success) {
    throw new BundleError("bundle_invalid", "the manifest is invalid", manifestResult.error.issues.map((issue) => `${issue.path.join(".")}: ${issue.message}`));
  }
  const manifest = manifestResult.data;
  const tierOrder = manifest.review_tiers.map((tier) => tier.name);
  compilePathClasses(manifest.path_classes);

  const schemaCheck = checkParseSchema(sources.schema);
  if (schemaCheck.type === "failure") throw new BundleError("bundle_invalid", "the schema does not parse", messages(schemaCheck.errors));

  const parts = policySetTextToParts(sources.policies);
  if (parts.type === "failure") throw new BundleError("bundle_invalid", "the policies do not parse", messages(parts.errors));
  if (parts.policy_templates.length > 0) throw new BundleError("bundle_invalid", "policy templates are not supported");

  const policyText = new Map<string, string>();
  const entries: { json: PolicyJson; line: string; principal: string | null; within: string | null }[] = [];
  for (const text of parts.policies) {
    const parsed = policyToJson(text);
    if (parsed.type === "failure") throw new BundleError("bundle_invalid", "a policy does not parse", messages(parsed.errors));
    const json = parsed.json;
    if (!json.annotations?.["id"]) throw new BundleError("bundle_invalid", "every policy needs an @id annotation", [text.slice(0, 120)]);
    // `@review` and `@reason` checked as an isolate checks the policy's line when it reads it (bundle.ts `compiledPolicy`).
    const { id } = compiledPolicy(json, tierOrder, "a policy");
    if (policyText.has(id)) throw new BundleError("bundle_invalid", `policy id ${id} is used twice`);
    policyText.set(id, text);
    const line = canonicalJson(json as unknown as JsonValue);
    try {
      // An isolate reads this line with the strict reader: a number Cedar holds exactly but a double does not would be refused there, so it is refused here.
      parseStrictJson(line);
    } catch (error) {
      if (!(error instanceof StrictJsonError)) throw error;
      throw new BundleError("bundle_invalid", `policy ${id}: its JSON form does not read back strictly (${error.code})`);
    }
    entries.push({ json, line, principal: exactAgent(json), within: requiredWithin(json) });
  }

  // The features the policies read go into the signed index: an isolate builds the history spec from them and the manifest without reading a policy.
  const history = historyReads(entries.map(({ json }) => json.conditions));
  const schemaJson = schemaToJson(sources.schema);
  if (schemaJson.type === "failure") throw new BundleError("bundle_invalid", "the schema cannot be read", messages(schemaJson.errors));
  checkHistorySchema(schemaJson.json[""] ?? {}, compileHistorySpec(manifest, history));

  const validation = validate({
    validationSettings: { mode: "strict" },
    schema: sources.schema,
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
  for (const { json } of entries) collectAttributeUse(json.conditions, attributeUse);

  const actions: BundleIndex["actions"] = [];
  const actionLines: ActionLine[] = [];
  for (const [action, { resourceTypes, ancestors, parents }] of schemaActions(sources.schema)) {
    const any: number[] = [];
    const within = new Map<string, number[]>();
    const agents = new Map<string, number[]>();
    const push = (map: Map<string, number[]>, key: string, position: number) => {
      const list = map.get(key);
      if (list) list.push(position);
      else map.set(key, [position]);
    };
    entries.forEach(({ json, principal, within: path }, position) => {
      if (!actionScopeAdmits(json, action, ancestors)) return;
      if (principal !== null) push(agents, principal, position);
      else if (path !== null) push(within, path, position);
      else any.push(position);
    });
    actions.push({ name: action, resources: [...resourceTypes], entities: actionHierarchy(action, ancestors, parents) });
    actionLines.push({ any, within: Object.fromEntries(within), agents: Object.fromEntries(agents) });
  }

  const index: BundleIndex = {
    policies: entries.length,
    attributes: {
      principal: [...attributeUse.principal],
      resource: [...attributeUse.resource],
      context: attributeUse.context === null ? null : [...attributeUse.context],
    },
    history: history === null ? null : [...history].sort(),
    actions,
  };
  const lines = [...actionLines.map((line) => canonicalJson(line as unknown as JsonValue)), ...entries.map(({ line }) => line)];
  return { index, actionLines, policies: entries.map(({ json }) => json), lines: lines.map((line) => `${line}\n`).join("") };
}

/**
 * A bundle compiled from its sources and held whole in memory: what `warden bundle test`
 * decides with, and the reference the lazily opened bundle is tested against.
 */
export function compileBundle(statement: BundleSources & { digest: string; version: number; name: string }): CompiledBundle {
  const { index, actionLines, policies } = compileSources(statement);
  return bundleFrom({ digest: statement.digest, version: statement.version, name: statement.name }, statement.manifest, index, {
    action: (line) => actionLines[line] as ActionLine,
    policy: (position) => policies[position] as PolicyJson,
  });
}

/**
 * Refuses an artifact whose precompiled part is not what its sources compile to: the sources
 * must be the digest's, and the signed index and every action and policy line exactly what a
 * compilation of them gives. The signature proves who built the artifact, not that the build
 * was faithful: a publisher's tool with a bug, or another compiler, could sign an index or
 * policy JSON that says other than the policies it ships beside. Run once, at activation;
 * isolates then trust the index and the lines.
 */
export function checkPrecompiled(artifact: VerifiedArtifact): void {
  const fresh = compileSources(artifactSources(artifact));
  if (canonicalJson(fresh.index as unknown as JsonValue) !== canonicalJson(artifact.statement.index as unknown as JsonValue)) {
    throw new BundleError("bundle_invalid", "the signed index is not the one the policies compile to");
  }
  const expected = new TextEncoder().encode(fresh.lines);
  if (!sameBytes(expected, artifact.body.subarray(artifact.statement.body.policies_bytes))) {
    throw new BundleError("bundle_invalid", "the signed action and policy lines are not what the policies compile to");
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i += 1) if (a[i] !== b[i]) return false;
  return true;
}

function messages(errors: DetailedError[]): string[] {
  return errors.map((error) => error.message);
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
function actionHierarchy(action: string, ancestors: ReadonlySet<string>, parents: ReadonlyMap<string, string[]>): BundleIndex["actions"][number]["entities"] {
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
