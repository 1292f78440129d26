import { parseStrictJson } from "../worker/json/strict.ts";
import { canonicalJson, type JsonValue } from "../worker/log/canonical.ts";
import type { LogEntry } from "../worker/log/chain.ts";
import { checkpointText, logOrigin, parseCheckpointText } from "../worker/log/checkpoint.ts";
import {
  EXPORT_FORMAT,
  GENESIS_SEGMENT,
  SEGMENT_FORMAT,
  manifestHash,
  segmentKeys,
  sha256Hex,
  type ExportManifest,
  type SegmentManifest,
} from "../worker/log/export.ts";
import { importLogSigningKey, logKeyIdOf, noteSignerFor, type LogKey } from "../worker/log/keys.ts";
import { GENESIS_MAC, entryMac, parseMacKey, type MacKey } from "../worker/log/mac.ts";
import { EMPTY_FRONTIER, extendFrontier, frontierRoot, type Frontier } from "../worker/log/merkle.ts";
import { parseNote, signNote } from "../worker/log/note.ts";
import { rotationText } from "../worker/log/rotation.ts";

/**
 * The audit side of a device's Durable Object: which log key entries name, the
 * chained HMAC, signed checkpoints, and archival of sealed segments to R2.
 * `DeviceLog` owns the append; this class is called from inside its
 * transactions (synchronously) and from its alarm (asynchronously).
 *
 * Ordering that keeps every promise:
 * - a checkpoint is computed from rows read synchronously, so it names a head
 *   that was committed; it is signed afterwards (WebCrypto is async) and stored
 *   only if it is newer than the latest stored one;
 * - a segment never extends past the latest checkpoint, so what is archived was
 *   signed first, and the Merkle compact range of the next checkpoint can always
 *   be built from the previous one and rows still present;
 * - a segment is recorded as pending before any write, written create-only,
 *   read back and verified, and only then marked sealed and pruned in one
 *   transaction. A crash anywhere leaves either the rows or a verified object
 *   (usually both), never neither, and a retry re-derives the same bytes.
 */

/** When to sign and when to seal; from the environment, overridable in tests. */
export interface AuditTuning {
  /** Sign once this many entries are unsigned… */
  checkpointEntries: number;
  /** …or once the oldest unsigned entry is this old. */
  checkpointSeconds: number;
  /** Seal a segment once this many entries are signed and unarchived… */
  segmentEntries: number;
  /** …or once the oldest unarchived entry is this old (then with whatever is signed). */
  segmentMinutes: number;
  /** Delay before an alarm that failed runs again. */
  retrySeconds: number;
}

/** What the audit trail does I/O with; tests replace it (a failing bucket, a pinned clock, other keys). */
export interface AuditIo {
  archive: R2Bucket;
  now(): number;
  /** Private JWKs (JSON): the key that signs now, and during a rotation the one before it. */
  keys(): { current: string | undefined; previous: string | undefined };
  macKey(): string | undefined;
}

export interface AuditHooks {
  head(): { seq: number; hash: string };
  /** The registration (public: id, tenant, os, public key, jkt, assurance, status, time). */
  device(): ({ id: string; tenant: string } & object) | null;
  /** Runs `before` and appends one entry, in one transaction. */
  appendWith(before: () => void, type: string, data: { [key: string]: JsonValue }, now: number): { seq: number; hash: string };
}

/** A checkpoint as the log keeps and serves it. */
export interface StoredCheckpoint {
  origin: string;
  size: number;
  root: string;
  head: string;
  time: string;
  key: string;
  note: string;
}

/** One step of an export's plan: a sealed segment to stream from R2, entries still in the object, or the end. */
export type ExportSlice =
  | { kind: "segment"; key: string; manifest: SegmentManifest; treeBefore: Frontier }
  | { kind: "entries"; entries: string[] }
  | { kind: "end" };

export class ArchiveConflictError extends Error {
  constructor(readonly key: string) {
    super(`${key} exists in the archive with other bytes; it is never overwritten`);
    this.name = new.target.name;
  }
}

function positiveNumber(value: string | undefined, fallback: number): number {
  const number = value === undefined || value === "" ? Number.NaN : Number(value);
  return Number.isFinite(number) && number >= 0 ? number : fallback;
}

