import { EMPTY_FRONTIER, type Frontier } from "../worker/log/merkle.ts";
import { LogArchive } from "./log-archive.ts";
import type { AuditIo, LogAccess } from "./log-io.ts";
import type { StoredCheckpoint } from "../worker/log/checkpoint.ts";
import { LogSigning } from "./log-signing.ts";
import type { EventOutbox } from "./event-outbox.ts";
import { LogTree } from "./log-tree.ts";
import { LogWitnessing } from "./log-witness.ts";
import { LogRetention } from "./log-retention.ts";

/**
 * The audit side of a device's Durable Object, run by its alarm: events owed to the tenant's feed
 * (durable-objects/event-outbox.ts), rotation and checkpoints (durable-objects/log-signing.ts),
 * then archival (durable-objects/log-archive.ts). `DeviceLog` owns the append and calls the
 * signing side and the outbox from inside its transactions; this class decides when the alarm
 * runs and what it does.
 */
export class LogAudit {
  readonly signing: LogSigning;
  readonly archive: LogArchive;
  readonly tree: LogTree;
  readonly witnessing: LogWitnessing;
  readonly retention: LogRetention;
  private alarmAt: number | null = null;
  private running: Promise<void> | null = null;

  constructor(
    private readonly log: LogAccess,
    private readonly io: AuditIo,
    private readonly events: EventOutbox,
  ) {
    this.retention = new LogRetention(log, io);
    this.archive = new LogArchive(log, io, () => this.signing.latestCheckpointRow(), (minutes) => this.retention.operationalMs(minutes), (seq) => this.retention.expired(seq));
    this.tree = new LogTree(log, this.archive, () => this.retention.expiredTree());
    this.signing = new LogSigning(
      log,
      io,
      () => this.archive.lastSealed()?.tree ?? null,
      () => this.archive.lastSealed()?.last_mac ?? null,
      this.tree,
    );
    this.witnessing = new LogWitnessing(log, io, this.signing, this.tree);
  }

  migrate(): void {
    this.signing.migrate();
    this.archive.migrate();
    this.tree.migrate();
    this.witnessing.migrate();
    this.retention.migrate();
  }

  /** Reads the alarm an earlier start of the object left set. */
  async loadAlarm(): Promise<void> {
    this.alarmAt = await this.log.storage.getAlarm();
  }

  /** After a committed transaction: make sure the alarm will sign (and, through it, archive) in time. */
  afterCommit(now: number): void {
    if (this.events.pending()) {
      this.events.kick();
      // Owed events always have an alarm behind the kick: the audit one below, or this.
      if (!this.io.keys().current) this.ensureAlarm(now + this.io.tuning.retrySeconds * 1000);
    }
    if (!this.io.keys().current) return;
    const unsigned = this.log.head().seq - this.signing.checkpointSize;
    if (this.signing.rotationPending()) this.ensureAlarm(now);
    else if (unsigned >= this.io.tuning.checkpointEntries) this.ensureAlarm(now);
    else if (unsigned > 0) this.ensureAlarm(now + this.io.tuning.checkpointSeconds * 1000);
  }

  /**
   * Makes sure the alarm comes back within the retry delay, for work the object owes outside
   * (a playbook's admin records and hold cancellations): after a failed delivery, and as the
   * backstop behind one that runs right after a commit. Only ever brings the alarm forward.
   */
  retrySoon(): void {
    this.ensureAlarm(this.io.now() + this.io.tuning.retrySeconds * 1000);
  }

