import { z } from "zod";
import type { EntityJson, PolicyJson } from "./cedar.ts";
import { BundleError, type BundleIndex, type VerifiedArtifact } from "./artifact.ts";
import { StrictJsonError, parseStrictJson } from "../json/strict.ts";
import { compilePathClasses, type PathClasses } from "./path-classes.ts";
import { tpmReference } from "../verifiers/tpm/appraise.ts";
import { SnpManifestSchema, TdxManifestSchema } from "./cvm-reference.ts";
import { compileHistorySpec, type HistorySpec } from "../history/declarations.ts";
import { TicketTemplatesSchema } from "../review/ticket-templates.ts";
import { compilePrivacy } from "../privacy/policy.ts";

// The form of a bundle evaluation reads (CompiledBundle). Compiling sources into it is
// worker/policy/compile.ts; reading it from a verified artifact, line by line as decisions need
// them, is `openBundle` below.

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
    // A hold names its tier by name: two of one name would make the ladder ambiguous (escalation past the first would find the second's place).
    .refine((tiers) => new Set(tiers.map((tier) => tier.name)).size === tiers.length, "review tier names must be unique")
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

/**
 * One policy as evaluation reads it: its id, its effect, the tier a `@review` forbid holds at,
 * the reason code a `@reason` forbid denies with, and its Cedar JSON.
 */
export interface CompiledPolicy {
  id: string;
  effect: "permit" | "forbid";
  /** Tier named by `@review("<tier>")` on a forbid policy. */
  reviewTier?: string;
  /** Reason code named by `@reason("<code>")` on a forbid policy. */
  reasonCode?: PolicyReasonCode;
  json: PolicyJson;
}

/**
 * The annotations evaluation acts on, checked: `@id`, `@review` (a forbid's tier, one the
 * manifest names) and `@reason` (a forbid without `@review`, one of {@link POLICY_REASON_CODES}).
 * The one check for both compilation (worker/policy/compile.ts) and a lazily read policy line,
 * so an artifact's policy cannot mean more at decision time than it did at activation.
 */
export function compiledPolicy(json: PolicyJson, tierOrder: readonly string[], where: string): CompiledPolicy {
  const id: unknown = json.annotations?.["id"];
  // A line is read from JSON, whatever Cedar's types say: only a non-empty string is an id.
  if (typeof id !== "string" || id === "") throw new BundleError("bundle_invalid", `${where}: every policy needs an @id annotation`);
  if (json.effect !== "permit" && json.effect !== "forbid") throw new BundleError("bundle_invalid", `policy ${id}: no effect`);
  const policy: CompiledPolicy = { id, effect: json.effect, json };
  const tier = json.annotations?.["review"];
  if (tier !== undefined) {
    if (json.effect !== "forbid") throw new BundleError("bundle_invalid", `policy ${id}: @review applies to forbid policies only`);
    if (!tierOrder.includes(tier)) throw new BundleError("bundle_invalid", `policy ${id}: review tier ${tier} is not in the manifest`);
    policy.reviewTier = tier;
  }
  const reason = json.annotations?.["reason"];
  if (reason !== undefined) {
    if (json.effect !== "forbid" || tier !== undefined) throw new BundleError("bundle_invalid", `policy ${id}: @reason applies to forbid policies without @review`);
    if (!(POLICY_REASON_CODES as readonly string[]).includes(reason)) throw new BundleError("bundle_invalid", `policy ${id}: @reason must be one of ${POLICY_REASON_CODES.join(", ")}`);
    policy.reasonCode = reason as PolicyReasonCode;
  }
  return policy;
}

/**
 * The policies that can apply to one action, by position in the bundle: those for any agent,
 * those for any agent within a path (a `when` clause has `resource.within.contains("<path>")`
 * as a conjunct), by path, and those naming one agent, by agent. A large set of per-agent or
 * per-directory rules costs a request only the rules on its own agent and path.
 */
export interface ActionPolicies {
  anyAgent: readonly number[];
  anyAgentWithin: ReadonlyMap<string, readonly number[]>;
  byAgent: ReadonlyMap<string, readonly number[]>;
}

