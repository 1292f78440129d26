import { z } from "zod";
import type { EntityJson, PolicyJson } from "./cedar.ts";
import { BundleError } from "./artifact.ts";
import { StrictJsonError, parseStrictJson } from "../json/strict.ts";
import { compilePathClasses, type PathClasses } from "./path-classes.ts";
import { tpmReference } from "../verifiers/tpm/appraise.ts";
import { SnpManifestSchema, TdxManifestSchema } from "./cvm-reference.ts";

// The form of a bundle evaluation reads (CompiledBundle), and the index a signed artifact
// carries to build it without Cedar's compiler. Compiling sources into that index is
// worker/policy/compile.ts; reading it from a verified artifact is `openBundle` below.

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
  attestation: z
    .strictObject({
      tpm: z
        .strictObject({
          pcr_bank: z.enum(["sha256", "sha384"]),
          pcrs: z.array(z.int().min(0).max(23)).min(1).max(24),
          reference: z.record(z.string(), z.array(z.string().max(128)).min(1).max(64)).default({}),
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
});
export type BundleManifest = z.infer<typeof BundleManifestSchema>;

/** One policy as evaluation needs it: its id, its effect, and the tier a `@review` forbid holds at. */
export interface PolicyScope {
  id: string;
  effect: "permit" | "forbid";
  /** Tier named by `@review("<tier>")` on a forbid policy. */
  reviewTier?: string;
}

/**
 * The policies that can apply to one action: those naming one agent, and those for any agent,
 * the latter split by the path a `when` clause requires (`resource.within.contains("<path>")`
 * as a conjunct), so a large set of per-directory rules costs a request only the rules on its
 * own path.
 */
export interface ActionPolicies {
  anyAgent: readonly PolicyScope[];
  anyAgentWithin: ReadonlyMap<string, readonly PolicyScope[]>;
  byAgent: ReadonlyMap<string, readonly PolicyScope[]>;
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

/**
 * The precompiled index a signed artifact carries (docs/bundles.md › The artifact): every
 * policy's id, effect and review tier in artifact order, the attributes the policies read, and
 * for each action of the schema its resource types, its action-group entities and the
 * positions of the policies that can apply to it — for any agent, for any agent within a
 * path, by agent named. Built from the sources by `compileSources` (worker/policy/compile.ts),
 * signed with them, compared with a fresh compilation at activation; an isolate reads it as it
 * is and parses a policy's body only when a slice needs it.
 */
export interface BundleIndex {
  policies: { id: string; effect: "permit" | "forbid"; tier?: string }[];
  actions: { [action: string]: IndexedAction };
  attributes: { principal: string[]; resource: string[]; context: string[] | null };
}

/** One action of a {@link BundleIndex}; numbers are positions in `policies`. */
export interface IndexedAction {
  resources: string[];
  /** The action and its groups as entities, so `action in Action::"<group>"` holds without the schema; empty outside any group. */
  entities: EntityJson[];
  any: number[];
  within: { [path: string]: number[] };
  agents: { [agent: string]: number[] };
}

/** A bundle ready to evaluate: an index to look things up in, and the policies' bodies on demand. */
export interface CompiledBundle {
  digest: string;
  version: number;
  name: string;
  /**
   * This load of the bundle, unique in the isolate. Preparsed slices and memoised answers
   * (worker/policy/engine.ts) are keyed by it, so nothing of one load is ever used for another.
   */
  serial: number;
  manifest: BundleManifest;
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
  /** A policy in Cedar's JSON form (the evaluator's input), by id; read from the artifact on first use. */
  policyJson(id: string): PolicyJson;
}

const ENTITY_TYPE_BY_KIND = { path: "File", url: "Url", command: "Command", tool: "Tool" } as const;
export type TargetKind = keyof typeof ENTITY_TYPE_BY_KIND;
export function entityTypeFor(kind: TargetKind): string {
  return ENTITY_TYPE_BY_KIND[kind];
}

let loads = 0;

/**
 * The bundle an index describes. `body(position)` gives the policy at a position of
 * `index.policies` in Cedar's JSON form, and is called only when a slice first needs that
 * policy. Throws `BundleError` (`bundle_invalid`) for a manifest that does not validate or an
 * index that does not hold together.
 */
export function bundleFromIndex(
  meta: { digest: string; version: number; name: string },
  manifestJson: unknown,
  index: BundleIndex,
  body: (position: number) => PolicyJson,
): CompiledBundle {
  const manifestResult = BundleManifestSchema.safeParse(manifestJson);
  if (!manifestResult.success) {
    throw new BundleError("bundle_invalid", "the manifest is invalid", manifestResult.error.issues.map((issue) => `${issue.path.join(".")}: ${issue.message}`));
  }
  const manifest = manifestResult.data;
  const scopes = index.policies.map(({ id, effect, tier }): PolicyScope => (tier === undefined ? { id, effect } : { id, effect, reviewTier: tier }));
  const positions = new Map<string, number>();
  scopes.forEach((scope, position) => positions.set(scope.id, position));
  if (positions.size !== scopes.length) throw new BundleError("bundle_invalid", "the index names a policy id twice");
  const at = (position: number): PolicyScope => {
    const scope = scopes[position];
    if (scope === undefined) throw new BundleError("bundle_invalid", `the index refers to policy ${position} of ${scopes.length}`);
    return scope;
  };
  const actions = new Map<string, ReadonlySet<string>>();
  const policiesByAction = new Map<string, ActionPolicies>();
  const actionEntities = new Map<string, readonly EntityJson[]>();
  for (const [action, indexed] of Object.entries(index.actions)) {
    actions.set(action, new Set(indexed.resources));
    actionEntities.set(action, indexed.entities);
    policiesByAction.set(action, {
      anyAgent: indexed.any.map(at),
      anyAgentWithin: new Map(Object.entries(indexed.within).map(([path, list]) => [path, list.map(at)])),
      byAgent: new Map(Object.entries(indexed.agents).map(([agent, list]) => [agent, list.map(at)])),
    });
  }
  const bodies = new Map<string, PolicyJson>();
  loads += 1;
  return {
    ...meta,
    serial: loads,
    manifest,
    policies: new Map(scopes.map((scope) => [scope.id, scope])),
    actions,
    policiesByAction,
    tierOrder: manifest.review_tiers.map((tier) => tier.name),
    pathClasses: compilePathClasses(manifest.path_classes),
    attributes: {
      principal: new Set(index.attributes.principal),
      resource: new Set(index.attributes.resource),
      context: index.attributes.context === null ? null : new Set(index.attributes.context),
    },
    actionEntities,
    policyJson(id) {
      let json = bodies.get(id);
      if (json === undefined) {
        const position = positions.get(id);
        if (position === undefined) throw new BundleError("bundle_invalid", `no policy ${id} in the index`);
        json = body(position);
        bodies.set(id, json);
      }
      return json;
    },
  };
}

/** An artifact whose signature verified (worker/policy/artifact.ts `verifyBundleArtifact`). */
export interface OpenableArtifact {
  statement: { digest: string; version: number; name: string; manifest: unknown; index: unknown };
  /** One canonical JSON line per policy, in index order: the policies in Cedar's JSON form. */
  compiled: Uint8Array;
}

/**
 * The bundle of a verified artifact, without compiling anything: the index is read as it is,
 * and a policy's body is parsed (strictly, from exactly the signed bytes) the first time a
 * slice needs it. The cost is the index's size, not the policy set's: a new isolate decides
 * after a few milliseconds at any number of policies. Throws `BundleError` (`bundle_invalid`)
 * when the index does not hold together or the line count is not the policy count.
 */
export function openBundle(artifact: OpenableArtifact): CompiledBundle {
  const index = readIndex(artifact.statement.index);
  const lines = lineStarts(artifact.compiled);
  if (lines.length - 1 !== index.policies.length) throw new BundleError("bundle_invalid", `the artifact holds ${lines.length - 1} compiled policies for ${index.policies.length} in its index`);
  const { digest, version, name } = artifact.statement;
  return bundleFromIndex({ digest, version, name }, artifact.statement.manifest, index, (position) => {
    const line = artifact.compiled.subarray(lines[position], (lines[position + 1] as number) - 1);
    try {
      return parseStrictJson(line) as unknown as PolicyJson;
    } catch (error) {
      if (!(error instanceof StrictJsonError)) throw error;
      throw new BundleError("bundle_invalid", `the compiled line of policy ${position} is not strict JSON (${error.code})`);
    }
  });
}

/** Where each newline-terminated line starts, and one past the last line's end. */
function lineStarts(bytes: Uint8Array): Uint32Array {
  const starts: number[] = [0];
  for (let at = bytes.indexOf(0x0a); at !== -1; at = bytes.indexOf(0x0a, at + 1)) starts.push(at + 1);
  if (starts[starts.length - 1] !== bytes.length) throw new BundleError("bundle_invalid", "the compiled policies do not end with a newline");
  return Uint32Array.from(starts);
}

const malformedIndex = (what: string) => new BundleError("bundle_invalid", `the index is malformed: ${what}`);
const isRecord = (value: unknown): value is { [key: string]: unknown } => typeof value === "object" && value !== null && !Array.isArray(value);
const stringList = (value: unknown, what: string): string[] => {
  if (!Array.isArray(value) || !value.every((item) => typeof item === "string")) throw malformedIndex(what);
  return value;
};
const positionList = (value: unknown, what: string): number[] => {
  if (!Array.isArray(value) || !value.every((item) => Number.isSafeInteger(item) && (item as number) >= 0)) throw malformedIndex(what);
  return value as number[];
};

/**
 * Checks the shape of a signed index while taking it as it is: the publisher's build made it
 * and activation compared it with a fresh compilation, so here only its form is checked, in one
 * pass over it.
 */
export function readIndex(value: unknown): BundleIndex {
  if (!isRecord(value) || !Array.isArray(value["policies"]) || !isRecord(value["actions"]) || !isRecord(value["attributes"])) throw malformedIndex("policies, actions and attributes");
  const policies = value["policies"].map((policy: unknown): BundleIndex["policies"][number] => {
    if (!isRecord(policy)) throw malformedIndex("a policy");
    const { id, effect, tier } = policy;
    if (typeof id !== "string" || (effect !== "permit" && effect !== "forbid")) throw malformedIndex("a policy");
    if (tier !== undefined && typeof tier !== "string") throw malformedIndex(`the tier of ${id}`);
    return tier === undefined ? { id, effect } : { id, effect, tier };
  });
  const actions: { [action: string]: IndexedAction } = {};
  for (const [action, indexed] of Object.entries(value["actions"])) {
    if (!isRecord(indexed) || !Array.isArray(indexed["entities"]) || !isRecord(indexed["within"]) || !isRecord(indexed["agents"])) throw malformedIndex(`action ${action}`);
    const within: { [path: string]: number[] } = {};
    for (const [path, list] of Object.entries(indexed["within"])) within[path] = positionList(list, `action ${action}, within ${path}`);
    const agents: { [agent: string]: number[] } = {};
    for (const [agent, list] of Object.entries(indexed["agents"])) agents[agent] = positionList(list, `action ${action}, agent ${agent}`);
    if (!indexed["entities"].every(isRecord)) throw malformedIndex(`action ${action}, entities`);
    actions[action] = {
      resources: stringList(indexed["resources"], `action ${action}, resources`),
      entities: indexed["entities"] as unknown as EntityJson[],
      any: positionList(indexed["any"], `action ${action}, any`),
      within,
      agents,
    };
  }
  const attributes = value["attributes"];
  const context = attributes["context"];
  return {
    policies,
    actions,
    attributes: {
      principal: stringList(attributes["principal"], "principal attributes"),
      resource: stringList(attributes["resource"], "resource attributes"),
      context: context === null ? null : stringList(context, "context attributes"),
    },
  };
}
