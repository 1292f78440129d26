import type { JsonValue } from "../log/canonical.ts";
import { canonicalise, type ActionRequest, type DeviceContext } from "../policy/decide.ts";
import { classesOf, compilePathClasses, type PathClasses } from "../policy/path-classes.ts";
import { canonicalizePath, canonicalizeUrl } from "../policy/targets.ts";
import type { Filter, KeyField, SumField } from "./declarations.ts";

/**
 * What a history filter sees of a log entry: a few entry-level fields and its **acts**, one per
 * thing the entry did to a target (a decision's canonical targets under its action, and every
 * target its command lines imply under that target's own action: `cat …/customers/x.csv` is a
 * `file.read` of that path). Built from the logged entry alone, so the device's Durable Object,
 * the decision service and an offline replay see the same view of the same entry.
 */

export interface Act {
  /** The action the target was acted on under; null where the entry does not say. */
  action: string | null;
  path?: string;
  /** Every prefix of `path` from the root (as `File.within`), for prefixes and classes. */
  within?: readonly string[];
  host?: string;
  programs?: readonly string[];
  tool?: string;
}

export interface EntryView {
  type: string;
  /** ms since the epoch. */
  time: number;
  decision: string | null;
  agent: string | null;
  sends_external: boolean | null;
  acts: Act[];
  duration_ms: number | null;
}

type Data = { [key: string]: JsonValue | undefined };

const record = (value: JsonValue | undefined): Data | null => (typeof value === "object" && value !== null && !Array.isArray(value) ? value : null);
const text = (value: JsonValue | undefined): string | null => (typeof value === "string" ? value : null);
const array = (value: JsonValue | undefined): JsonValue[] => (Array.isArray(value) ? value : []);

/** Canonical Windows paths start with a drive (`c:/`) or a UNC root (`//server/share`); a canonical POSIX path with neither. */
export function pathSyntax(path: string): "windows" | "linux" {
  return /^[a-z]:\//.test(path) || path.startsWith("//") ? "windows" : "linux";
}

/** `within` of a canonical path as logged, read in the syntax it is written in. */
export function withinOf(path: string): readonly string[] | null {
  const canonical = canonicalizePath(path, pathSyntax(path));
  return canonical.ok && canonical.value.path === path ? canonical.value.within : null;
}

function pathAct(action: string | null, value: string): Act {
  const within = withinOf(value);
  return within ? { action, path: value, within } : { action, path: value };
}

function urlAct(action: string | null, value: string): Act {
  const url = canonicalizeUrl(value);
  return url.ok ? { action, host: url.value.host } : { action };
}

/** The acts of a logged decision: its canonical targets, then the targets its command lines imply. */
function decisionActs(data: Data): Act[] {
  const action = record(data["action"]);
  if (!action) return [];
  const type = text(action["type"]);
  const programs = array(action["programs"]).filter((program): program is string => typeof program === "string");
  const acts: Act[] = [];
  for (const target of array(action["targets"])) {
    const item = record(target);
    const value = text(item?.["value"]);
    // A target refused as not canonical has no value: it did nothing to anything.
    if (!item || value === null) continue;
    switch (item["kind"]) {
      case "path":
        acts.push(pathAct(type, value));
        break;
      case "url":
        acts.push(urlAct(type, value));
        break;
      case "command":
        acts.push({ action: type, programs });
        break;
      case "tool":
        acts.push({ action: type, tool: value });
        break;
    }
  }
  for (const target of array(action["derived"])) {
    const item = record(target);
    const value = text(item?.["value"]);
    const derivedAction = text(item?.["action"]);
    if (!item || value === null) continue;
    acts.push(item["kind"] === "url" ? urlAct(derivedAction, value) : pathAct(derivedAction, value));
  }
  return acts;
}

/**
 * Per entry type, what a filter sees besides `type` and `time` (docs/history.md › Views). Types
 * not listed have no acts and no fields: a filter can still count them by type.
 */
const VIEWS: { readonly [type: string]: (data: Data) => Partial<EntryView> } = {
  // The decision as logged (a quarantined device's decisions are logged, and seen, as denials).
  decision: (data) => ({
    decision: text(data["decision"]),
    agent: text(record(data["agent"])?.["id"]),
    sends_external: record(data["action"])?.["sends_external"] === true,
    acts: decisionActs(data),
  }),
  // A permitted action's token presented for its one use: the action it was for.
  "action.redeemed": (data) => ({ acts: [{ action: text(data["action"]) }] }),
  // What the enforcement point reports came of an action: its tool and how long it ran.
  "action.completed": (data) => {
    const tool = text(record(data["tool"])?.["name"]);
    const duration = data["duration_ms"];
    return { acts: tool === null ? [] : [{ action: null, tool }], duration_ms: typeof duration === "number" && Number.isFinite(duration) ? duration : null };
  },
};

/** The view of a logged entry. */
export function viewOfEntry(entry: { type: string; time: string | number; data: Data }): EntryView {
  const time = typeof entry.time === "number" ? entry.time : Date.parse(entry.time);
  const view: EntryView = { type: entry.type, time, decision: null, agent: null, sends_external: null, acts: [], duration_ms: null };
  const extra = Object.hasOwn(VIEWS, entry.type) ? VIEWS[entry.type]?.(entry.data) : undefined;
  return extra ? { ...view, ...extra } : view;
}

/**
 * The programs of a request's command lines, as the analysis reads them: what a decision logs
 * (`action.programs`) for history filters to match, since the line alone needs the device's OS
 * and shell to be read again.
 */
