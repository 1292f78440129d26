import type { CedarValueJson, Context, EntityJson } from "./cedar.ts";
import { canonicalJson } from "../log/canonical.ts";
import { POLICY_REASON_CODES, type CompiledBundle, type PolicyReasonCode, type TargetKind } from "./bundle.ts";
import { analyzeCommand, COMMAND_FLAGS, MAX_IMPLIED_TARGETS, type CommandAnalysis, type CommandFlag, type DerivedAction, type DerivedTarget, type UnresolvedReason } from "./command/index.ts";
import { evaluateTarget, highestTier } from "./engine.ts";
import { classesOf, type PathClasses } from "./path-classes.ts";
import {
  canonicalizePath,
  canonicalizeTool,
  canonicalizeUrl,
  defaultShell,
  type CanonicalPath,
  type CanonicalTool,
  type CanonicalUrl,
  type DeviceOs,
  type Shell,
  type TargetRejection,
  type TargetResult,
} from "./targets.ts";
import type { Assurance } from "../domain.ts";
import { WardenError } from "../errors.ts";
import { UNREGISTERED, type AgentStanding } from "../agents/types.ts";
import { coveringConsent, type CompiledConsent, type CoverageTarget } from "../consent/scope.ts";

/** Why a decision came out as it did. Fail-closed denials each have their own code. */
export type ReasonCode =
  | "policy_permit"
  | "policy_forbid"
  | "policy_review"
  | "no_applicable_permit"
  | "policy_evaluation_error"
  | "evaluation_refused"
  | "unknown_action"
  | "target_kind_mismatch"
  | "target_not_canonical"
  | "no_active_bundle"
  | "bundle_invalid"
  | "log_append_failed"
  | "review_unavailable"
  | "device_quarantined"
  | "playbook_review"
  | "history_contended"
  | "internal_error"
  /** Named by the forbid that denied (`@reason`): an unregistered agent, an unapproved build, no covering consent. */
  | PolicyReasonCode;

export type Decision = "permit" | "deny" | "review";

/** A target as the agent describes it. A command names where and in which shell it runs. */
export type TargetInput =
  | { kind: "path" | "url" | "tool"; value: string }
  | { kind: "command"; value: string; shell?: Shell | undefined; cwd?: string | undefined; home?: string | undefined };

export interface ActionRequest {
  agent: { id: string; version: string; artifact_sha256?: string | undefined };
  action: {
    type: string;
    targets: TargetInput[];
    inputs_sha256?: string | undefined;
    sends_external?: boolean | undefined;
  };
}

/**
 * What a decision knows beyond the request, from the tenant's registry, the device's user and
 * the device's log: the agent's standing (`principal.registered`, `risk`, `owner`,
 * `artifact_approved`, `version_allowed`), the user's active consents (`context.consent`) and
 * the history features the bundle's policies read (`context.history`, as the device's log stood
 * before this decision). Without them an agent is unregistered, nothing is consented and the
 * history is empty.
 */
export interface DecisionFacts {
  agent: AgentStanding;
  consents: readonly CompiledConsent[];
  history?: HistoryContext | undefined;
}

export const NO_FACTS: DecisionFacts = { agent: UNREGISTERED, consents: [] };

/** Whether the bundle's policies read the agent's registry attributes: only then is the registry loaded. */
export function readsRegistry(bundle: CompiledBundle): boolean {
  const read = bundle.attributes.principal;
  return ["registered", "risk", "owner", "artifact_approved", "version_allowed"].some((name) => read.has(name));
}

/** Whether the bundle's policies read `context.consent`: only then are consents looked up and checked at the commit. */
export function readsConsent(bundle: CompiledBundle): boolean {
  return bundle.attributes.context === null || bundle.attributes.context.has("consent");
}

export interface DeviceContext {
  id: string;
  os: DeviceOs;
  assurance: Assurance;
  /** The shell the device registered; commands that name none are read in it, else in the OS default. */
  shell?: Shell | undefined;
}

/**
 * A target as the policy saw it: its canonical value (for a command, with the shell that reads
 * it and its canonical directories), or the reason it could not be made canonical.
 */
