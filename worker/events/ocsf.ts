/**
 * OCSF 1.8.0 events from log entries: one pure function from a device-log or admin-log entry to
 * the event a SIEM ingests, or null for an entry that is not an event. No I/O and no clock: the
 * same entry always gives the same event, so a re-delivered entry has the same `metadata.uid`
 * (its hash) and a sink drops the repeat. docs/events.md is this table in prose.
 *
 * What never leaves the log: the caller's `context`, targets as submitted, command lines (they
 * can carry a bearer token), inputs, passkey material (credential keys, assertions, challenges,
 * statements), token values, bootstrap tokens and TPM secrets, and free-form paths an agent
 * reports. An event names the entry instead (`unmapped.warden_log`: origin, seq, hash, prev),
 * so it can be tied back to the verifiable log.
 *
 * Every field is read from the entry defensively (a log written by an older or newer Warden may
 * lack one): a missing value is left out, never guessed, and never makes an event invalid.
 */
import { WardenError } from "../errors.ts";
import type { JsonValue } from "../log/canonical.ts";
import type { ReasonCode } from "../policy/decide.ts";

/** The OCSF release every event names in `metadata.version`. */
export const OCSF_VERSION = "1.8.0";

/** Where an entry comes from: a device's log, or the tenant's admin log (BundleRegistry). */
export interface EntryOrigin {
  tenant: string;
  log: "device" | "admin";
  /** Warden's version, for `metadata.product.version`. */
  productVersion: string;
}

/**
 * The parts of a log entry the mapping reads (worker/log/chain.ts `LogEntry` has them; its data
 * members may be undefined, which reads as absent).
 */
export interface MappedEntry {
  seq: number;
  time: string;
  prev: string;
  hash: string;
  device: string;
  type: string;
  data: { [key: string]: JsonValue | undefined };
}

/** An OCSF event: JSON, with the two members every consumer keys on. */
export type OcsfEvent = { [key: string]: JsonValue } & { class_uid: number; metadata: { [key: string]: JsonValue } & { uid: string } };

type JsonObject = { [key: string]: JsonValue };
/** An object being built: undefined members are dropped by {@link compact}. */
type Fields = { [key: string]: JsonValue | undefined };

// ── The OCSF vocabulary used here (OCSF 1.8.0, test/fixtures/ocsf/1.8.0) ──────────────────────

const SECURITY_CONTROL = ["action", "action_id", "disposition", "disposition_id", "policy", "authorizations", "is_alert"] as const;

/**
 * The classes events use: uid, caption, category, the activities used (id → caption), and the
 * top-level attributes this module sets that belong to a profile in that class (the OCSF
 * validator, and the schemas, treat them as unknown unless `metadata.profiles` lists it).
 */
const CLASSES = {
  api_activity: {
    uid: 6003,
    caption: "API Activity",
    category: { uid: 6, caption: "Application Activity" },
    activities: { 1: "Create", 2: "Read", 3: "Update", 4: "Delete", 99: "Other" },
    profiles: { device: "host", ...profileOf(SECURITY_CONTROL, "security_control") },
  },
  device_config_state_change: {
    uid: 5019,
    caption: "Device Config State Change",
    category: { uid: 5, caption: "Discovery" },
    activities: { 1: "Log" },
    profiles: profileOf(SECURITY_CONTROL, "security_control"),
  },
  entity_management: {
    uid: 3004,
    caption: "Entity Management",
    category: { uid: 3, caption: "Identity & Access Management" },
    activities: { 1: "Create", 2: "Read", 3: "Update", 4: "Delete", 6: "Enroll", 9: "Disable", 10: "Activate", 11: "Deactivate" },
    profiles: { device: "host", ...profileOf(SECURITY_CONTROL, "security_control") },
  },
  remediation_activity: {
    uid: 7001,
    caption: "Remediation Activity",
    category: { uid: 7, caption: "Remediation" },
    activities: { 1: "Isolate", 3: "Restore" },
    profiles: { actor: "host", device: "host", ...profileOf(SECURITY_CONTROL, "security_control") },
  },
  detection_finding: {
    uid: 2004,
    caption: "Detection Finding",
    category: { uid: 2, caption: "Findings" },
    activities: { 1: "Create" },
    // is_alert and confidence are attributes of the class itself in 1.8.0, not of a profile.
    profiles: { actor: "host", action: "security_control", action_id: "security_control", disposition: "security_control", disposition_id: "security_control", policy: "security_control", authorizations: "security_control" },
  },
} as const;

function profileOf<const K extends string, const P extends string>(attributes: readonly K[], profile: P): { [A in K]: P } {
  return Object.fromEntries(attributes.map((attribute) => [attribute, profile])) as { [A in K]: P };
}

type ClassName = keyof typeof CLASSES;
type ActivityOf<C extends ClassName> = keyof (typeof CLASSES)[C]["activities"] & number;

const SEVERITY = { 0: "Unknown", 1: "Informational", 2: "Low", 3: "Medium", 4: "High", 5: "Critical" } as const;
type Severity = keyof typeof SEVERITY;
const STATUS = { 1: "Success", 2: "Failure" } as const;
const ACTION = { 1: "Allowed", 2: "Denied", 99: "Other" } as const;
type ActionId = keyof typeof ACTION;
const DISPOSITION = { 1: "Allowed", 2: "Blocked", 8: "Approved", 14: "Delayed", 24: "Access Revoked", 25: "Rejected", 26: "Unauthorized", 27: "Error" } as const;
type DispositionId = keyof typeof DISPOSITION;
const SECURITY_LEVEL = { 0: "Unknown", 1: "Secure", 2: "At Risk" } as const;
type SecurityLevel = keyof typeof SECURITY_LEVEL;

/** What a row's builder decides; {@link assemble} adds what every event carries. */
type Shape = {
  [C in ClassName]: {
    class: C;
    activity: ActivityOf<C>;
    /** The verb itself when the activity is Other (99). */
    activityName?: string | undefined;
    severity: Severity;
    fields: Fields;
    /** `metadata.correlation_uid`: the decision the entry concerns. */
    correlation?: string | undefined;
    /** Warden's own structured detail with no OCSF slot in 1.8.0, beside `warden_log`. */
    unmapped?: Fields | undefined;
  };
}[ClassName];

// ── Reading entry data (untrusted in shape: another version may have written it) ─────────────

function text(value: JsonValue | undefined): string | undefined {
  return typeof value === "string" && value !== "" ? value : undefined;
}

function count(value: JsonValue | undefined): number | undefined {
  return typeof value === "number" && Number.isFinite(value) ? value : undefined;
}

function truth(value: JsonValue | undefined): boolean | undefined {
  return typeof value === "boolean" ? value : undefined;
}

function record(value: JsonValue | undefined): JsonObject | undefined {
  return value !== null && typeof value === "object" && !Array.isArray(value) ? compact(value) : undefined;
}

function list(value: JsonValue | undefined): JsonValue[] {
  return Array.isArray(value) ? value : [];
}

function texts(value: JsonValue | undefined): string[] {
  return list(value).filter((item): item is string => typeof item === "string" && item !== "");
}

/** `fields` without its undefined members. */
function compact(fields: Fields): JsonObject {
  const out: JsonObject = {};
  for (const [key, value] of Object.entries(fields)) if (value !== undefined) out[key] = value;
  return out;
}

/** `fields` without its undefined members, or undefined when none is left. */
function nonEmpty(fields: Fields): JsonObject | undefined {
  const out = compact(fields);
  return Object.keys(out).length > 0 ? out : undefined;
}

// ── Pieces shared by many events ───────────────────────────────────────────────────────────

/** The device a device-log entry belongs to; Warden does not know its hardware type. */
function deviceOf(entry: MappedEntry, extra: Fields = {}): JsonObject {
  return compact({ uid: entry.device, type_id: 0, type: "Unknown", ...extra });
}

/** Warden itself: the actor of what its clocks and rules do (SLA escalation, timeouts, releases). */
const WARDEN: JsonObject = { app_name: "Warden", app_uid: "warden" };

/**
 * The client that presents action tokens and reports outcomes: the shim or agent hook on the
 * device. The entry does not name the agent (its decision does: `metadata.correlation_uid`).
 */