export function tuningFrom(env: Env): AuditTuning {
  return {
    checkpointEntries: Math.max(1, Math.floor(positiveNumber(env.LOG_CHECKPOINT_ENTRIES, 256))),
    checkpointSeconds: positiveNumber(env.LOG_CHECKPOINT_SECONDS, 10),
    segmentEntries: Math.max(1, Math.floor(positiveNumber(env.ARCHIVE_SEGMENT_ENTRIES, 1024))),
    segmentMinutes: positiveNumber(env.ARCHIVE_SEGMENT_MINUTES, 60),
    retrySeconds: 30,
  };
}

type CheckpointRow = {
  size: number;
  time: number;
  root: string;
  head: string;
  kid: string;
  frontier: string;
  note: string;
};

type SegmentRow = {
  idx: number;
  first: number;
  last: number;
  manifest: string;
  manifest_hash: string;
  state: "pending" | "sealed";
};

export class AuditTrail {
  tuning: AuditTuning;
  io: AuditIo;
  /** Thumbprint of the log key entries name now; null until a key is configured. */
  private keyKid: string | null = null;
  /** `mac` of the head entry; null when it has none. */
  private lastMac: string | null = null;
  /** The assurance the latest entry that stated one stated (registration, sessions). */
  private lastAssurance: string | null = null;
  private checkpointSize = 0;
  private alarmAt: number | null = null;
  private running: Promise<void> | null = null;
  private lock: Promise<unknown> = Promise.resolve();
  private published = new Set<string>();
  /** `LOG_ORIGIN`: the schema-less URL a device log's origin starts with. */
  private readonly originPrefix: string | undefined;

  constructor(
    private readonly ctx: DurableObjectState,
    env: Env,
    private readonly hooks: AuditHooks,
  ) {
    this.tuning = tuningFrom(env);
    this.originPrefix = env.LOG_ORIGIN;
    this.io = {
      archive: env.ARCHIVE,
      now: () => Date.now(),
      keys: () => ({ current: env.LOG_SIGNING_KEY, previous: env.LOG_SIGNING_KEY_PREVIOUS }),
      macKey: () => env.LOG_HMAC_KEY,
    };
  }

  private get sql(): SqlStorage {
    return this.ctx.storage.sql;
  }

  migrate(): void {
    this.sql.exec(`
      CREATE TABLE IF NOT EXISTS log_keys (
        kid TEXT PRIMARY KEY,
        jwk TEXT NOT NULL,
        first_seq INTEGER NOT NULL
      );
      CREATE TABLE IF NOT EXISTS checkpoints (
        size INTEGER PRIMARY KEY,
        time INTEGER NOT NULL,
        root TEXT NOT NULL,
        head TEXT NOT NULL,
        kid TEXT NOT NULL,
        frontier TEXT NOT NULL,
        note TEXT NOT NULL
      );
      CREATE TABLE IF NOT EXISTS assurance_history (
        seq INTEGER PRIMARY KEY,
        time TEXT NOT NULL,
        assurance TEXT NOT NULL
      );
      CREATE TABLE IF NOT EXISTS audit_flags (
        name TEXT PRIMARY KEY
      );
      CREATE TABLE IF NOT EXISTS segments (
        idx INTEGER PRIMARY KEY,
        first INTEGER NOT NULL,
        last INTEGER NOT NULL,
        manifest TEXT NOT NULL,
        manifest_hash TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('pending', 'sealed'))
      );
    `);
  }

  /** Re-reads the in-memory state from storage: at start, and after a rolled-back transaction. */
  reload(): void {
    this.keyKid = this.sql.exec<{ kid: string }>("SELECT kid FROM log_keys ORDER BY first_seq DESC LIMIT 1").toArray()[0]?.kid ?? null;
    this.checkpointSize = this.latestCheckpointRow()?.size ?? 0;
    this.lastAssurance = this.sql.exec<{ assurance: string }>("SELECT assurance FROM assurance_history ORDER BY seq DESC LIMIT 1").toArray()[0]?.assurance ?? null;
    const last = this.sql.exec<{ entry: string }>("SELECT entry FROM log ORDER BY seq DESC LIMIT 1").toArray()[0];
    if (last) this.lastMac = (JSON.parse(last.entry) as LogEntry).mac ?? null;
    else this.lastMac = this.lastSealed()?.last_mac ?? null;
  }

  async loadAlarm(): Promise<void> {
    this.alarmAt = await this.ctx.storage.getAlarm();
  }

