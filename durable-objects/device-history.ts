import { canonicalJson, type JsonValue } from "../worker/log/canonical.ts";
import type { LogEntry } from "../worker/log/chain.ts";
import { EMPTY_SPEC, LIMITS, type HistorySpec } from "../worker/history/declarations.ts";
import { adopt, decisionHistory, initialState, onEntry, type FollowEntry, type HistoryState, type PlaybookHold, type Standing } from "../worker/history/effects.ts";
import { runtimeSpec, type FeatureValues, type RuntimeSpec } from "../worker/history/state.ts";
import { viewOfEntry, type EntryView } from "../worker/history/views.ts";

/**
 * A device's history features, kept by its `DeviceLog` in the transaction of every append
 * (worker/history/ holds the pure rules; this class holds their storage): the spec adopted
 * from the deciding bundle, each feature's bounded state, detection cooldowns, the playbook's
 * hold, and what a playbook action still owes outside the object once its transaction commits —
 * admin-log records, and the end of the device's review holds after a quarantine. Also the decision **turn**: a
 * decision reads the history, decides, and appends; one whose append found the history moved
 * decides again holding the device's turn, so colliding decisions take turns rather than all
 * deciding again on the same history (docs/history.md › Consistency).
 */

/**
 * What a decision is decided on: the device's history, as it stood when read — for one request,
 * only the values it is decided on (`values`); for a batch, the whole state (`state`), which the
 * service moves forward decision by decision (worker/history/cursor.ts).
 */
export interface HistorySnapshot {
  state: HistoryState | null;
  values: FeatureValues | null;
  standing: Standing;
  /** The log's head seq: the entries a batch appends are numbered from it. */
  head: number;
  /** The decision turn this snapshot holds (after a collision), handed back with the append. */
  turn: string | null;
}

/** What the class needs of its object: SQL and the log it appends to. */
export interface HistoryHost {
  sql: SqlStorage;
  head(): { seq: number };
}

/** How long a decision turn waits for the one before it, and how long one is held at most. */
const TURN_MS = 1000;

type Data = { [key: string]: JsonValue };

/** Thrown inside an append transaction when a decision's recorded history is not the log's: it rolls the transaction back. */
export class StaleHistory extends Error {
  constructor() {
    super("the history moved since the decision read it");
    this.name = "StaleHistory";
  }
}

export class DeviceHistory {
  private spec: HistorySpec = EMPTY_SPEC;
  private runtime: RuntimeSpec = runtimeSpec(EMPTY_SPEC);
  private state: HistoryState = initialState();
  private playbookHold: PlaybookHold | null = null;
  /** Whether the running transaction queued admin-log records or hold cancellations, to deliver once it commits. */
  private queuedAdmin = false;
  private tail: Promise<void> = Promise.resolve();
  private readonly turns = new Map<string, () => void>();

  constructor(private readonly host: HistoryHost) {}

  migrate(): void {
    this.host.sql.exec(`
      CREATE TABLE IF NOT EXISTS history_state (
        name TEXT PRIMARY KEY,
        value TEXT NOT NULL
      );
      CREATE TABLE IF NOT EXISTS admin_outbox (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        type TEXT NOT NULL,
        data TEXT NOT NULL,
        at INTEGER NOT NULL
      );
      CREATE TABLE IF NOT EXISTS hold_cancellations (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        by TEXT NOT NULL,
        reason TEXT NOT NULL,
        at INTEGER NOT NULL,
        seq INTEGER NOT NULL
      );
    `);
  }

  /** Reads everything back from storage: at start, and after a transaction rolled back. */
  load(): void {
    const rows = new Map(this.host.sql.exec<{ name: string; value: string }>("SELECT name, value FROM history_state").toArray().map((row) => [row.name, row.value]));
    const spec = rows.get("spec");
    this.spec = spec ? (JSON.parse(spec) as HistorySpec) : EMPTY_SPEC;
    if (this.runtime.spec.digest !== this.spec.digest) this.runtime = runtimeSpec(this.spec);
    const meta = rows.get("meta");
    const state: HistoryState = meta ? { ...(JSON.parse(meta) as Omit<HistoryState, "features">), features: {} } : { ...initialState(), clock: this.lastEntryTime() };
    for (const [name, value] of rows) if (name.startsWith("feature:")) state.features[name.slice("feature:".length)] = JSON.parse(value) as HistoryState["features"][string];
    this.state = state;
    const hold = rows.get("hold");
    this.playbookHold = hold ? (JSON.parse(hold) as PlaybookHold) : null;
    this.queuedAdmin = false;
  }