export type CanonicalTarget =
  | { kind: "path" | "url" | "tool"; value: string }
  | { kind: "command"; value: string; shell: Shell; cwd?: string; home?: string }
  | { kind: TargetKind; rejected: TargetRejection };

/** A target that was made canonical: what an action token scopes and a reviewer is shown. */
export type ResolvedTarget = Exclude<CanonicalTarget, { rejected: TargetRejection }>;

/** The targets of a permit or a review: every one of them is canonical, or the verdict would deny. */
export function resolvedTargets(verdict: Verdict): ResolvedTarget[] {
  return verdict.targets.map((target) => {
    if ("rejected" in target) throw new WardenError("internal_error", `a ${verdict.decision} with a target refused as ${target.rejected}`);
    return target;
  });
}

/** One string per resolved target, equal exactly when two targets name the same thing in the same way. */
export function targetKey(target: ResolvedTarget): string {
  return canonicalJson({ ...target });
}

export interface Verdict {
  decision: Decision;
  reasonCode: ReasonCode;
  /** Ids of the policies that determined the decision (or that failed to evaluate). */
  reasons: string[];
  tier?: string;
  targets: CanonicalTarget[];
  /** What the command targets imply, each judged under its own action (`from`: the target it came from). */
  derived: DerivedVerdictTarget[];
  /** What the analysis found each command target runs (`from`: the target). */
  commands: CommandSummary[];
  /** Ids of the consents that covered a judged target, when the bundle reads `context.consent`: what the decision relied on. */
  consents?: string[];
}

/**
 * The programs a command target runs, as the analysis found them (wrappers included, in the
 * order they run), its danger flags, and whether any part of it was opaque. It is logged with the
 * decision so that what leaves the log (an OCSF event) can say what ran without the line itself,
 * which can carry a token (`curl -H "Authorization: Bearer …"`).
 */
export interface CommandSummary {
  from: number;
  programs: string[];
  flags: CommandFlag[];
  opaque: boolean;
}

function summarise(analysis: CommandAnalysis, from: number): CommandSummary {
  const programs = new Set<string>();
  const flags = new Set<CommandFlag>();
  for (const command of analysis.commands) {
    for (const program of [...command.wrappers, command.program]) if (program !== "") programs.add(program);
    for (const flag of command.flags) flags.add(flag);
  }
  return { from, programs: [...programs], flags: [...flags].sort(), opaque: analysis.commands.some((command) => command.opaque) };
}

/**
 * A target a command line implies (an argument or a redirection), judged under its own action.
 * `named`: a path as the line names it, made absolute but not resolved, where that is not its
 * canonical `value` (`link/../x`): the OS walks `..` from where a symbolic link led, so a hook on
 * the device follows the links from it (cli/hooks/links.ts). `follows_links_below`: the program
 * walks the directory and follows the links it finds below it (`grep -R`), which the hook follows too.
 * `makes_links`: the program can make links there (`tar -x`); `after_links_made`: another command
 * of the line can, and the hook checks this path does not lead there through the device's links.
 */
export type DerivedVerdictTarget =
  | { action: DerivedAction; kind: "path" | "url"; value: string; named?: string; follows_links_below?: true; makes_links?: true; after_links_made?: true; from: number }
  | { action: DerivedAction; kind: "path" | "url"; rejected: TargetRejection | UnresolvedReason; from: number };

/** A submitted target in canonical form, with what policy sees of it. */
type Canonicalised =
  | { kind: "path"; canonical: ResolvedTarget; path: CanonicalPath }
  | { kind: "url"; canonical: ResolvedTarget; url: CanonicalUrl }
  | { kind: "tool"; canonical: ResolvedTarget; tool: CanonicalTool }
  | { kind: "command"; canonical: ResolvedTarget; analysis: CommandAnalysis };

/**
 * Canonicalises one target, or says why it cannot be. A command is analysed in the shell that
 * runs it (the request's, else the device's, else the OS default), with its directories made
 * canonical first, since relative arguments resolve against them.
 */