  /** The head when every entry was archived and pruned: the end of the last sealed segment. */
  archivedHead(): { seq: number; hash: string } | null {
    const sealed = this.lastSealed();
    return sealed ? { seq: sealed.last, hash: sealed.last_hash } : null;
  }

  /** Entries with seq ≤ this are in R2 and no longer in the object. */
  archivedUpto(): number {
    return this.lastSealed()?.last ?? 0;
  }

  private lastSealed(): SegmentManifest | null {
    const row = this.sql.exec<{ manifest: string }>("SELECT manifest FROM segments WHERE state = 'sealed' ORDER BY idx DESC LIMIT 1").toArray()[0];
    return row ? (JSON.parse(row.manifest) as SegmentManifest) : null;
  }

  private latestCheckpointRow(): CheckpointRow | null {
    return this.sql.exec<CheckpointRow>("SELECT * FROM checkpoints ORDER BY size DESC LIMIT 1").toArray()[0] ?? null;
  }

  // ---- inside the append transaction ---------------------------------------------------------

  /**
   * The key the next entry names. The first entry after a key is configured
   * records it; a different configured key is not named until the rotation
   * entry (signed by both) is appended by the alarm.
   */
  entryKey(seq: number): string | undefined {
    if (this.keyKid !== null) return this.keyKid;
    const source = this.io.keys().current;
    if (!source) return undefined;
    const kid = logKeyIdOf(source);
    // A configured key that cannot be read is refused rather than silently not named.
    if (!kid) throw new Error("LOG_SIGNING_KEY is not an Ed25519 JWK");
    this.sql.exec("INSERT INTO log_keys (kid, jwk, first_seq) VALUES (?, ?, ?)", kid, JSON.stringify(publicOf(source)), seq);
    this.keyKid = kid;
    return kid;
  }

  /** Adds the chained HMAC to an entry that is about to be inserted (and notes a change of assurance). */
  stamp(entry: LogEntry): LogEntry {
    const assurance = entry.data["assurance"];
    if (typeof assurance === "string" && assurance !== this.lastAssurance) {
      // The compliance package reports each device's assurance history without scanning its log.
      this.sql.exec("INSERT INTO assurance_history (seq, time, assurance) VALUES (?, ?, ?)", entry.seq, entry.time, assurance);
      this.lastAssurance = assurance;
    }
    const source = this.io.macKey();
    if (!source) {
      this.lastMac = null;
      return entry;
    }
    const key: MacKey = parseMacKey(source);
    const mac = entryMac(key, this.lastMac ?? GENESIS_MAC, entry.hash);
    this.lastMac = mac;
    return { ...entry, mac, mac_key: key.id };
  }

  /** After a committed transaction: make sure the alarm will sign (and, through it, archive) in time. */
  afterCommit(now: number): void {
    const current = this.io.keys().current;
    if (!current) return;
    const unsigned = this.hooks.head().seq - this.checkpointSize;
    if (this.rotationPending(current)) this.ensureAlarm(now);
    else if (unsigned >= this.tuning.checkpointEntries) this.ensureAlarm(now);
    else if (unsigned > 0) this.ensureAlarm(now + this.tuning.checkpointSeconds * 1000);
  }

  private rotationPending(source = this.io.keys().current): boolean {
    const current = logKeyIdOf(source);
    return this.keyKid !== null && current !== null && current !== this.keyKid;
  }

  private ensureAlarm(at: number): void {
    if (this.alarmAt !== null && this.alarmAt <= at) return;
    this.alarmAt = at;
    this.ctx.storage.setAlarm(at).catch((error: unknown) => console.error(JSON.stringify({ event: "audit.set_alarm_failed", error: String(error) })));
  }

  // ---- the alarm ------------------------------------------------------------------------------

  /** Runs at most once at a time; a second call while one runs waits for it. */
  alarm(): Promise<void> {
    this.running ??= this.runAlarm().finally(() => {
      this.running = null;
    });
    return this.running;
  }