const ENFORCEMENT_POINT: JsonObject = { app_name: "Warden enforcement point", app_uid: "warden:enforcement-point" };

/**
 * Who ordered an administrative change: a bundle's playbook (`playbook:<digest>`) acts as an
 * application; anyone else (`admin` today, people once issue 16 lands) as an Admin user.
 */
function orderedBy(by: string | undefined): JsonObject {
  if (by === undefined) return WARDEN;
  if (by.startsWith("playbook:")) return { app_name: "Warden playbook", app_uid: by };
  return { user: { uid: by, name: by, type_id: 2, type: "Admin" } };
}

function reviewer(id: string): JsonObject {
  return { uid: id, name: id, type_id: 1, type: "User" };
}

function target(fields: Fields): JsonObject {
  return compact({ ...fields, role_id: 1, role: "Target" });
}

/**
 * A URL without userinfo, query and fragment: a query is where tokens travel
 * (`?access_token=…`). Canonical targets never carry userinfo (refused as `url_credentials`) nor
 * a fragment; both are dropped here too rather than trusted. Null for what does not parse.
 */
export function urlWithoutSecrets(value: string): string | null {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return null;
  }
  url.username = "";
  url.password = "";
  url.search = "";
  url.hash = "";
  return url.href;
}

function timeOf(entry: MappedEntry): number {
  const time = Date.parse(entry.time);
  // The object stamps every entry with toISOString(); anything else is not a Warden entry.
  if (!Number.isInteger(time)) throw new WardenError("internal_error", `log entry ${entry.seq} has no readable time`);
  return time;
}

// ── Decisions ───────────────────────────────────────────────────────────────────────────────

/**
 * The OCSF API Activity verb of an agent action, by its type's last segment (bundles name
 * actions `<noun>.<verb>`). Anything else (command.exec, http.request, mcp.call) is Other (99)
 * with the action type itself as `activity_name`.
 */
const VERBS: readonly { readonly verb: string; readonly activity: 1 | 2 | 3 | 4; readonly why: string }[] = [
  { verb: "create", activity: 1, why: "brings a new object into being" },
  { verb: "read", activity: 2, why: "file.read: reads and changes nothing" },
  { verb: "write", activity: 3, why: "file.write replaces a file's content, OCSF's Update (its API Activity examples map writes so)" },
  { verb: "delete", activity: 4, why: "file.delete removes the object" },
];

function activityOfAction(type: string): { activity: 1 | 2 | 3 | 4 | 99; name?: string } {
  const verb = type.slice(type.lastIndexOf(".") + 1);
  const row = VERBS.find((candidate) => candidate.verb === verb);
  return row ? { activity: row.activity } : { activity: 99, name: type };
}

/**
 * How each reason code reads in OCSF. `failed` marks the fail-closed denials: Warden could not
 * decide (status Failure, disposition Error, the code in `status_code`); every other code is a
 * decision Warden made (status Success; the decision is `action_id`/`disposition_id`).
 */
const REASONS: { readonly [C in ReasonCode]: { readonly action: ActionId; readonly disposition: DispositionId; readonly failed: boolean; readonly why: string } } = {
  policy_permit: { action: 1, disposition: 1, failed: false, why: "a permit policy applied to every target" },
  policy_forbid: { action: 2, disposition: 26, failed: false, why: "a forbid policy applied: an authorization check that failed" },
  policy_review: { action: 99, disposition: 14, failed: false, why: "held for a person: delayed, neither allowed nor denied yet" },
  no_applicable_permit: { action: 2, disposition: 26, failed: false, why: "default deny: no permit policy applied" },
  unknown_action: { action: 2, disposition: 26, failed: false, why: "the bundle's schema has no such action: policy cannot permit it" },
  target_kind_mismatch: { action: 2, disposition: 26, failed: false, why: "the action does not apply to that kind of target in the bundle's schema" },
  target_not_canonical: { action: 2, disposition: 26, failed: false, why: "policy refuses a target it cannot name canonically" },
  agent_unregistered: { action: 2, disposition: 26, failed: false, why: "the agent is not in the tenant's registry: not authorized to act" },
  artifact_unapproved: { action: 2, disposition: 26, failed: false, why: "the agent's build is not one the registry approved" },
  consent_required: { action: 2, disposition: 26, failed: false, why: "the bundle requires a person's consent that no active record gives" },
  playbook_review: { action: 99, disposition: 14, failed: false, why: "a playbook holds the device's every action for a person: delayed" },
  history_contended: { action: 2, disposition: 27, failed: true, why: "concurrent decisions kept moving the device's history: fail closed" },
  device_quarantined: { action: 2, disposition: 24, failed: false, why: "an admin or playbook quarantined the device: its access is revoked" },
  policy_evaluation_error: { action: 2, disposition: 27, failed: true, why: "a policy failed to evaluate: denied because Warden could not decide" },
  evaluation_refused: { action: 2, disposition: 27, failed: true, why: "the evaluator refused the request: fail closed" },
  no_active_bundle: { action: 2, disposition: 27, failed: true, why: "no bundle to decide with: fail closed" },
  bundle_invalid: { action: 2, disposition: 27, failed: true, why: "the bundle could not be used: fail closed" },
  log_append_failed: { action: 2, disposition: 27, failed: true, why: "never in a log (the answer is denied because the append failed); here so the table is total" },
  review_unavailable: { action: 2, disposition: 27, failed: true, why: "the hold could not be queued: fail closed" },
  internal_error: { action: 2, disposition: 27, failed: true, why: "anything unexpected on the decision path: fail closed" },
};

/** An unknown reason code (a newer writer) reads by its decision alone. */
function reasonOf(code: string | undefined, decision: string | undefined): (typeof REASONS)[ReasonCode] {
  const known = code !== undefined && Object.hasOwn(REASONS, code) ? REASONS[code as ReasonCode] : undefined;
  if (known) return known;
  if (decision === "permit") return REASONS.policy_permit;
  if (decision === "review") return REASONS.policy_review;
  return REASONS.no_applicable_permit;
}

const DECISION_SEVERITY: { readonly [decision: string]: Severity } = { permit: 1, review: 2, deny: 3 };

/** One resource per canonical target, then one per target a command line implies. */
function decisionResources(action: JsonObject): JsonObject[] | undefined {
  const commands = new Map<number, JsonObject>();
  for (const item of list(action["commands"])) {
    const summary = record(item);
    const from = count(summary?.["from"]);
    if (summary && from !== undefined) commands.set(from, summary);
  }
  const resources = [
    ...list(action["targets"]).map((item, index) => targetResource(record(item), commands.get(index))),
    ...list(action["derived"]).map((item) => derivedResource(record(item))),
  ];
  return resources.length > 0 ? resources : undefined;
}

const RESOURCE_TYPES: { readonly [kind: string]: string } = { path: "file", url: "url", tool: "tool", command: "command" };

/**
 * A canonical target as an OCSF resource. A command is named only by the programs its analysis
 * found: its line can carry a token. A target kind this module does not know (a later
 * version's) is named by its kind only, since its value's sensitivity is unknown.
 */
function targetResource(canonical: JsonObject | undefined, summary: JsonObject | undefined): JsonObject {
  const kind = text(canonical?.["kind"]) ?? "unknown";
  const type = RESOURCE_TYPES[kind] ?? kind;
  const rejected = text(canonical?.["rejected"]);
  if (rejected !== undefined) return target({ type, name: `rejected: ${rejected}`, data: { rejected } });
  const value = text(canonical?.["value"]);
  switch (kind) {
    case "path":
    case "tool":
      return value === undefined ? target({ type, name: type }) : target({ type, uid: value });
    case "url":
      return urlResource(value, {});
    case "command": {
      const programs = texts(summary?.["programs"]);
      return target({
        type,
        name: programs.length > 0 ? programs.join(" ") : "command",
        data: compact({ shell: text(canonical?.["shell"]), programs, flags: texts(summary?.["flags"]), opaque: truth(summary?.["opaque"]) }),
      });
    }
    default:
      return target({ type, name: type });
  }
}

