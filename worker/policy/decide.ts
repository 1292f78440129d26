import type { EntityJson } from "./cedar.ts";
import { canonicalJson } from "../log/canonical.ts";
import { entityTypeFor, type CompiledBundle, type TargetKind } from "./bundle.ts";
import { evaluateTarget, highestTier } from "./engine.ts";
import {
  canonicalizeCommand,
  canonicalizePath,
  canonicalizeTool,
  canonicalizeUrl,
  defaultShell,
  type DeviceOs,
  type Shell,
  type TargetRejection,
} from "./targets.ts";
import type { Assurance } from "../domain.ts";

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
  | "internal_error";

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
    if ("rejected" in target) throw new Error(`a ${verdict.decision} with a target refused as ${target.rejected}`);
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
}

/** Canonicalises one target into the entity Cedar sees, or says why it cannot be. */
export function targetEntity(
  target: TargetInput,
  device: Pick<DeviceContext, "os" | "shell">,
  pathClasses: ReadonlyMap<string, readonly string[]> = new Map(),
): { ok: true; entity: EntityJson; canonical: CanonicalTarget } | { ok: false; reason: TargetRejection } {
  const type = entityTypeFor(target.kind);
  switch (target.kind) {
    case "path": {
      const result = canonicalizePath(target.value, device.os);
      if (!result.ok) return result;
      const { path, segments, within } = result.value;
      const classes = [...new Set(within.flatMap((prefix) => pathClasses.get(prefix) ?? []))];
      return { ok: true, canonical: { kind: "path", value: path }, entity: { uid: { type, id: path }, attrs: { path, segments, within, classes }, parents: [] } };
    }
    case "url": {
      const result = canonicalizeUrl(target.value);
      if (!result.ok) return result;
      const { url, scheme, host, port, path } = result.value;
      return { ok: true, canonical: { kind: "url", value: url }, entity: { uid: { type, id: url }, attrs: { url, scheme, host, port, path }, parents: [] } };
    }
    case "tool": {
      const result = canonicalizeTool(target.value);
      if (!result.ok) return result;
      const { name, server, tool } = result.value;
      return { ok: true, canonical: { kind: "tool", value: name }, entity: { uid: { type, id: name }, attrs: { name, server, tool }, parents: [] } };
    }
    case "command": {
      const shell = target.shell ?? device.shell ?? defaultShell(device.os);
      const canonical: Extract<CanonicalTarget, { kind: "command" }> = { kind: "command", value: "", shell };
      for (const key of ["cwd", "home"] as const) {
        const raw = target[key];
        if (raw === undefined) continue;
        const directory = canonicalizePath(raw, device.os);
        if (!directory.ok) return directory;
        canonical[key] = directory.value.path;
      }
      const result = canonicalizeCommand(target.value, device.os);
      if (!result.ok) return result;
      const { line, program, chained } = result.value;
      canonical.value = line;
      return { ok: true, canonical, entity: { uid: { type, id: line }, attrs: { line, program, chained }, parents: [] } };
    }
  }
}

/**
 * Decides one action on every one of its targets. All must be permitted for a
 * permit; any error, rejection or forbid denies; otherwise any hold makes it a review.
 */
export function decide(bundle: CompiledBundle, request: ActionRequest, device: DeviceContext, now: number): Verdict {
  const { action } = request;
  const resourceTypes = bundle.actions.get(action.type);
  const targets: CanonicalTarget[] = [];
  const entities: EntityJson[] = [];
  let rejected = false;
  for (const target of action.targets) {
    const result = targetEntity(target, device, bundle.pathClasses);
    if (result.ok) {
      targets.push(result.canonical);
      entities.push(result.entity);
    } else {
      targets.push({ kind: target.kind, rejected: result.reason });
      rejected = true;
    }
  }
  const deny = (reasonCode: ReasonCode, reasons: string[] = []): Verdict => ({ decision: "deny", reasonCode, reasons, targets });
  if (!resourceTypes) return deny("unknown_action");
  if (action.targets.some((target) => !resourceTypes.has(entityTypeFor(target.kind)))) return deny("target_kind_mismatch");
  if (rejected) return deny("target_not_canonical");

  const agentAttrs: Record<string, string> = { version: request.agent.version };
  if (request.agent.artifact_sha256 !== undefined) agentAttrs["artifact_sha256"] = request.agent.artifact_sha256;
  const agent: EntityJson = { uid: { type: "Agent", id: request.agent.id }, attrs: agentAttrs, parents: [] };
  const context: Record<string, string | number | boolean | Record<string, string>> = {
    now: Math.floor(now / 1000),
    device: { id: device.id, assurance: device.assurance, os: device.os },
    sends_external: action.sends_external ?? false,
  };
  if (action.inputs_sha256 !== undefined) context["inputs_sha256"] = action.inputs_sha256;

  const permits = new Set<string>();
  const holds = new Set<string>();
  const tiers: string[] = [];
  let noPermit = false;
  for (const resource of entities) {
    const verdict = evaluateTarget(bundle, { agent, action: action.type, resource, context });
    switch (verdict.outcome) {
      case "error":
        return deny(verdict.code, verdict.reasons);
      case "forbid":
        return deny("policy_forbid", verdict.reasons);
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
  if (tiers.length > 0) return { decision: "review", reasonCode: "policy_review", reasons: [...holds], tier: highestTier(bundle, tiers), targets };
  return { decision: "permit", reasonCode: "policy_permit", reasons: [...permits], targets };
}