  private async runAlarm(): Promise<void> {
    const now = this.io.now();
    this.alarmAt = null;
    let failed = false;
    const step = async (name: string, work: () => Promise<unknown>) => {
      try {
        await work();
      } catch (error) {
        failed = true;
        console.error(JSON.stringify({ event: `audit.${name}_failed`, device: this.hooks.device()?.id, error: String(error) }));
      }
    };
    if (this.hooks.device() && this.io.keys().current) {
      let rotated = false;
      if (this.rotationPending()) await step("rotation", async () => (rotated = await this.rotate(now)));
      // A rotation is anchored at once by a checkpoint under the new key.
      await step("checkpoint", () => this.checkpointIfDue(now, rotated ? this.hooks.head().seq : this.sealWanted(now)));
      // One segment per run keeps each alarm within its CPU budget; scheduleNext runs the next at once.
      await step("archive", () => this.archiveNext(now));
      await step("registry", () => this.publishRegistration());
    }
    this.scheduleNext(now, failed);
  }

  private scheduleNext(now: number, failed: boolean): void {
    const head = this.hooks.head().seq;
    const candidates: number[] = [];
    if (this.io.keys().current) {
      if (this.rotationPending()) candidates.push(now);
      const unsigned = head - this.checkpointSize;
      if (unsigned >= this.tuning.checkpointEntries) candidates.push(now);
      else if (unsigned > 0) candidates.push((this.entryTime(this.checkpointSize + 1) ?? now) + this.tuning.checkpointSeconds * 1000);
      const upto = this.archivedUpto();
      if (head - upto >= this.tuning.segmentEntries) candidates.push(now);
      else if (head > upto) candidates.push((this.entryTime(upto + 1) ?? now) + this.tuning.segmentMinutes * 60_000);
      if (this.pendingSegment()) candidates.push(now);
    }
    if (candidates.length === 0) return;
    // After a failure nothing runs sooner than the retry delay, so a persistent fault cannot spin.
    const at = Math.max(Math.min(...candidates), failed ? now + this.tuning.retrySeconds * 1000 : now);
    this.ensureAlarm(at);
  }

  private entryTime(seq: number): number | null {
    const row = this.sql.exec<{ entry: string }>("SELECT entry FROM log WHERE seq = ?", seq).toArray()[0];
    return row ? Date.parse((JSON.parse(row.entry) as LogEntry).time) : null;
  }

  /** The size a checkpoint must reach for the segment due now, or 0 when none is due. */
  private sealWanted(now: number): number {
    const head = this.hooks.head().seq;
    const upto = this.archivedUpto();
    if (head <= upto) return 0;
    const byCount = head - upto >= this.tuning.segmentEntries;
    const oldest = this.entryTime(upto + 1);
    const byAge = oldest !== null && oldest + this.tuning.segmentMinutes * 60_000 <= now;
    return byCount || byAge ? Math.min(upto + this.tuning.segmentEntries, head) : 0;
  }

  /** Runs `work` after every earlier locked work: signing and rotating never interleave. */
  private locked<T>(work: () => Promise<T>): Promise<T> {
    const result = this.lock.then(work, work);
    this.lock = result.catch(() => undefined);
    return result;
  }

  // ---- keys -----------------------------------------------------------------------------------

  private async signingKeys(): Promise<{ current: LogKey; previous: LogKey | null }> {
    const { current, previous } = this.io.keys();
    if (!current) throw new Error("LOG_SIGNING_KEY is not set");
    return {
      current: await importLogSigningKey(current),
      previous: previous ? await importLogSigningKey(previous, "LOG_SIGNING_KEY_PREVIOUS") : null,
    };
  }

  private origin(): string {
    const device = this.hooks.device();
    if (!device) throw new Error("no device");
    return logOrigin(this.originPrefix, device.tenant, device.id);
  }


  /**
   * Writes a key's public JWK to the archive (create-only), so it stays
   * published after it is retired. Best effort: a failure is retried with the
   * next signature and never undoes what was signed.
   */
  private async publish(key: LogKey): Promise<void> {
    try {
      await this.publishOnce(key);
    } catch (error) {
      console.error(JSON.stringify({ event: "audit.publish_key_failed", kid: key.kid, error: String(error) }));
    }
  }

  private async publishOnce(key: LogKey): Promise<void> {
    if (this.published.has(key.kid)) return;
    const body = JSON.stringify({ kty: "OKP", crv: "Ed25519", x: key.publicJwk.x, kid: key.kid, alg: "EdDSA", use: "sig" });
    const put = await this.io.archive.put(`log-keys/${key.kid}.json`, body, { onlyIf: { etagDoesNotMatch: "*" }, httpMetadata: { contentType: "application/json" } });
    if (put === null) {
      const existing = await this.io.archive.get(`log-keys/${key.kid}.json`);
      if (!existing || (await existing.text()) !== body) throw new ArchiveConflictError(`log-keys/${key.kid}.json`);
    }
    this.published.add(key.kid);
  }