  /** A log that predates history starts its clock at its latest entry. */
  private lastEntryTime(): number {
    const row = this.host.sql.exec<{ entry: string }>("SELECT entry FROM log ORDER BY seq DESC LIMIT 1").toArray()[0];
    return row ? Date.parse((JSON.parse(row.entry) as LogEntry).time) : 0;
  }

  get specDigest(): string {
    return this.spec.digest;
  }

  get hold(): PlaybookHold | null {
    return this.playbookHold;
  }

  /** The history now: the values `pending` (a request not yet decided, at `now`) is decided on, or else the whole state. */
  snapshot(quarantined: boolean, turn: string | null, pending: { view: EntryView; now: number } | null = null): HistorySnapshot {
    const standing = { quarantined, hold: this.playbookHold };
    const head = this.host.head().seq;
    if (pending) return { state: null, values: decisionHistory(this.runtime, this.state, pending.view, pending.now).values, standing, head, turn };
    return { state: structuredClone(this.state), values: null, standing, head, turn };
  }

  /**
   * Must run inside the append transaction. Adopts `spec` if it is not the one kept: features
   * defined as before keep their state, new ones are built from the entries still in the object
   * (at most `LIMITS.backfillEntries`). Returns the `history.adopted` data to append, or null.
   */
  adopt(spec: HistorySpec, bundle: string): Data | null {
    if (spec.digest === this.spec.digest) return null;
    const head = this.host.head().seq;
    // Entries archived and pruned are not here: the backfill starts at the oldest still kept, and `from_seq` says where.
    const first = this.host.sql.exec<{ seq: number | null }>("SELECT min(seq) AS seq FROM log").toArray()[0]?.seq ?? head + 1;
    const from = Math.max(first, head - LIMITS.backfillEntries + 1);
    const startsAny = Object.entries(spec.features).some(([name, feature]) => this.spec.features[name]?.hash !== feature.hash);
    const backfill = startsAny
      ? this.host.sql
          .exec<{ entry: string }>("SELECT entry FROM log WHERE seq >= ? ORDER BY seq", from)
          .toArray()
          .map((row) => viewOfEntry(JSON.parse(row.entry) as LogEntry))
      : [];
    const adoption = adopt(this.state, this.spec, spec, bundle, backfill, from);
    this.spec = spec;
    this.runtime = runtimeSpec(spec);
    this.state = adoption.state;
    this.host.sql.exec("DELETE FROM history_state WHERE name LIKE 'feature:%'");
    this.host.sql.exec("INSERT INTO history_state (name, value) VALUES ('spec', ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value", JSON.stringify(spec));
    for (const name of Object.keys(this.state.features)) this.writeFeature(name);
    this.writeMeta();
    return adoption.data;
  }

  /**
   * Must run inside the append transaction, right after `entry` was inserted: moves the
   * features and returns the entries its detections and playbook append after it.
   */
  onAppended(entry: LogEntry, followed: boolean, standing: () => Standing): FollowEntry[] {
    const { follows, changed } = onEntry(this.runtime, this.state, followed ? { quarantined: false, hold: null } : standing(), entry as LogEntry & { data: Data }, followed);
    for (const name of changed) this.writeFeature(name);
    this.writeMeta();
    return follows;
  }

  /** Whether a decision's recorded history is what the log shows at its position (inside the append transaction). */
  agrees(data: Data, now: number): boolean {
    const recorded = data["history"];
    if (recorded === undefined || recorded === null) return true;
    const expected = decisionHistory(this.runtime, this.state, viewOfEntry({ type: "decision", time: now, data }), now);
    return canonicalJson(expected) === canonicalJson(recorded);
  }

  setHold(hold: PlaybookHold): void {
    this.playbookHold = hold;
    this.host.sql.exec("INSERT INTO history_state (name, value) VALUES ('hold', ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value", JSON.stringify(hold));
  }

  /** Ends the playbook's hold; returns the one that was in force. */
  clearHold(): PlaybookHold | null {
    const hold = this.playbookHold;
    this.playbookHold = null;
    this.host.sql.exec("DELETE FROM history_state WHERE name = 'hold'");
    return hold;
  }