function urlResource(value: string | undefined, data: Fields): JsonObject {
  const clean = value === undefined ? null : urlWithoutSecrets(value);
  return clean === null ? target({ type: "url", name: "url", data: nonEmpty(data) }) : target({ type: "url", uid: clean, data: nonEmpty(data) });
}

function derivedResource(item: JsonObject | undefined): JsonObject {
  const kind = text(item?.["kind"]) ?? "unknown";
  const data = { derived_from: count(item?.["from"]), action: text(item?.["action"]) };
  const rejected = text(item?.["rejected"]);
  const type = RESOURCE_TYPES[kind] ?? kind;
  if (rejected !== undefined) return target({ type, name: `rejected: ${rejected}`, data: compact({ ...data, rejected }) });
  const value = text(item?.["value"]);
  if (kind === "url") return urlResource(value, data);
  return value === undefined || kind !== "path" ? target({ type, name: type, data: compact(data) }) : target({ type, uid: value, data: compact(data) });
}

/** `decision`: the agent's action as Warden decided it (API Activity). */
function decisionEvent(entry: MappedEntry): Shape {
  const d = entry.data;
  const decision = text(d["decision"]);
  const reasonCode = text(d["reason_code"]);
  const outcome = reasonOf(reasonCode, decision);
  const agent = record(d["agent"]);
  const agentId = text(agent?.["id"]);
  const action = record(d["action"]) ?? {};
  const actionType = text(action["type"]) ?? "unknown";
  const verb = activityOfAction(actionType);
  const digest = text(d["policy"]);
  const bundle = record(d["bundle"]);
  const decisionId = text(d["decision_id"]);
  const session = text(d["session"]);
  const reasons = texts(d["reasons"]);
  const tier = text(d["tier"]);
  return {
    class: "api_activity",
    activity: verb.activity,
    activityName: verb.name,
    severity: outcome.failed ? 3 : (DECISION_SEVERITY[decision ?? "deny"] ?? 3),
    correlation: decisionId,
    fields: {
      action_id: outcome.action,
      action: outcome.action === 99 ? "Review" : ACTION[outcome.action],
      disposition_id: outcome.disposition,
      disposition: DISPOSITION[outcome.disposition],
      status_id: outcome.failed ? 2 : 1,
      status: outcome.failed ? STATUS[2] : STATUS[1],
      status_code: reasonCode,
      message: `${decision ?? "deny"} ${actionType} by agent ${agentId ?? "unknown"} (${reasonCode ?? "no reason code"})`,
      actor: compact({
        // 1.8.0 has no AI-agent object (1.9's ai_agent): the agent is the client application.
        // An entry that names none still has an actor (OCSF requires one), said to be unknown.
        app_uid: agentId ?? "unknown",
        app_name: agentId ?? "unknown agent",
        session: session === undefined ? undefined : { uid: session, issuer: "Warden" },
        authorizations:
          reasons.length > 0 ? reasons.map((id) => compact({ decision, policy: compact({ uid: id, name: id, version: digest }) })) : undefined,
      }),
      api: compact({
        operation: actionType,
        // The agent's version has no slot on actor in 1.8.0: it is part of the request Warden judged.
        request: compact({
          uid: decisionId ?? entry.hash,
          data: nonEmpty({
            agent: nonEmpty({ version: text(agent?.["version"]), artifact_sha256: text(agent?.["artifact_sha256"]) }),
            sends_external: truth(action["sends_external"]),
          }),
        }),
        response: decision === "review" ? { data: compact({ decision, review: compact({ tier }) }) } : undefined,
        service: { name: "Warden", uid: "decisions" },
        version: "v1",
      }),
      policy:
        digest === undefined
          ? undefined
          : compact({ uid: digest, version: count(bundle?.["version"])?.toString(), type: text(bundle?.["role"]), is_applied: true }),
      resources: decisionResources(action),
      src_endpoint: { uid: entry.device },
      device: deviceOf(entry),
    },
  };
}

// ── Action tokens and outcomes ──────────────────────────────────────────────────────────────

/** `action.redeemed` / `action.refused`: the enforcement point presented a permit's action token. */
function tokenPresented(entry: MappedEntry, redeemed: boolean): Shape {
  const d = entry.data;
  const actionType = text(d["action"]) ?? "unknown";
  const verb = activityOfAction(actionType);
  const decisionId = text(d["decision_id"]);
  const code = text(d["code"]);
  const jti = text(d["token_jti"]);
  return {
    class: "api_activity",
    activity: verb.activity,
    activityName: verb.name,
    severity: redeemed ? 1 : 3,
    correlation: decisionId,
    fields: {
      action_id: redeemed ? 1 : 2,
      action: redeemed ? ACTION[1] : ACTION[2],
      disposition_id: redeemed ? 1 : 2,
      disposition: redeemed ? DISPOSITION[1] : DISPOSITION[2],
      status_id: 1,
      status: STATUS[1],
      status_code: code,
      message: redeemed ? `action token redeemed for ${actionType}` : `action token refused for ${actionType} (${code ?? "no code"})`,
      actor: ENFORCEMENT_POINT,
      api: compact({
        operation: actionType,
        request: { uid: decisionId ?? entry.hash },
        response: code === undefined ? undefined : { error: code },
        service: { name: "Warden", uid: "actions" },
        version: "v1",
      }),
      resources: jti === undefined ? undefined : [target({ type: "warden.action_token", uid: jti })],
      src_endpoint: { uid: entry.device },
      device: deviceOf(entry),
    },
  };
}

/**
 * `action.completed`: what came of a decided action, as the enforcement point reported it. The
 * file paths it names are the agent's own strings (not canonical, not judged by policy): they
 * stay in the log, the event says how many.
 */
function actionCompleted(entry: MappedEntry): Shape {
  const d = entry.data;
  const decisionId = text(d["decision_id"]);
  const tool = record(d["tool"]);
  const succeeded = truth(d["succeeded"]);
  const exitStatus = count(d["exit_status"]);
  const session = text(d["session"]);
  return {
    class: "api_activity",
    activity: 99,
    activityName: "Complete",
    severity: 1,
    correlation: decisionId,
    fields: {
      status_id: 1,
      status: STATUS[1],
      status_detail: succeeded === false ? `the tool reported failure${exitStatus === undefined ? "" : ` (exit status ${exitStatus})`}` : undefined,
      message: `action ${decisionId ?? "unknown"} completed${succeeded === false ? " with a failure" : ""}`,
      actor: compact({ ...ENFORCEMENT_POINT, session: session === undefined ? undefined : { uid: session, issuer: "Warden" } }),
      api: {
        operation: "action.complete",
        request: { uid: decisionId ?? entry.hash },
        response: {
          data: compact({
            tool: text(tool?.["name"]),
            succeeded,
            exit_status: exitStatus,
            result_hash: text(d["result_hash"]),
            files: list(d["files"]).length,
            duration_ms: count(d["duration_ms"]),
            human_reviewed: truth(d["human_reviewed"]),
            review_id: text(d["review_id"]),
            decision_checked: truth(d["decision_checked"]),
          }),
        },
        service: { name: "Warden", uid: "actions" },
        version: "v1",
      },
      resources: decisionId === undefined ? undefined : [target({ type: "warden.decision", uid: decisionId, data: nonEmpty({ seq: count(d["decision_seq"]) }) })],
      src_endpoint: { uid: entry.device },
      device: deviceOf(entry),
    },
  };
}

// ── Human review ────────────────────────────────────────────────────────────────────────────