  /**
   * Rotation: the new key is named from the rotation entry on. The entry
   * carries a note over `{origin, from, to, time}` signed by the old key and
   * the new one, so a verifier who trusts the old key learns the new one from
   * the log itself, and one who holds both sees they agreed.
   */
  private rotate(now: number): Promise<boolean> {
    return this.locked(async () => {
      const keys = await this.signingKeys();
      const old = this.keyKid;
      if (old === null || old === keys.current.kid) return false;
      if (keys.previous?.kid !== old) throw new Error(`cannot rotate from ${old}: LOG_SIGNING_KEY_PREVIOUS is not that key`);
      const origin = this.origin();
      const statement = await signNote(rotationText({ origin, from: old, to: keys.current.kid, time: new Date(now).toISOString() }), [
        noteSignerFor(keys.previous, origin),
        noteSignerFor(keys.current, origin),
      ]);
      const next = keys.current;
      this.hooks.appendWith(
        () => {
          if (this.keyKid !== old) throw new Error("the log key changed during rotation");
          this.sql.exec("INSERT INTO log_keys (kid, jwk, first_seq) VALUES (?, ?, ?)", next.kid, JSON.stringify(next.publicJwk), this.hooks.head().seq + 1);
          this.keyKid = next.kid;
        },
        "log.key_rotated",
        { from: old, to: next.kid, from_key: jsonOf(keys.previous.publicJwk), to_key: jsonOf(next.publicJwk), statement },
        now,
      );
      await this.publish(keys.previous);
      await this.publish(next);
      return true;
    });
  }

  // ---- checkpoints ----------------------------------------------------------------------------

  /**
   * Signs a checkpoint of the current head if one is due (or `atLeast` is not
   * yet covered, or there is none yet); returns the latest.
   */
  async checkpointIfDue(now: number, atLeast = 0): Promise<StoredCheckpoint | null> {
    const unsigned = this.hooks.head().seq - this.checkpointSize;
    const oldest = unsigned > 0 ? this.entryTime(this.checkpointSize + 1) : null;
    const due =
      unsigned > 0 &&
      (unsigned >= this.tuning.checkpointEntries ||
        this.checkpointSize < atLeast ||
        this.checkpointSize === 0 ||
        (oldest !== null && oldest + this.tuning.checkpointSeconds * 1000 <= now));
    if (due && this.hooks.device() && this.io.keys().current) await this.signCheckpoint(now);
    return this.latestCheckpoint();
  }

  /** For readers: the latest checkpoint, freshly signed if one is due; a signing failure leaves the latest stored one. */
  async freshCheckpoint(now: number): Promise<StoredCheckpoint | null> {
    try {
      return await this.checkpointIfDue(now);
    } catch (error) {
      console.error(JSON.stringify({ event: "audit.checkpoint_failed", device: this.hooks.device()?.id, error: String(error) }));
      return this.latestCheckpoint();
    }
  }

  latestCheckpoint(): StoredCheckpoint | null {
    const row = this.latestCheckpointRow();
    if (!row) return null;
    const parsed = parseCheckpointText(parseNote(row.note).text);
    return { ...parsed, key: row.kid, note: row.note };
  }