  private ensureAlarm(at: number): void {
    if (this.alarmAt !== null && this.alarmAt <= at) return;
    this.alarmAt = at;
    this.log.storage.setAlarm(at).catch((error: unknown) => console.error(JSON.stringify({ event: "audit.set_alarm_failed", error: String(error) })));
  }

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
        console.error(JSON.stringify({ event: `audit.${name}_failed`, device: this.log.device()?.id, error: String(error) }));
      }
    };
    if (this.events.pending()) await step("events", () => this.events.forward());
    if (this.log.device() && this.io.keys().current) {
      let rotated = false;
      if (this.signing.rotationPending()) await step("rotation", async () => (rotated = await this.signing.rotate(now)));
      // A rotation is anchored at once by a checkpoint under the new key.
      await step("checkpoint", () => this.checkpointIfDue(now, rotated ? this.log.head().seq : this.archive.sealWanted(now)));
      if (this.witnessing.pending()) await step("witness", () => this.witnessing.cosign(now));
      // One segment per run keeps each alarm within its CPU budget; scheduleNext runs the next at once.
      await step("archive", () => this.archive.archiveNext(now));
      await step("registry", () => this.archive.publishRegistration());
    }
    // After archival: deletes only what was archived long ago, never a row of the log.
    if (this.log.device() && this.retention.sweepDue(now)) await step("retention", () => this.retention.expire(now));
    this.scheduleNext(now, failed);
  }

  private scheduleNext(now: number, failed: boolean): void {
    const head = this.log.head().seq;
    const { tuning } = this.io;
    const candidates: number[] = [];
    // Commits kick their own forwards; the alarm is the backstop for the ones that failed or died.
    if (this.events.pending()) candidates.push(now + tuning.retrySeconds * 1000);
    if (this.io.keys().current) {
      if (this.signing.rotationPending()) candidates.push(now);
      const signed = this.signing.checkpointSize;
      const unsigned = head - signed;
      if (unsigned >= tuning.checkpointEntries) candidates.push(now);
      else if (unsigned > 0) candidates.push((this.archive.entryTime(signed + 1) ?? now) + tuning.checkpointSeconds * 1000);
      const upto = this.archive.archivedUpto();
      if (head - upto >= tuning.segmentEntries) candidates.push(now);
      else if (head > upto) candidates.push((this.archive.entryTime(upto + 1) ?? now) + this.retention.operationalMs(tuning.segmentMinutes));
      if (this.archive.pendingSegment()) candidates.push(now);
      // A witness that has not cosigned yet is asked again after the retry delay.
      if (this.witnessing.pending()) candidates.push(now + tuning.retrySeconds * 1000);
    }
    // Retention is swept daily while the device exists (its archive and vault age without any append), at once while a sweep left work over.
    if (this.log.device()) candidates.push(this.retention.nextSweep(now, tuning.retrySeconds * 1000));
    if (candidates.length === 0) return;
    // After a failure nothing runs sooner than the retry delay, so a persistent fault cannot spin.
    const at = Math.max(Math.min(...candidates), failed ? now + tuning.retrySeconds * 1000 : now);
    this.ensureAlarm(at);
  }

  private checkpointIfDue(now: number, atLeast = 0): Promise<StoredCheckpoint | null> {
    const signed = this.signing.checkpointSize;
    const oldest = this.log.head().seq > signed ? this.archive.entryTime(signed + 1) : null;
    return this.signing.checkpointIfDue(now, oldest, atLeast);
  }

  /**
   * For readers: the latest checkpoint, freshly signed if one is due (or `atLeast` is not yet
   * covered) and cosigned by the witnesses that have not yet; a failure leaves the latest stored
   * one, with whatever cosignatures it has.
   */
  async freshCheckpoint(now: number, atLeast = 0): Promise<StoredCheckpoint | null> {
    try {
      await this.checkpointIfDue(now, atLeast);
    } catch (error) {
      console.error(JSON.stringify({ event: "audit.checkpoint_failed", device: this.log.device()?.id, error: String(error) }));
    }
    if (this.witnessing.pending()) {
      try {
        await this.witnessing.cosign(now);
      } catch (error) {
        console.error(JSON.stringify({ event: "audit.witness_failed", device: this.log.device()?.id, error: String(error) }));
      }
    }
    return this.signing.latestCheckpoint();
  }

  /** The compact range after entry `size` if it can be built from entries still here; null when `size` is archived. */
  exportTree(size: number): Frontier | null {
    if (size === 0) return EMPTY_FRONTIER;
    if (size < this.archive.archivedUpto()) return null;
    return this.signing.frontierAt(size, this.archive.lastSealed()?.tree ?? EMPTY_FRONTIER);
  }
}
