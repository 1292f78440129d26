import { createHash } from "node:crypto";
import { z } from "zod";
import { canonicalJson, type JsonValue } from "../log/canonical.ts";
import { BundleError } from "../policy/artifact.ts";
import { canonicalizePath } from "../policy/targets.ts";

/**
 * History features, detection rules and the playbook as a bundle manifest declares them
 * (`history`, `detections`, `playbook`), checked and normalised into a {@link HistorySpec}: the
 * plain JSON the decision service hands the device's Durable Object, which keeps the features'
 * state from it, and which an auditor's replay rebuilds from the same signed manifest.
 *
 * Every declaration is bounded (windows, per-feature memory, counts) so a device's state is
 * bounded whatever a bundle says; a malformed declaration refuses the bundle with its own code.
 */

/** Entry-level and act-level conditions on an earlier log entry (see docs/history.md › Filters). */
export interface Filter {
  /** Entry types; `["decision"]` when a manifest names none. */
  types: string[];
  actions?: string[];
  decisions?: ("permit" | "deny" | "review")[];
  agents?: string[];
  sends_external?: boolean;
  classes?: string[];
  path_prefixes?: string[];
  programs?: string[];
  hosts?: string[];
  tools?: string[];
}

/** Values a distinct count or a first-seen feature keys on. */
export const KEY_FIELDS = ["host", "program", "path", "tool", "action", "agent"] as const;
export type KeyField = (typeof KEY_FIELDS)[number];
/** Numbers a sum adds up: the acts of an entry that match, or an `action.completed`'s duration. */
export const SUM_FIELDS = ["targets", "duration_ms"] as const;
export type SumField = (typeof SUM_FIELDS)[number];

/** One feature, normalised (windows in ms, bounds filled in). */
export type Feature =
  | { kind: "formerly"; filter: Filter; within_ms: number | null }
  | { kind: "count_within"; filter: Filter; window_ms: number; max: number }
  | { kind: "count_distinct_within"; filter: Filter; field: KeyField; window_ms: number; max: number }
  | { kind: "sum_within"; filter: Filter; field: SumField; window_ms: number; max: number }
  | { kind: "first_seen"; filter: Filter; field: KeyField; max: number };
export type FeatureKind = Feature["kind"];

/** The Cedar type a feature's value has in `context.history`. */
export function featureType(feature: Feature): "Bool" | "Long" {
  return feature.kind === "formerly" || feature.kind === "first_seen" ? "Bool" : "Long";
}

export const SEVERITIES = ["low", "medium", "high", "critical"] as const;
export type Severity = (typeof SEVERITIES)[number];

export type Comparison = ">=" | ">" | "<=" | "<" | "==";
export interface Condition {
  feature: string;
  op: Comparison;
  value: number | boolean;
}

export interface Detection {
  title: string;
  severity: Severity;
  tier: string;
  /** Every condition must hold, over the features as of the entry just appended. */
  when: Condition[];
  /** The entry just appended must match this filter (a sequence: "a send, after a read"). */
  on: Filter | null;
  cooldown_ms: number;
}

export interface PlaybookStep {
  /** The rule it answers, or every rule of at least this severity. */
  rule: string | null;
  min_severity: Severity | null;
  action: "quarantine" | "review_all";
  /** For `review_all`: the tier every later action is held at (the finding's tier when absent). */
  tier: string | null;
}

export interface Playbook {
  findings: PlaybookStep[];
  /** Session evidence that is refused (`attestation.failed`) raises a finding of this severity and tier, and quarantines. */
  attestation_failure: { severity: Severity; tier: string } | null;
}

/** Rule id of the finding an attestation failure raises when the playbook asks for it. */
export const ATTESTATION_FAILURE_RULE = "attestation-failure";

/**
 * What a device's history is kept and judged by, from one bundle. `digest` covers everything
 * else; `features[name].hash` covers one feature with the classes it names, so a bundle that
 * changes one feature restarts that feature's state only.
 */