/** A review's verdicts and changes as API Activity on the held action (`resources[0]`). */
function reviewShape(
  entry: MappedEntry,
  args: {
    activity: 1 | 3;
    operation: string;
    actor: JsonObject;
    severity: Severity;
    verdict?: { action: ActionId; caption?: string; disposition: DispositionId } | undefined;
    review?: Fields | undefined;
    detail?: string | undefined;
    message: string;
  },
): Shape {
  const d = entry.data;
  const decisionId = text(d["decision_id"]);
  const reviewId = text(d["review_id"]);
  const { verdict } = args;
  return {
    class: "api_activity",
    activity: args.activity,
    severity: args.severity,
    correlation: decisionId,
    fields: {
      action_id: verdict?.action,
      action: verdict === undefined ? undefined : (verdict.caption ?? ACTION[verdict.action]),
      disposition_id: verdict?.disposition,
      disposition: verdict === undefined ? undefined : DISPOSITION[verdict.disposition],
      status_id: 1,
      status: STATUS[1],
      status_detail: args.detail,
      message: args.message,
      actor: args.actor,
      api: compact({
        operation: args.operation,
        request: { uid: reviewId ?? entry.hash },
        response: args.review === undefined ? undefined : nonEmpty({ data: nonEmpty({ review: nonEmpty(args.review) }) }),
        service: { name: "Warden", uid: "review" },
        version: "v1",
      }),
      resources: decisionId === undefined ? undefined : [target({ type: "warden.held_action", uid: decisionId, name: `held action ${decisionId}`, data: nonEmpty({ review_id: reviewId }) })],
      // The log does not record where a reviewer's browser was; the request reached Warden's review service.
      src_endpoint: { svc_name: "Warden review" },
      device: deviceOf(entry),
    },
  };
}

const VERDICTS = {
  approve: { action: 1, disposition: 8 },
  reject: { action: 2, disposition: 25 },
  escalate: { action: 99, caption: "Escalate", disposition: 14 },
} as const;

/** `review.approved` / `review.rejected` / `review.escalated` (a reviewer's, the SLA's, or policy's: an identical action asked at a higher tier). */
function reviewVerdict(entry: MappedEntry, verdict: keyof typeof VERDICTS): Shape {
  const d = entry.data;
  const who = text(d["reviewer"]);
  // Warden's own escalations name what moved them: an identical action asked higher ("policy"), else the SLA.
  const by = text(d["by"]) === "policy" ? "policy" : "SLA";
  // Only the tier is read from the signed statement; its nonce and the assertion stay in the log.
  const tier = text(record(d["statement"])?.["tier"]) ?? text(d["from"]);
  const approvals = count(d["approvals"]);
  const required = count(d["approvers_required"]);
  return reviewShape(entry, {
    activity: 3,
    operation: `review.${verdict}`,
    actor: who === undefined ? { ...WARDEN, invoked_by: `review ${by}` } : { user: reviewer(who), authorizations: [{ decision: verdict }] },
    severity: verdict === "approve" ? 1 : 2,
    verdict: VERDICTS[verdict],
    review: {
      tier,
      approvals,
      approvers_required: required,
      outcome: text(d["outcome"]),
      from: text(d["from"]),
      to: text(d["to"]),
      deadline: text(d["deadline"]),
      missed: text(d["missed"]),
    },
    detail: approvals !== undefined && required !== undefined ? `${approvals} of ${required} approvals` : undefined,
    message: who !== undefined ? `review ${verdict} by ${who}` : by === "policy" ? "review escalated by policy: the identical action was asked at a higher tier" : "review escalated by its SLA",
  });
}

/** `review.expired`: past its last tier, the tier's timeout rule decided. */
function reviewExpired(entry: MappedEntry): Shape {
  const d = entry.data;
  const outcome = text(d["outcome"]);
  const permitted = outcome === "permit";
  return reviewShape(entry, {
    activity: 3,
    operation: "review.expire",
    actor: { ...WARDEN, invoked_by: "review timeout rule" },
    severity: 3,
    verdict: permitted ? { action: 1, disposition: 1 } : { action: 2, disposition: 2 },
    review: { tier: text(d["tier"]), missed: text(d["missed"]), outcome, rule: text(d["rule"]) },
    message: `review expired unanswered: ${outcome ?? "deny"} by the timeout rule`,
  });
}

/** `review.cancelled`: the hold ended unanswered because its device was quarantined. */
function reviewCancelled(entry: MappedEntry): Shape {
  const d = entry.data;
  const reason = text(d["reason"]);
  return reviewShape(entry, {
    activity: 3,
    operation: "review.cancel",
    actor: orderedBy(text(d["by"])),
    severity: 2,
    verdict: { action: 2, disposition: 24 },
    review: { tier: text(d["tier"]), outcome: text(d["outcome"]) },
    detail: reason,
    message: `review cancelled${reason === undefined ? "" : `: ${reason}`}`,
  });
}

/** `review.approval_withdrawn`: an approval stopped counting because its reviewer was removed or its passkey revoked; the hold waits on. */
function reviewApprovalWithdrawn(entry: MappedEntry): Shape {
  const d = entry.data;
  const reviewer = text(d["reviewer"]);
  const reason = text(d["reason"]);
  return reviewShape(entry, {
    activity: 3,
    operation: "review.withdraw_approval",
    actor: orderedBy(text(d["by"])),
    severity: 2,
    review: { withdrawn_reviewer: reviewer, approvals: count(d["approvals"]), approvers_required: count(d["approvers_required"]) },
    detail: reason,
    message: `approval by reviewer ${reviewer ?? "unknown"} withdrawn${reason === undefined ? "" : `: ${reason}`}`,
  });
}

/** `review.created`: a hold queued for its first tier. */
function reviewCreated(entry: MappedEntry): Shape {
  const d = entry.data;
  return reviewShape(entry, {
    activity: 1,
    operation: "review.create",
    actor: WARDEN,
    severity: 2,
    verdict: { action: 99, caption: "Review", disposition: 14 },
    review: { tier: text(d["tier"]), deadline: text(d["deadline"]) },
    message: `review created${text(d["tier"]) === undefined ? "" : ` at ${text(d["tier"])}`}`,
  });
}

/** `review.ticket`: the key a ticket system (Jira, ServiceNow) gave the hold's ticket. */
function reviewTicket(entry: MappedEntry): Shape {
  const d = entry.data;
  const ticket = record(d["ticket"]);
  const system = text(d["system"]) ?? text(ticket?.["system"]);
  const key = text(d["key"]) ?? text(ticket?.["key"]) ?? text(d["ticket"]);
  return reviewShape(entry, {
    activity: 3,
    operation: "review.ticket",
    actor: WARDEN,
    severity: 1,
    review: { tier: text(d["tier"]), ticket: nonEmpty({ system, key }) },
    message: `review ticket ${key ?? "opened"}${system === undefined ? "" : ` in ${system}`}`,
  });
}

/**
 * `review.released`: an action token issued for an approved (or timeout-permitted) hold, with the
 * approval chain that allowed it (`by`: the approvers, comma-separated, or `timeout`).
 */
function reviewReleased(entry: MappedEntry): Shape {
  const d = entry.data;
  const by = text(d["by"]);
  const approvers = by === undefined || by === "timeout" ? [] : by.split(",").filter((id) => id !== "");
  return {
    class: "entity_management",
    activity: 1,
    severity: 1,
    correlation: text(d["decision_id"]),
    fields: {
      status_id: 1,
      status: STATUS[1],
      message: `action token released for review ${text(d["review_id"]) ?? "unknown"}`,
      comment: by === "timeout" ? "permitted by the tier's timeout rule" : approvers.length > 0 ? `approved by ${approvers.join(", ")}` : undefined,
      actor: WARDEN,
      entity: compact({
        type_id: 99,
        type: "Token",
        uid: text(d["token_jti"]),
        name: "action token",
        data: compact({ kind: "action_token", review_id: text(d["review_id"]), decision_id: text(d["decision_id"]), approved_by: approvers, timeout_rule: by === "timeout" ? true : undefined }),
      }),
      device: deviceOf(entry),
    },
  };
}

// ── Attestation ────────────────────────────────────────────────────────────────────────────

/**
 * The claims of an attested session an event carries, per evidence type. All are verified
 * measurements or identifiers, never secrets; the list keeps a claim a later verifier adds (an
 * event log, host data) from leaving the log before someone decides it may.
 */
const ATTESTATION_CLAIMS: { readonly [type: string]: readonly string[] } = {
  tpm: ["status", "pcr_bank", "pcr_digest", "pcrs_appraised", "ek_vendor", "ek_issuer", "firmware_version"],
  "sev-snp": ["product", "signing_key", "measurement", "debug", "guest_svn", "reported_tcb"],
  tdx: ["tcb_status", "advisory_ids", "fmspc", "mr_td", "mr_seam"],
};

