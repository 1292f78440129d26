import { WardenError } from "../worker/errors.ts";
import { canonicalJson, type JsonValue } from "../worker/log/canonical.ts";
import type { LogEntry } from "../worker/log/chain.ts";
import { logOrigin } from "../worker/log/checkpoint.ts";
import { GENESIS_SEGMENT, SEGMENT_FORMAT, manifestHash, segmentKeys, type ExportSlice, type SegmentManifest } from "../worker/log/export.ts";
import { sha256Hex } from "../worker/encoding.ts";
import { EMPTY_FRONTIER, extendFrontier } from "../worker/log/merkle.ts";
import type { AuditIo, LogAccess } from "./log-io.ts";
import { putCreateOnly } from "../worker/r2.ts";
import type { CheckpointRow } from "./log-signing.ts";

/**
 * The archive side of a device log: sealed segments in R2 (create-only, chained by their
 * manifests), pruned from the object only once read back and verified.
 *
 * A segment never extends past the latest checkpoint, so what is archived was signed first,
 * and the Merkle compact range of the next checkpoint can always be built from the previous
 * one and rows still present. A segment is recorded as pending before any write, written
 * create-only, read back and verified, and only then marked sealed and pruned in one
 * transaction: a crash anywhere leaves the rows or a verified object (usually both), never
 * neither, and a retry re-derives the same bytes.
 */

type SegmentRow = {
  idx: number;
  first: number;
  last: number;
  manifest: string;
  manifest_hash: string;
  state: "pending" | "sealed";
};

/**
 * The segment reads every alarm run and every export step makes. A device adds a segment an
 * hour or every 1,024 entries and keeps the rows for as long as it lives, so each reads through
 * `segments_by_state` and never walks the table (test/integration/query-plans.test.ts). Segments
 * are contiguous and numbered in order, so `last` orders them as `idx` does.
 */
export const SEGMENT_QUERIES = {
  lastSealed: "SELECT manifest, manifest_hash FROM segments WHERE state = 'sealed' ORDER BY last DESC LIMIT 1",
  pending: "SELECT * FROM segments WHERE state = 'pending' ORDER BY last LIMIT 1",
  /** The first sealed segment ending at or after the entry: it holds the entry if it starts at or before it. */
  sealedHolding: "SELECT manifest, idx FROM segments WHERE state = 'sealed' AND last >= ? AND first <= ? ORDER BY last LIMIT 1",
} as const;

export class LogArchive {
  /** Segments read back for proofs, newest first. */
  private readSegments: { key: string; segment: { first: number; lines: string[] } }[] = [];

  constructor(
    private readonly log: LogAccess,
    private readonly io: AuditIo,
    /** The latest stored checkpoint: no segment extends past it. */
    private readonly checkpoint: () => CheckpointRow | null,
    /** How old the oldest unarchived entry may be before a segment is due: the tuning's age, or less by operational retention. */
    private readonly maxAgeMs: (segmentMinutes: number) => number = (minutes) => minutes * 60_000,
    /** Whether entry `seq` was deleted with its segment at the end of its retention (durable-objects/log-retention.ts). */
    private readonly expired: (seq: number) => boolean = () => false,
  ) {}

  migrate(): void {
    this.log.sql.exec(`
      CREATE TABLE IF NOT EXISTS segments (
        idx INTEGER PRIMARY KEY,
        first INTEGER NOT NULL,
        last INTEGER NOT NULL,
        manifest TEXT NOT NULL,
        manifest_hash TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('pending', 'sealed'))
      );
      CREATE INDEX IF NOT EXISTS segments_by_state ON segments (state, last);
      CREATE TABLE IF NOT EXISTS audit_flags (
        name TEXT PRIMARY KEY
      );
    `);
  }

  /** The manifest of the last sealed segment. */
  lastSealed(): SegmentManifest | null {
    const row = this.lastSealedRow();
    return row ? (JSON.parse(row.manifest) as SegmentManifest) : null;
  }