export interface HistorySpec {
  digest: string;
  features: Record<string, Feature & { hash: string }>;
  /** The manifest's path classes that filters name, with their entries. */
  classes: Record<string, string[]>;
  detections: Record<string, Detection & { hash: string }>;
  playbook: Playbook | null;
  /** Features some policy reads as `context.history.<name>`: what a decision depends on and records. */
  read: string[];
}

/**
 * The bundle a device's history is kept under: its declarations, its digest (named by playbook
 * actions as `playbook:<digest>`) and its review tiers (for the playbook's hold). What the
 * decision service hands the device's Durable Object.
 */
export interface DecisionBundle {
  digest: string;
  history: HistorySpec;
  tiers: string[];
}

/** Bounds (docs/history.md › Bounds): per bundle, and so per device. */
export const LIMITS = {
  features: 32,
  detections: 32,
  playbookSteps: 16,
  windowSeconds: 7 * 24 * 3600,
  /** Per-feature memory: the events or distinct values a feature keeps. */
  max: 1000,
  /** Over all features of a bundle: what one device's state can hold at most. */
  totalMax: 8192,
  filterValues: 64,
  /** The entries a device reads back to build a feature a new bundle declares; a replay keeps as many. */
  backfillEntries: 4096,
} as const;

const NAME = /^[a-z][a-z0-9_]{0,62}$/;
const RULE_ID = /^[a-z0-9][a-z0-9-]{0,62}$/;
const ENTRY_TYPE = /^[a-z][a-z0-9_.]{0,62}$/;

const oneOrMany = <T extends z.ZodType>(item: T) => z.union([item, z.array(item).min(1).max(LIMITS.filterValues)]);
const FilterSchema = z.strictObject({
  type: oneOrMany(z.string().regex(ENTRY_TYPE)).optional(),
  action: oneOrMany(z.string().min(1).max(64)).optional(),
  decision: oneOrMany(z.enum(["permit", "deny", "review"])).optional(),
  agent: oneOrMany(z.string().min(1).max(128)).optional(),
  sends_external: z.boolean().optional(),
  class: oneOrMany(z.string().regex(/^[a-z0-9][a-z0-9_-]{0,31}$/)).optional(),
  path_prefix: oneOrMany(z.string().min(1).max(4096)).optional(),
  program: oneOrMany(z.string().min(1).max(256)).optional(),
  host: oneOrMany(z.string().min(1).max(253)).optional(),
  tool: oneOrMany(z.string().min(1).max(256)).optional(),
});
type FilterInput = z.infer<typeof FilterSchema>;

const seconds = z.int().min(1).max(LIMITS.windowSeconds);
const max = z.int().min(1).max(LIMITS.max);
const FeatureSchema = z.discriminatedUnion("kind", [
  z.strictObject({ kind: z.literal("formerly"), filter: FilterSchema, within_seconds: seconds.optional() }),
  z.strictObject({ kind: z.literal("count_within"), filter: FilterSchema, window_seconds: seconds, max: max.default(100) }),
  z.strictObject({ kind: z.literal("count_distinct_within"), filter: FilterSchema, field: z.enum(KEY_FIELDS), window_seconds: seconds, max: max.default(100) }),
  z.strictObject({ kind: z.literal("sum_within"), filter: FilterSchema, field: z.enum(SUM_FIELDS), window_seconds: seconds, max: max.default(100) }),
  z.strictObject({ kind: z.literal("first_seen"), filter: FilterSchema.default({}), field: z.enum(KEY_FIELDS), max: max.default(1000) }),
]);
const FeaturesSchema = z.record(z.string(), z.unknown());

const ConditionSchema = z.strictObject({ feature: z.string(), op: z.enum([">=", ">", "<=", "<", "=="]), value: z.union([z.int().min(0).max(Number.MAX_SAFE_INTEGER), z.boolean()]) });
const DetectionSchema = z.strictObject({
  title: z.string().min(1).max(200),
  severity: z.enum(SEVERITIES),
  tier: z.string(),
  when: z.array(ConditionSchema).min(1).max(8),
  on: FilterSchema.optional(),
  cooldown_seconds: z.int().min(0).max(LIMITS.windowSeconds).default(300),
});