/**
 * Claims that passed appraisal yet leave the device At Risk rather than Secure: a TDX platform
 * whose TCB the bundle accepts below UpToDate, an SEV-SNP guest the bundle lets run with debug.
 */
function attestedLevel(attestation: JsonObject): SecurityLevel {
  const type = text(attestation["type"]);
  if (type === "tdx" && text(attestation["tcb_status"]) !== "UpToDate") return 2;
  if (type === "sev-snp" && attestation["debug"] === true) return 2;
  return 1;
}

function claimsOf(attestation: JsonObject): JsonObject {
  const type = text(attestation["type"]) ?? "unknown";
  const claims: JsonObject = { type };
  for (const name of ATTESTATION_CLAIMS[type] ?? []) {
    const value = attestation[name];
    if (value !== undefined) claims[name] = value;
  }
  return claims;
}

/**
 * `session.opened`: the device's posture when it opened a session. With evidence it is an
 * attestation result (Secure, or At Risk per {@link attestedLevel}); without, the device proved
 * only its key (software assurance) and its level is Unknown.
 */
function sessionOpened(entry: MappedEntry, time: number): Shape {
  const d = entry.data;
  const attestation = record(d["attestation"]);
  const assurance = text(d["assurance"]) ?? "software";
  const level: SecurityLevel = attestation ? attestedLevel(attestation) : 0;
  const expiresIn = count(d["expires_in"]);
  return {
    class: "device_config_state_change",
    activity: 1,
    severity: level === 2 ? 2 : 1,
    fields: {
      status_id: 1,
      status: STATUS[1],
      security_level_id: level,
      security_level: SECURITY_LEVEL[level],
      message: attestation ? `session opened with ${text(attestation["type"]) ?? assurance} attestation` : `session opened without hardware evidence (${assurance} assurance)`,
      actor: {
        session: compact({ uid: text(d["session_id"]), issuer: "Warden", created_time: time, expiration_time: expiresIn === undefined ? undefined : time + expiresIn * 1000 }),
      },
      device: deviceOf(entry, { is_trusted: attestation ? true : undefined }),
    },
    unmapped: { warden_attestation: compact({ assurance, evidence: attestation ? claimsOf(attestation) : undefined }) },
  };
}

/**
 * What a refused attestation says of the device, by the verifier's error family. Warden cannot
 * tell a compromised device from a misconfigured one, so nothing here is Compromised.
 */
const FAILURE_FAMILIES: { readonly [family: string]: { readonly level: SecurityLevel; readonly severity: Severity; readonly policyMismatch: boolean; readonly why: string } } = {
  malformed: { level: 0, severity: 3, policyMismatch: false, why: "the evidence did not parse: nothing was learnt about the device" },
  verification: { level: 2, severity: 4, policyMismatch: false, why: "a signature, chain or binding failed: the evidence may not come from genuine hardware" },
  appraisal: { level: 2, severity: 4, policyMismatch: true, why: "genuine evidence of a state the bundle does not accept" },
  configuration: { level: 0, severity: 3, policyMismatch: false, why: "Warden's trust anchors or reference values could not be used" },
};
const UNKNOWN_FAILURE = { level: 0, severity: 3, policyMismatch: false, why: "refused before verification (no TPM enrolled, no reference values)" } as const;

/** `attestation.failed`: session evidence refused, with the verifier's code. */
function attestationFailed(entry: MappedEntry): Shape {
  const d = entry.data;
  const family = text(d["family"]);
  const row = (family !== undefined && Object.hasOwn(FAILURE_FAMILIES, family) ? FAILURE_FAMILIES[family] : undefined) ?? UNKNOWN_FAILURE;
  const code = text(d["code"]);
  const type = text(d["type"]);
  return {
    class: "device_config_state_change",
    activity: 1,
    severity: row.severity,
    fields: {
      status_id: 2,
      status: STATUS[2],
      status_code: code,
      status_detail: text(d["detail"]),
      security_level_id: row.level,
      security_level: SECURITY_LEVEL[row.level],
      security_states: row.policyMismatch ? [{ state_id: 2, state: "Policy mismatch" }] : undefined,
      message: `${type ?? "session"} attestation refused (${code ?? "no code"})`,
      device: deviceOf(entry, { is_trusted: false }),
    },
    unmapped: { warden_attestation: compact({ evidence: compact({ type }), family }) },
  };
}

// ── Device lifecycle, standing and revocation ───────────────────────────────────────────────

const OS_TYPES: { readonly [os: string]: { readonly id: number; readonly name: string } } = {
  linux: { id: 200, name: "Linux" },
  macos: { id: 300, name: "macOS" },
  windows: { id: 100, name: "Windows" },
};

/** `device.registered`: an admin registered the device and its key. */
function deviceRegistered(entry: MappedEntry): Shape {
  const d = entry.data;
  const os = text(d["os"]);
  const osType = os === undefined ? undefined : OS_TYPES[os];
  const device = deviceOf(entry, { os: os === undefined ? undefined : { name: os, type_id: osType?.id ?? 99, type: osType?.name ?? "Other" } });
  return {
    class: "entity_management",
    activity: 1,
    severity: 1,
    fields: {
      status_id: 1,
      status: STATUS[1],
      message: `device ${entry.device} registered`,
      entity: compact({
        type_id: 1,
        type: "Device",
        uid: entry.device,
        name: entry.device,
        device,
        data: compact({ assurance: text(d["assurance"]), shell: text(d["shell"]), groups: texts(d["groups"]) }),
      }),
      device,
    },
  };
}

/**
 * An order that narrows or restores what a device may do (Remediation): isolating (`Create`) or
 * restoring (`Update`) it. The order's own log entry is the command id: unique, and the same on
 * every delivery, as the class requires.
 */
function remediation(entry: MappedEntry, isolate: boolean, args: { desc: string; message: string; detail?: string | undefined }): Shape {
  return {
    class: "remediation_activity",
    activity: isolate ? 1 : 3,
    severity: isolate ? 3 : 2,
    fields: {
      command_uid: entry.hash,
      countermeasures: [{ d3f_tactic: { name: isolate ? "Isolate" : "Restore" } }],
      remediation: { desc: args.desc },
      status_id: 1,
      status: STATUS[1],
      status_detail: args.detail,
      message: args.message,
      actor: orderedBy(text(entry.data["by"])),
      device: deviceOf(entry),
    },
  };
}

/** `device.quarantined` / `device.released`: an admin's or a playbook's order. */
function standingChanged(entry: MappedEntry, quarantined: boolean): Shape {
  const reason = text(entry.data["reason"]);
  return remediation(entry, quarantined, {
    desc: quarantined
      ? "Quarantine: every decision of the device denies (device_quarantined), no session opens and no action token redeems until it is released."
      : "Release: the device's decisions are judged by policy again.",
    detail: truth(entry.data["changed"]) === false ? `the device was already ${quarantined ? "quarantined" : "active"}: the order is recorded, nothing changed` : undefined,
    message: `device ${quarantined ? "quarantined" : "released"}${reason === undefined ? "" : `: ${reason}`}`,
  });
}

/**
 * `playbook.review_all` / `playbook.cleared`: a bundle's playbook answered a finding by holding
 * every permit-worthy action of the device for review, and an admin ended that hold.
 */
function playbookHold(entry: MappedEntry, held: boolean): Shape {
  const finding = text(entry.data["finding_id"]) ?? "unknown";
  const tier = text(entry.data["tier"]);
  const reason = text(entry.data["reason"]);
  return remediation(entry, held, {
    desc: held
      ? `Review all: every action policy would permit is held for a person${tier === undefined ? "" : ` at ${tier}`} until an admin releases the device.`
      : "The playbook's hold ended: the device's permits are answered as permits again.",
    message: held ? `every action of the device held for review after finding ${finding}` : `the hold after finding ${finding} ended${reason === undefined ? "" : `: ${reason}`}`,
  });
}

