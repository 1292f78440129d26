import type { JsonValue } from "../log/canonical.ts";
import { canonicalJson } from "../log/canonical.ts";
import type { LogEntry } from "../log/chain.ts";
import { AuditFailure } from "../log/export-verify.ts";
import type { CompiledBundle } from "../policy/bundle.ts";
import { decide, type ActionRequest, type DeviceContext, type TargetInput } from "../policy/decide.ts";
import { factsOfRecord } from "../policy/facts.ts";
import type { DeviceOs, Shell } from "../policy/targets.ts";
import type { Assurance } from "../domain.ts";
import { EMPTY_SPEC, LIMITS, type HistorySpec } from "./declarations.ts";
import { adopt, applyStanding, asHeld, decisionHistory, initialState, onEntry, type FollowEntry, type HistoryState, type Standing } from "./effects.ts";
import { runtimeSpec, type RuntimeSpec } from "./state.ts";
import { viewOfEntry, type EntryView } from "./views.ts";

/**
 * Offline replay of a device log (`warden audit verify --replay`): fed each verified entry of an
 * export in order, it keeps the device's history as the Durable Object kept it (the same
 * functions, worker/history/effects.ts) and
 *
 * - recomputes every decision from the entries before it and the signed bundle it names: the
 *   history values it recorded, then the verdict (`decide()` itself), then how the device's
 *   standing made the object log it;
 * - recomputes what each entry raised: the findings and playbook actions that must follow it;
 * - recomputes every adoption of a bundle's history declarations, features rebuilt from the
 *   entries it names.
 *
 * The first disagreement throws an `AuditFailure` naming the entry's seq. What cannot be
 * recomputed is counted by why, never passed silently (docs/history.md › Replay).
 */

type Data = { [key: string]: JsonValue | undefined };

/** Why a decision was not recomputed. */
export type NotReplayed =
  /** Decided on no bundle or on no history (`no_active_bundle`, `bundle_invalid`, `internal_error`, `history_contended`): a fail-closed denial. */
  | "fail_closed"
  /** A quarantined device's decisions are denials whatever was decided; only that the device was quarantined is checked. */
  | "device_quarantined"
  /** The bundle it names was not given. */
  | "artifact_not_given"
  /** The history it was decided on cannot be known: a bundle whose declarations the log adopted was not given. */
  | "history_unknown"
  /** The device's registration (OS, shell) or the session's assurance is not in the export. */
  | "context_unknown"
  /** Its bundle reads the agent registry or consents, and the entry does not record the facts it was decided on. */
  | "facts_unknown"
  /** Its bundle's privacy section masked a target before it was logged: the values policy judged are not in the log. */
  | "masked";

export interface ReplayReport {
  /** Decisions recomputed and found as logged. */
  replayed: number;
  /** Findings and playbook actions recomputed and found as logged. */
  raised: number;
  /** Adoptions of history declarations recomputed (features rebuilt from the entries they name). */
  adoptions: number;
  /** Decisions not recomputed, by why. */
  skipped: Partial<Record<NotReplayed, number>>;
  /** Digests the log names that were not given. */
  missing: string[];
  /** The first decision recomputed. */
  first: number | null;
}

/** Reason codes of decisions no bundle judged. */
const FAIL_CLOSED = new Set(["no_active_bundle", "bundle_invalid", "internal_error", "history_contended", "log_append_failed"]);
/** Sessions remembered for their assurance; a session lives 15 minutes, so older ones are not looked up again. */
const MAX_SESSIONS = 4096;

const record = (value: JsonValue | undefined): Data | null => (typeof value === "object" && value !== null && !Array.isArray(value) ? value : null);

export class Replayer {
  private state: HistoryState | null = null;
  private spec: HistorySpec = EMPTY_SPEC;
  private runtime: RuntimeSpec = runtimeSpec(EMPTY_SPEC);
  private readonly standing: Standing = { quarantined: false, hold: null };
  private device: { os: DeviceOs; shell?: Shell } | null = null;
  private readonly sessions = new Map<string, Assurance>();
  /** The latest entries' views, for an adoption's backfill. */
  private readonly recent: { seq: number; view: EntryView }[] = [];
  /** Entries the history machinery must have appended next, in order. */
  private expected: FollowEntry[] = [];
  private expectedAfter = 0;
  private seen = 0;
  private fromStart = false;
  private readonly missing = new Set<string>();
  private readonly report: ReplayReport = { replayed: 0, raised: 0, adoptions: 0, skipped: {}, missing: [], first: null };

  /** `bundles`: the compiled bundles given, by digest (artifacts verified with the publisher keys). */
  constructor(private readonly bundles: ReadonlyMap<string, CompiledBundle>) {}

