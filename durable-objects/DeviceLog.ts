import { DurableObject } from "cloudflare:workers";
import { GENESIS_PREV, nextEntry } from "../worker/log/chain.ts";
import type { JsonValue } from "../worker/log/canonical.ts";
import type { AppendedEntry, DeviceRecord, SingleUse } from "../worker/domain.ts";
import type { Outcome as GenericOutcome } from "../worker/errors.ts";
import { WardenError } from "../worker/errors.ts";
import type { LogEntry } from "../worker/log/chain.ts";
import type { ExportManifest, ExportSlice } from "../worker/log/export.ts";
import { inclusionProof, type Frontier } from "../worker/log/merkle.ts";
import { LogAudit } from "./log-audit.ts";
import { auditIoFrom, type AuditIo } from "./log-io.ts";
import type { StoredCheckpoint } from "../worker/log/checkpoint.ts";
import { TpmEnrollment, type TpmBinding, type TpmOutcome } from "./tpm-enrollment.ts";

/** Expected failures come back as values: an exception thrown across RPC loses its class. */
type DeviceRefusal = "not_found" | "already_exists" | "nonce_invalid" | "replay_detected" | "device_disabled";
type Outcome<T> = GenericOutcome<T, DeviceRefusal>;

/** One entry of a receipt: its stored JSON and its audit path (hex, deepest first) to the receipt's checkpoint. */
export interface ReceiptPart {
  entry: string;
  proof: string[];
}

/** `entry_refs` of the entries the compliance package carries as evidence. */
const EVIDENCE_REVIEW = "kind:review";
const EVIDENCE_ATTESTATION = "kind:attestation";

