import type { Feature, HistorySpec } from "./declarations.ts";
import { amountOf, compileFilter, keysOf, matchingActs, type CompiledFilter, type EntryView } from "./views.ts";

/**
 * The incremental state of a device's history features: what each feature keeps (bounded by
 * its `max`), updated entry by entry as the log grows, and the values read from it. Pure and
 * JSON-shaped, so the device's Durable Object stores it, the decision service reasons over a
 * copy, and a replay rebuilds it from an export — all with these same functions.
 *
 * Time is the log's **clock**: the latest entry time seen so far (entries of concurrent
 * requests can land slightly out of time order; the clock never goes back). A window of
 * `W` ms at clock `c` holds the events at `c - W` or later: an event exactly `W` old still
 * counts, one a millisecond older does not.
 */

/** What one feature keeps. Lists are in the order entries were appended, oldest first. */
export type FeatureState =
  /** formerly: when a matching entry was last seen. */
  | { last: number | null }
  /** count_within: the times of the latest matching entries, at most `max`. */
  | { times: number[] }
  /** sum_within: [time, amount] of the latest matching entries, at most `max`. */
  | { events: [number, number][] }
  /** count_distinct_within, first_seen: [value, last time seen], least recently seen first, at most `max`. */
  | { seen: [string, number][] };

export interface FeatureStates {
  [name: string]: FeatureState;
}

/** A feature's value in `context.history`. */
export type FeatureValue = boolean | number;
export interface FeatureValues {
  [name: string]: FeatureValue;
}

/** A spec ready to apply: its filters compiled once. */
export interface RuntimeSpec {
  spec: HistorySpec;
  features: ReadonlyMap<string, { feature: Feature; filter: CompiledFilter }>;
  detections: ReadonlyMap<string, { on: CompiledFilter | null }>;
}

export function runtimeSpec(spec: HistorySpec): RuntimeSpec {
  const features = new Map(Object.entries(spec.features).map(([name, feature]) => [name, { feature, filter: compileFilter(feature.filter, spec.classes) }]));
  const detections = new Map(Object.entries(spec.detections).map(([rule, detection]) => [rule, { on: detection.on ? compileFilter(detection.on, spec.classes) : null }]));
  return { spec, features, detections };
}

export function emptyFeatureState(feature: Feature): FeatureState {
  switch (feature.kind) {
    case "formerly":
      return { last: null };
    case "count_within":
      return { times: [] };
    case "sum_within":
      return { events: [] };
    case "count_distinct_within":
    case "first_seen":
      return { seen: [] };
  }
}

const inWindow = (time: number, clock: number, window: number) => time >= clock - window;

/**
 * Applies one entry to one feature; returns whether its state changed. `clock` is the log's
 * clock with this entry in it. Windowed lists drop what left the window, then the oldest past `max`.
 */
export function observeFeature(feature: Feature, filter: CompiledFilter, state: FeatureState, view: EntryView, clock: number): boolean {
  const acts = matchingActs(filter, view);
  switch (feature.kind) {
    case "formerly": {
      const current = state as { last: number | null };
      if (acts === null || (current.last !== null && current.last >= view.time)) return false;
      current.last = view.time;
      return true;
    }
    case "count_within": {
      const current = state as { times: number[] };
      const before = current.times.length;
      if (acts !== null) current.times.push(view.time);
      current.times = current.times.filter((time) => inWindow(time, clock, feature.window_ms)).slice(-feature.max);
      return acts !== null || current.times.length !== before;
    }
    case "sum_within": {
      const current = state as { events: [number, number][] };
      const before = current.events.length;
      if (acts !== null) current.events.push([view.time, amountOf(feature.field, view, acts)]);
      current.events = current.events.filter(([time]) => inWindow(time, clock, feature.window_ms)).slice(-feature.max);
      return acts !== null || current.events.length !== before;
    }
    case "count_distinct_within":
    case "first_seen": {
      const current = state as { seen: [string, number][] };
      const before = current.seen.length;
      const keys = acts === null ? [] : keysOf(feature.field, view, acts);
      for (const key of keys) {
        const index = current.seen.findIndex(([value]) => value === key);
        const last = index >= 0 ? Math.max((current.seen[index] as [string, number])[1], view.time) : view.time;
        if (index >= 0) current.seen.splice(index, 1);
        current.seen.push([key, last]);
      }
      if (feature.kind === "count_distinct_within") current.seen = current.seen.filter(([, time]) => inWindow(time, clock, feature.window_ms));
      current.seen = current.seen.slice(-feature.max);
      return keys.length > 0 || current.seen.length !== before;
    }
  }
}

/**
 * A windowed or remembered feature's value at `clock`. `first_seen` is not a value of the state
 * alone: it asks whether an entry's keys are new ({@link firstSeen}).
 */
export function featureValue(feature: Feature, state: FeatureState, clock: number): FeatureValue {
  switch (feature.kind) {
    case "formerly": {
      const { last } = state as { last: number | null };
      return last !== null && (feature.within_ms === null || inWindow(last, clock, feature.within_ms));
    }
    case "count_within":
      return (state as { times: number[] }).times.filter((time) => inWindow(time, clock, feature.window_ms)).length;
    case "sum_within":
      return (state as { events: [number, number][] }).events.filter(([time]) => inWindow(time, clock, feature.window_ms)).reduce((sum, [, amount]) => sum + amount, 0);
    case "count_distinct_within":
      return (state as { seen: [string, number][] }).seen.filter(([, time]) => inWindow(time, clock, feature.window_ms)).length;
    case "first_seen":
      return false;
  }
}

/** Whether `view` (matched as a request not yet decided when `pending`) has a key this first_seen feature has not kept. */
export function firstSeen(feature: Extract<Feature, { kind: "first_seen" }>, filter: CompiledFilter, state: FeatureState, view: EntryView, pending: boolean): boolean {
  const acts = matchingActs(filter, view, pending);
  if (acts === null) return false;
  const seen = new Set((state as { seen: [string, number][] }).seen.map(([value]) => value));
  return keysOf(feature.field, view, acts).some((key) => !seen.has(key));
}

/** The values of `names` for a request not yet decided at `now`, over the state before it. */
export function requestValues(runtime: RuntimeSpec, states: FeatureStates, clock: number, names: readonly string[], pending: EntryView, now: number): FeatureValues {
  const at = Math.max(clock, now);
  const values: FeatureValues = {};
  for (const name of names) {
    const entry = runtime.features.get(name);
    const state = states[name];
    if (!entry || !state) continue;
    values[name] = entry.feature.kind === "first_seen" ? firstSeen(entry.feature, entry.filter, state, pending, true) : featureValue(entry.feature, state, at);
  }
  return values;
}