/**
 * Command readings by the request's target object and the device's OS and shell: a request's
 * command line is analysed once, whether decide(), the history view of the request or the
 * programs its log entry records ask (worker/history/views.ts). Held weakly: a reading lives as
 * long as its request.
 */
const commandReadings = new WeakMap<TargetInput, { device: string; result: TargetResult<Canonicalised> }>();

export function canonicalise(target: TargetInput, device: Pick<DeviceContext, "os" | "shell">): TargetResult<Canonicalised> {
  switch (target.kind) {
    case "path": {
      const result = canonicalizePath(target.value, device.os);
      return result.ok ? { ok: true, value: { kind: "path", canonical: { kind: "path", value: result.value.path }, path: result.value } } : result;
    }
    case "url": {
      const result = canonicalizeUrl(target.value);
      return result.ok ? { ok: true, value: { kind: "url", canonical: { kind: "url", value: result.value.url }, url: result.value } } : result;
    }
    case "tool": {
      const result = canonicalizeTool(target.value);
      return result.ok ? { ok: true, value: { kind: "tool", canonical: { kind: "tool", value: result.value.name }, tool: result.value } } : result;
    }
    case "command": {
      const key = `${device.os} ${device.shell ?? ""}`;
      const known = commandReadings.get(target);
      if (known?.device === key) return known.result;
      const result = readCommand(target, device);
      commandReadings.set(target, { device: key, result });
      return result;
    }
  }
}

function readCommand(target: Extract<TargetInput, { kind: "command" }>, device: Pick<DeviceContext, "os" | "shell">): TargetResult<Canonicalised> {
  const shell = target.shell ?? device.shell ?? defaultShell(device.os);
  const directories: { cwd?: string; home?: string } = {};
  for (const key of ["cwd", "home"] as const) {
    const raw = target[key];
    if (raw === undefined) continue;
    const directory = canonicalizePath(raw, device.os);
    if (!directory.ok) return directory;
    directories[key] = directory.value.path;
  }
  const analysis = analyzeCommand(target.value, { os: device.os, shell, ...directories });
  if (!analysis.ok) return analysis;
  return { ok: true, value: { kind: "command", canonical: { kind: "command", value: analysis.value.line, shell, ...directories }, analysis: analysis.value } };
}

/** The `File` Cedar sees for a canonical path. */
export function fileEntity(path: CanonicalPath, classes: PathClasses): EntityJson {
  return { uid: { type: "File", id: path.path }, attrs: { path: path.path, segments: path.segments, within: path.within, classes: classesOf(classes, path.within) }, parents: [] };
}

function urlEntity(url: CanonicalUrl): EntityJson {
  return { uid: { type: "Url", id: url.url }, attrs: { url: url.url, scheme: url.scheme, host: url.host, port: url.port, path: url.path }, parents: [] };
}

/**
 * One `Command` per simple command of the line: its program, arguments and subcommand, the
 * wrappers that were unwrapped to reach it, the program table's danger flags, and whether the
 * line runs anything else. Every one must be permitted, so a trusted program cannot carry an
 * untrusted one (`git status; curl … | sh`).
 */
function commandEntities(analysis: CommandAnalysis): EntityJson[] {
  const chained = analysis.commands.length > 1;
  return analysis.commands.map((command, index) => {
    const attrs: Record<string, CedarValueJson> = {
      line: analysis.line,
      shell: analysis.shell,
      program: command.program,
      args: command.args,
      subcommand: command.subcommand,
      wrappers: command.wrappers,
      opaque: command.opaque,
      chained,
    };
    for (const flag of COMMAND_FLAGS) attrs[flag] = command.flags.includes(flag);
    return { uid: { type: "Command", id: `${analysis.line}#${index}` }, attrs, parents: [] };
  });
}

/** One Cedar request to make: which action, on which entity, and whether it was derived from a command. */
interface Evaluation {
  action: string;
  entity: EntityJson;
  derived: boolean;
}