  /** Queues a record for the tenant's admin log, written in the same transaction as the entry it records. */
  queueAdmin(type: `admin.${string}`, data: Data, now: number): void {
    this.host.sql.exec("INSERT INTO admin_outbox (type, data, at) VALUES (?, ?, ?)", type, JSON.stringify(data), now);
    this.queuedAdmin = true;
  }

  /**
   * Queues the end of the device's review holds a playbook's quarantine owes (the tenant's holds
   * object cannot be called inside this transaction), written in the same transaction as the
   * `device.quarantined` it follows: `at` is the quarantine's time, `seq` its entry's, and holds
   * of decisions logged after it are not the quarantine's to end.
   */
  queueHoldCancellation(by: string, reason: string, at: number, seq: number): void {
    this.host.sql.exec("INSERT INTO hold_cancellations (by, reason, at, seq) VALUES (?, ?, ?, ?)", by, reason, at, seq);
    this.queuedAdmin = true;
  }

  pendingHoldCancellations(): { id: number; by: string; reason: string; at: number; seq: number }[] {
    return this.host.sql
      .exec<{ id: number; by: string; reason: string; at: number; seq: number }>("SELECT id, by, reason, at, seq FROM hold_cancellations ORDER BY id LIMIT 50")
      .toArray()
      .map((row) => ({ ...row }));
  }

  holdsCancelled(id: number): void {
    this.host.sql.exec("DELETE FROM hold_cancellations WHERE id = ?", id);
  }

  /** Whether anything queued is still owed outside the object (the alarm comes back for it). */
  owes(): boolean {
    return (
      this.host.sql.exec("SELECT 1 FROM admin_outbox LIMIT 1").toArray().length > 0 || this.host.sql.exec("SELECT 1 FROM hold_cancellations LIMIT 1").toArray().length > 0
    );
  }

  /** After a commit: whether admin-log records or hold cancellations were queued and should be delivered now. */
  takeQueued(): boolean {
    const queued = this.queuedAdmin;
    this.queuedAdmin = false;
    return queued;
  }

  pendingAdmin(): { id: number; type: `admin.${string}`; data: Data; at: number }[] {
    return this.host.sql
      .exec<{ id: number; type: string; data: string; at: number }>("SELECT id, type, data, at FROM admin_outbox ORDER BY id LIMIT 50")
      .toArray()
      .map((row) => ({ id: row.id, type: row.type as `admin.${string}`, data: JSON.parse(row.data) as Data, at: row.at }));
  }

  delivered(id: number): void {
    this.host.sql.exec("DELETE FROM admin_outbox WHERE id = ?", id);
  }

  /**
   * Waits for the decision turn (at most {@link TURN_MS} for the one before it) and holds it
   * until {@link giveTurn} or {@link TURN_MS} later. A turn only spares concurrent decisions a
   * retry: the append checks every decision against the log whoever holds it.
   */
  async takeTurn(): Promise<string> {
    const id = crypto.randomUUID();
    const before = this.tail;
    let release: () => void = () => undefined;
    const mine = new Promise<void>((resolve) => {
      release = resolve;
    });
    this.tail = mine;
    let waited: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([before, new Promise<void>((resolve) => (waited = setTimeout(resolve, TURN_MS)))]);
    clearTimeout(waited);
    const expiry = setTimeout(() => this.giveTurn(id), TURN_MS);
    this.turns.set(id, () => {
      clearTimeout(expiry);
      release();
    });
    return id;
  }

  giveTurn(id: string): void {
    const release = this.turns.get(id);
    this.turns.delete(id);
    release?.();
  }

  /** What the device's history occupies in storage: bounded by its declarations (docs/history.md › Bounds), whatever the log's length. */
  footprint(): { rows: number; bytes: number } {
    const row = this.host.sql.exec<{ rows: number; bytes: number | null }>("SELECT count(*) AS rows, sum(length(name) + length(value)) AS bytes FROM history_state").one();
    return { rows: row.rows, bytes: row.bytes ?? 0 };
  }

  private writeFeature(name: string): void {
    const state = this.state.features[name];
    if (state === undefined) return;
    this.host.sql.exec("INSERT INTO history_state (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value", `feature:${name}`, JSON.stringify(state));
  }

  private writeMeta(): void {
    const { features: _features, ...meta } = this.state;
    this.host.sql.exec("INSERT INTO history_state (name, value) VALUES ('meta', ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value", JSON.stringify(meta));
  }
}
