import type { JsonValue } from "../worker/log/canonical.ts";
import type { Frontier } from "../worker/log/merkle.ts";
import { segmentKeys, type SegmentManifest } from "../worker/log/export.ts";
import { vaultPrefix } from "../worker/privacy/vault.ts";
import { DAY_MS, type Retention } from "../worker/privacy/retention.ts";
import type { AuditIo, LogAccess } from "./log-io.ts";

/**
 * Retention of a device's records (docs/privacy.md › Retention), run by the device's alarm after
 * archival: archived segments past `audit_days` are deleted from R2, vault values past
 * `vault_days` from the vault — unless the device or its tenant is under a legal hold. Log
 * entries still in the object are never deleted here: they leave it only by being sealed into a
 * segment (durable-objects/log-archive.ts), which `operational_days` makes due.
 *
 * Segments go oldest first and only as a prefix, so what remains is one unbroken range from
 * `retainedFrom()` to the head: an export from there verifies as before, each remaining
 * manifest still chaining to the one before it (whose row the object keeps).
 */

/** Segments deleted per run, and vault objects listed per page: each alarm stays within its budget. */
const SEGMENTS_PER_RUN = 16;
const VAULT_PAGES_PER_RUN = 4;

export interface LegalHold {
  since: string;
  by: string;
  reason: string;
  /** The device-log entry that set it. */
  seq: number;
}

/**
 * Read on every export step and receipt. Retention deletes segments oldest first, so the
 * expired ones are a prefix and the newest of them ends where what is kept begins: one row by
 * the primary key, where `MAX(last)` would read them all (test/integration/query-plans.test.ts).
 */
export const RETAINED_FROM = "SELECT last FROM expired_segments ORDER BY idx DESC LIMIT 1";

/**
 * The manifest of the newest deleted segment: its `tree` is the compact range over every entry
 * retention deleted, what proofs about kept entries need of them (durable-objects/log-tree.ts).
 * Both by primary key.
 */
export const EXPIRED_TREE = "SELECT manifest FROM segments WHERE idx = (SELECT idx FROM expired_segments ORDER BY idx DESC LIMIT 1)";

/** How often retention sweeps a device when nothing is left over from the last sweep. */
export const RETENTION_CHECK_MS = 86_400_000;

export class LogRetention {
  /** When the last complete sweep ran (in memory: a restarted object sweeps on its next alarm), and whether it left work over. */
  private sweptAt: number | null = null;
  private backlog = false;

  constructor(
    private readonly log: LogAccess,
    private readonly io: AuditIo,
  ) {}

  migrate(): void {
    this.log.sql.exec(`
      CREATE TABLE IF NOT EXISTS legal_hold (
        singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
        since TEXT NOT NULL,
        by TEXT NOT NULL,
        reason TEXT NOT NULL,
        seq INTEGER NOT NULL
      );
      CREATE TABLE IF NOT EXISTS expired_segments (
        idx INTEGER PRIMARY KEY,
        first INTEGER NOT NULL,
        last INTEGER NOT NULL,
        deleted_at INTEGER NOT NULL
      );
    `);
  }

  /** The device's legal hold, or null. */
  hold(): LegalHold | null {
    return this.log.sql.exec<{ since: string; by: string; reason: string; seq: number }>("SELECT since, by, reason, seq FROM legal_hold").toArray()[0] ?? null;
  }

  /** Inside the caller's transaction: sets (`hold`) or lifts (null) the hold; whether it changed. */
  storeHold(hold: LegalHold | null): boolean {
    const current = this.hold();
    if (hold === null) {
      this.log.sql.exec("DELETE FROM legal_hold");
      return current !== null;
    }
    if (current !== null) return false;
    this.log.sql.exec("INSERT INTO legal_hold (singleton, since, by, reason, seq) VALUES (1, ?, ?, ?, ?)", hold.since, hold.by, hold.reason, hold.seq);
    return true;
  }

  /** The first entry whose segment (or row) still exists: entries before it were deleted at the end of their retention. */
  retainedFrom(): number {
    const row = this.log.sql.exec<{ last: number }>(RETAINED_FROM).toArray()[0];
    return (row?.last ?? 0) + 1;
  }

  /** The compact range over the entries deleted with their segments (its size is the last of them), or null when none was. */
  expiredTree(): Frontier | null {
    const row = this.log.sql.exec<{ manifest: string }>(EXPIRED_TREE).toArray()[0];
    return row ? (JSON.parse(row.manifest) as SegmentManifest).tree : null;
  }

  /** Whether entry `seq` was deleted with its segment. */
  expired(seq: number): boolean {
    return seq < this.retainedFrom();
  }

  /** Whether the alarm at `now` should sweep: a day after the last complete sweep, or at once while one left work over. */
  sweepDue(now: number): boolean {
    return this.backlog || this.sweptAt === null || now - this.sweptAt >= RETENTION_CHECK_MS;
  }

  /** When the next sweep falls due. */
  nextSweep(now: number, retryMs: number): number {
    return this.backlog ? now + retryMs : (this.sweptAt ?? now) + RETENTION_CHECK_MS;
  }

  /** The retention of the device's tenant; a misconfiguration fails the step (logged), deleting nothing. */
  private retention(tenant: string): Retention {
    return this.io.retention(tenant);
  }

