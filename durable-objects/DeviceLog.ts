import { DurableObject } from "cloudflare:workers";
import { GENESIS_PREV, nextEntry } from "../worker/log/chain.ts";
import type { JsonValue } from "../worker/log/canonical.ts";
import type { AppendedEntry, DeviceCall, DeviceRecord, SingleUse, StandingChange } from "../worker/domain.ts";
import type { Outcome as GenericOutcome } from "../worker/errors.ts";
import { WardenError } from "../worker/errors.ts";
import type { LogEntry } from "../worker/log/chain.ts";
import { PACKAGE_EVIDENCE_KINDS, packageEvidenceKindOf, type ExportManifestBody, type ExportSlice, type PackageEvidenceKind } from "../worker/log/export.ts";
import { inclusionProof, type Frontier } from "../worker/log/merkle.ts";
import { LogAudit } from "./log-audit.ts";
import type { LegalHold } from "./log-retention.ts";
import { auditIoFrom, type AuditIo } from "./log-io.ts";
import type { StoredCheckpoint } from "../worker/log/checkpoint.ts";
import { EventOutbox } from "./event-outbox.ts";
import { WARDEN_VERSION } from "../worker/version.ts";
import { TpmEnrollment, type TpmBinding, type TpmOutcome } from "./tpm-enrollment.ts";
import type { DeviceConsents } from "../worker/consent/types.ts";
import type { ActiveConsent } from "../worker/consent/scope.ts";
import type { DecisionBundle } from "../worker/history/declarations.ts";
import type { LiveNonce } from "../worker/attestation/nonces.ts";
import { asLogged, type FollowEntry, type PlaybookHold, type Rewrite, type Standing } from "../worker/history/effects.ts";
import { viewOfEntry } from "../worker/history/views.ts";
import { DeviceHistory, StaleHistory, type HistorySnapshot } from "./device-history.ts";

/** Expected failures come back as values: an exception thrown across RPC loses its class. */
type DeviceRefusal = "not_found" | "already_exists" | "nonce_invalid" | "replay_detected" | "device_disabled" | "device_quarantined" | "session_revoked" | "token_revoked";
type Outcome<T> = GenericOutcome<T, DeviceRefusal>;

/** One entry of a receipt: its stored JSON and its audit path (hex, deepest first) to the receipt's checkpoint. */
export interface ReceiptPart {
  entry: string;
  proof: string[];
}

/** `entry_refs` of the entries the compliance package carries as evidence, one per kind. */
const evidenceRef = (kind: PackageEvidenceKind): string => `kind:${kind}`;
const EVIDENCE_REFS = PACKAGE_EVIDENCE_KINDS.map(evidenceRef);
const EVIDENCE_PLACEHOLDERS = EVIDENCE_REFS.map(() => "?").join(", ");

/**
 * Decisions whose recorded history the log no longer shows: nothing was appended; decide again
 * on this snapshot. Not an error code: the decision service retries, and never answers with it.
 */
export interface StaleDecisions {
  ok: false;
  code: "history_stale";
  stale: HistorySnapshot;
}

/** What the `spent` table keeps until it expires: DPoP proofs and action tokens by `jti`, server nonces by value. */
export type SpentKind = "dpop" | "action" | "nonce";
const spentKey = (kind: SpentKind, id: string) => `${kind}:${id}`;

/** How often spent values and ended sessions are forgotten (see `sweepExpired`). */
const SWEEP_MS = 10_000;
/** A device has a session or two at a time; a remembered set larger than this is dropped, not grown. */
const MAX_LIVE_SESSIONS = 64;

/**
 * One per device (named `<tenant>/<device id>`): the device's registration, its
 * nonces, the single-use proofs it has spent, and its hash-chained log.
 * Every method takes `now` (ms since the epoch) from the caller, so tests pin time;
 * only the audit alarm reads a clock, the one its I/O brings.
 *
 * The audit side's I/O (archive bucket, alarm clock, keys, tuning) comes in through the
 * constructor: the runtime passes none and gets the environment's ({@link auditIoFrom}); the
 * tests' entry (test/worker.ts) passes its own.
 */
export class DeviceLog extends DurableObject<Env> {
  private readonly sql: SqlStorage;
  private head: AppendedEntry = { seq: 0, hash: GENESIS_PREV };
  /** Rotation, checkpoints and archival, run by the alarm (durable-objects/log-audit.ts). */
  private readonly audit: LogAudit;
  /** `now` of the latest append in the running transaction, for scheduling once it commits. */
  private appendedAt: number | null = null;
  /** The assurance the latest entry that stated one stated (registration, sessions). */
  private lastAssurance: string | null = null;
  /**
   * The device row and the consent copy as storage holds them, read once instead of at every
   * decision (each was a query and a JSON parse, twice per decision for the device): undefined
   * until read, after every write of them and after a rolled-back transaction.
   */
  private deviceRecord: DeviceRecord | null | undefined = undefined;
  private consentRow: { version: number; consents: ActiveConsent[] } | null | undefined = undefined;
  /** Sessions storage showed live (not revoked), by `jti`, with their expiry; forgotten whenever a session is revoked. */
  private liveSessions = new Map<string, number>();
  /** When spent proofs and ended sessions are next forgotten: a sweep per request was a write per decision for rows that refuse nothing. */
  private nextSweepAt = 0;
  /** TPM bootstrap tokens, pending activation and EK/AK binding (durable-objects/tpm-enrollment.ts). */
  private readonly tpm: TpmEnrollment;
  /** Entries owed to the tenant's event feed (durable-objects/event-outbox.ts). */
  private readonly events: EventOutbox;
  /** History features, findings and the playbook, kept in every append's transaction (durable-objects/device-history.ts). */
  private readonly history: DeviceHistory;
  /** The delivery of what playbook actions owe outside (admin-log records, hold cancellations) under way, if any. */
  private delivering: Promise<void> | null = null;
  /** The I/O the object was constructed with (the audit side's, the tenant's review holds). */
  private readonly io: AuditIo;
  /**
   * Whether the object has its tables: from its device's registration on. Two routes name a
   * device before anything proves who asks (a nonce, a session), and each constructs that
   * device's object; one that was never registered stores nothing, and answers as no device.
   */
  private provisioned = false;

