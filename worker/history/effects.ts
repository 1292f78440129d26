import type { JsonValue } from "../log/canonical.ts";
import type { Decision, ReasonCode, Verdict } from "../policy/decide.ts";
import { ATTESTATION_FAILURE_RULE, EMPTY_SPEC, SEVERITIES, type Condition, type HistorySpec, type Severity } from "./declarations.ts";
import { emptyFeatureState, featureValue, firstSeen, observeFeature, requestValues, runtimeSpec, type FeatureStates, type FeatureValue, type FeatureValues, type RuntimeSpec } from "./state.ts";
import { matchingActs, viewOfEntry, type EntryView } from "./views.ts";

/**
 * What follows from each log entry under a bundle's history declarations: the features'
 * state moves, detection rules may raise findings, and a finding may trigger the playbook.
 * One pure function ({@link onEntry}) decides it all, so the device's Durable Object (which
 * appends what it returns in the same transaction), the decision service (which simulates a
 * batch before sending it) and an offline replay (which checks the log) cannot disagree.
 */

/** The state of one device's history, as its Durable Object keeps it. */
export interface HistoryState {
  /** Digest of the spec the features are kept for. */
  spec: string;
  /** The bundle whose spec was adopted (named by playbook actions as `playbook:<digest>`). */
  bundle: string | null;
  /** The log's clock: the latest entry time seen (ms). */
  clock: number;
  features: FeatureStates;
  /** Per detection rule, when it last raised a finding (ms), for its cooldown. */
  rules: { [rule: string]: number | null };
}

export function initialState(): HistoryState {
  return { spec: EMPTY_SPEC.digest, bundle: null, clock: 0, features: {}, rules: {} };
}

/** The playbook's hold on a device: every permit-worthy action is held for review until an admin releases the device. */
export interface PlaybookHold {
  finding_id: string;
  rule: string;
  tier: string;
  by: string;
}

/** What the playbook and admins have done to the device, as far as history judges it. */
export interface Standing {
  quarantined: boolean;
  hold: PlaybookHold | null;
}

type Data = { [key: string]: JsonValue };

/** An entry the history machinery appends after another, in the same transaction. */
export interface FollowEntry {
  type: "finding" | "device.quarantined" | "playbook.review_all";
  data: Data;
}

/** Entry types history keeps no count of: its own bookkeeping. */
const UNOBSERVED = new Set(["history.adopted"]);
/**
 * Entry types no detection runs on: what the history machinery itself appends (a finding
 * raising findings would feed on itself) and its bookkeeping.
 */
const NO_DETECTION = new Set(["finding", "playbook.review_all", "history.adopted"]);

/** Applies one entry to the features; returns the names whose state changed. */
export function observe(runtime: RuntimeSpec, state: HistoryState, view: EntryView): string[] {
  if (UNOBSERVED.has(view.type)) return [];
  state.clock = Math.max(state.clock, view.time);
  const changed: string[] = [];
  for (const [name, { feature, filter }] of runtime.features) {
    const current = (state.features[name] ??= emptyFeatureState(feature));
    if (observeFeature(feature, filter, current, view, state.clock)) changed.push(name);
  }
  return changed;
}

/** Moves the clock to `clock` (never back), dropping what left the windows, as an entry that matches nothing would. */
export function advanceClock(runtime: RuntimeSpec, state: HistoryState, clock: number): void {
  // No filter names the empty type (declarations.ts ENTRY_TYPE), so this view matches none.
  observe(runtime, state, { type: "", time: clock, decision: null, agent: null, sends_external: null, acts: [], duration_ms: null });
}

const RANK: Record<Severity, number> = Object.fromEntries(SEVERITIES.map((severity, index) => [severity, index])) as Record<Severity, number>;

function holds(condition: Condition, value: FeatureValue | undefined): boolean {
  if (value === undefined) return false;
  if (typeof condition.value === "boolean") return value === condition.value;
  const number = typeof value === "number" ? value : Number(value);
  switch (condition.op) {
    case ">=":
      return number >= condition.value;
    case ">":
      return number > condition.value;
    case "<=":
      return number <= condition.value;
    case "<":
      return number < condition.value;
    case "==":
      return number === condition.value;
  }
}

/** The id of a finding: unique in its device's log (the entry that raised it and the rule). */
export function findingId(triggerSeq: number, rule: string): string {
  return `finding:${triggerSeq}:${rule}`;
}

function finding(args: { rule: string; severity: Severity; tier: string; title: string; features: FeatureValues; trigger: { seq: number; type: string }; bundle: string | null; playbook: "quarantine" | "review_all" | null }): Data {
  return {
    finding_id: findingId(args.trigger.seq, args.rule),
    rule: args.rule,
    severity: args.severity,
    tier: args.tier,
    title: args.title,
    features: args.features,
    trigger_seq: args.trigger.seq,
    trigger_type: args.trigger.type,
    bundle: args.bundle,
    playbook: args.playbook,
  };
}