/** One action's line of an artifact's body (positions of policies), as worker/policy/compile.ts writes it. */
export interface ActionLine {
  any: number[];
  within: { [path: string]: number[] };
  agents: { [agent: string]: number[] };
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

/** A bundle ready to evaluate: an index to look things up in, each action's policies and each policy read on demand. */
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
  /** How many policies the bundle holds: positions 0 to size − 1. */
  size: number;
  /** For each action in the schema: the resource entity types it applies to. */
  actions: ReadonlyMap<string, ReadonlySet<string>>;
  /** For an action in an action group: the Action entities that carry the group hierarchy to Cedar. */
  actionEntities: ReadonlyMap<string, readonly EntityJson[]>;
  /** Tier names in escalation order. */
  tierOrder: readonly string[];
  /** The manifest's path classes, for the `classes` of a `File`. */
  pathClasses: PathClasses;
  /** The attributes some policy reads: evaluation hands Cedar only these. */
  attributes: AttributeUse;
  /** The history features, detection rules and playbook, normalised (worker/history/declarations.ts). */
  history: HistorySpec;
  /** The policies that can apply to `action` (undefined for an action the schema does not have); read on first use. */
  policiesFor(action: string): ActionPolicies | undefined;
  /** The policy at `position`; read on first use. */
  policy(position: number): CompiledPolicy;
}

const ENTITY_TYPE_BY_KIND = { path: "File", url: "Url", command: "Command", tool: "Tool" } as const;
export type TargetKind = keyof typeof ENTITY_TYPE_BY_KIND;
export function entityTypeFor(kind: TargetKind): string {
  return ENTITY_TYPE_BY_KIND[kind];
}

let loads = 0;

/**
 * The bundle an index describes. `lines.action(i)` gives the line of `index.actions[i]` and
 * `lines.policy(position)` a policy in Cedar's JSON form; each is asked for once, the first
 * time a decision needs it. Throws `BundleError` (`bundle_invalid`) for a manifest that does not
 * validate, and, when a line is read, for one that does not hold together.
 */
export function bundleFrom(
  meta: { digest: string; version: number; name: string },
  manifestJson: unknown,
  index: BundleIndex,
  lines: { action(line: number): ActionLine; policy(position: number): PolicyJson },
): CompiledBundle {
  const manifestResult = BundleManifestSchema.safeParse(manifestJson);
  if (!manifestResult.success) {
    throw new BundleError("bundle_invalid", "the manifest is invalid", manifestResult.error.issues.map((issue) => `${issue.path.join(".")}: ${issue.message}`));
  }
  const manifest = manifestResult.data;
  // Refused here, when the bundle is compiled for activation (and opened); the decision path compiles it once per bundle (worker/privacy/service.ts `privacyOf`).
  compilePrivacy(manifest.privacy);
  const tierOrder = manifest.review_tiers.map((tier) => tier.name);
  const lineOf = new Map(index.actions.map((action, line) => [action.name, line]));
  const actionPolicies = new Map<string, ActionPolicies>();
  const policies = new Map<number, CompiledPolicy>();
  const inRange = (positions: number[], where: string) => {
    for (const position of positions) {
      if (!Number.isSafeInteger(position) || position < 0 || position >= index.policies) throw new BundleError("bundle_invalid", `${where} names policy ${position} of ${index.policies}`);
    }
    return positions;
  };
  loads += 1;
  return {
    ...meta,
    serial: loads,
    manifest,
    size: index.policies,
    actions: new Map(index.actions.map((action) => [action.name, new Set(action.resources)])),
    actionEntities: new Map(index.actions.map((action) => [action.name, action.entities])),
    tierOrder,
    pathClasses: compilePathClasses(manifest.path_classes),
    attributes: {
      principal: new Set(index.attributes.principal),
      resource: new Set(index.attributes.resource),
      context: index.attributes.context === null ? null : new Set(index.attributes.context),
    },
    // From the signed manifest and the signed list of features the policies read: the same spec, and digest, as compilation gave.
    history: compileHistorySpec(manifest, index.history),
    policiesFor(action) {
      let known = actionPolicies.get(action);
      const line = lineOf.get(action);
      if (known === undefined && line !== undefined) {
        const read = lines.action(line);
        const where = `the line of action ${action}`;
        known = {
          anyAgent: inRange(read.any, where),
          anyAgentWithin: new Map(Object.entries(read.within).map(([path, positions]) => [path, inRange(positions, where)])),
          byAgent: new Map(Object.entries(read.agents).map(([agent, positions]) => [agent, inRange(positions, where)])),
        };
        actionPolicies.set(action, known);
      }
      return known;
    },
    policy(position) {
      let known = policies.get(position);
      if (known === undefined) {
        inRange([position], "a slice");
        known = compiledPolicy(lines.policy(position), tierOrder, `policy ${position}`);
        policies.set(position, known);
      }
      return known;
    },
  };
}