/** `session.revoked` / `action.revoked`: tokens disabled by an order (Entity Management, a Token). */
function tokenRevoked(entry: MappedEntry, kind: "session" | "action_token"): Shape {
  const d = entry.data;
  const jti = kind === "session" ? text(d["session"]) : text(d["token_jti"]);
  const all = kind === "session" && truth(d["all"]) === true;
  return {
    class: "entity_management",
    activity: 9,
    severity: 2,
    fields: {
      status_id: 1,
      status: STATUS[1],
      comment: text(d["reason"]),
      message: all ? `every session of device ${entry.device} revoked` : `${kind === "session" ? "session" : "action token"} ${jti ?? ""} revoked`.trim(),
      actor: orderedBy(text(d["by"])),
      entity: compact({
        type_id: 99,
        type: "Token",
        uid: all ? undefined : jti,
        name: all ? `every session of device ${entry.device}` : kind === "session" ? "device session" : "action token",
        data: compact({ kind, all: kind === "session" ? all : undefined, revoked: count(d["revoked"]) }),
      }),
      device: deviceOf(entry),
    },
  };
}

// ── TPM enrollment ─────────────────────────────────────────────────────────────────────────

/** `tpm.bootstrap_issued`: an admin issued a one-time enrollment token (its value is never logged). */
function bootstrapIssued(entry: MappedEntry): Shape {
  const d = entry.data;
  const rebind = truth(d["rebind"]) === true;
  return {
    class: "entity_management",
    activity: 1,
    // A rebind token lets a device swap the TPM its sessions are bound to.
    severity: rebind ? 3 : 2,
    fields: {
      status_id: 1,
      status: STATUS[1],
      message: `TPM ${rebind ? "rebind " : ""}bootstrap token issued for device ${entry.device}`,
      entity: { type_id: 99, type: "Token", name: "TPM bootstrap token", data: compact({ kind: "tpm_bootstrap", rebind, expires_at: text(d["expires_at"]) }) },
      device: deviceOf(entry),
    },
  };
}

/** `tpm.enrolled`, `tpm.rebound`, `tpm.activation_failed`, `tpm.enrollment_refused`: the device's TPM enrollment (Enroll). */
function tpmEnrollment(entry: MappedEntry, outcome: "enrolled" | "rebound" | "failed"): Shape {
  const d = entry.data;
  const failed = outcome === "failed";
  const code = text(d["code"]);
  const previous = record(d["previous"]);
  return {
    class: "entity_management",
    activity: 6,
    severity: outcome === "enrolled" ? 1 : 3,
    fields: {
      status_id: failed ? 2 : 1,
      status: failed ? STATUS[2] : STATUS[1],
      status_code: code,
      status_detail: text(d["detail"]),
      comment: outcome === "rebound" ? "the device's TPM binding was replaced" : undefined,
      message: failed ? `TPM enrollment refused (${code ?? "no code"})` : `TPM ${outcome === "rebound" ? "re-bound" : "enrolled"} for device ${entry.device}`,
      entity: compact({
        type_id: 1,
        type: "Device",
        uid: entry.device,
        name: entry.device,
        data: nonEmpty({
          ek_name: text(d["ek_name"]),
          ak_name: text(d["ak_name"]),
          vendor: text(d["vendor"]),
          ek_issuer: text(d["ek_issuer"]),
          bound_ek_name: text(d["bound_ek_name"]),
          bound_ak_name: text(d["bound_ak_name"]),
          previous: previous === undefined ? undefined : nonEmpty({ ek_name: text(previous["ek_name"]), ak_name: text(previous["ak_name"]) }),
          family: text(d["family"]),
        }),
      }),
      device: deviceOf(entry),
    },
  };
}

// ── Policy bundles (admin log) ───────────────────────────────────────────────────────────────

/** What each slot change does to the bundle, and whether it replaces the active one. */
const SLOTS = {
  "bundle.activated": { applied: true, replaces: true, what: "activated" },
  "bundle.rolled_back": { applied: true, replaces: true, what: "made active again (rollback)" },
  "bundle.canary": { applied: true, replaces: false, what: "activated as canary" },
  "bundle.shadow": { applied: false, replaces: false, what: "evaluated in shadow (not applied)" },
} as const;

/** A bundle as an OCSF policy entity; the version is a string in OCSF. */
function bundleEntity(d: MappedEntry["data"], applied: boolean | undefined): JsonObject {
  const digest = text(d["digest"]);
  const version = count(d["version"])?.toString();
  const name = text(d["name"]);
  const policy = nonEmpty({ uid: digest, name, version, is_applied: applied });
  return compact({
    type_id: 5,
    type: "Policy",
    uid: digest,
    name: name ?? (version === undefined ? "policy bundle" : `bundle version ${version}`),
    version,
    policy: policy !== undefined && (digest !== undefined || name !== undefined) ? policy : undefined,
  });
}

/** `bundle.activated`, `bundle.rolled_back`, `bundle.canary`, `bundle.shadow`: a bundle took a slot. */
function bundleActivated(entry: MappedEntry, type: keyof typeof SLOTS): Shape {
  const d = entry.data;
  const slot = SLOTS[type];
  const entity = { ...bundleEntity(d, slot.applied), data: compact({ slot: text(d["slot"]), percent: count(d["percent"]), group: text(d["group"]), previous: record(d["previous"]) }) };
  const previous = record(d["previous"]);
  return {
    class: "entity_management",
    activity: 10,
    severity: type === "bundle.rolled_back" ? 3 : 1,
    fields: {
      status_id: 1,
      status: STATUS[1],
      message: `policy bundle ${text(d["name"]) ?? ""} version ${count(d["version"]) ?? "?"} ${slot.what}`.replace(/\s+/g, " "),
      comment: text(d["reason"]) ?? (previous === undefined || !slot.replaces ? undefined : `replaces version ${count(previous["version"]) ?? "?"} (${text(previous["digest"]) ?? "unknown digest"})`),
      entity,
      entity_result: entity,
    },
  };
}

/** `bundle.refused`: an artifact or activation refused, with its code. */
function bundleRefused(entry: MappedEntry): Shape {
  const d = entry.data;
  const code = text(d["code"]);
  return {
    class: "entity_management",
    activity: 10,
    severity: 3,
    fields: {
      status_id: 2,
      status: STATUS[2],
      status_code: code,
      status_detail: text(d["detail"]),
      message: `policy bundle version ${count(d["version"]) ?? "?"} refused (${code ?? "no code"})`,
      entity: bundleEntity(d, false),
    },
  };
}

/** `bundle.canary_cleared` / `bundle.shadow_cleared`: a candidate slot emptied. */
function bundleCleared(entry: MappedEntry, slot: "canary" | "shadow"): Shape {
  const version = count(entry.data["previous"])?.toString();
  return {
    class: "entity_management",
    activity: 11,
    severity: 1,
    fields: {
      status_id: 1,
      status: STATUS[1],
      message: `${slot} bundle${version === undefined ? "" : ` version ${version}`} cleared`,
      entity: compact({ type_id: 5, type: "Policy", name: `${slot} bundle`, version, data: { slot } }),
    },
  };
}

// ── Admin actions without a device-log twin ─────────────────────────────────────────────────

/** `admin.reviewer_removed`: a reviewer's account deleted; their passkeys and sessions stop working. */
function reviewerRemoved(entry: MappedEntry): Shape {
  const d = entry.data;
  const id = text(d["reviewer"]) ?? text(d["id"]);
  return {
    class: "entity_management",
    activity: 4,
    severity: 2,
    fields: {
      status_id: 1,
      status: STATUS[1],
      comment: text(d["reason"]),
      message: `reviewer ${id ?? "unknown"} removed`,
      actor: orderedBy(text(d["by"])),
      entity: compact({ type_id: 2, type: "User", uid: id, name: id ?? "reviewer", user: id === undefined ? undefined : reviewer(id) }),
    },
  };
}

/**
 * `admin.passkey_revoked`: one passkey of a reviewer disabled. The credential id stays in the
 * admin log with the rest of the passkey's material; the event names the reviewer.
 */
function passkeyRevoked(entry: MappedEntry): Shape {
  const d = entry.data;
  const id = text(d["reviewer"]) ?? text(d["id"]);
  return {
    class: "entity_management",
    activity: 9,
    severity: 2,
    fields: {
      status_id: 1,
      status: STATUS[1],
      comment: text(d["reason"]),
      message: `a passkey of reviewer ${id ?? "unknown"} revoked`,
      actor: orderedBy(text(d["by"])),
      entity: compact({ type_id: 99, type: "Passkey", name: `passkey of reviewer ${id ?? "unknown"}`, user: id === undefined ? undefined : reviewer(id) }),
    },
  };
}