  constructor(ctx: DurableObjectState, env: Env, io: AuditIo = auditIoFrom(env)) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.io = io;
    this.events = new EventOutbox(
      this.sql,
      () => io.events,
      () => {
        const device = this.readDevice();
        return device ? { tenant: device.tenant, productVersion: WARDEN_VERSION } : null;
      },
      "device",
    );
    this.audit = new LogAudit(
      {
        sql: this.sql,
        storage: ctx.storage,
        head: () => this.head,
        device: () => this.readDevice(),
        appendWith: (before, type, data, now) =>
          this.transaction(() => {
            before();
            const device = this.readDevice();
            if (!device) throw new WardenError("internal_error", "the audit side appended to a log without its device");
            return this.appendInTransaction(device.id, type, data, now);
          }),
        originPrefix: env.LOG_ORIGIN,
      },
      io,
      this.events,
    );
    this.tpm = new TpmEnrollment({
      sql: this.sql,
      transaction: (body) => this.transaction(body),
      appendInTransaction: (device, type, data, now) => this.appendInTransaction(device, type, data, now),
      spend: (value, kind, now) => this.spend(value, kind, now),
      readDevice: () => this.readDevice(),
    });
    this.history = new DeviceHistory({ sql: this.sql, head: () => this.head });
    void ctx.blockConcurrencyWhile(async () => {
      if (this.sql.exec("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'device'").toArray().length === 0) return;
      this.provision();
      await this.audit.loadAlarm();
    });
  }

  /** Creates the tables (or brings them up to date) and loads what the object keeps in memory. */
  private provision(): void {
    this.migrate();
    this.tpm.migrate();
    this.audit.migrate();
    this.events.migrate();
    this.history.migrate();
    this.head = this.storedHead();
    this.lastAssurance = this.storedAssurance();
    this.history.load();
    this.audit.signing.reload();
    this.provisioned = true;
  }

  private storedHead(): AppendedEntry {
    const last = this.sql.exec<{ seq: number; hash: string }>("SELECT seq, hash FROM log ORDER BY seq DESC LIMIT 1").toArray()[0];
    // With every entry archived and pruned, the head is the end of the last sealed segment.
    return last ? { seq: last.seq, hash: last.hash } : (this.audit.archive.archivedHead() ?? { seq: 0, hash: GENESIS_PREV });
  }

  private storedAssurance(): string | null {
    return this.sql.exec<{ assurance: string }>("SELECT assurance FROM assurance_history ORDER BY seq DESC LIMIT 1").toArray()[0]?.assurance ?? null;
  }

  /** A storage transaction after which the cached head matches storage, committed or rolled back. */
  private transaction<T>(body: () => T): T {
    try {
      const result = this.ctx.storage.transactionSync(body);
      if (this.appendedAt !== null) this.audit.afterCommit(this.appendedAt);
      if (this.history.takeQueued()) {
        // The alarm is the backstop should the object stop before the delivery lands.
        this.audit.retrySoon();
        void this.deliverOwed();
      }
      return result;
    } catch (error) {
      this.deviceRecord = undefined;
      this.consentRow = undefined;
      this.liveSessions.clear();
      if (this.provisioned) {
        this.head = this.storedHead();
        this.lastAssurance = this.storedAssurance();
        this.audit.signing.reload();
        this.history.load();
      }
      throw error;
    } finally {
      this.appendedAt = null;
    }
  }

  private migrate(): void {
    this.sql.exec(`
      CREATE TABLE IF NOT EXISTS device (
        singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
        record TEXT NOT NULL
      );
      DROP TABLE IF EXISTS nonces;
      CREATE TABLE IF NOT EXISTS spent (
        jti TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        expires_at INTEGER NOT NULL
      );
      CREATE INDEX IF NOT EXISTS spent_expiry ON spent (expires_at);
      CREATE TABLE IF NOT EXISTS log (
        seq INTEGER PRIMARY KEY,
        hash TEXT NOT NULL,
        entry TEXT NOT NULL
      );
      CREATE TABLE IF NOT EXISTS assurance_history (
        seq INTEGER PRIMARY KEY,
        time TEXT NOT NULL,
        assurance TEXT NOT NULL
      );
      CREATE TABLE IF NOT EXISTS sessions (
        jti TEXT PRIMARY KEY,
        expires_at INTEGER NOT NULL,
        revoked INTEGER NOT NULL DEFAULT 0
      );
      CREATE TABLE IF NOT EXISTS consent_state (
        singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
        ledger_version INTEGER NOT NULL,
        version INTEGER NOT NULL,
        consents TEXT NOT NULL
      );
      CREATE TABLE IF NOT EXISTS consent_tombstones (
        id TEXT PRIMARY KEY,
        until INTEGER NOT NULL
      );
      CREATE TABLE IF NOT EXISTS standing_history (
        seq INTEGER PRIMARY KEY,
        time TEXT NOT NULL,
        type TEXT NOT NULL,
        by TEXT NOT NULL,
        reason TEXT NOT NULL
      );
      CREATE TABLE IF NOT EXISTS entry_refs (
        ref TEXT NOT NULL,
        seq INTEGER NOT NULL,
        PRIMARY KEY (ref, seq)
      ) WITHOUT ROWID;
    `);
  }

  /** Registers the device (by the person `by`); a second registration under the same id is refused. */
  register(record: DeviceRecord, now: number, by?: string): Outcome<{ log: AppendedEntry }> {
    if (!this.provisioned) this.provision();
    return this.transaction(() => {
      if (this.readDevice()) return { ok: false, code: "already_exists" } as const;
      this.writeDevice(record);
      const log = this.appendInTransaction(
        record.id,
        "device.registered",
        { os: record.os, shell: record.shell ?? null, jkt: record.jkt, assurance: record.assurance, groups: record.groups, user: record.user ?? null, by: by ?? null },
        now,
      );
      return { ok: true, log } as const;
    });
  }

  device(): DeviceRecord | null {
    return this.readDevice();
  }

  /** Whether a session (or refused evidence) spent `nonce` already: evidence is verified only against one unspent. */
  nonceSpent(nonce: string): boolean {
    if (!this.provisioned) return false;
    return this.sql.exec("SELECT 1 FROM spent WHERE jti = ?", spentKey("nonce", nonce)).toArray().length === 1;
  }

  /**
   * Spends the nonce (which the worker checked it minted for this device) and the proof that
   * carried it in one transaction, and logs the session. A nonce already spent is refused, and
   * a spent one stays spent even when the rest fails.
   */
  openSession(
    args: { nonce: LiveNonce; proof: SingleUse; now: number; session: { id: string; expiresAt: number; data: { [key: string]: JsonValue } } },
  ): Outcome<{ device: DeviceRecord; log: AppendedEntry }> {
    return this.transaction(() => {
      const device = this.readDevice();
      if (!device) return { ok: false, code: "not_found" } as const;
      if (!this.spend({ jti: args.nonce.value, expiresAt: args.nonce.expiresAt }, "nonce", args.now)) return { ok: false, code: "nonce_invalid" } as const;
      const standing = this.standingRefusal(device);
      if (standing) return { ok: false, code: standing } as const;
      if (!this.spend(args.proof, "dpop", args.now)) return { ok: false, code: "replay_detected" } as const;
      this.sql.exec("INSERT INTO sessions (jti, expires_at) VALUES (?, ?)", args.session.id, args.session.expiresAt);
      const log = this.appendInTransaction(device.id, "session.opened", args.session.data, args.now);
      return { ok: true, device, log } as const;
    });
  }

  /**
   * Reads the device's whole history state for decisions under `bundle`, adopting its history
   * declarations first if they are not the ones kept (logged as `history.adopted`). The decision
   * service keeps it and moves it past its own decisions (worker/decisions/service.ts).
   */
  readHistory(args: { bundle: DecisionBundle; now: number }): Outcome<{ snapshot: HistorySnapshot }> {
    const device = this.readDevice();
    if (!device) return { ok: false, code: "not_found" };
    if (device.status === "disabled") return { ok: false, code: "device_disabled" };
    this.transaction(() => this.adoptInTransaction(device.id, args.bundle, args.now));
    return { ok: true, snapshot: this.history.snapshot(this.readDevice()?.status === "quarantined", null) };
  }

  /**
   * Spends the request's DPoP proof and appends its decisions in one transaction,
   * so a replayed proof is never logged as a decision and a decision is never
   * answered without its entry. The device's standing is read in the same transaction as each
   * append, so it holds from the very next decision, whatever session or token it carries — also
   * when a playbook changed it on an earlier decision of the same batch: a quarantined device's
   * decisions are logged as denials (`device_quarantined`), and under a playbook's hold a permit
   * is logged as a review (`playbook_review`); `rewrites` says which, per decision, and `hold`
   * is the hold in force. `endsQuarantined` says the device is quarantined once they are
   * appended: a playbook may have quarantined it on one of them, after decisions it logged
   * unchanged. `user` is the device's registered user (its holds record it: that
   * person may not approve them).
   *
   * Each decision's recorded `history` must be what the log shows at its position, or nothing is
   * appended and the answer is the current history to decide again on (`history_stale`), read
   * once the caller holds the device's decision turn: decisions that collided once take turns.
   * Decisions made with another copy of the user's consents than this one spend and append
   * nothing either, and get this copy back (`stale`) to decide again with.
   */
  async recordDecisions(
    args: DeviceCall & { now: number; decisions: { [key: string]: JsonValue }[]; consents?: { version: number } | undefined; bundle?: DecisionBundle | null; turn?: string | null },
  ): Promise<Outcome<{ logs: AppendedEntry[]; endsQuarantined: boolean; rewrites: Rewrite[]; hold: PlaybookHold | null; stale: DeviceConsents | null; user: string | null }> | StaleDecisions> {
    let stale = false;
    try {
      return this.transaction(() => {
        const device = this.readDevice();
        if (!device) return { ok: false, code: "not_found" } as const;
        if (device.status === "disabled") return { ok: false, code: "device_disabled" } as const;
        const revoked = this.sessionRefusal(args.session, args.now);
        if (revoked) return { ok: false, code: revoked } as const;
        // Decided with another copy of the user's consents than this one (a revocation landed since):
        // nothing is spent or logged (`logs` is empty), and the caller decides again with `stale`.
        const consents = this.consentState(device);
        if (args.consents && args.consents.version !== consents.version) return { ok: true, logs: [], endsQuarantined: false, rewrites: [], hold: null, stale: consents, user: device.user ?? null } as const;
        if (!this.spend(args.proof, "dpop", args.now)) return { ok: false, code: "replay_detected" } as const;
        if (args.bundle) this.adoptInTransaction(device.id, args.bundle, args.now);
        const logs: AppendedEntry[] = [];
        const rewrites: Rewrite[] = [];
        for (const decided of args.decisions) {
          const { data, rewrite } = asLogged(decided, this.standingNow(), args.bundle?.tiers ?? []);
          if (!this.history.agrees(data, args.now)) throw new StaleHistory();
          rewrites.push(rewrite);
          logs.push(this.appendInTransaction(device.id, "decision", data, args.now));
        }
        const endsQuarantined = this.readDevice()?.status === "quarantined";
        return { ok: true, logs, endsQuarantined, rewrites, hold: this.history.hold, stale: null, user: device.user ?? null } as const;
      });
    } catch (error) {
      if (!(error instanceof StaleHistory)) throw error;
      stale = true;
    } finally {
      if (args.turn && !stale) this.history.giveTurn(args.turn);
    }
    // The turn stays with the caller, which decides again on the history as it is once its turn came.
    const turn = args.turn ?? (await this.history.takeTurn());
    const only = args.decisions.length === 1 ? args.decisions[0] : undefined;
    const pending = only ? { view: viewOfEntry({ type: "decision", time: args.now, data: only }), now: args.now } : null;
    return { ok: false, code: "history_stale", stale: this.history.snapshot(this.readDevice()?.status === "quarantined", turn, pending) };
  }

  /** Whether the action token `jti` was redeemed, refused or revoked here (until its record is swept, after its expiry). */
  actionTokenSettled(jti: string): boolean {
    if (!this.provisioned) return false;
    return this.sql.exec("SELECT jti FROM spent WHERE jti = ?", spentKey("action", jti)).toArray().length > 0;
  }

  /** Spends a DPoP proof of a request that changes nothing else (a read). */
  spendProof(call: DeviceCall, now: number): Outcome<object> {
    return this.transaction(() => {
      const device = this.readDevice();
      if (!device) return { ok: false, code: "not_found" } as const;
      const refusal = this.standingRefusal(device) ?? this.sessionRefusal(call.session, now);
      if (refusal) return { ok: false, code: refusal } as const;
      return this.spend(call.proof, "dpop", now) ? ({ ok: true } as const) : ({ ok: false, code: "replay_detected" } as const);
    });
  }

  /**
   * Redeems a single-use action token: its `jti` and the presenting proof are spent together,
   * and the redemption is logged — while the session it was issued under is live (a revoked
   * session's tokens are refused, `session_revoked`, and nothing is spent).
   */
  redeemActionToken(args: { token: SingleUse; proof: SingleUse; session: DeviceCall["session"]; now: number; data: { [key: string]: JsonValue } }): Outcome<{ log: AppendedEntry }> {
    return this.transaction(() => {
      const device = this.readDevice();
      if (!device) return { ok: false, code: "not_found" } as const;
      const standing = this.standingRefusal(device) ?? this.sessionRefusal(args.session, args.now);
      if (standing) return { ok: false, code: standing } as const;
      if (!this.spend(args.proof, "dpop", args.now)) return { ok: false, code: "replay_detected" } as const;
      if (!this.spend(args.token, "action", args.now)) return { ok: false, code: this.actionTokenRevoked(args.token.jti) ? "token_revoked" : "replay_detected" } as const;
      const log = this.appendInTransaction(device.id, "action.redeemed", args.data, args.now);
      return { ok: true, log } as const;
    });
  }

  /**
   * Refuses an action token for good: its `jti` and the presenting proof are spent, so the same
   * token cannot be tried again (not even after a rollback restores its bundle), and the
   * refusal is logged.
   */
  refuseActionToken(args: { token: SingleUse; proof: SingleUse; now: number; data: { [key: string]: JsonValue } }): Outcome<{ log: AppendedEntry }> {
    return this.transaction(() => {
      const device = this.readDevice();
      if (!device) return { ok: false, code: "not_found" } as const;
      if (!this.spend(args.proof, "dpop", args.now)) return { ok: false, code: "replay_detected" } as const;
      if (!this.spend(args.token, "action", args.now)) return { ok: false, code: "replay_detected" } as const;
      const log = this.appendInTransaction(device.id, "action.refused", args.data, args.now);
      return { ok: true, log } as const;
    });
  }

  /**
   * Appends `action.completed` for a decision of this device, spending the request's DPoP proof
   * in the same transaction. The link is checked by a primary-key read: the entry at
   * `decision.seq` must be a `decision` with `decision.id`. An entry already archived and pruned
   * cannot be read here, so its completion is logged with `decision_checked: false` rather than
   * lost; a seq past the head, or an entry that is not that decision, is `unknown_decision`.
   */
  recordOutcome(
    args: DeviceCall & {
      now: number;
      decision: { id: string; seq: number };
      data: { [key: string]: JsonValue };
    },
  ): GenericOutcome<{ log: AppendedEntry; checked: boolean }, DeviceRefusal | "unknown_decision"> {
    return this.transaction(() => {
      const device = this.readDevice();
      if (!device) return { ok: false, code: "not_found" } as const;
      // A quarantined device still reports what already ran: the outcome is evidence, not a permission.
      if (device.status === "disabled") return { ok: false, code: "device_disabled" } as const;
      const revoked = this.sessionRefusal(args.session, args.now);
      if (revoked) return { ok: false, code: revoked } as const;
      const row = this.sql.exec<{ entry: string }>("SELECT entry FROM log WHERE seq = ?", args.decision.seq).toArray()[0];
      let checked = false;
      if (row) {
        const entry = JSON.parse(row.entry) as { type?: unknown; data?: { decision_id?: unknown } };
        if (entry.type !== "decision" || entry.data?.decision_id !== args.decision.id) return { ok: false, code: "unknown_decision" } as const;
        checked = true;
      } else if (args.decision.seq > this.audit.archive.archivedUpto()) {
        return { ok: false, code: "unknown_decision" } as const;
      }
      if (!this.spend(args.proof, "dpop", args.now)) return { ok: false, code: "replay_detected" } as const;
      const log = this.appendInTransaction(device.id, "action.completed", { ...args.data, decision_checked: checked }, args.now);
      return { ok: true, log, checked } as const;
    });
  }

  /**
   * Quarantines the device: from the next request on its decisions deny, no session opens, no
   * action token redeems and no read is answered, until it is released. Logged, with who and why.
   */
  quarantine(args: { by: string; reason: string; now: number }): Outcome<{ log: AppendedEntry; changed: boolean }> {
    return this.changeStanding("quarantined", "device.quarantined", args);
  }

  /** Lifts a quarantine. Logged, with who and why. */
  release(args: { by: string; reason: string; now: number }): Outcome<{ log: AppendedEntry; changed: boolean }> {
    return this.changeStanding("active", "device.released", args);
  }

  /**
   * Revokes one live session (by its `jti`) or every live session of the device: their next
   * request is refused (`session_revoked`) and the device opens a new one. Logged, with who and why.
   */
  revokeSessions(args: { jti?: string | undefined; by: string; reason: string; now: number }): GenericOutcome<{ log: AppendedEntry; revoked: number }, DeviceRefusal | "unknown_session"> {
    return this.transaction(() => {
      const device = this.readDevice();
      if (!device) return { ok: false, code: "not_found" } as const;
      this.liveSessions.clear();
      const revoked =
        args.jti === undefined
          ? this.sql.exec("UPDATE sessions SET revoked = 1 WHERE revoked = 0 AND expires_at > ? RETURNING jti", args.now).toArray().length
          : this.sql.exec("UPDATE sessions SET revoked = 1 WHERE jti = ? AND expires_at > ? RETURNING jti", args.jti, args.now).toArray().length;
      if (args.jti !== undefined && revoked === 0) return { ok: false, code: "unknown_session" } as const;
      const log = this.appendInTransaction(device.id, "session.revoked", { session: args.jti ?? null, all: args.jti === undefined, revoked, by: args.by, reason: args.reason }, args.now);
      this.noteStanding(log.seq, "session.revoked", args);
      return { ok: true, log, revoked } as const;
    });
  }

  /** Revokes one unredeemed action token of this device: its redemption is refused (`token_revoked`). Logged, with who and why. */
  revokeActionToken(args: { jti: string; expiresAt: number; by: string; reason: string; now: number }): Outcome<{ log: AppendedEntry }> {
    return this.transaction(() => {
      const device = this.readDevice();
      if (!device) return { ok: false, code: "not_found" } as const;
      this.sql.exec("DELETE FROM spent WHERE expires_at <= ?", args.now);
      this.sql.exec("INSERT INTO spent (jti, kind, expires_at) VALUES (?, 'revoked', ?) ON CONFLICT (jti) DO NOTHING", spentKey("action", args.jti), args.expiresAt);
      const log = this.appendInTransaction(device.id, "action.revoked", { token_jti: args.jti, by: args.by, reason: args.reason }, args.now);
      this.noteStanding(log.seq, "action.revoked", args);
      return { ok: true, log } as const;
    });
  }

  /**
   * Takes the registered user's active consents from the tenant's `ConsentLedger`, unless this
   * copy is already at `version` or later. A consent dropped here (revoked) never comes back.
   * Refused `not_found` before the device is registered, `forbidden` when it is registered to another user.
   */
  applyConsents(args: { actor: string; version: number; consents: ActiveConsent[]; now: number }): GenericOutcome<{ applied: boolean }, "not_found" | "forbidden"> {
    return this.transaction(() => {
      const device = this.readDevice();
      if (!device) return { ok: false, code: "not_found" } as const;
      if (device.user !== args.actor) return { ok: false, code: "forbidden" } as const;
      const stored = this.sql.exec<{ ledger_version: number; version: number }>("SELECT ledger_version, version FROM consent_state").toArray()[0];
      if (stored && stored.ledger_version >= args.version) return { ok: true, applied: false } as const;
      this.sql.exec("DELETE FROM consent_tombstones WHERE until <= ?", args.now);
      const dropped = new Set(this.sql.exec<{ id: string }>("SELECT id FROM consent_tombstones").toArray().map((row) => row.id));
      const consents = args.consents.filter((consent) => !dropped.has(consent.id));
      this.sql.exec(
        "INSERT INTO consent_state (singleton, ledger_version, version, consents) VALUES (1, ?, 1, ?) ON CONFLICT (singleton) DO UPDATE SET ledger_version = excluded.ledger_version, version = version + 1, consents = excluded.consents",
        args.version,
        JSON.stringify(consents),
      );
      this.consentRow = undefined;
      return { ok: true, applied: true } as const;
    });
  }

  /**
   * Drops a consent being revoked, before the ledger records the revocation: from the next decision
   * on nothing here relies on it, and a later `applyConsents` cannot bring it back before `until`
   * (its expiry, after which it covers nothing anyway).
   */
  dropConsent(args: { id: string; until: number; now: number }): Outcome<{ dropped: boolean }> {
    return this.transaction(() => {
      const device = this.readDevice();
      if (!device) return { ok: false, code: "not_found" } as const;
      this.sql.exec("INSERT INTO consent_tombstones (id, until) VALUES (?, ?) ON CONFLICT (id) DO NOTHING", args.id, args.until);
      const { consents } = this.consentState(device);
      const kept = consents.filter((consent) => consent.id !== args.id);
      if (kept.length === consents.length) return { ok: true, dropped: false } as const;
      this.sql.exec("UPDATE consent_state SET version = version + 1, consents = ? WHERE singleton = 1", JSON.stringify(kept));
      this.consentRow = undefined;
      return { ok: true, dropped: true } as const;
    });
  }

  /** This device's copy of its user's active consents, at the version a decision's commit checks. */
  consents(): Outcome<{ state: DeviceConsents }> {
    const device = this.readDevice();
    if (!device) return { ok: false, code: "not_found" };
    return { ok: true, state: this.consentState(device) };
  }

  /** The registration, every change of the device's standing (oldest first), its legal hold and the first entry retention kept. */
  standing(): { device: DeviceRecord; history: StandingChange[]; legalHold: LegalHold | null; retainedFrom: number } | null {
    const device = this.readDevice();
    if (!device) return null;
    const history = this.sql.exec<{ seq: number; time: string; type: StandingChange["type"]; by: string; reason: string }>("SELECT seq, time, type, by, reason FROM standing_history ORDER BY seq").toArray();
    return { device, history: history.map((row) => ({ ...row })), legalHold: this.audit.retention.hold(), retainedFrom: this.audit.retention.retainedFrom() };
  }

  /**
   * Sets (`on`) or lifts a legal hold on the device's records: while it holds, retention deletes
   * none of its archived segments and vault values (docs/privacy.md). Logged
   * (`device.legal_hold_set` / `device.legal_hold_lifted`) with who and why; `changed` is false
   * when the hold already was so.
   */
  legalHold(args: { on: boolean; by: string; reason: string; now: number }): Outcome<{ log: AppendedEntry; changed: boolean }> {
    return this.transaction(() => {
      const device = this.readDevice();
      if (!device) return { ok: false, code: "not_found" } as const;
      const changed = args.on ? this.audit.retention.hold() === null : this.audit.retention.hold() !== null;
      const log = this.appendInTransaction(device.id, args.on ? "device.legal_hold_set" : "device.legal_hold_lifted", { by: args.by, reason: args.reason, changed }, args.now);
      if (changed) this.audit.retention.storeHold(args.on ? { since: new Date(args.now).toISOString(), by: args.by, reason: args.reason, seq: log.seq } : null);
      return { ok: true, log, changed } as const;
    });
  }

  /** Appends one entry of any type; the primitive every logged event goes through. */
  append(type: string, data: { [key: string]: JsonValue }, now: number): Outcome<{ log: AppendedEntry }> {
    const device = this.readDevice();
    if (!device) return { ok: false, code: "not_found" };
    return { ok: true, log: this.transaction(() => this.appendInTransaction(device.id, type, data, now)) };
  }

  /** What the device's history features occupy (rows, bytes of JSON), beside the log rows still in the object. */
  historyFootprint(): { rows: number; bytes: number; logRows: number } {
    const logRows = this.sql.exec<{ n: number }>("SELECT count(*) AS n FROM log").one().n;
    return { ...this.history.footprint(), logRows };
  }

  /** Entries with seq > `after`, oldest first, at most `limit`, as their stored JSON text. */
  readLog(after: number, limit: number): { exists: boolean; entries: string[]; head: AppendedEntry } {
    if (!this.provisioned) return { exists: false, entries: [], head: this.head };
    const rows = this.sql.exec<{ entry: string }>("SELECT entry FROM log WHERE seq > ? ORDER BY seq LIMIT ?", after, limit).toArray();
    return { exists: this.readDevice() !== null, entries: rows.map((row) => row.entry), head: this.head };
  }

  /** Signs a checkpoint if one is due by count or age (or there is none yet), then returns the latest. */
  async checkpoint(now: number): Promise<{ exists: boolean; checkpoint: StoredCheckpoint | null }> {
    if (!this.readDevice()) return { exists: false, checkpoint: null };
    return { exists: true, checkpoint: await this.audit.freshCheckpoint(now) };
  }

  /** The compact range after entry `size` if it can be built from entries still here; null when `size` is archived. */
  exportTree(size: number): Frontier | null {
    return this.audit.exportTree(size);
  }

  /** What an export needs first: whether the device exists, the head, and the latest checkpoint. */
  exportStart(): { exists: boolean; head: AppendedEntry; checkpoint: StoredCheckpoint | null; retainedFrom: number } {
    if (!this.provisioned) return { exists: false, head: this.head, checkpoint: null, retainedFrom: 1 };
    return { exists: this.readDevice() !== null, head: this.head, checkpoint: this.audit.signing.latestCheckpoint(), retainedFrom: this.audit.retention.retainedFrom() };
  }

  /** Where entry `cursor` is now (archived segment, still here, or past the head). */
  exportSlice(cursor: number, limit: number): ExportSlice {
    return this.audit.archive.exportSlice(cursor, limit);
  }

  /** Signs an export manifest with the log's current key, carrying the rotations after its range that lead to it. */
  signExportManifest(manifest: ExportManifestBody): Promise<string> {
    return this.audit.signing.signExportManifest(manifest);
  }

  /** TPM enrollment and attestation state (see durable-objects/tpm-enrollment.ts for each method). */
  tpmBinding(): TpmBinding | null {
    if (!this.provisioned) return null;
    return this.tpm.binding();
  }
  tpmIssueBootstrap(args: Parameters<TpmEnrollment["issueBootstrap"]>[0]): TpmOutcome<{ log: AppendedEntry }> {
    return this.tpm.issueBootstrap(args);
  }
  tpmCheckBootstrap(tokenHash: string, now: number): TpmOutcome<{ rebind: boolean; binding: TpmBinding | null }> {
    return this.tpm.checkBootstrap(tokenHash, now);
  }
  tpmBeginEnrollment(args: Parameters<TpmEnrollment["beginEnrollment"]>[0]): TpmOutcome<{ log: AppendedEntry }> {
    return this.tpm.beginEnrollment(args);
  }
  tpmCompleteEnrollment(args: Parameters<TpmEnrollment["completeEnrollment"]>[0]): TpmOutcome<{ binding: TpmBinding; log: AppendedEntry }> {
    return this.tpm.completeEnrollment(args);
  }
  tpmLogRefusal(args: Parameters<TpmEnrollment["logRefusal"]>[0]): TpmOutcome<{ log: AppendedEntry }> {
    return this.tpm.logRefusal(args);
  }
  /**
   * Burns the nonce that refused evidence answered and logs `attestation.failed`, under the
   * history declarations of the device's bundle (`bundle`), whose playbook may quarantine the
   * device for it in the same transaction.
   */
  refuseEvidence(args: Parameters<TpmEnrollment["refuseEvidence"]>[0] & { bundle?: DecisionBundle | null }): TpmOutcome<{ log: AppendedEntry }> {
    const { bundle, ...refusal } = args;
    const device = this.readDevice();
    if (bundle && device) this.transaction(() => this.adoptInTransaction(device.id, bundle, args.now));
    return this.tpm.refuseEvidence(refusal);
  }

  /**
   * What a receipt of decision `decisionId` at `seq` needs: the entry, the entries it rests on
   * (its session, the review evidence of its hold), a checkpoint covering all of them (signed
   * now if none does yet, and cosigned by the configured witnesses), and each entry's inclusion
   * proof to it. `unknown_decision` when the entry at `seq` is not that decision,
   * `log_range_expired` when retention deleted it; related entries it deleted are left out.
   */
  async receipt(args: { seq: number; decisionId: string; now: number }): Promise<
    GenericOutcome<{ origin: string; checkpoint: string; entry: ReceiptPart; related: ReceiptPart[] }, "not_found" | "unknown_decision" | "configuration_error" | "log_range_expired">
  > {
    const device = this.readDevice();
    if (!device) return { ok: false, code: "not_found" };
    if (!Number.isSafeInteger(args.seq) || args.seq < 1 || args.seq > this.head.seq) return { ok: false, code: "unknown_decision" };
    // Retention deleted it: refused as such (an error thrown here would reach the route as a bare 500).
    if (this.audit.retention.expired(args.seq)) return { ok: false, code: "log_range_expired" };
    const { tree } = this.audit;
    const text = await tree.entryText(args.seq);
    const entry = text === null ? null : (JSON.parse(text) as LogEntry);
    if (!entry || entry.type !== "decision" || entry.data["decision_id"] !== args.decisionId) return { ok: false, code: "unknown_decision" };
    const refs = [`decision:${args.decisionId}`, ...(typeof entry.data["session"] === "string" ? [`session:${entry.data["session"]}`] : [])];
    // A related entry retention deleted (a session opened before the cut) is left out: the receipt carries what the log still holds.
    const relatedSeqs = refs
      .flatMap((ref) => this.sql.exec<{ seq: number }>("SELECT seq FROM entry_refs WHERE ref = ? ORDER BY seq", ref).toArray().map((row) => row.seq))
      .filter((seq) => !this.audit.retention.expired(seq));
    const needed = Math.max(args.seq, ...relatedSeqs);
    const checkpoint = await this.audit.freshCheckpoint(args.now, needed);
    if (!checkpoint || checkpoint.size < needed) return { ok: false, code: "configuration_error" };
    const source = tree.source(checkpoint.size);
    const part = async (seq: number, stored: string): Promise<ReceiptPart> => ({ entry: stored, proof: (await inclusionProof(source, seq - 1, checkpoint.size)).map((hash) => hash.toString("hex")) });
    const related: ReceiptPart[] = [];
    for (const seq of [...new Set(relatedSeqs)].sort((a, b) => a - b)) {
      const stored = await tree.entryText(seq);
      if (stored !== null) related.push(await part(seq, stored));
    }
    return { ok: true, origin: checkpoint.origin, checkpoint: checkpoint.note, entry: await part(args.seq, text as string), related };
  }

  /**
   * What the compliance package says about this device: registration, assurance history, and
   * the latest checkpoint, signed now if the evidence entries (reviews, attestations) are not
   * all covered yet: `complianceEvidence` proves them into it.
   */
  async complianceRecord(now: number): Promise<{
    device: DeviceRecord;
    assuranceHistory: { seq: number; time: string; assurance: string }[];
    checkpoint: StoredCheckpoint | null;
  } | null> {
    const device = this.readDevice();
    if (!device) return null;
    const assuranceHistory = this.sql.exec<{ seq: number; time: string; assurance: string }>("SELECT seq, time, assurance FROM assurance_history ORDER BY seq").toArray();
    const lastEvidence = this.sql.exec<{ seq: number | null }>(`SELECT MAX(seq) AS seq FROM entry_refs WHERE ref IN (${EVIDENCE_PLACEHOLDERS})`, ...EVIDENCE_REFS).one().seq ?? 0;
    return { device, assuranceHistory, checkpoint: await this.audit.freshCheckpoint(now, lastEvidence) };
  }

  /**
   * The package evidence entries (attestation, review, quarantine, revocation) with seq in
   * (`after`, `size`] whose time is in the window, at most `limit`, each with its inclusion proof
   * to the checkpoint of `size`; `next` continues. Entries retention deleted are left out.
   */
  async complianceEvidence(args: { size: number; after: number; limit: number; from: string; to: string }): Promise<{
    parts: (ReceiptPart & { kind: PackageEvidenceKind })[];
    next: number | null;
  }> {
    // Evidence entries retention deleted are past their retention: the package carries what the log still holds.
    const after = Math.max(args.after, this.audit.retention.retainedFrom() - 1);
    const rows = this.sql
      .exec<{ ref: string; seq: number }>(`SELECT ref, seq FROM entry_refs WHERE ref IN (${EVIDENCE_PLACEHOLDERS}) AND seq > ? AND seq <= ? ORDER BY seq LIMIT ?`, ...EVIDENCE_REFS, after, args.size, args.limit)
      .toArray();
    const { tree } = this.audit;
    const source = tree.source(args.size);
    const parts: (ReceiptPart & { kind: PackageEvidenceKind })[] = [];
    for (const row of rows) {
      const text = await tree.entryText(row.seq);
      if (text === null) continue;
      const time = (JSON.parse(text) as LogEntry).time;
      if (time < args.from || time > args.to) continue;
      const proof = (await inclusionProof(source, row.seq - 1, args.size)).map((hash) => hash.toString("hex"));
      parts.push({ kind: PACKAGE_EVIDENCE_KINDS[EVIDENCE_REFS.indexOf(row.ref)] as PackageEvidenceKind, entry: text, proof });
    }
    return { parts, next: rows.length === args.limit ? (rows.at(-1) as { seq: number }).seq : null };
  }

  /** Rotates the log key, signs checkpoints, seals and archives segments (durable-objects/log-audit.ts). */
  override async alarm(): Promise<void> {
    if (!this.provisioned) return;
    await this.deliverOwed();
    await this.audit.alarm();
    // After the audit side set its next run, which may be later than a retry of what is still owed.
    if (this.history.owes()) this.audit.retrySoon();
  }

  /** The device's standing as history judges decisions by it. */
  private standingNow(): Standing {
    return { quarantined: this.readDevice()?.status === "quarantined", hold: this.history.hold };
  }

  /** Must run inside `transaction`: adopts the bundle's history declarations if new, and logs that it did. */
  private adoptInTransaction(device: string, bundle: DecisionBundle, now: number): void {
    const adopted = this.history.adopt(bundle.history, bundle.digest);
    if (adopted) this.appendInTransaction(device, "history.adopted", adopted, now, true);
  }

  /**
   * Must run inside `transaction`, after the entry it follows: appends an entry the history
   * machinery raised (a finding, a playbook action) and makes the playbook's change of standing
   * with it, queueing its admin-log record in the same transaction.
   */
  private follow(device: string, follow: FollowEntry, now: number): void {
    const log = this.appendInTransaction(device, follow.type, follow.data, now, true);
    const by = String(follow.data["by"] ?? "");
    if (follow.type === "device.quarantined") {
      const record = this.readDevice();
      // A disabled device stays disabled: a playbook only ever narrows what a device may do.
      if (record && record.status === "active") this.writeDevice({ ...record, status: "quarantined" });
      const reason = String(follow.data["reason"] ?? "");
      this.noteStanding(log.seq, "device.quarantined", { by, reason, now });
      this.history.queueAdmin("admin.device_quarantined", { device, by, reason, jti: null, device_log: { seq: log.seq, hash: log.hash } }, now);
      // As an admin's quarantine does: the device's holds that could still hand it a token end.
      if (record && record.status === "active") this.history.queueHoldCancellation(by, reason, now, log.seq);
    } else if (follow.type === "playbook.review_all") {
      const hold = follow.data as unknown as PlaybookHold;
      this.history.setHold(hold);
      this.noteStanding(log.seq, "playbook.review_all", { by, reason: hold.finding_id, now });
      this.history.queueAdmin("admin.device_review_all", { device, by, reason: hold.finding_id, tier: hold.tier, jti: null, device_log: { seq: log.seq, hash: log.hash } }, now);
    }
  }

  /**
   * Delivers what playbook actions queued, oldest first, deleting each once it was taken: the end
   * of the device's review holds a quarantine owes (the tenant's `ReviewHolds.cancelForDevice`,
   * bounded to the holds made by the quarantine), then the admin-log records. Runs after the
   * transaction that queued them and from the alarm; whatever failed waits for the next of
   * either, the alarm coming back within the retry delay (at least once: the holds end nothing
   * twice, and the registry may see a record twice if this object stops between its answer and
   * the delete).
   */
  private deliverOwed(): Promise<void> {
    this.delivering ??= (async () => {
      const device = this.readDevice();
      if (!device) return;
      // A failure waits for the alarm, which both callers bring within the retry delay while anything is owed.
      try {
        for (let owed = this.history.pendingHoldCancellations(); owed.length > 0; owed = this.history.pendingHoldCancellations()) {
          for (const cancellation of owed) {
            await this.io.holds(device.tenant).cancelForDevice({ device: device.id, reason: cancellation.reason, by: cancellation.by, now: Math.max(cancellation.at, this.io.now()), quarantineSeq: cancellation.seq });
            this.history.holdsCancelled(cancellation.id);
          }
        }
      } catch (error) {
        console.error(JSON.stringify({ event: "playbook.hold_cancellation_failed", device: device.id, error: String(error) }));
      }
      const registry = this.env.BUNDLE_REGISTRY.get(this.env.BUNDLE_REGISTRY.idFromName(device.tenant));
      try {
        for (let owed = this.history.pendingAdmin(); owed.length > 0; owed = this.history.pendingAdmin()) {
          for (const record of owed) {
            await registry.recordAdminAction({ type: record.type, data: record.data, now: record.at });
            this.history.delivered(record.id);
          }
        }
      } catch (error) {
        console.error(JSON.stringify({ event: "playbook.admin_record_failed", device: device.id, error: String(error) }));
      }
    })().finally(() => {
      this.delivering = null;
    });
    return this.delivering;
  }

  private changeStanding(
    status: "quarantined" | "active",
    type: "device.quarantined" | "device.released",
    args: { by: string; reason: string; now: number },
  ): Outcome<{ log: AppendedEntry; changed: boolean }> {
    return this.transaction(() => {
      const device = this.readDevice();
      if (!device) return { ok: false, code: "not_found" } as const;
      if (device.status === "disabled") return { ok: false, code: "device_disabled" } as const;
      const hold = status === "active" ? this.history.clearHold() : null;
      const changed = device.status !== status || hold !== null;
      this.writeDevice({ ...device, status });
      // Logged even when it changes nothing: an admin's repeated order is part of the record.
      const log = this.appendInTransaction(device.id, type, { by: args.by, reason: args.reason, changed }, args.now);
      this.noteStanding(log.seq, type, args);
      if (hold) {
        // A release also ends the playbook's hold on every action, as its own entry.
        const cleared = this.appendInTransaction(device.id, "playbook.cleared", { finding_id: hold.finding_id, rule: hold.rule, by: args.by, reason: args.reason }, args.now);
        this.noteStanding(cleared.seq, "playbook.cleared", args);
      }
      return { ok: true, log, changed } as const;
    });
  }

  private noteStanding(seq: number, type: StandingChange["type"], args: { by: string; reason: string; now: number }): void {
    this.sql.exec("INSERT INTO standing_history (seq, time, type, by, reason) VALUES (?, ?, ?, ?, ?)", seq, new Date(args.now).toISOString(), type, args.by, args.reason);
  }

  /** Why a device may not act now: disabled, or quarantined (a decision is the one act that is answered, as a denial). */
  private standingRefusal(device: DeviceRecord): "device_disabled" | "device_quarantined" | null {
    if (device.status === "disabled") return "device_disabled";
    if (device.status === "quarantined") return "device_quarantined";
    return null;
  }

  /**
   * `session_revoked` when the session was revoked, has expired, or is not one this object
   * opened. A session's row lives as long as its token (`exp` is rounded down to the second), so
   * no valid token finds it expired; sessions seen live are remembered until their expiry or the
   * next revocation, so a decision reads no row for them.
   */
  private sessionRefusal(session: DeviceCall["session"], now: number): "session_revoked" | null {
    this.sweepExpired(now);
    const known = this.liveSessions.get(session.id);
    if (known !== undefined && known > now) return null;
    const row = this.sql.exec<{ revoked: number; expires_at: number }>("SELECT revoked, expires_at FROM sessions WHERE jti = ? AND expires_at > ?", session.id, now).toArray()[0];
    if (!row || row.revoked !== 0) return "session_revoked";
    if (this.liveSessions.size >= MAX_LIVE_SESSIONS) this.liveSessions.clear();
    this.liveSessions.set(session.id, row.expires_at);
    return null;
  }

  private actionTokenRevoked(jti: string): boolean {
    return this.sql.exec("SELECT jti FROM spent WHERE jti = ? AND kind = 'revoked'", spentKey("action", jti)).toArray().length > 0;
  }

  private consentState(device: DeviceRecord): DeviceConsents {
    if (this.consentRow === undefined) {
      const row = this.sql.exec<{ version: number; consents: string }>("SELECT version, consents FROM consent_state").toArray()[0];
      this.consentRow = row ? { version: row.version, consents: JSON.parse(row.consents) as ActiveConsent[] } : null;
    }
    return { version: this.consentRow?.version ?? 0, actor: device.user ?? null, consents: this.consentRow?.consents ?? [] };
  }

  private readDevice(): DeviceRecord | null {
    if (!this.provisioned) return null;
    if (this.deviceRecord === undefined) {
      const row = this.sql.exec<{ record: string }>("SELECT record FROM device WHERE singleton = 1").toArray()[0];
      this.deviceRecord = row ? (JSON.parse(row.record) as DeviceRecord) : null;
    }
    return this.deviceRecord;
  }

  /** The one way the device row is written: the object's copy is read again after it. */
  private writeDevice(record: DeviceRecord): void {
    this.sql.exec("INSERT INTO device (singleton, record) VALUES (1, ?) ON CONFLICT (singleton) DO UPDATE SET record = excluded.record", JSON.stringify(record));
    this.deviceRecord = undefined;
  }

  /** Forgets spent values and sessions past their expiry, at most once per {@link SWEEP_MS}: an expired one is refused by its expiry already. */
  private sweepExpired(now: number): void {
    if (now < this.nextSweepAt) return;
    this.nextSweepAt = now + SWEEP_MS;
    this.sql.exec("DELETE FROM spent WHERE expires_at <= ?", now);
    this.sql.exec("DELETE FROM sessions WHERE expires_at <= ?", now);
  }

  /** Marks a single-use value spent; false when it already was. Forgets values past their expiry (at most once per {@link SWEEP_MS}). */
  private spend(value: SingleUse, kind: SpentKind, now: number): boolean {
    this.sweepExpired(now);
    // The statement has run when exec returns; a conflict writes nothing. Counting written rows
    // instead of reading a RETURNING row back took the spend from 1.6× to 1.2× one bare INSERT.
    return this.sql.exec("INSERT INTO spent (jti, kind, expires_at) VALUES (?, ?, ?) ON CONFLICT (jti) DO NOTHING", spentKey(kind, value.jti), kind, value.expiresAt).rowsWritten > 0;
  }

  /** Keeps each change of the device's stated assurance, so the compliance package need not scan the log. */
  private noteAssurance(entry: LogEntry): void {
    const assurance = entry.data["assurance"];
    if (typeof assurance !== "string" || assurance === this.lastAssurance) return;
    this.sql.exec("INSERT INTO assurance_history (seq, time, assurance) VALUES (?, ?, ?)", entry.seq, entry.time, assurance);
    this.lastAssurance = assurance;
  }

  /**
   * Indexes the entries a decision's receipt carries besides it: the session a decision names
   * (`session:<id>`) and the review evidence of a held decision (`decision:<id>`). Decisions
   * themselves are not indexed (the receipt request names their seq), so the decision path
   * pays one type comparison.
   */
  private noteReference(entry: LogEntry): void {
    if (entry.type === "decision") return;
    const refs: string[] = [];
    if (entry.type === "session.opened" && typeof entry.data["session_id"] === "string") refs.push(`session:${entry.data["session_id"]}`);
    if (entry.type.startsWith("review.") && typeof entry.data["decision_id"] === "string") refs.push(`decision:${entry.data["decision_id"]}`);
    // The compliance package's evidence: attestation appraisals, review verdicts, quarantines and revocations.
    const evidence = packageEvidenceKindOf(entry);
    if (evidence !== null) refs.push(evidenceRef(evidence));
    for (const ref of refs) this.sql.exec("INSERT INTO entry_refs (ref, seq) VALUES (?, ?) ON CONFLICT DO NOTHING", ref, entry.seq);
  }

  /**
   * Must run inside `transaction`: head read, hash and insert happen with no
   * await in between, so concurrent requests cannot fork the chain; a rollback
   * restores the cached head from storage.
   */
  private appendInTransaction(device: string, type: string, data: { [key: string]: JsonValue }, now: number, followed = false): AppendedEntry {
    const { signing } = this.audit;
    const entry = signing.withMac(nextEntry(this.head, device, type, data, now, signing.entryKey(this.head.seq + 1)));
    this.noteAssurance(entry);
    this.noteReference(entry);
    this.appendedAt = now;
    const text = JSON.stringify(entry);
    this.sql.exec("INSERT INTO log (seq, hash, entry) VALUES (?, ?, ?)", entry.seq, entry.hash, text);
    this.events.note(entry.seq, text);
    const appended = { seq: entry.seq, hash: entry.hash };
    this.head = appended;
    // History moves with every entry, of every type, in this same transaction; what it raises follows the entry.
    for (const follow of this.history.onAppended(entry, followed, () => this.standingNow())) this.follow(device, follow, now);
    return appended;
  }
}