const PlaybookSchema = z.strictObject({
  findings: z
    .array(
      z.strictObject({
        rule: z.string().optional(),
        min_severity: z.enum(SEVERITIES).optional(),
        action: z.enum(["quarantine", "review_all"]),
        tier: z.string().optional(),
      }),
    )
    .max(LIMITS.playbookSteps)
    .default([]),
  attestation_failure: z.strictObject({ action: z.literal("quarantine"), severity: z.enum(SEVERITIES).default("high"), tier: z.string() }).optional(),
});

/** The manifest fields this module reads; everything else of the manifest is bundle.ts's. */
export interface HistoryManifest {
  history?: unknown;
  detections?: unknown;
  playbook?: unknown;
  path_classes: Readonly<Record<string, readonly string[]>>;
  review_tiers: readonly { name: string }[];
}

type DeclarationCode = "bundle_history_invalid" | "bundle_detection_invalid" | "bundle_playbook_invalid";

function issues(error: z.ZodError, prefix: string): string[] {
  return error.issues.map((issue) => `${[prefix, ...issue.path].join(".")}: ${issue.message}`);
}

function parse<T extends z.ZodType>(schema: T, value: unknown, code: DeclarationCode, where: string): z.infer<T> {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new BundleError(code, `${where} is malformed`, issues(parsed.error, where));
  return parsed.data;
}

const list = <T>(value: T | T[] | undefined): T[] | undefined => (value === undefined ? undefined : Array.isArray(value) ? [...new Set(value)] : [value]);