/**
 * Appending `entry` (already numbered): moves the features and, unless `followed` (the entry is
 * itself one the machinery appended), runs the detection rules and the playbook. Returns the
 * entries to append after it, in order — each finding, then what its playbook step does — and
 * the features whose state changed; updates `state` (features, clock, cooldowns). `standing` is
 * read, not changed: the caller applies the returned entries ({@link applyStanding}).
 */
export function onEntry(
  runtime: RuntimeSpec,
  state: HistoryState,
  standing: Standing,
  entry: { seq: number; type: string; time: string | number; data: Data },
  followed: boolean,
): { follows: FollowEntry[]; changed: string[] } {
  const view = viewOfEntry(entry);
  const detect = !followed && !NO_DETECTION.has(entry.type);
  // first_seen in a rule asks whether the entry brought a new key: compared with the state before it.
  const newKeys: FeatureValues = {};
  if (detect) {
    for (const [name, { feature, filter }] of runtime.features) {
      if (feature.kind === "first_seen") newKeys[name] = firstSeen(feature, filter, state.features[name] ?? emptyFeatureState(feature), view, false);
    }
  }
  const changed = observe(runtime, state, view);
  if (!detect) return { follows: [], changed };
  const { spec } = runtime;
  const follows: FollowEntry[] = [];
  const local: Standing = { ...standing };
  const by = `playbook:${state.bundle ?? "unknown"}`;
  const respond = (data: Data, action: "quarantine" | "review_all" | null, tier: string) => {
    if (action === "quarantine" && !local.quarantined) {
      local.quarantined = true;
      follows.push({ type: "device.quarantined", data: { by, reason: data["finding_id"] as string, changed: true } });
    } else if (action === "review_all" && local.hold === null) {
      local.hold = { finding_id: data["finding_id"] as string, rule: data["rule"] as string, tier, by };
      follows.push({ type: "playbook.review_all", data: { ...local.hold } });
    }
  };
  if (entry.type === "attestation.failed" && spec.playbook?.attestation_failure) {
    const { severity, tier } = spec.playbook.attestation_failure;
    const data = finding({ rule: ATTESTATION_FAILURE_RULE, severity, tier, title: "Session evidence was refused", features: {}, trigger: entry, bundle: state.bundle, playbook: "quarantine" });
    follows.push({ type: "finding", data });
    respond(data, "quarantine", tier);
  }
  for (const [rule, detection] of Object.entries(spec.detections)) {
    const on = runtime.detections.get(rule)?.on ?? null;
    if (on && matchingActs(on, view) === null) continue;
    const last = state.rules[rule] ?? null;
    if (last !== null && state.clock - last < detection.cooldown_ms) continue;
    const features: FeatureValues = {};
    for (const condition of detection.when) {
      const entryOf = runtime.features.get(condition.feature);
      const current = state.features[condition.feature];
      if (!entryOf || !current) continue;
      features[condition.feature] = entryOf.feature.kind === "first_seen" ? (newKeys[condition.feature] ?? false) : featureValue(entryOf.feature, current, state.clock);
    }
    if (!detection.when.every((condition) => holds(condition, features[condition.feature]))) continue;
    state.rules[rule] = state.clock;
    const step = spec.playbook?.findings.find((candidate) => candidate.rule === rule || (candidate.min_severity !== null && RANK[detection.severity] >= RANK[candidate.min_severity])) ?? null;
    const data = finding({ rule, severity: detection.severity, tier: detection.tier, title: detection.title, features, trigger: entry, bundle: state.bundle, playbook: step?.action ?? null });
    follows.push({ type: "finding", data });
    if (step) respond(data, step.action, step.tier ?? detection.tier);
  }
  return { follows, changed };
}

/** How an entry changes the standing history judges decisions by. */
export function applyStanding(standing: Standing, entry: { type: string; data: Data }): void {
  switch (entry.type) {
    case "device.quarantined":
      standing.quarantined = true;
      break;
    case "device.released":
      standing.quarantined = false;
      break;
    case "playbook.review_all":
      standing.hold = entry.data as unknown as PlaybookHold;
      break;
    case "playbook.cleared":
      standing.hold = null;
      break;
  }
}

/** How a decision of a quarantined device is logged: a denial, whatever was decided. */
export function asQuarantined(data: Data): Data {
  return { ...data, decision: "deny", reason_code: "device_quarantined", reasons: [], tier: null, token_jti: null };
}