  /** Feeds the next verified entry. Throws `AuditFailure` at the first disagreement. */
  push(entry: LogEntry): void {
    // An export starts at seq 1 (the device's registration), where history starts empty; a part of a log starts nowhere known.
    if (this.seen === 0) this.fromStart = entry.seq === 1;
    if (entry.seq === 1) this.state = initialState();
    this.seen += 1;
    const data = entry.data as Data;
    if (this.expected.length > 0) {
      this.checkFollow(entry);
      return;
    }
    switch (entry.type) {
      case "device.registered":
        this.device = { os: data["os"] as DeviceOs, ...(typeof data["shell"] === "string" ? { shell: data["shell"] as Shell } : {}) };
        break;
      case "session.opened":
        this.noteSession(data);
        break;
      case "history.adopted":
        this.adopted(entry);
        this.remember(entry);
        return;
      case "finding":
      case "playbook.review_all":
        if (this.state !== null && this.fromStart) throw new AuditFailure("finding_mismatch", entry.seq, `seq ${entry.seq}: a ${entry.type} no entry before it raises`);
        break;
      case "decision":
        this.decision(entry);
        break;
    }
    this.apply(entry, false);
  }

  /** The device's history as the entries so far leave it (null where it cannot be known): what its own object should hold. */
  get history(): HistoryState | null {
    return this.state;
  }

  /** Ends the replay: nothing the last entries raised may be missing. */
  finish(): ReplayReport {
    const next = this.expected[0];
    if (next) throw new AuditFailure("finding_mismatch", this.expectedAfter + 1, `the export ends where the ${next.type} seq ${this.expectedAfter} raises should be`);
    return { ...this.report, missing: [...this.missing].sort() };
  }

  private skip(why: NotReplayed): void {
    this.report.skipped[why] = (this.report.skipped[why] ?? 0) + 1;
  }

  private noteSession(data: Data): void {
    const id = data["session_id"];
    const assurance = data["assurance"];
    if (typeof id !== "string" || typeof assurance !== "string") return;
    this.sessions.set(id, assurance as Assurance);
    if (this.sessions.size > MAX_SESSIONS) this.sessions.delete(this.sessions.keys().next().value as string);
  }

  private remember(entry: LogEntry): void {
    this.recent.push({ seq: entry.seq, view: viewOfEntry(entry as LogEntry & { data: { [key: string]: JsonValue } }) });
    if (this.recent.length > LIMITS.backfillEntries) this.recent.shift();
  }

  /** The standing, the features, and what the entry raises (to be found next). */
  private apply(entry: LogEntry, followed: boolean): void {
    const data = entry.data as { [key: string]: JsonValue };
    applyStanding(this.standing, { type: entry.type, data });
    if (this.state !== null) {
      const { follows } = onEntry(this.runtime, this.state, this.standing, { seq: entry.seq, type: entry.type, time: entry.time, data }, followed);
      if (follows.length > 0) {
        this.expected = follows;
        this.expectedAfter = entry.seq;
      }
    }
    this.remember(entry);
  }

  private checkFollow(entry: LogEntry): void {
    const expected = this.expected.shift() as FollowEntry;
    if (entry.type !== expected.type || canonicalJson(entry.data as JsonValue) !== canonicalJson(expected.data)) {
      throw new AuditFailure(
        "finding_mismatch",
        entry.seq,
        `seq ${entry.seq}: the entries before it raise ${expected.type} ${canonicalJson(expected.data)}, the log has ${entry.type} ${canonicalJson(entry.data as JsonValue)}`,
      );
    }
    this.report.raised += 1;
    this.apply(entry, true);
  }

  private adopted(entry: LogEntry): void {
    const data = entry.data as Data;
    const digest = String(data["bundle"]);
    const bundle = this.bundles.get(digest);
    if (!bundle) {
      this.missing.add(digest);
      // Without the declarations adopted, no feature's state can be followed from here on.
      this.state = null;
      return;
    }
    if (bundle.history.digest !== data["spec"]) throw new AuditFailure("history_mismatch", entry.seq, `seq ${entry.seq}: bundle ${digest} declares history ${bundle.history.digest}, the log adopted ${String(data["spec"])}`);
    if (this.state === null) {
      this.spec = bundle.history;
      this.runtime = runtimeSpec(bundle.history);
      return;
    }
    const from = Number(data["from_seq"]);
    const backfill = this.recent.filter((item) => item.seq >= from).map((item) => item.view);
    const adoption = adopt(this.state, this.spec, bundle.history, digest, backfill, from);
    if (canonicalJson(adoption.data) !== canonicalJson(data as JsonValue)) {
      throw new AuditFailure("history_mismatch", entry.seq, `seq ${entry.seq}: adopting ${digest}'s history gives ${canonicalJson(adoption.data)}, the log has ${canonicalJson(data as JsonValue)}`);
    }
    this.state = adoption.state;
    this.spec = bundle.history;
    this.runtime = runtimeSpec(bundle.history);
    this.report.adoptions += 1;
  }