/**
 * The bundle of a verified artifact, without compiling anything and without reading what no
 * decision has needed yet: the statement's index is small, each action's line is parsed the
 * first time a decision asks for that action, each policy's line the first time a slice holds
 * it — strictly, from exactly the hashed bytes. The cost of opening is one pass over the body to
 * find its lines, not the policy set's size in parsing; a new isolate decides within
 * milliseconds at 10,000 policies. Throws `BundleError` (`bundle_invalid`) when the body does not
 * hold one line per action and per policy.
 */
export function openBundle(artifact: VerifiedArtifact): CompiledBundle {
  const { statement } = artifact;
  const compiled = artifact.body.subarray(statement.body.policies_bytes);
  const starts = lineStarts(compiled);
  const actions = statement.index.actions.length;
  if (starts.length - 1 !== actions + statement.index.policies) {
    throw new BundleError("bundle_invalid", `the body holds ${starts.length - 1} lines for ${actions} actions and ${statement.index.policies} policies`);
  }
  const line = (at: number, what: string): unknown => {
    try {
      return parseStrictJson(compiled.subarray(starts[at], (starts[at + 1] as number) - 1));
    } catch (error) {
      if (!(error instanceof StrictJsonError)) throw error;
      throw new BundleError("bundle_invalid", `the line of ${what} is not strict JSON (${error.code})`);
    }
  };
  const { digest, version, name } = statement;
  return bundleFrom({ digest, version, name }, statement.manifest, statement.index, {
    action: (at) => actionLine(line(at, `action ${statement.index.actions[at]?.name}`)),
    policy: (position) => {
      const json = line(actions + position, `policy ${position}`);
      if (typeof json !== "object" || json === null || Array.isArray(json)) throw new BundleError("bundle_invalid", `the line of policy ${position} is not an object`);
      return json as unknown as PolicyJson;
    },
  });
}

/** Where each newline-terminated line starts, and one past the last line's end. */
function lineStarts(bytes: Uint8Array): Uint32Array {
  const starts: number[] = [0];
  for (let at = bytes.indexOf(0x0a); at !== -1; at = bytes.indexOf(0x0a, at + 1)) starts.push(at + 1);
  if (starts[starts.length - 1] !== bytes.length) throw new BundleError("bundle_invalid", "the body does not end with a newline");
  return Uint32Array.from(starts);
}

const isRecord = (value: unknown): value is { [key: string]: unknown } => typeof value === "object" && value !== null && !Array.isArray(value);
const isPositions = (value: unknown): value is number[] => Array.isArray(value) && value.every((item) => Number.isSafeInteger(item) && (item as number) >= 0);

/**
 * An action's line, its shape checked by hand rather than by a schema that would rebuild its
 * maps: agent ids and paths are policy text, and a key such as `__proto__` must stay a key
 * (the strict reader makes every member an own property). Positions are checked against the
 * policy count where they are used.
 */
function actionLine(value: unknown): ActionLine {
  const malformed = () => new BundleError("bundle_invalid", "an action's line is not { any, within, agents } of policy positions");
  if (!isRecord(value) || !isPositions(value["any"]) || !isRecord(value["within"]) || !isRecord(value["agents"])) throw malformed();
  const { any, within, agents } = value;
  if (Object.keys(value).length !== 3 || !Object.values(within).every(isPositions) || !Object.values(agents).every(isPositions)) throw malformed();
  return { any, within: within as ActionLine["within"], agents: agents as ActionLine["agents"] };
}