/** The tier a playbook hold holds at: its own, or the bundle's last tier when the deciding bundle has no such tier. */
export function holdTier(hold: PlaybookHold, tiers: readonly string[]): string {
  return tiers.includes(hold.tier) ? hold.tier : (tiers[tiers.length - 1] ?? hold.tier);
}

/**
 * How a decision is logged under the playbook's hold: an action the policies permit is held for
 * review at the hold's tier, naming the rule that raised the hold (`playbook:<rule>`), without a
 * token; denials and reviews stand.
 */
export function asHeld(data: Data, hold: PlaybookHold, tiers: readonly string[]): Data {
  if (data["decision"] !== "permit") return data;
  return { ...data, decision: "review", reason_code: "playbook_review", reasons: [`playbook:${hold.rule}`], tier: holdTier(hold, tiers), token_jti: null };
}

/** {@link asHeld} for a verdict, as the device is answered. */
export function heldVerdict(verdict: Verdict, hold: PlaybookHold, tiers: readonly string[]): Verdict {
  if (verdict.decision !== "permit") return verdict;
  const decision: Decision = "review";
  const reasonCode: ReasonCode = "playbook_review";
  return { ...verdict, decision, reasonCode, reasons: [`playbook:${hold.rule}`], tier: holdTier(hold, tiers) };
}

/**
 * How the object logs a decision, given the standing at its position: as a quarantined
 * device's denial, as held by the playbook, or as decided. Returns the data and which it was.
 */
export function asLogged(data: Data, standing: Standing, tiers: readonly string[]): { data: Data; rewrite: Rewrite } {
  if (standing.quarantined) return { data: asQuarantined(data), rewrite: "device_quarantined" };
  if (standing.hold && data["decision"] === "permit") return { data: asHeld(data, standing.hold, tiers), rewrite: "playbook_review" };
  return { data, rewrite: null };
}

/** Why the object logged a decision otherwise than decided. */
export type Rewrite = "device_quarantined" | "playbook_review" | null;

/** What a decision records of the history it was decided on (`data.history`), and the object checks at its append. */
export interface DecisionHistory {
  [key: string]: JsonValue;
  /** Digest of the history declarations it was decided under. */
  spec: string;
  /** The features the bundle's policies read, as the log stood before the decision. */
  values: FeatureValues;
}

/** The history a request is decided on, over the state before it. */
export function decisionHistory(runtime: RuntimeSpec, state: HistoryState, pending: EntryView, now: number): DecisionHistory {
  return { spec: runtime.spec.digest, values: requestValues(runtime, state.features, state.clock, runtime.spec.read, pending, now) };
}

/** Adopting a spec: which features carry their state over (same definition) and which start from the log. */
export interface Adoption {
  state: HistoryState;
  /** `history.adopted`'s data. */
  data: Data;
}

/**
 * Moves `previous` to `spec`: a feature whose definition (hash) is unchanged keeps its state;
 * one that is new or changed is built by folding `backfill` (the entries from `fromSeq` on, in
 * order, starting from an empty state and a clock of 0) and then applying the current clock.
 * Detection cooldowns carry over by rule hash.
 */
export function adopt(previous: HistoryState, previousSpec: HistorySpec, spec: HistorySpec, bundle: string, backfill: readonly EntryView[], fromSeq: number): Adoption {
  const runtime = runtimeSpec(spec);
  const carried: string[] = [];
  const started: string[] = [];
  const state: HistoryState = { spec: spec.digest, bundle, clock: previous.clock, features: {}, rules: {} };
  const fresh: HistoryState = { ...initialState(), spec: spec.digest, bundle };
  for (const [name, feature] of Object.entries(spec.features)) {
    if (previousSpec.features[name]?.hash === feature.hash && previous.features[name]) {
      state.features[name] = previous.features[name] as FeatureStates[string];
      carried.push(name);
    } else {
      started.push(name);
    }
  }
  if (started.length > 0) {
    const only: RuntimeSpec = { ...runtime, features: new Map([...runtime.features].filter(([name]) => started.includes(name))) };
    for (const view of backfill) observe(only, fresh, view);
    // The windows then end where the log's clock is, as they would had the features been kept all along.
    advanceClock(only, fresh, previous.clock);
    for (const name of started) state.features[name] = fresh.features[name] ?? emptyFeatureState(spec.features[name]!);
  }
  for (const [rule, detection] of Object.entries(spec.detections)) {
    state.rules[rule] = previousSpec.detections[rule]?.hash === detection.hash ? (previous.rules[rule] ?? null) : null;
  }
  return { state, data: { bundle, spec: spec.digest, previous: previousSpec.digest, from_seq: fromSeq, carried, started } };
}