/** Oldest nonces are dropped past this many, so an unauthenticated caller cannot grow storage. */
const MAX_OUTSTANDING_NONCES = 32;

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
  /** TPM bootstrap tokens, pending activation and EK/AK binding (durable-objects/tpm-enrollment.ts). */
  private readonly tpm: TpmEnrollment;

  constructor(ctx: DurableObjectState, env: Env, io: AuditIo = auditIoFrom(env)) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
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
    );
    this.tpm = new TpmEnrollment({
      sql: this.sql,
      transaction: (body) => this.transaction(body),
      appendInTransaction: (device, type, data, now) => this.appendInTransaction(device, type, data, now),
      spend: (value, kind, now) => this.spend(value, kind, now),
      readDevice: () => this.readDevice(),
    });
    void ctx.blockConcurrencyWhile(async () => {
      this.migrate();
      this.tpm.migrate();
      this.audit.migrate();
      this.head = this.storedHead();
      this.lastAssurance = this.storedAssurance();
      await this.audit.load();
    });
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
      return result;
    } catch (error) {
      this.head = this.storedHead();
      this.lastAssurance = this.storedAssurance();
      this.audit.signing.reload();
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
      CREATE TABLE IF NOT EXISTS nonces (
        nonce TEXT PRIMARY KEY,
        expires_at INTEGER NOT NULL
      );
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
      CREATE TABLE IF NOT EXISTS entry_refs (
        ref TEXT NOT NULL,
        seq INTEGER NOT NULL,
        PRIMARY KEY (ref, seq)
      ) WITHOUT ROWID;
    `);
  }

  /** Registers the device; a second registration under the same id is refused. */
  register(record: DeviceRecord, now: number): Outcome<{ log: AppendedEntry }> {
    return this.transaction(() => {
      if (this.readDevice()) return { ok: false, code: "already_exists" } as const;
      this.sql.exec("INSERT INTO device (singleton, record) VALUES (1, ?)", JSON.stringify(record));
      const log = this.appendInTransaction(record.id, "device.registered", { os: record.os, shell: record.shell ?? null, jkt: record.jkt, assurance: record.assurance, groups: record.groups }, now);
      return { ok: true, log } as const;
    });
  }

  device(): DeviceRecord | null {
    return this.readDevice();
  }

  /** Stores a fresh server nonce until `expiresAt`. */
  issueNonce(nonce: string, expiresAt: number, now: number): Outcome<{ expiresAt: number }> {
    const device = this.readDevice();
    if (!device) return { ok: false, code: "not_found" };
    if (device.status !== "active") return { ok: false, code: "device_disabled" };
    this.transaction(() => {
      this.sql.exec("DELETE FROM nonces WHERE expires_at <= ?", now);
      this.sql.exec("INSERT INTO nonces (nonce, expires_at) VALUES (?, ?)", nonce, expiresAt);
      this.sql.exec(
        "DELETE FROM nonces WHERE nonce NOT IN (SELECT nonce FROM nonces ORDER BY expires_at DESC LIMIT ?)",
        MAX_OUTSTANDING_NONCES,
      );
    });
    return { ok: true, expiresAt };
  }

  /**
   * Consumes the nonce and the proof that carried it in one transaction, and logs the
   * session. A nonce that is unknown, expired or already used is refused, and a used one
   * stays used even when the rest fails.
   */
  openSession(
    args: { nonce: string; proof: SingleUse; now: number; session: { [key: string]: JsonValue } },
  ): Outcome<{ device: DeviceRecord; log: AppendedEntry }> {
    return this.transaction(() => {
      const device = this.readDevice();
      if (!device) return { ok: false, code: "not_found" } as const;
      const deleted = this.sql.exec("DELETE FROM nonces WHERE nonce = ? AND expires_at > ? RETURNING nonce", args.nonce, args.now).toArray();
      if (deleted.length !== 1) return { ok: false, code: "nonce_invalid" } as const;
      if (device.status !== "active") return { ok: false, code: "device_disabled" } as const;
      if (!this.spend(args.proof, "dpop", args.now)) return { ok: false, code: "replay_detected" } as const;
      const log = this.appendInTransaction(device.id, "session.opened", args.session, args.now);
      return { ok: true, device, log } as const;
    });
  }

  /**
   * Spends the request's DPoP proof and appends its decisions in one transaction,
   * so a replayed proof is never logged as a decision and a decision is never
   * answered without its entry.
   */
  recordDecisions(args: { proof: SingleUse; now: number; decisions: { [key: string]: JsonValue }[] }): Outcome<{ logs: AppendedEntry[] }> {
    return this.transaction(() => {
      const device = this.readDevice();
      if (!device) return { ok: false, code: "not_found" } as const;
      if (device.status !== "active") return { ok: false, code: "device_disabled" } as const;
      if (!this.spend(args.proof, "dpop", args.now)) return { ok: false, code: "replay_detected" } as const;
      const logs = args.decisions.map((data) => this.appendInTransaction(device.id, "decision", data, args.now));
      return { ok: true, logs } as const;
    });
  }

  /** Spends a DPoP proof of a request that changes nothing else (a read). */
  spendProof(proof: SingleUse, now: number): Outcome<object> {
    return this.transaction(() => (this.spend(proof, "dpop", now) ? ({ ok: true } as const) : ({ ok: false, code: "replay_detected" } as const)));
  }

  /**
   * Redeems a single-use action token: its `jti` and the presenting proof are spent together,
   * and the redemption is logged.
   */
  redeemActionToken(args: { token: SingleUse; proof: SingleUse; now: number; data: { [key: string]: JsonValue } }): Outcome<{ log: AppendedEntry }> {
    return this.transaction(() => {
      const device = this.readDevice();
      if (!device) return { ok: false, code: "not_found" } as const;
      if (device.status !== "active") return { ok: false, code: "device_disabled" } as const;
      if (!this.spend(args.proof, "dpop", args.now)) return { ok: false, code: "replay_detected" } as const;
      if (!this.spend(args.token, "action", args.now)) return { ok: false, code: "replay_detected" } as const;
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
  recordOutcome(args: {
    proof: SingleUse;
    now: number;
    decision: { id: string; seq: number };
    data: { [key: string]: JsonValue };
  }): GenericOutcome<{ log: AppendedEntry; checked: boolean }, DeviceRefusal | "unknown_decision"> {
    return this.transaction(() => {
      const device = this.readDevice();
      if (!device) return { ok: false, code: "not_found" } as const;
      if (device.status !== "active") return { ok: false, code: "device_disabled" } as const;
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

  /** Appends one entry of any type; the primitive every logged event goes through. */
  append(type: string, data: { [key: string]: JsonValue }, now: number): Outcome<{ log: AppendedEntry }> {
    const device = this.readDevice();
    if (!device) return { ok: false, code: "not_found" };
    return { ok: true, log: this.transaction(() => this.appendInTransaction(device.id, type, data, now)) };
  }

  /** Entries with seq > `after`, oldest first, at most `limit`, as their stored JSON text. */
  readLog(after: number, limit: number): { exists: boolean; entries: string[]; head: AppendedEntry } {
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
  exportStart(): { exists: boolean; head: AppendedEntry; checkpoint: StoredCheckpoint | null } {
    return { exists: this.readDevice() !== null, head: this.head, checkpoint: this.audit.signing.latestCheckpoint() };
  }

  /** Where entry `cursor` is now (archived segment, still here, or past the head). */
  exportSlice(cursor: number, limit: number): ExportSlice {
    return this.audit.archive.exportSlice(cursor, limit);
  }

  /** Signs an export manifest with the log's current key. */
  signExportManifest(manifest: Omit<ExportManifest, "key" | "format" | "origin">): Promise<string> {
    return this.audit.signing.signExportManifest(manifest);
  }

  /** TPM enrollment and attestation state (see durable-objects/tpm-enrollment.ts for each method). */
  tpmBinding(): TpmBinding | null {
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
  /** Burns the nonce that refused evidence answered and logs `attestation.failed`. */
  refuseEvidence(args: Parameters<TpmEnrollment["refuseEvidence"]>[0]): TpmOutcome<{ log: AppendedEntry }> {
    return this.tpm.refuseEvidence(args);
  }

  /**
   * What a receipt of decision `decisionId` at `seq` needs: the entry, the entries it rests on
   * (its session, the review evidence of its hold), a checkpoint covering all of them (signed
   * now if none does yet, and cosigned by the configured witnesses), and each entry's inclusion
   * proof to it. `unknown_decision` when the entry at `seq` is not that decision.
   */
  async receipt(args: { seq: number; decisionId: string; now: number }): Promise<
    GenericOutcome<{ origin: string; checkpoint: string; entry: ReceiptPart; related: ReceiptPart[] }, "not_found" | "unknown_decision" | "configuration_error">
  > {
    const device = this.readDevice();
    if (!device) return { ok: false, code: "not_found" };
    if (!Number.isSafeInteger(args.seq) || args.seq < 1 || args.seq > this.head.seq) return { ok: false, code: "unknown_decision" };
    const { tree } = this.audit;
    const text = await tree.entryText(args.seq);
    const entry = text === null ? null : (JSON.parse(text) as LogEntry);
    if (!entry || entry.type !== "decision" || entry.data["decision_id"] !== args.decisionId) return { ok: false, code: "unknown_decision" };
    const refs = [`decision:${args.decisionId}`, ...(typeof entry.data["session"] === "string" ? [`session:${entry.data["session"]}`] : [])];
    const relatedSeqs = refs.flatMap((ref) => this.sql.exec<{ seq: number }>("SELECT seq FROM entry_refs WHERE ref = ? ORDER BY seq", ref).toArray().map((row) => row.seq));
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
    const lastEvidence = this.sql.exec<{ seq: number | null }>("SELECT MAX(seq) AS seq FROM entry_refs WHERE ref IN (?, ?)", EVIDENCE_REVIEW, EVIDENCE_ATTESTATION).one().seq ?? 0;
    return { device, assuranceHistory, checkpoint: await this.audit.freshCheckpoint(now, lastEvidence) };
  }

  /**
   * The review and attestation entries with seq in (`after`, `size`] whose time is in the window,
   * at most `limit`, each with its inclusion proof to the checkpoint of `size`; `next` continues.
   */
  async complianceEvidence(args: { size: number; after: number; limit: number; from: string; to: string }): Promise<{
    parts: (ReceiptPart & { kind: "review" | "attestation" })[];
    next: number | null;
  }> {
    const rows = this.sql
      .exec<{ ref: string; seq: number }>("SELECT ref, seq FROM entry_refs WHERE ref IN (?, ?) AND seq > ? AND seq <= ? ORDER BY seq LIMIT ?", EVIDENCE_REVIEW, EVIDENCE_ATTESTATION, args.after, args.size, args.limit)
      .toArray();
    const { tree } = this.audit;
    const source = tree.source(args.size);
    const parts: (ReceiptPart & { kind: "review" | "attestation" })[] = [];
    for (const row of rows) {
      const text = await tree.entryText(row.seq);
      if (text === null) continue;
      const time = (JSON.parse(text) as LogEntry).time;
      if (time < args.from || time > args.to) continue;
      const proof = (await inclusionProof(source, row.seq - 1, args.size)).map((hash) => hash.toString("hex"));
      parts.push({ kind: row.ref === EVIDENCE_REVIEW ? "review" : "attestation", entry: text, proof });
    }
    return { parts, next: rows.length === args.limit ? (rows.at(-1) as { seq: number }).seq : null };
  }

  /** Rotates the log key, signs checkpoints, seals and archives segments (durable-objects/log-audit.ts). */
  override async alarm(): Promise<void> {
    await this.audit.alarm();
  }

  private readDevice(): DeviceRecord | null {
    const row = this.sql.exec<{ record: string }>("SELECT record FROM device WHERE singleton = 1").toArray()[0];
    return row ? (JSON.parse(row.record) as DeviceRecord) : null;
  }

  /** Marks a single-use value spent; false when it already was. Forgets values past their expiry. */
  private spend(value: SingleUse, kind: "dpop" | "action", now: number): boolean {
    this.sql.exec("DELETE FROM spent WHERE expires_at <= ?", now);
    const inserted = this.sql
      .exec("INSERT INTO spent (jti, kind, expires_at) VALUES (?, ?, ?) ON CONFLICT (jti) DO NOTHING RETURNING jti", `${kind}:${value.jti}`, kind, value.expiresAt)
      .toArray();
    return inserted.length === 1;
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
    // The compliance package's evidence: review verdicts, and every attestation appraisal, refusal and enrollment step.
    if (entry.type.startsWith("review.")) refs.push(EVIDENCE_REVIEW);
    else if ((entry.type === "session.opened" && entry.data["attestation"] !== undefined) || entry.type === "attestation.failed" || entry.type.startsWith("tpm.")) refs.push(EVIDENCE_ATTESTATION);
    for (const ref of refs) this.sql.exec("INSERT INTO entry_refs (ref, seq) VALUES (?, ?) ON CONFLICT DO NOTHING", ref, entry.seq);
  }

  /**
   * Must run inside `transaction`: head read, hash and insert happen with no
   * await in between, so concurrent requests cannot fork the chain; a rollback
   * restores the cached head from storage.
   */
  private appendInTransaction(device: string, type: string, data: { [key: string]: JsonValue }, now: number): AppendedEntry {
    const { signing } = this.audit;
    const entry = signing.withMac(nextEntry(this.head, device, type, data, now, signing.entryKey(this.head.seq + 1)));
    this.noteAssurance(entry);
    this.noteReference(entry);
    this.appendedAt = now;
    this.sql.exec("INSERT INTO log (seq, hash, entry) VALUES (?, ?, ?)", entry.seq, entry.hash, JSON.stringify(entry));
    const appended = { seq: entry.seq, hash: entry.hash };
    this.head = appended;
    return appended;
  }
}