/**
 * `admin.agent_registered` / `admin.agent_updated` / `admin.agent_removed`: the tenant's agent
 * registry changed, so which agents may act changed. The entity is the agent (OCSF has no agent
 * type: Other), its revision the registry's count of its changes.
 */
function agentChanged(activity: 1 | 3 | 4, verb: string): Build {
  return (entry) => {
    const d = entry.data;
    const id = text(d["agent"]);
    return {
      class: "entity_management",
      activity,
      severity: activity === 4 ? 2 : 1,
      fields: {
        status_id: 1,
        status: STATUS[1],
        message: `agent ${id ?? "unknown"} ${verb}`,
        actor: orderedBy(text(d["by"])),
        entity: compact({ type_id: 99, type: "AI Agent", uid: id, name: id ?? "agent", version: count(d["revision"])?.toString() }),
      },
    };
  };
}

// ── Privacy: vault reads, legal holds, retention ───────────────────────────────────────────

/**
 * `admin.vault_read`: a privacy officer read a tokenised value back. The event names the
 * reference, the officer and why — never the value, which only the answer to that read carried.
 */
function vaultRead(entry: MappedEntry): Shape {
  const d = entry.data;
  const ref = text(d["ref"]);
  return {
    class: "entity_management",
    activity: 2,
    severity: 3,
    fields: {
      status_id: 1,
      status: STATUS[1],
      comment: text(d["reason"]),
      message: `vault value ${ref ?? "unknown"} read`,
      actor: orderedBy(text(d["by"])),
      entity: compact({ type_id: 99, type: "Vault Value", uid: ref, name: "tokenised value", data: nonEmpty({ device: text(d["device"]), kid: text(d["kid"]) }) }),
    },
  };
}

/**
 * `device.legal_hold_set` / `device.legal_hold_lifted` (a device's log) and `admin.legal_hold_set`
 * / `admin.legal_hold_lifted` (the whole tenant): retention's deletions suspended, or resumed.
 */
function legalHold(set: boolean, scope: "device" | "tenant"): Build {
  return (entry) => {
    const d = entry.data;
    const unchanged = truth(d["changed"]) === false;
    return {
      class: "entity_management",
      activity: set ? 10 : 11,
      severity: 2,
      fields: {
        status_id: 1,
        status: STATUS[1],
        status_detail: unchanged ? `the hold already was ${set ? "set" : "lifted"}: the order is recorded, nothing changed` : undefined,
        comment: text(d["reason"]),
        message: `legal hold ${set ? "set on" : "lifted from"} ${scope === "device" ? `device ${entry.device}` : "the tenant"}`,
        actor: orderedBy(text(d["by"])),
        entity: compact({ type_id: 99, type: "Legal Hold", name: scope === "device" ? `legal hold of device ${entry.device}` : "tenant legal hold", data: { scope } }),
        device: scope === "device" ? deviceOf(entry) : undefined,
      },
    };
  };
}

/** `retention.expired`: archived segments and vault values past their retention deleted by the device's alarm. */
function retentionExpired(entry: MappedEntry): Shape {
  const d = entry.data;
  const segments = list(d["segments"]).length;
  const vault = count(d["vault_values"]) ?? 0;
  return {
    class: "entity_management",
    activity: 4,
    severity: 1,
    fields: {
      status_id: 1,
      status: STATUS[1],
      message: `retention: ${segments} archived segment(s) and ${vault} vault value(s) of device ${entry.device} deleted`,
      actor: WARDEN,
      entity: compact({ type_id: 99, type: "Log Records", name: `expired records of device ${entry.device}`, data: nonEmpty({ segments: d["segments"], vault_values: vault, retained_from: count(d["retained_from"]) }) }),
      device: deviceOf(entry),
    },
  };
}

// ── Detection findings ─────────────────────────────────────────────────────────────────────

const FINDING_SEVERITY: { readonly [severity: string]: Severity } = { low: 2, medium: 3, high: 4, critical: 5 };

/**
 * `finding`: a detection rule fired. Only numeric and boolean feature values are carried (the
 * counts and flags that fired it); a text value could be a host or a path, and stays in the log.
 */
function finding(entry: MappedEntry, time: number): Shape {
  const d = entry.data;
  const rule = text(d["rule"]);
  const title = text(d["title"]) ?? rule ?? "detection finding";
  const features: JsonObject = {};
  for (const [name, value] of Object.entries(record(d["features"]) ?? {})) {
    if (typeof value === "number" || typeof value === "boolean") features[name] = value;
  }
  const severity = text(d["severity"]);
  return {
    class: "detection_finding",
    activity: 1,
    severity: (severity !== undefined && Object.hasOwn(FINDING_SEVERITY, severity) ? FINDING_SEVERITY[severity] : undefined) ?? 0,
    fields: {
      status_id: 1,
      status: "New",
      is_alert: true,
      message: title,
      finding_info: compact({
        uid: text(d["finding_id"]) ?? entry.hash,
        title,
        created_time: time,
        analytic: rule === undefined ? undefined : { type_id: 1, type: "Rule", uid: rule, name: rule },
      }),
      evidences: [compact({ data: compact({ trigger_seq: count(d["trigger_seq"]), features }), device: deviceOf(entry) })],
      device: deviceOf(entry),
    },
    unmapped: { warden_finding: nonEmpty({ tier: text(d["tier"]) }) },
  };
}

// ── The table ──────────────────────────────────────────────────────────────────────────────

type Build = (entry: MappedEntry, time: number) => Shape;

/** One row per entry type: the class it becomes, or null with why it is not an event. */
export interface EntryMapping {
  /** The OCSF class uid, or null: not an event. */
  readonly class_uid: number | null;
  readonly why: string;
  readonly build?: Build;
}

function row(name: ClassName, why: string, build: Build): EntryMapping {
  return { class_uid: CLASSES[name].uid, why, build };
}

function notAnEvent(why: string): EntryMapping {
  return { class_uid: null, why };
}

/**
 * Every entry type Warden appends (test/unit/ocsf.test.ts walks the code for them, so a new type
 * without a row fails), with the OCSF class it becomes or why it is not an event.
 */