  private signCheckpoint(now: number): Promise<void> {
    return this.locked(async () => {
      const keys = await this.signingKeys();
      // Synchronous from here to the signature: the head, the key it names and the rows are one committed state.
      const head = this.hooks.head();
      if (head.seq <= this.checkpointSize) return;
      const kid = this.keyKid ?? keys.current.kid;
      const key = [keys.current, keys.previous].find((candidate) => candidate?.kid === kid);
      if (!key) throw new Error(`the log names key ${kid}, which is not configured`);
      const base = this.latestCheckpointRow();
      const start: Frontier = base ? (JSON.parse(base.frontier) as Frontier) : (this.lastSealed()?.tree ?? EMPTY_FRONTIER);
      const hashes = this.sql
        .exec<{ seq: number; hash: string }>("SELECT seq, hash FROM log WHERE seq > ? AND seq <= ? ORDER BY seq", start.size, head.seq)
        .toArray();
      if (hashes.length !== head.seq - start.size || (hashes[0] && hashes[0].seq !== start.size + 1)) {
        throw new Error(`entries ${start.size + 1}..${head.seq} are not all present to extend the tree`);
      }
      const frontier = extendFrontier(start, hashes.map((row) => row.hash));
      const origin = this.origin();
      const checkpoint = { origin, size: head.seq, root: frontierRoot(frontier).toString("hex"), head: head.hash, time: new Date(now).toISOString() };
      const note = await signNote(checkpointText(checkpoint), [noteSignerFor(key, origin)]);
      this.ctx.storage.transactionSync(() => {
        // Another signer may have stored a newer one meanwhile; checkpoints only move forward.
        const latest = this.sql.exec<{ size: number | null }>("SELECT MAX(size) AS size FROM checkpoints").one().size ?? 0;
        if (latest >= checkpoint.size) return;
        this.sql.exec(
          "INSERT INTO checkpoints (size, time, root, head, kid, frontier, note) VALUES (?, ?, ?, ?, ?, ?, ?)",
          checkpoint.size,
          now,
          checkpoint.root,
          checkpoint.head,
          key.kid,
          JSON.stringify(frontier),
          note,
        );
        this.checkpointSize = checkpoint.size;
      });
      await this.publish(key);
    });
  }

  // ---- archival -------------------------------------------------------------------------------

  private pendingSegment(): SegmentRow | null {
    return this.sql.exec<SegmentRow>("SELECT * FROM segments WHERE state = 'pending' ORDER BY idx LIMIT 1").toArray()[0] ?? null;
  }

  /** The segment object's bytes (every entry's stored JSON and a newline) and the entries' hashes. */
  private segmentBody(first: number, last: number): { body: string; hashes: string[]; firstEntry: LogEntry; lastEntry: LogEntry } {
    const rows = this.sql
      .exec<{ seq: number; hash: string; entry: string }>("SELECT seq, hash, entry FROM log WHERE seq BETWEEN ? AND ? ORDER BY seq", first, last)
      .toArray();
    if (rows.length !== last - first + 1 || rows.some((row, index) => row.seq !== first + index)) {
      throw new Error(`entries ${first}..${last} are not all present`);
    }
    return {
      body: rows.map((row) => `${row.entry}\n`).join(""),
      hashes: rows.map((row) => row.hash),
      firstEntry: JSON.parse((rows[0] as { entry: string }).entry) as LogEntry,
      lastEntry: JSON.parse((rows[rows.length - 1] as { entry: string }).entry) as LogEntry,
    };
  }

  /** Plans the next segment if one is due, recording it as pending; null when none is. */
  private planSegment(now: number): SegmentRow | null {
    const wanted = this.sealWanted(now);
    const upto = this.archivedUpto();
    const last = Math.min(wanted, this.checkpointSize);
    if (wanted === 0 || last <= upto) return null;
    const first = upto + 1;
    const device = this.hooks.device();
    const checkpoint = this.latestCheckpointRow();
    if (!device || !checkpoint) return null;
    // Only the first and last entries are parsed: a segment is sealed within one alarm's CPU budget.
    const { body, hashes, firstEntry, lastEntry } = this.segmentBody(first, last);
    const previous = this.lastSealed();
    const previousRow = this.sql.exec<{ idx: number; manifest_hash: string }>("SELECT idx, manifest_hash FROM segments WHERE state = 'sealed' ORDER BY idx DESC LIMIT 1").toArray()[0];
    const manifest: SegmentManifest = {
      format: SEGMENT_FORMAT,
      origin: logOrigin(this.originPrefix, device.tenant, device.id),
      tenant: device.tenant,
      device: device.id,
      index: (previousRow?.idx ?? 0) + 1,
      first,
      last,
      count: hashes.length,
      prev_hash: firstEntry.prev,
      last_hash: lastEntry.hash,
      last_mac: lastEntry.mac ?? null,
      sha256: sha256Hex(body),
      previous: previousRow?.manifest_hash ?? GENESIS_SEGMENT,
      tree: extendFrontier(previous?.tree ?? EMPTY_FRONTIER, hashes),
      checkpoint: checkpoint.note,
      sealed_at: new Date(now).toISOString(),
    };
    const row: SegmentRow = { idx: manifest.index, first, last, manifest: JSON.stringify(manifest), manifest_hash: manifestHash(manifest), state: "pending" };
    this.sql.exec(
      "INSERT INTO segments (idx, first, last, manifest, manifest_hash, state) VALUES (?, ?, ?, ?, ?, 'pending')",
      row.idx,
      row.first,
      row.last,
      row.manifest,
      row.manifest_hash,
    );
    return row;
  }