  private decision(entry: LogEntry): void {
    const data = entry.data as Data;
    const reasonCode = String(data["reason_code"]);
    const quarantined = reasonCode === "device_quarantined";
    if (this.state === null && !this.fromStart) return this.skip("history_unknown");
    // The object logs every decision of a quarantined device as this denial, and no other.
    if (quarantined !== this.standing.quarantined) {
      throw new AuditFailure("replay_mismatch", entry.seq, `seq ${entry.seq}: the device was ${this.standing.quarantined ? "" : "not "}quarantined, the decision is logged as ${reasonCode}`);
    }
    if (quarantined) return this.skip("device_quarantined");
    if (FAIL_CLOSED.has(reasonCode) || data["policy"] === null) return this.skip("fail_closed");
    const digest = String(data["policy"]);
    const bundle = this.bundles.get(digest);
    if (!bundle) {
      this.missing.add(digest);
      return this.skip("artifact_not_given");
    }
    const time = Date.parse(entry.time);
    const recorded = record(data["history"]);
    let values: { [name: string]: boolean | number } = {};
    if (recorded !== null) {
      if (this.state === null && bundle.history.read.length > 0) return this.skip("history_unknown");
      if (this.state !== null) {
        const expected = decisionHistory(this.runtime, this.state, viewOfEntry({ type: "decision", time, data: data as { [key: string]: JsonValue } }), time);
        if (canonicalJson(expected) !== canonicalJson(recorded as JsonValue)) {
          throw new AuditFailure("history_mismatch", entry.seq, `seq ${entry.seq}: the entries before it give history ${canonicalJson(expected)}, the decision records ${canonicalJson(recorded as JsonValue)}`);
        }
        values = expected.values;
      } else {
        values = record(recorded["values"]) as typeof values;
      }
    } else if (bundle.history.read.length > 0) {
      return this.skip("history_unknown");
    }
    const context = this.contextOf(data);
    if (!context) return this.skip("context_unknown");
    if (maskedTargets(data)) return this.skip("masked");
    const facts = factsOfRecord(bundle, data["facts"] as JsonValue | undefined);
    if (!facts) return this.skip("facts_unknown");
    const verdict = decide(bundle, requestOf(data), context, time, { ...facts, history: values });
    const decided: { [key: string]: JsonValue } = {
      decision: verdict.decision,
      reason_code: verdict.reasonCode,
      reasons: [...verdict.reasons].sort(),
      tier: verdict.tier ?? null,
      targets: verdict.targets.map((target) => ({ ...target })),
      derived: verdict.derived.map((target) => ({ ...target })),
    };
    const logged = this.standing.hold ? asHeld(decided, this.standing.hold, bundle.tierOrder) : decided;
    const action = record(data["action"]);
    const found = {
      decision: data["decision"] ?? null,
      reason_code: data["reason_code"] ?? null,
      reasons: Array.isArray(data["reasons"]) ? [...(data["reasons"] as string[])].sort() : null,
      tier: data["tier"] ?? null,
      targets: action?.["targets"] ?? null,
      derived: action?.["derived"] ?? null,
    };
    const { token_jti: _token, ...comparable } = logged;
    if (canonicalJson(comparable) !== canonicalJson(found as JsonValue)) {
      throw new AuditFailure("replay_mismatch", entry.seq, `seq ${entry.seq}: bundle ${digest} decides ${canonicalJson(comparable)}, the log has ${canonicalJson(found as JsonValue)}`);
    }
    this.report.replayed += 1;
    this.report.first ??= entry.seq;
  }

  private contextOf(data: Data): DeviceContext | null {
    const assurance = typeof data["session"] === "string" ? this.sessions.get(data["session"]) : undefined;
    if (!this.device || !assurance) return null;
    return { id: "replay", os: this.device.os, shell: this.device.shell, assurance };
  }
}

/** The request a decision logged: the agent and the action with its targets as submitted. */
/** A masked part of a logged target, as worker/privacy/mask.ts writes it. */
const MASK_MARKER = /\[(?:vault|hmac):[^\]\s]+\]|\[masked\]/;

function maskedTargets(data: Data): boolean {
  const action = record(data["action"]) ?? {};
  return ["submitted", "targets", "derived"].some((field) =>
    (Array.isArray(action[field]) ? action[field] : []).some((target) => {
      const value = record(target)?.["value"];
      return typeof value === "string" && MASK_MARKER.test(value);
    }),
  );
}

function requestOf(data: Data): ActionRequest {
  const agent = record(data["agent"]) ?? {};
  const action = record(data["action"]) ?? {};
  const artifact = agent["artifact_sha256"];
  const inputs = action["inputs_sha256"];
  return {
    agent: { id: String(agent["id"]), version: String(agent["version"]), ...(typeof artifact === "string" ? { artifact_sha256: artifact } : {}) },
    action: {
      type: String(action["type"]),
      targets: (Array.isArray(action["submitted"]) ? action["submitted"] : []) as unknown as TargetInput[],
      ...(typeof inputs === "string" ? { inputs_sha256: inputs } : {}),
      sends_external: action["sends_external"] === true,
    },
  };
}