  private lastSealedRow(): { manifest: string; manifest_hash: string } | undefined {
    return this.log.sql.exec<{ manifest: string; manifest_hash: string }>(SEGMENT_QUERIES.lastSealed).toArray()[0];
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

  pendingSegment(): boolean {
    return this.pending() !== null;
  }

  private pending(): SegmentRow | null {
    return this.log.sql.exec<SegmentRow>(SEGMENT_QUERIES.pending).toArray()[0] ?? null;
  }

  /** The time of entry `seq` if it is still here. */
  entryTime(seq: number): number | null {
    const row = this.log.sql.exec<{ entry: string }>("SELECT entry FROM log WHERE seq = ?", seq).toArray()[0];
    return row ? Date.parse((JSON.parse(row.entry) as LogEntry).time) : null;
  }

  /** The size a checkpoint must reach for the segment due now, or 0 when none is due. */
  sealWanted(now: number): number {
    const head = this.log.head().seq;
    const upto = this.archivedUpto();
    if (head <= upto) return 0;
    const { tuning } = this.io;
    const byCount = head - upto >= tuning.segmentEntries;
    const oldest = this.entryTime(upto + 1);
    const byAge = oldest !== null && oldest + this.maxAgeMs(tuning.segmentMinutes) <= now;
    return byCount || byAge ? Math.min(upto + tuning.segmentEntries, head) : 0;
  }

  /** The segment object's bytes (every entry's stored JSON and a newline) and the entries' hashes. */
  private segmentBody(first: number, last: number): { body: string; hashes: string[]; firstEntry: LogEntry; lastEntry: LogEntry } {
    const rows = this.log.sql
      .exec<{ seq: number; hash: string; entry: string }>("SELECT seq, hash, entry FROM log WHERE seq BETWEEN ? AND ? ORDER BY seq", first, last)
      .toArray();
    if (rows.length !== last - first + 1 || rows.some((row, index) => row.seq !== first + index)) {
      throw new WardenError("storage_error", `entries ${first}..${last} are not all present`);
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
    const checkpoint = this.checkpoint();
    const last = Math.min(wanted, checkpoint?.size ?? 0);
    if (wanted === 0 || last <= upto) return null;
    const first = upto + 1;
    const device = this.log.device();
    if (!device || !checkpoint) return null;
    // Only the first and last entries are parsed: a segment is sealed within one alarm's CPU budget.
    const { body, hashes, firstEntry, lastEntry } = this.segmentBody(first, last);
    const previousRow = this.lastSealedRow();
    const previous = previousRow ? (JSON.parse(previousRow.manifest) as SegmentManifest) : null;
    const manifest: SegmentManifest = {
      format: SEGMENT_FORMAT,
      origin: logOrigin(this.log.originPrefix, device.tenant, device.id),
      tenant: device.tenant,
      device: device.id,
      index: (previous?.index ?? 0) + 1,
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
    this.log.sql.exec("INSERT INTO segments (idx, first, last, manifest, manifest_hash, state) VALUES (?, ?, ?, ?, ?, 'pending')", row.idx, row.first, row.last, row.manifest, row.manifest_hash);
    return row;
  }

  /**
   * Seals one segment (a pending one first, else the next due): create-only writes, read back
   * and verify, then mark sealed and prune in one transaction. True when a segment was sealed.
   */
  async archiveNext(now: number): Promise<boolean> {
    const segment = this.pending() ?? this.planSegment(now);
    if (!segment) return false;
    const manifest = JSON.parse(segment.manifest) as SegmentManifest;
    // The rows are still here (pruning is the last step), and immutable: a retry writes the same bytes.
    const { body } = this.segmentBody(segment.first, segment.last);
    if (sha256Hex(body) !== manifest.sha256) throw new WardenError("storage_error", `segment ${segment.first}-${segment.last} no longer matches its manifest`);
    const keys = segmentKeys(manifest.tenant, manifest.device, segment.first, segment.last);
    const manifestText = `${canonicalJson(manifest as unknown as JsonValue)}\n`;
    await putCreateOnly(this.io.archive, keys.entries, body, { contentType: "application/jsonl", sha256: manifest.sha256 });
    await putCreateOnly(this.io.archive, keys.manifest, manifestText, { contentType: "application/json", sha256: sha256Hex(manifestText) });
    await this.readBack(keys.entries, keys.manifest, manifest, manifestText, body);
    this.log.storage.transactionSync(() => {
      // Two alarms (or a retry after a restart) may reach here for one segment: only the first prunes.
      const state = this.log.sql.exec<{ state: string }>("SELECT state FROM segments WHERE idx = ?", segment.idx).toArray()[0]?.state;
      if (state !== "pending") return;
      this.log.sql.exec("UPDATE segments SET state = 'sealed' WHERE idx = ?", segment.idx);
      this.log.sql.exec("DELETE FROM log WHERE seq BETWEEN ? AND ?", segment.first, segment.last);
      // The latest checkpoint always stays: the next one extends its compact range.
      this.log.sql.exec("DELETE FROM checkpoints WHERE size <= ? AND size < (SELECT MAX(size) FROM checkpoints)", segment.last);
    });
    return true;
  }

  /**
   * Reads both objects back: the manifest must be the exact text, and the entries the exact
   * bytes built from the rows about to be pruned (the rows were hash-chained when appended;
   * equal bytes carry that chain to R2).
   */
  private async readBack(entriesKey: string, manifestKey: string, manifest: SegmentManifest, manifestText: string, body: string): Promise<void> {
    const [entriesObject, manifestObject] = await Promise.all([this.io.archive.get(entriesKey), this.io.archive.get(manifestKey)]);
    const range = `${manifest.first}-${manifest.last}`;
    if (!entriesObject || !manifestObject) throw new WardenError("storage_error", `segment ${range} is not readable after writing`);
    const [text, storedManifest] = await Promise.all([entriesObject.text(), manifestObject.text()]);
    if (storedManifest !== manifestText) throw new WardenError("storage_error", `manifest of ${range} reads back different`);
    if (text.length !== body.length || sha256Hex(text) !== manifest.sha256 || text !== body) {
      throw new WardenError("storage_error", `segment ${range} reads back different from its entries`);
    }
  }

  /**
   * Writes the registration to the archive once, create-only, as
   * `<tenant>/devices/<id>/registration.json`: the compliance package lists a tenant's devices
   * from these (a device appears after its first alarm).
   */
  async publishRegistration(): Promise<void> {
    const { sql } = this.log;
    if (sql.exec("SELECT name FROM audit_flags WHERE name = 'registration_published'").toArray().length > 0) return;
    const device = this.log.device();
    if (!device) return;
    await putCreateOnly(this.io.archive, `${device.tenant}/devices/${device.id}/registration.json`, `${JSON.stringify(device)}\n`, { contentType: "application/json" });
    sql.exec("INSERT INTO audit_flags (name) VALUES ('registration_published') ON CONFLICT (name) DO NOTHING");
  }

  /**
   * The stored lines of the sealed segment holding entry `seq` (for proofs over archived
   * entries), read back from R2 and checked against the manifest's SHA-256; the last two read
   * are kept. Null when no sealed segment holds `seq`.
   */
  async segmentLines(seq: number): Promise<{ first: number; lines: string[] } | null> {
    if (this.expired(seq)) throw new WardenError("log_range_expired", `entry ${seq} was deleted with its segment at the end of its retention`);
    const row = this.sealedHolding(seq);
    if (!row) return null;
    const manifest = JSON.parse(row.manifest) as SegmentManifest;
    const key = segmentKeys(manifest.tenant, manifest.device, manifest.first, manifest.last).entries;
    const cached = this.readSegments.find((s) => s.key === key);
    if (cached) return cached.segment;
    const object = await this.io.archive.get(key);
    if (!object) throw new WardenError("storage_error", `segment ${manifest.first}-${manifest.last} is missing from the archive`);
    const text = await object.text();
    // R2 can be written around Warden: what is read back must be what was sealed.
    if (sha256Hex(text) !== manifest.sha256) throw new WardenError("storage_error", `segment ${manifest.first}-${manifest.last} reads back different from its manifest`);
    const segment = { first: manifest.first, lines: text.split("\n").slice(0, manifest.count) };
    this.readSegments = [{ key, segment }, ...this.readSegments].slice(0, 2);
    return segment;
  }

  private sealedHolding(seq: number): { manifest: string; idx: number } | undefined {
    return this.log.sql.exec<{ manifest: string; idx: number }>(SEGMENT_QUERIES.sealedHolding, seq, seq).toArray()[0];
  }

  /** Where entry `cursor` lives now: in a sealed segment, still here (up to `limit` rows from it), or past the head. */
  exportSlice(cursor: number, limit: number): ExportSlice {
    const { sql } = this.log;
    if (cursor <= this.archivedUpto()) {
      if (this.expired(cursor)) throw new WardenError("log_range_expired", `entry ${cursor} was deleted with its segment at the end of its retention`);
      const row = this.sealedHolding(cursor);
      if (!row) throw new WardenError("storage_error", `no sealed segment holds entry ${cursor}`);
      const manifest = JSON.parse(row.manifest) as SegmentManifest;
      const before = sql.exec<{ manifest: string }>("SELECT manifest FROM segments WHERE idx = ?", row.idx - 1).toArray()[0];
      const treeBefore = before ? (JSON.parse(before.manifest) as SegmentManifest).tree : EMPTY_FRONTIER;
      return { kind: "segment", key: segmentKeys(manifest.tenant, manifest.device, manifest.first, manifest.last).entries, manifest, treeBefore };
    }
    const rows = sql.exec<{ entry: string }>("SELECT entry FROM log WHERE seq >= ? ORDER BY seq LIMIT ?", cursor, limit).toArray();
    return rows.length === 0 ? { kind: "end" } : { kind: "entries", entries: rows.map((row) => row.entry) };
  }
}