export const ENTRY_MAPPINGS: { readonly [type: string]: EntryMapping } = {
  // Device log
  decision: row("api_activity", "the agent's action as Warden decided it: permit, deny (with fail-closed codes) or review", decisionEvent),
  "action.redeemed": row("api_activity", "a permit's action token spent: the action may run now", (e) => tokenPresented(e, true)),
  "action.refused": row("api_activity", "a permit's action token refused for good (the bundle changed)", (e) => tokenPresented(e, false)),
  "action.completed": row("api_activity", "what came of a decided action, as its enforcement point reported it", actionCompleted),
  "review.approved": row("api_activity", "a reviewer's approval, with the approval count against the tier's requirement", (e) => reviewVerdict(e, "approve")),
  "review.rejected": row("api_activity", "a reviewer's rejection: the hold denies", (e) => reviewVerdict(e, "reject")),
  "review.escalated": row("api_activity", "a hold moved up a tier, by a reviewer or by its SLA", (e) => reviewVerdict(e, "escalate")),
  "review.expired": row("api_activity", "a hold past its last tier, decided by the timeout rule", reviewExpired),
  "review.cancelled": row("api_activity", "a hold ended unanswered because its device was quarantined", reviewCancelled),
  "review.approval_withdrawn": row("api_activity", "a removed reviewer's, or a revoked passkey's, approval of a pending hold no longer counts", reviewApprovalWithdrawn),
  "review.created": row("api_activity", "a hold queued for its first tier", reviewCreated),
  "review.ticket": row("api_activity", "the key a ticket system gave a hold's ticket", reviewTicket),
  "review.released": row("entity_management", "an action token issued for an approved hold, with the approvers", reviewReleased),
  "session.opened": row("device_config_state_change", "the device's posture at session start: an attestation result, or software assurance", sessionOpened),
  "attestation.failed": row("device_config_state_change", "session evidence refused, with the verifier's code", attestationFailed),
  "device.registered": row("entity_management", "an admin registered the device and its key", deviceRegistered),
  "device.quarantined": row("remediation_activity", "the device isolated: every decision denies until it is released", (e) => standingChanged(e, true)),
  "device.released": row("remediation_activity", "a quarantine lifted", (e) => standingChanged(e, false)),
  "playbook.review_all": row("remediation_activity", "a playbook holds every permit-worthy action of the device for review", (e) => playbookHold(e, true)),
  "playbook.cleared": row("remediation_activity", "an admin ended a playbook's hold", (e) => playbookHold(e, false)),
  "history.adopted": notAnEvent("the device's log took the bundle's history declarations: what a replay needs, not an act of a device, agent or person"),
  "session.revoked": row("entity_management", "one session, or every session, of the device disabled", (e) => tokenRevoked(e, "session")),
  "action.revoked": row("entity_management", "an unredeemed action token disabled", (e) => tokenRevoked(e, "action_token")),
  "tpm.bootstrap_issued": row("entity_management", "an admin issued a one-time TPM enrollment token", bootstrapIssued),
  "tpm.enrollment_started": notAnEvent(
    "the first half of credential activation: it changes no binding, and its outcome (tpm.enrolled, tpm.rebound, tpm.activation_failed) is the event",
  ),
  "tpm.enrolled": row("entity_management", "the device proved its TPM holds the AK beside the EK: bound", (e) => tpmEnrollment(e, "enrolled")),
  "tpm.rebound": row("entity_management", "the device's TPM binding replaced under a rebind token", (e) => tpmEnrollment(e, "rebound")),
  "tpm.activation_failed": row("entity_management", "credential activation answered wrongly: enrollment failed", (e) => tpmEnrollment(e, "failed")),
  "tpm.enrollment_refused": row("entity_management", "an enrollment refused (bootstrap token, EK chain, AK profile, binding conflict)", (e) => tpmEnrollment(e, "failed")),
  finding: row("detection_finding", "a detection rule over the device's history fired", finding),
  "device.legal_hold_set": row("entity_management", "deletion of the device's records suspended (archived segments, vault values)", legalHold(true, "device")),
  "device.legal_hold_lifted": row("entity_management", "a device's legal hold lifted: retention applies again", legalHold(false, "device")),
  "retention.expired": row("entity_management", "records past their retention deleted: auditors see what left the archive and when", retentionExpired),
  "log.key_rotated": notAnEvent(
    "the log's own signing key changed: it is for the log's verifiers (warden audit verify), not an act of a device, agent or admin",
  ),
  // Admin log
  "bundle.activated": row("entity_management", "a bundle became the active one", (e) => bundleActivated(e, "bundle.activated")),
  "bundle.rolled_back": row("entity_management", "an earlier bundle made active again", (e) => bundleActivated(e, "bundle.rolled_back")),
  "bundle.canary": row("entity_management", "a bundle activated for a share or group of devices", (e) => bundleActivated(e, "bundle.canary")),
  "bundle.shadow": row("entity_management", "a bundle evaluated beside the active one, not applied", (e) => bundleActivated(e, "bundle.shadow")),
  "bundle.refused": row("entity_management", "a bundle artifact or activation refused, with its code", bundleRefused),
  "bundle.canary_cleared": row("entity_management", "the canary slot emptied", (e) => bundleCleared(e, "canary")),
  "bundle.shadow_cleared": row("entity_management", "the shadow slot emptied", (e) => bundleCleared(e, "shadow")),
  "admin.device_quarantined": notAnEvent("the admin log's twin of device.quarantined, which is the event: mapping both would count every quarantine twice"),
  "admin.device_released": notAnEvent("the admin log's twin of device.released, which is the event"),
  "admin.sessions_revoked": notAnEvent("the admin log's twin of session.revoked, which is the event"),
  "admin.action_token_revoked": notAnEvent("the admin log's twin of action.revoked, which is the event"),
  "admin.device_review_all": notAnEvent("the admin log's twin of playbook.review_all, which is the event"),
  "admin.reviewer_removed": row("entity_management", "a reviewer removed: no device log records it", reviewerRemoved),
  "admin.passkey_revoked": row("entity_management", "a reviewer's passkey revoked: no device log records it", passkeyRevoked),
  "consent.given": notAnEvent("the consent ledger's own log: its records name a person and what they allowed, and stay in the ledger and the compliance package"),
  "consent.revoked": notAnEvent("the consent ledger's own log; a revocation's effect shows in the decisions that follow it"),
  "admin.agent_registered": row("entity_management", "an agent entered the registry: it may now act", agentChanged(1, "registered")),
  "admin.agent_updated": row("entity_management", "an agent's registration changed (risk, owner, approved builds)", agentChanged(3, "updated")),
  "admin.vault_read": row("entity_management", "a privacy officer read a tokenised value: who, which and why", vaultRead),
  "admin.legal_hold_set": row("entity_management", "deletion of every record of the tenant suspended", legalHold(true, "tenant")),
  "admin.legal_hold_lifted": row("entity_management", "the tenant's legal hold lifted", legalHold(false, "tenant")),
  "admin.device_legal_hold_set": notAnEvent("the admin log's twin of device.legal_hold_set, which is the event"),
  "admin.device_legal_hold_lifted": notAnEvent("the admin log's twin of device.legal_hold_lifted, which is the event"),
  "admin.agent_removed": row("entity_management", "an agent left the registry: its next decisions are denied", agentChanged(4, "removed")),
};

// ── Assembly ───────────────────────────────────────────────────────────────────────────────

function profilesOf(name: ClassName, body: JsonObject): string[] {
  const gated: { readonly [attribute: string]: string } = CLASSES[name].profiles;
  const profiles = new Set<string>();
  for (const key of Object.keys(body)) {
    const profile = Object.hasOwn(gated, key) ? gated[key] : undefined;
    if (profile !== undefined) profiles.add(profile);
  }
  return [...profiles].sort();
}

function assemble(entry: MappedEntry, origin: EntryOrigin, time: number, shape: Shape): OcsfEvent {
  const cls = CLASSES[shape.class];
  const activities: { readonly [id: number]: string } = cls.activities;
  const activityCaption = activities[shape.activity] ?? "Other";
  const body = compact(shape.fields);
  const logName = origin.log === "device" ? `device:${origin.tenant}/${entry.device}` : `admin:${origin.tenant}`;
  const metadata = {
    uid: entry.hash,
    version: OCSF_VERSION,
    product: { name: "Warden", vendor_name: "Warden", version: origin.productVersion },
    profiles: profilesOf(shape.class, body),
    event_code: entry.type,
    log_name: logName,
    sequence: entry.seq,
    tenant_uid: origin.tenant,
    original_time: entry.time,
    ...(shape.correlation === undefined ? {} : { correlation_uid: shape.correlation }),
  };
  return {
    ...body,
    class_uid: cls.uid,
    class_name: cls.caption,
    category_uid: cls.category.uid,
    category_name: cls.category.caption,
    activity_id: shape.activity,
    activity_name: shape.activityName ?? activityCaption,
    type_uid: cls.uid * 100 + shape.activity,
    type_name: `${cls.caption}: ${activityCaption}`,
    severity_id: shape.severity,
    severity: SEVERITY[shape.severity],
    time,
    metadata,
    // OCSF 1.8.0 has no slot for record integrity (1.9's record_integrity profile): the entry's place in its chain.
    unmapped: compact({ ...shape.unmapped, warden_log: { origin: logName, seq: entry.seq, hash: entry.hash, prev: entry.prev } }),
  };
}

/**
 * The OCSF event for `entry`, or null for an entry type that is not an event (listed, with why,
 * in {@link ENTRY_MAPPINGS} and docs/events.md) or one this version does not know.
 */
export function ocsfEventOf(entry: MappedEntry, origin: EntryOrigin): OcsfEvent | null {
  const mapping = Object.hasOwn(ENTRY_MAPPINGS, entry.type) ? ENTRY_MAPPINGS[entry.type] : undefined;
  if (!mapping?.build) return null;
  const time = timeOf(entry);
  return assemble(entry, origin, time, mapping.build(entry, time));
}