  /**
   * Seals one segment (a pending one first, else the next due): create-only
   * writes, read back and verify, then mark sealed and prune in one
   * transaction. True when a segment was sealed.
   */
  async archiveNext(now: number): Promise<boolean> {
    const segment = this.pendingSegment() ?? this.planSegment(now);
    if (!segment) return false;
    const manifest = JSON.parse(segment.manifest) as SegmentManifest;
    // The rows are still here (pruning is the last step), and immutable: a retry writes the same bytes.
    const { body } = this.segmentBody(segment.first, segment.last);
    if (sha256Hex(body) !== manifest.sha256) throw new Error(`segment ${segment.first}-${segment.last} no longer matches its manifest`);
    const keys = segmentKeys(manifest.tenant, manifest.device, segment.first, segment.last);
    const manifestText = `${canonicalJson(manifest as unknown as JsonValue)}\n`;
    await this.putCreateOnly(keys.entries, body, "application/jsonl");
    await this.putCreateOnly(keys.manifest, manifestText, "application/json");
    await this.readBack(keys.entries, keys.manifest, manifest, manifestText, body);
    this.ctx.storage.transactionSync(() => {
      // Two alarms (or a retry after a restart) may reach here for one segment: only the first prunes.
      const state = this.sql.exec<{ state: string }>("SELECT state FROM segments WHERE idx = ?", segment.idx).toArray()[0]?.state;
      if (state !== "pending") return;
      this.sql.exec("UPDATE segments SET state = 'sealed' WHERE idx = ?", segment.idx);
      this.sql.exec("DELETE FROM log WHERE seq BETWEEN ? AND ?", segment.first, segment.last);
      // The latest checkpoint always stays: the next one extends its compact range.
      this.sql.exec("DELETE FROM checkpoints WHERE size <= ? AND size < (SELECT MAX(size) FROM checkpoints)", segment.last);
    });
    return true;
  }

  private async putCreateOnly(key: string, body: string, contentType: string): Promise<void> {
    const written = await this.io.archive.put(key, body, {
      onlyIf: { etagDoesNotMatch: "*" },
      sha256: sha256Hex(body),
      httpMetadata: { contentType },
    });
    if (written !== null) return;
    // It exists: an earlier attempt wrote it and stopped before pruning. Same bytes or a conflict; never overwrite.
    const existing = await this.io.archive.get(key);
    if (existing === null) throw new Error(`the archive refused to create ${key} but does not have it`);
    if ((await existing.text()) !== body) throw new ArchiveConflictError(key);
  }

  /**
   * Reads both objects back: the manifest must be the exact text, and the
   * entries the exact bytes built from the rows about to be pruned (the rows
   * were hash-chained when appended; equal bytes carry that chain to R2).
   */
  private async readBack(entriesKey: string, manifestKey: string, manifest: SegmentManifest, manifestText: string, body: string): Promise<void> {
    const [entriesObject, manifestObject] = await Promise.all([this.io.archive.get(entriesKey), this.io.archive.get(manifestKey)]);
    if (!entriesObject || !manifestObject) throw new Error(`segment ${manifest.first}-${manifest.last} is not readable after writing`);
    const [text, storedManifest] = await Promise.all([entriesObject.text(), manifestObject.text()]);
    if (storedManifest !== manifestText) throw new Error(`manifest of ${manifest.first}-${manifest.last} reads back different`);
    if (text.length !== body.length || sha256Hex(text) !== manifest.sha256 || text !== body) {
      throw new Error(`segment ${manifest.first}-${manifest.last} reads back different from its entries`);
    }
  }

  // ---- the tenant's device registry ------------------------------------------------------------