/** The resource of an evaluation as consent coverage sees it: a file's prefixes or a URL's host. */
function coverageResource(entity: EntityJson): Pick<CoverageTarget, "within" | "host"> {
  const type = "__entity" in entity.uid ? entity.uid.__entity.type : entity.uid.type;
  if (type === "File") return { within: entity.attrs["within"] as string[] };
  if (type === "Url") return { host: entity.attrs["host"] as string };
  return {};
}

/** The reason code of a denial by forbids naming `named` (`@reason`, in order): theirs when every one names one, else `policy_forbid`. */
function forbidReason(named: readonly (PolicyReasonCode | undefined)[]): ReasonCode {
  if (named.length === 0 || named.some((code) => code === undefined)) return "policy_forbid";
  return POLICY_REASON_CODES.find((code) => named.includes(code)) ?? "policy_forbid";
}

/** The device's history features a decision is made on, `context.history` (worker/history/). */
export type HistoryContext = Readonly<Record<string, boolean | number>>;

/**
 * Decides one action on every one of its targets, and on every target its command lines imply.
 * All must be permitted for a permit; any error, rejection or forbid denies; otherwise any hold
 * makes it a review, on what `facts` give beyond the request.
 */
export function decide(bundle: CompiledBundle, request: ActionRequest, device: DeviceContext, now: number, facts: DecisionFacts = NO_FACTS): Verdict {
  const { action } = request;
  const targets: CanonicalTarget[] = [];
  const derived: DerivedVerdictTarget[] = [];
  const commands: CommandSummary[] = [];
  const evaluations: Evaluation[] = [];
  let rejected = false;
  action.targets.forEach((target, from) => {
    const result = canonicalise(target, device);
    if (!result.ok) {
      targets.push({ kind: target.kind, rejected: result.reason });
      rejected = true;
      return;
    }
    const resolved = result.value;
    targets.push(resolved.canonical);
    switch (resolved.kind) {
      case "path":
        evaluations.push({ action: action.type, entity: fileEntity(resolved.path, bundle.pathClasses), derived: false });
        break;
      case "url":
        evaluations.push({ action: action.type, entity: urlEntity(resolved.url), derived: false });
        break;
      case "tool": {
        const { name, server, tool } = resolved.tool;
        evaluations.push({ action: action.type, entity: { uid: { type: "Tool", id: name }, attrs: { name, server, tool }, parents: [] }, derived: false });
        break;
      }
      case "command":
        if (derived.length + resolved.analysis.targets.length > MAX_IMPLIED_TARGETS) {
          targets[targets.length - 1] = { kind: target.kind, rejected: "too_many_targets" };
          rejected = true;
          break;
        }
        commands.push(summarise(resolved.analysis, from));
        for (const entity of commandEntities(resolved.analysis)) evaluations.push({ action: action.type, entity, derived: false });
        for (const implied of resolved.analysis.targets) {
          const entity = derivedEntity(implied, device.os, bundle.pathClasses);
          if ("rejected" in entity) {
            derived.push({ action: implied.action, kind: implied.kind, rejected: entity.rejected, from });
            rejected = true;
          } else {
            const named = "value" in implied && implied.kind === "path" && implied.value !== entity.value ? { named: implied.value } : {};
            const links = "value" in implied ? { ...(implied.followsLinksBelow ? { follows_links_below: true as const } : {}), ...(implied.makesLinks ? { makes_links: true as const } : {}), ...(implied.afterLinksMade ? { after_links_made: true as const } : {}) } : {};
            derived.push({ action: implied.action, kind: implied.kind, value: entity.value, ...named, ...links, from });
            evaluations.push({ action: implied.action, entity: entity.entity, derived: true });
          }
        }
        break;
    }
  });
  const deny = (reasonCode: ReasonCode, reasons: string[] = []): Verdict => ({ decision: "deny", reasonCode, reasons, targets, derived, commands, ...reliedOn() });
  const relied = new Set<string>();
  const reliedOn = (): Pick<Verdict, "consents"> => (relied.size > 0 ? { consents: [...relied].sort() } : {});
  for (const evaluation of evaluations) {
    const resourceTypes = bundle.actions.get(evaluation.action);
    if (!resourceTypes) return deny("unknown_action");
    const type = "__entity" in evaluation.entity.uid ? evaluation.entity.uid.__entity.type : evaluation.entity.uid.type;
    if (!resourceTypes.has(type)) return deny("target_kind_mismatch");
  }
  if (!bundle.actions.has(action.type)) return deny("unknown_action");
  if (rejected) return deny("target_not_canonical");

  const standing = facts.agent;
  const agentAttrs: Record<string, CedarValueJson> = {
    version: request.agent.version,
    registered: standing.registered,
    risk: standing.risk,
    owner: standing.owner,
    artifact_approved: standing.artifactApproved,
    version_allowed: standing.versionAllowed,
  };
  if (request.agent.artifact_sha256 !== undefined) agentAttrs["artifact_sha256"] = request.agent.artifact_sha256;
  const agent: EntityJson = { uid: { type: "Agent", id: request.agent.id }, attrs: agentAttrs, parents: [] };
  const context: Context = {
    now: Math.floor(now / 1000),
    device: { id: device.id, assurance: device.assurance, os: device.os },
    sends_external: action.sends_external ?? false,
    derived: false,
  };
  if (action.inputs_sha256 !== undefined) context["inputs_sha256"] = action.inputs_sha256;
  if (Object.keys(bundle.history.features).length > 0) context["history"] = { ...(facts.history ?? {}) };
  const derivedContext: Context = { ...context, derived: true };
  const withConsent = readsConsent(bundle);
  /** The context of one evaluation: with the consent that covers its target, when policies read one. */
  const contextFor = (evaluation: Evaluation): Context => {
    const base = evaluation.derived ? derivedContext : context;
    if (!withConsent) return base;
    const covering = coveringConsent(facts.consents, { action: evaluation.action, agent: request.agent.id, device: device.id, ...coverageResource(evaluation.entity) }, now);
    if (covering) relied.add(covering.id);
    return { ...base, consent: covering ? { covered: true, id: covering.id, purpose: covering.purpose, version: covering.consent_version } : { covered: false, id: "", purpose: "", version: "" } };
  };

  const permits = new Set<string>();
  const holds = new Set<string>();
  const tiers: string[] = [];
  let noPermit = false;
  for (const evaluation of evaluations) {
    const verdict = evaluateTarget(bundle, { agent, action: evaluation.action, resource: evaluation.entity, context: contextFor(evaluation) });
    switch (verdict.outcome) {
      case "error":
        return deny(verdict.code, verdict.reasons);
      case "forbid":
        return deny(forbidReason(verdict.reasonCodes), verdict.reasons);
      case "no_permit":
        noPermit = true;
        break;
      case "review":
        tiers.push(verdict.tier);
        verdict.reasons.forEach((id) => holds.add(id));
        break;
      case "permit":
        verdict.reasons.forEach((id) => permits.add(id));
        break;
    }
  }
  if (noPermit) return deny("no_applicable_permit");
  if (tiers.length > 0) return { decision: "review", reasonCode: "policy_review", reasons: [...holds], tier: highestTier(bundle, tiers), targets, derived, commands, ...reliedOn() };
  return { decision: "permit", reasonCode: "policy_permit", reasons: [...permits], targets, derived, commands, ...reliedOn() };
}

/** The entity of a target a command implies, or why it has none (an unresolved argument, a target that is not canonical). */
function derivedEntity(implied: DerivedTarget, os: DeviceOs, classes: PathClasses): { entity: EntityJson; value: string } | { rejected: TargetRejection | UnresolvedReason } {
  if ("unresolved" in implied) return { rejected: implied.unresolved };
  if (implied.kind === "path") {
    const path = canonicalizePath(implied.value, os);
    return path.ok ? { entity: fileEntity(path.value, classes), value: path.value.path } : { rejected: path.reason };
  }
  const url = canonicalizeUrl(implied.value);
  return url.ok ? { entity: urlEntity(url.value), value: url.value.url } : { rejected: url.reason };
}