  /** How old an unarchived entry may grow before its segment is due (`operational_days`), in ms; the tuning's own age when shorter. */
  operationalMs(segmentMinutes: number): number {
    const device = this.log.device();
    let days = Number.POSITIVE_INFINITY;
    try {
      if (device) days = this.retention(device.tenant).operationalDays;
    } catch {
      // A broken RETENTION stops deletions (expire fails); archival keeps its own schedule.
    }
    return Math.min(segmentMinutes * 60_000, days * DAY_MS);
  }

  /**
   * Deletes what is past its retention, unless a legal hold covers the device or its tenant, and
   * logs what it deleted (`retention.expired`). A segment is deleted only once its R2 objects are
   * past the archive's lock as R2 itself dates them, so Warden never asks for a deletion the lock
   * forbids. True when something was deleted.
   *
   * The sweep awaits R2 between deletions, and the object serves other requests meanwhile — a
   * legal hold among them. So the device's hold is read again immediately before each deletion
   * is issued, with no await in between, and the sweep stops at the first hold it sees: once
   * `legalHold()` has committed, no deletion is issued. One already issued cannot be taken back;
   * each is noted only once R2 has answered, and what was noted is recorded however the sweep
   * ends (a hold, a failure), so `retention.expired` names exactly what was deleted.
   */
  async expire(now: number): Promise<boolean> {
    const device = this.log.device();
    if (!device) return false;
    const retention = this.retention(device.tenant);
    // The tenant's hold is read from R2 before anything is chosen: a tenant hold that cannot be read holds.
    // A held sweep is not a complete one: the first alarm after the lift sweeps.
    if (await this.io.tenantHeld(device.tenant)) return false;
    if (this.hold() !== null) return false;

    const segments: { idx: number; first: number; last: number }[] = [];
    let vaultValues = 0;
    let held = false;
    let backlog = false;
    try {
      const rows = this.log.sql
        .exec<{ idx: number; manifest: string }>(
          "SELECT idx, manifest FROM segments WHERE state = 'sealed' AND idx NOT IN (SELECT idx FROM expired_segments) ORDER BY last LIMIT ?",
          SEGMENTS_PER_RUN,
        )
        .toArray();
      for (const row of rows) {
        const manifest = JSON.parse(row.manifest) as SegmentManifest;
        if (Date.parse(manifest.sealed_at) + retention.auditDays * DAY_MS > now) break;
        const keys = segmentKeys(manifest.tenant, manifest.device, manifest.first, manifest.last);
        const stored = await this.io.archive.head(keys.entries);
        if (stored && stored.uploaded.getTime() + retention.archiveLockDays * DAY_MS > now) break;
        // Checked with no await before the delete is issued: a hold set while `head` was awaited stops it.
        if (this.hold() !== null) {
          held = true;
          break;
        }
        await this.io.archive.delete([keys.entries, keys.manifest]);
        segments.push({ idx: row.idx, first: manifest.first, last: manifest.last });
      }
      // A full batch deleted: older segments may still be due.
      if (segments.length === SEGMENTS_PER_RUN) backlog = true;

      let cursor: string | undefined;
      for (let page = 0; page < VAULT_PAGES_PER_RUN && !held; page += 1) {
        const listing = await this.io.vault.list({ prefix: vaultPrefix(device.tenant, device.id), limit: 1000, ...(cursor ? { cursor } : {}) });
        // Aged by R2's own upload time: what the bucket holds, however it got there, is swept (orphans included).
        const due = listing.objects.filter((object) => object.uploaded.getTime() + retention.vaultDays * DAY_MS <= now).map((object) => object.key);
        // As for segments: a hold set while the listing was awaited stops the sweep before it deletes.
        if (this.hold() !== null) {
          held = true;
          break;
        }
        if (due.length > 0) await this.io.vault.delete(due);
        vaultValues += due.length;
        if (!listing.truncated) break;
        cursor = listing.cursor;
        if (page === VAULT_PAGES_PER_RUN - 1) backlog = true;
      }
    } finally {
      // Whatever stopped the sweep, what it deleted is recorded.
      this.record(segments, vaultValues, retention, now);
    }
    if (!held) {
      this.sweptAt = now;
      this.backlog = backlog;
    }
    return segments.length > 0 || vaultValues > 0;
  }

  /** Notes the deleted segments and logs `retention.expired`, in one transaction; nothing when nothing was deleted. */
  private record(segments: readonly { idx: number; first: number; last: number }[], vaultValues: number, retention: Retention, now: number): void {
    if (segments.length === 0 && vaultValues === 0) return;
    const data: { [key: string]: JsonValue } = {
      segments: segments.map(({ first, last }) => ({ first, last })),
      vault_values: vaultValues,
      retained_from: Math.max(this.retainedFrom(), ...segments.map((segment) => segment.last + 1)),
      retention: { audit_days: retention.auditDays, vault_days: retention.vaultDays },
    };
    this.log.appendWith(
      () => {
        for (const segment of segments) {
          this.log.sql.exec("INSERT INTO expired_segments (idx, first, last, deleted_at) VALUES (?, ?, ?, ?) ON CONFLICT (idx) DO NOTHING", segment.idx, segment.first, segment.last, now);
        }
      },
      "retention.expired",
      data,
      now,
    );
  }
}