/** A filter with every value a list, entry types defaulted, and its classes and prefixes checked against the manifest. */
function normaliseFilter(input: FilterInput, manifest: HistoryManifest, code: DeclarationCode, where: string): Filter {
  const filter: Filter = { types: list(input.type) ?? ["decision"] };
  const set = <K extends keyof Filter>(key: K, value: Filter[K] | undefined) => {
    if (value !== undefined) filter[key] = value;
  };
  set("actions", list(input.action));
  set("decisions", list(input.decision));
  set("agents", list(input.agent));
  set("sends_external", input.sends_external);
  set("classes", list(input.class));
  set("path_prefixes", list(input.path_prefix));
  set("programs", list(input.program));
  set("hosts", list(input.host)?.map((host) => host.toLowerCase()));
  set("tools", list(input.tool));
  for (const name of filter.classes ?? []) {
    if (!(name in manifest.path_classes)) throw new BundleError(code, `${where}: path class ${name} is not in the manifest's path_classes`);
  }
  for (const prefix of filter.path_prefixes ?? []) {
    // A prefix matches through a path's `within`, which holds canonical paths only.
    const canonical = canonicalizePath(prefix, /^[a-z]:\//.test(prefix) || prefix.startsWith("//") ? "windows" : "linux");
    if (!canonical.ok || canonical.value.path !== prefix) throw new BundleError(code, `${where}: path_prefix ${prefix} is not a canonical path`);
  }
  return filter;
}

function sha256(value: JsonValue): string {
  return createHash("sha256").update(canonicalJson(value)).digest("hex");
}

function classesOfFilter(filter: Filter | null, manifest: HistoryManifest): Record<string, string[]> {
  return Object.fromEntries((filter?.classes ?? []).map((name) => [name, [...(manifest.path_classes[name] ?? [])]]));
}

function compileFeatures(manifest: HistoryManifest): Record<string, Feature & { hash: string }> {
  if (manifest.history === undefined) return {};
  const declared = parse(FeaturesSchema, manifest.history, "bundle_history_invalid", "history");
  const names = Object.keys(declared);
  if (names.length > LIMITS.features) throw new BundleError("bundle_history_invalid", `history declares ${names.length} features; at most ${LIMITS.features}`);
  const features: Record<string, Feature & { hash: string }> = {};
  let total = 0;
  for (const name of names.sort()) {
    // A Cedar attribute name, read as context.history.<name>.
    if (!NAME.test(name)) throw new BundleError("bundle_history_invalid", `history.${name}: a feature name is lower case letters, digits and _ and starts with a letter`);
    const raw = parse(FeatureSchema, declared[name], "bundle_history_invalid", `history.${name}`);
    const filter = normaliseFilter(raw.filter, manifest, "bundle_history_invalid", `history.${name}.filter`);
    let feature: Feature;
    switch (raw.kind) {
      case "formerly":
        feature = { kind: "formerly", filter, within_ms: raw.within_seconds === undefined ? null : raw.within_seconds * 1000 };
        total += 1;
        break;
      case "count_within":
        feature = { kind: "count_within", filter, window_ms: raw.window_seconds * 1000, max: raw.max };
        total += raw.max;
        break;
      case "count_distinct_within":
        feature = { kind: "count_distinct_within", filter, field: raw.field, window_ms: raw.window_seconds * 1000, max: raw.max };
        total += raw.max;
        break;
      case "sum_within":
        if (raw.field === "duration_ms" && !filter.types.every((type) => type === "action.completed")) {
          throw new BundleError("bundle_history_invalid", `history.${name}: duration_ms is only on action.completed entries; filter on that type`);
        }
        feature = { kind: "sum_within", filter, field: raw.field, window_ms: raw.window_seconds * 1000, max: raw.max };
        total += raw.max;
        break;
      case "first_seen":
        feature = { kind: "first_seen", filter, field: raw.field, max: raw.max };
        total += raw.max;
        break;
    }
    features[name] = { ...feature, hash: sha256({ feature: feature as unknown as JsonValue, classes: classesOfFilter(filter, manifest) }) };
  }
  if (total > LIMITS.totalMax) throw new BundleError("bundle_history_invalid", `the features keep up to ${total} events per device; at most ${LIMITS.totalMax}`);
  return features;
}

function compileDetections(manifest: HistoryManifest, features: Record<string, Feature>, tiers: ReadonlySet<string>): Record<string, Detection & { hash: string }> {
  if (manifest.detections === undefined) return {};
  const declared = parse(z.record(z.string(), z.unknown()), manifest.detections, "bundle_detection_invalid", "detections");
  const ids = Object.keys(declared);
  if (ids.length > LIMITS.detections) throw new BundleError("bundle_detection_invalid", `${ids.length} detection rules; at most ${LIMITS.detections}`);
  const detections: Record<string, Detection & { hash: string }> = {};
  for (const id of ids.sort()) {
    const where = `detections.${id}`;
    if (!RULE_ID.test(id) || id === ATTESTATION_FAILURE_RULE) throw new BundleError("bundle_detection_invalid", `${where}: a rule id is lower case letters, digits and - (and not ${ATTESTATION_FAILURE_RULE})`);
    const raw = parse(DetectionSchema, declared[id], "bundle_detection_invalid", where);
    if (!tiers.has(raw.tier)) throw new BundleError("bundle_detection_invalid", `${where}: tier ${raw.tier} is not in the manifest's review_tiers`);
    for (const condition of raw.when) {
      const feature = features[condition.feature];
      if (!feature) throw new BundleError("bundle_detection_invalid", `${where}: feature ${condition.feature} is not declared in history`);
      const bool = featureType(feature) === "Bool";
      // A Bool compares for equality only; a Long against a number.
      if (bool ? typeof condition.value !== "boolean" || condition.op !== "==" : typeof condition.value !== "number") {
        throw new BundleError("bundle_detection_invalid", `${where}: ${condition.feature} is a ${featureType(feature)}; compare it ${bool ? 'with "==" to true or false' : "with a number"}`);
      }
    }
    const on = raw.on === undefined ? null : normaliseFilter(raw.on, manifest, "bundle_detection_invalid", `${where}.on`);
    const detection: Detection = { title: raw.title, severity: raw.severity, tier: raw.tier, when: raw.when, on, cooldown_ms: raw.cooldown_seconds * 1000 };
    detections[id] = { ...detection, hash: sha256({ detection: detection as unknown as JsonValue, classes: classesOfFilter(on, manifest) }) };
  }
  return detections;
}

function compilePlaybook(manifest: HistoryManifest, detections: Record<string, Detection>, tiers: ReadonlySet<string>): Playbook | null {
  if (manifest.playbook === undefined) return null;
  const raw = parse(PlaybookSchema, manifest.playbook, "bundle_playbook_invalid", "playbook");
  const findings = raw.findings.map((step, index): PlaybookStep => {
    const where = `playbook.findings.${index}`;
    if ((step.rule === undefined) === (step.min_severity === undefined)) throw new BundleError("bundle_playbook_invalid", `${where}: name exactly one of rule or min_severity`);
    if (step.rule !== undefined && !(step.rule in detections)) {
      throw new BundleError("bundle_playbook_invalid", `${where}: rule ${step.rule} is not a detection of this bundle`);
    }
    if (step.action === "quarantine" && step.tier !== undefined) throw new BundleError("bundle_playbook_invalid", `${where}: a quarantine holds nothing at a tier`);
    if (step.tier !== undefined && !tiers.has(step.tier)) throw new BundleError("bundle_playbook_invalid", `${where}: tier ${step.tier} is not in the manifest's review_tiers`);
    return { rule: step.rule ?? null, min_severity: step.min_severity ?? null, action: step.action, tier: step.tier ?? null };
  });
  const failure = raw.attestation_failure;
  if (failure && !tiers.has(failure.tier)) throw new BundleError("bundle_playbook_invalid", `playbook.attestation_failure: tier ${failure.tier} is not in the manifest's review_tiers`);
  return { findings, attestation_failure: failure ? { severity: failure.severity, tier: failure.tier } : null };
}

/**
 * Checks and normalises a manifest's history declarations. Throws `BundleError` with
 * `bundle_history_invalid`, `bundle_detection_invalid` or `bundle_playbook_invalid`.
 * `read` is the features policies read (see `historyReads`).
 */
export function compileHistorySpec(manifest: HistoryManifest, read: readonly string[] | null): HistorySpec {
  const tiers = new Set(manifest.review_tiers.map((tier) => tier.name));
  const features = compileFeatures(manifest);
  const detections = compileDetections(manifest, features, tiers);
  const playbook = compilePlaybook(manifest, detections, tiers);
  const classes: Record<string, string[]> = {};
  for (const filter of [...Object.values(features).map((feature) => feature.filter), ...Object.values(detections).map((detection) => detection.on)]) {
    Object.assign(classes, classesOfFilter(filter, manifest));
  }
  const readNames = read === null ? Object.keys(features) : read.filter((name) => name in features);
  const body = { features, classes, detections, playbook, read: [...new Set(readNames)].sort() };
  return { digest: `sha256:${sha256(body as unknown as JsonValue)}`, ...body };
}

/** The spec of a bundle that declares no history: nothing kept, nothing detected. */
export const EMPTY_SPEC: HistorySpec = (() => {
  const body = { features: {}, classes: {}, detections: {}, playbook: null, read: [] };
  return { digest: `sha256:${sha256(body)}`, ...body };
})();

/** Whether a spec asks anything of a device's history: a decision under one that does not needs no read first. */
export function specIsEmpty(spec: HistorySpec): boolean {
  return Object.keys(spec.features).length === 0 && Object.keys(spec.detections).length === 0 && spec.playbook === null;
}

// ---- The Cedar schema's `context.history` --------------------------------------------------

interface SchemaType {
  type: string;
  name?: string;
  attributes?: Record<string, SchemaType & { required?: boolean }>;
}

const PRIMITIVES: Record<string, "Bool" | "Long" | "String"> = { Bool: "Bool", Boolean: "Bool", Long: "Long", String: "String" };

function resolve(type: SchemaType | undefined, common: Record<string, SchemaType>, depth = 0): SchemaType | undefined {
  if (!type || depth > 16) return type;
  const named = type.type === "EntityOrCommon" ? type.name : type.type;
  if (named !== undefined && named in common) return resolve(common[named], common, depth + 1);
  return type;
}

/**
 * The schema's `context.history` must be the record of the declared features, each required
 * and of its kind's type, in every action's context: strict validation then refuses a policy
 * that reads an undeclared feature or compares one with the wrong type. Throws
 * `bundle_history_schema_mismatch`.
 */
export function checkHistorySchema(
  schemaJson: { commonTypes?: Record<string, SchemaType>; actions?: Record<string, { appliesTo?: { context?: SchemaType; principalTypes?: string[]; resourceTypes?: string[] } | null }> },
  spec: HistorySpec,
): void {
  const common = schemaJson.commonTypes ?? {};
  const declared = Object.entries(spec.features);
  for (const [action, { appliesTo }] of Object.entries(schemaJson.actions ?? {})) {
    // An action group applies to nothing: no request is ever made with its context.
    if (!appliesTo || (appliesTo.principalTypes ?? []).length === 0 || (appliesTo.resourceTypes ?? []).length === 0) continue;
    const context = resolve(appliesTo.context, common);
    const history = resolve(context?.attributes?.["history"], common);
    const where = `action ${action}: context.history`;
    if (history === undefined) {
      if (declared.length === 0) continue;
      throw new BundleError("bundle_history_schema_mismatch", `${where} is missing; the manifest declares ${declared.map(([name]) => name).join(", ")}`);
    }
    if (history.type !== "Record") throw new BundleError("bundle_history_schema_mismatch", `${where} is not a record`);
    const attributes = history.attributes ?? {};
    for (const [name, feature] of declared) {
      const attribute = attributes[name];
      const type = attribute ? PRIMITIVES[resolve(attribute, common)?.name ?? resolve(attribute, common)?.type ?? ""] : undefined;
      if (!attribute || attribute.required === false || type !== featureType(feature)) {
        throw new BundleError("bundle_history_schema_mismatch", `${where}.${name} must be a required ${featureType(feature)} (a ${feature.kind} feature)`);
      }
    }
    const extra = Object.keys(attributes).filter((name) => !(name in spec.features));
    if (extra.length > 0) throw new BundleError("bundle_history_schema_mismatch", `${where} has ${extra.join(", ")}, which the manifest does not declare`);
  }
}

/**
 * The features policies read: `context.history.<name>` (or `has`) anywhere in their
 * conditions. Null when some policy reads `context.history` (or `context`) as a whole.
 */
export function historyReads(conditions: readonly unknown[]): string[] | null {
  const names = new Set<string>();
  let whole = false;
  const isObject = (node: unknown): node is Record<string, unknown> => typeof node === "object" && node !== null && !Array.isArray(node);
  const isContext = (node: unknown) => isObject(node) && node["Var"] === "context";
  const isHistory = (node: unknown) => {
    const inner = isObject(node) ? node["."] : undefined;
    return isObject(inner) && isContext(inner["left"]) && inner["attr"] === "history";
  };
  const visit = (node: unknown): void => {
    if (Array.isArray(node)) {
      for (const item of node) visit(item);
      return;
    }
    if (!isObject(node)) return;
    for (const [key, value] of Object.entries(node)) {
      if ((key === "." || key === "has") && isObject(value) && typeof value["attr"] === "string") {
        const { left, attr } = value;
        if (isHistory(left)) {
          names.add(attr);
        } else if (isContext(left)) {
          // `context.history` as a value (compared, passed whole) depends on every feature; `context has history` on none.
          if (key === "." && attr === "history") whole = true;
        } else {
          visit(left);
        }
        continue;
      }
      if (key === "Var" && value === "context") whole = true;
      visit(value);
    }
  };
  for (const condition of conditions) visit(condition);
  return whole ? null : [...names].sort();
}