export function requestPrograms(request: ActionRequest, device: Pick<DeviceContext, "os" | "shell">): string[] {
  const programs = new Set<string>();
  for (const target of request.action.targets) {
    if (target.kind !== "command") continue;
    const result = canonicalise(target, device);
    if (!result.ok || result.value.kind !== "command") continue;
    for (const command of result.value.analysis.commands) if (command.program !== "") programs.add(command.program);
  }
  return [...programs];
}

/**
 * A request before it is decided, as a filter sees it (no type or decision yet): what
 * `first_seen` compares with what the device did before. Its acts are the canonical forms
 * `decide()` computes, so they are the acts its log entry will have.
 */
export function pendingView(request: ActionRequest, device: Pick<DeviceContext, "os" | "shell">, now: number): EntryView {
  return { type: "decision", time: now, decision: null, agent: request.agent.id, sends_external: request.action.sends_external ?? false, acts: requestActs(request, device), duration_ms: null };
}

function requestActs(request: ActionRequest, device: Pick<DeviceContext, "os" | "shell">): Act[] {
  const programs = requestPrograms(request, device);
  const acts: Act[] = [];
  const derived: Act[] = [];
  for (const target of request.action.targets) {
    const result = canonicalise(target, device);
    if (!result.ok) continue;
    const resolved = result.value;
    switch (resolved.kind) {
      case "path":
        acts.push(pathAct(request.action.type, resolved.path.path));
        break;
      case "url":
        acts.push({ action: request.action.type, host: resolved.url.host });
        break;
      case "tool":
        acts.push({ action: request.action.type, tool: resolved.tool.name });
        break;
      case "command":
        acts.push({ action: request.action.type, programs });
        for (const implied of resolved.analysis.targets) {
          if ("unresolved" in implied) continue;
          if (implied.kind === "path") {
            const path = canonicalizePath(implied.value, device.os);
            if (path.ok) derived.push(pathAct(implied.action, path.value.path));
          } else {
            const url = canonicalizeUrl(implied.value);
            if (url.ok) derived.push({ action: implied.action, host: url.value.host });
          }
        }
        break;
    }
  }
  return [...acts, ...derived];
}

/** A filter ready to match: its path classes compiled. */
export interface CompiledFilter {
  filter: Filter;
  classes: PathClasses;
  /** Whether any act-level condition is set; without one, every act of a matching entry counts. */
  actLevel: boolean;
}

export function compileFilter(filter: Filter, classes: Readonly<Record<string, readonly string[]>>): CompiledFilter {
  const named = Object.fromEntries((filter.classes ?? []).map((name) => [name, classes[name] ?? []]));
  const actLevel = [filter.actions, filter.classes, filter.path_prefixes, filter.programs, filter.hosts, filter.tools].some((values) => values !== undefined);
  return { filter, classes: compilePathClasses(named), actLevel };
}

function actMatches(compiled: CompiledFilter, act: Act): boolean {
  const { filter } = compiled;
  if (filter.actions && (act.action === null || !filter.actions.includes(act.action))) return false;
  if (filter.path_prefixes && !filter.path_prefixes.some((prefix) => act.within?.includes(prefix))) return false;
  if (filter.classes) {
    if (!act.within) return false;
    const classes = classesOf(compiled.classes, act.within);
    if (!filter.classes.some((name) => classes.includes(name))) return false;
  }
  if (filter.programs && !filter.programs.some((program) => act.programs?.includes(program))) return false;
  if (filter.hosts && (act.host === undefined || !filter.hosts.includes(act.host))) return false;
  if (filter.tools && (act.tool === undefined || !filter.tools.includes(act.tool))) return false;
  return true;
}

/**
 * The acts of `view` the filter matches, or null when the entry does not match. Entry-level
 * conditions (type, decision, agent, sends_external) are skipped for a request not yet
 * decided (`pending`), which has no type or decision yet.
 */
export function matchingActs(compiled: CompiledFilter, view: EntryView, pending = false): Act[] | null {
  const { filter } = compiled;
  if (!pending) {
    if (!filter.types.includes(view.type)) return null;
    if (filter.decisions && (view.decision === null || !(filter.decisions as string[]).includes(view.decision))) return null;
  }
  if (filter.agents && (view.agent === null || !filter.agents.includes(view.agent))) return null;
  if (filter.sends_external !== undefined && view.sends_external !== filter.sends_external) return null;
  if (!compiled.actLevel) return view.acts;
  const acts = view.acts.filter((act) => actMatches(compiled, act));
  return acts.length > 0 ? acts : null;
}

/** The values of a key field over the matching acts (or the entry, for `agent`). */
export function keysOf(field: KeyField, view: EntryView, acts: readonly Act[]): string[] {
  const keys = new Set<string>();
  for (const act of acts) {
    switch (field) {
      case "host":
        if (act.host !== undefined) keys.add(act.host);
        break;
      case "program":
        for (const program of act.programs ?? []) keys.add(program);
        break;
      case "path":
        if (act.path !== undefined) keys.add(act.path);
        break;
      case "tool":
        if (act.tool !== undefined) keys.add(act.tool);
        break;
      case "action":
        if (act.action !== null) keys.add(act.action);
        break;
      case "agent":
        break;
    }
  }
  if (field === "agent" && view.agent !== null) keys.add(view.agent);
  return [...keys].sort();
}

/** The number a sum adds for one matching entry. */
export function amountOf(field: SumField, view: EntryView, acts: readonly Act[]): number {
  return field === "targets" ? acts.length : (view.duration_ms ?? 0);
}