  /**
   * Writes the registration to the archive once, create-only, as
   * `<tenant>/devices/<id>/registration.json`: the compliance package lists a
   * tenant's devices from these (a device appears after its first alarm).
   */
  private async publishRegistration(): Promise<void> {
    if (this.sql.exec("SELECT name FROM audit_flags WHERE name = 'registration_published'").toArray().length > 0) return;
    const device = this.hooks.device();
    if (!device) return;
    const key = `${device.tenant}/devices/${device.id}/registration.json`;
    const body = `${JSON.stringify(device)}\n`;
    const put = await this.io.archive.put(key, body, { onlyIf: { etagDoesNotMatch: "*" }, httpMetadata: { contentType: "application/json" } });
    if (put === null) {
      const existing = await this.io.archive.get(key);
      if (!existing || (await existing.text()) !== body) throw new ArchiveConflictError(key);
    }
    this.sql.exec("INSERT INTO audit_flags (name) VALUES ('registration_published') ON CONFLICT (name) DO NOTHING");
  }

  /** Assurance changes, oldest first. */
  assuranceHistory(): { seq: number; time: string; assurance: string }[] {
    return this.sql.exec<{ seq: number; time: string; assurance: string }>("SELECT seq, time, assurance FROM assurance_history ORDER BY seq").toArray();
  }

  // ---- export ---------------------------------------------------------------------------------

  /** Where entry `cursor` lives now: in a sealed segment, still here (up to `limit` rows from it), or past the head. */
  exportSlice(cursor: number, limit: number): ExportSlice {
    if (cursor <= this.archivedUpto()) {
      const row = this.sql
        .exec<{ manifest: string; idx: number }>("SELECT manifest, idx FROM segments WHERE state = 'sealed' AND first <= ? AND last >= ?", cursor, cursor)
        .toArray()[0];
      if (!row) throw new Error(`no sealed segment holds entry ${cursor}`);
      const manifest = JSON.parse(row.manifest) as SegmentManifest;
      const before = this.sql.exec<{ manifest: string }>("SELECT manifest FROM segments WHERE idx = ?", row.idx - 1).toArray()[0];
      const treeBefore = before ? (JSON.parse(before.manifest) as SegmentManifest).tree : EMPTY_FRONTIER;
      return { kind: "segment", key: segmentKeys(manifest.tenant, manifest.device, manifest.first, manifest.last).entries, manifest, treeBefore };
    }
    const rows = this.sql.exec<{ entry: string }>("SELECT entry FROM log WHERE seq >= ? ORDER BY seq LIMIT ?", cursor, limit).toArray();
    return rows.length === 0 ? { kind: "end" } : { kind: "entries", entries: rows.map((row) => row.entry) };
  }

  /** The compact range after entry `size`, for an export that starts in the entries still here. */
  frontierAt(size: number): Frontier {
    const sealed = this.lastSealed();
    const checkpoint = this.latestCheckpointRow();
    let start: Frontier = sealed?.tree ?? EMPTY_FRONTIER;
    if (checkpoint && checkpoint.size <= size && checkpoint.size > start.size) start = JSON.parse(checkpoint.frontier) as Frontier;
    if (start.size > size) throw new Error(`entry ${size} is archived; take the tree from its segment`);
    const hashes = this.sql.exec<{ hash: string }>("SELECT hash FROM log WHERE seq > ? AND seq <= ? ORDER BY seq", start.size, size).toArray();
    if (hashes.length !== size - start.size) throw new Error(`entries ${start.size + 1}..${size} are not all present`);
    return extendFrontier(start, hashes.map((row) => row.hash));
  }

  /** Signs an export's manifest with the key the log names now (the object, not the route, holds log keys). */
  async signExportManifest(manifest: Omit<ExportManifest, "key" | "format" | "origin">): Promise<string> {
    const keys = await this.signingKeys();
    const kid = this.keyKid ?? keys.current.kid;
    const key = [keys.current, keys.previous].find((candidate) => candidate?.kid === kid);
    if (!key) throw new Error(`the log names key ${kid}, which is not configured`);
    const origin = this.origin();
    const full: ExportManifest = { format: EXPORT_FORMAT, origin, ...manifest, key: key.kid };
    return signNote(`${canonicalJson(full as unknown as JsonValue)}\n`, [noteSignerFor(key, origin)]);
  }
}

/** The public half of the configured LOG_SIGNING_KEY (configuration, so read strictly like any input). */
function publicOf(source: string): { [key: string]: JsonValue } {
  const { x } = parseStrictJson(source) as { x: string };
  return { kty: "OKP", crv: "Ed25519", x };
}

function jsonOf(value: object): { [key: string]: JsonValue } {
  return JSON.parse(JSON.stringify(value)) as { [key: string]: JsonValue };
}
