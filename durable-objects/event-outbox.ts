import { ocsfEventOf, type EntryOrigin, type MappedEntry, type OcsfEvent } from "../worker/events/ocsf.ts";

/** Where a log's events go: the tenant's event feed (durable-objects/EventFeed.ts). */
export interface EventFeedPort {
  ingest(events: OcsfEvent[]): Promise<unknown>;
}

/** How a log reaches its tenant's feed; null turns event production off for that log. */
export type EventsIo = { feed(tenant: string): EventFeedPort } | null;

/** Entries forwarded per feed call: a bounded RPC payload and bounded work per alarm run. */
const FORWARD_BATCH = 200;
/**
 * How long a kick waits before it forwards, so that the entries of that while go in one call: a
 * forward per commit made every decision pay the feed's RPC and the outbox delete beside it
 * (bench part L measured 2.6× a decision without events); this bounds it to one forward per
 * interval per log, at the cost of events reaching the feed that much later.
 */
const FORWARD_DELAY_MS = 100;

/**
 * The transactional outbox of a hash-chained log (a device log or the admin log). Each entry is
 * noted here in the same transaction that appends it, so an entry committed is an event owed.
 * Right after the commit the owner kicks a forward that runs beside the answer, never inside a
 * request's critical section, and gathers what the next {@link FORWARD_DELAY_MS} commit; if it fails, or the object dies right after the append, the row is
 * still here and the owner's alarm — which a commit always leaves set, in the same atomic write —
 * forwards it. The feed deduplicates by the event's uid (the entry hash), so a forward repeated
 * after a crash between the feed's answer and the delete here, or a kick racing the alarm, adds nothing.
 */
export class EventOutbox {
  /** Whether rows may be owed; set by each note, so the commit path asks no query. */
  private owed = false;
  /** The forward a kick started, while it runs; a kick meanwhile asks it to go round again. */
  private running: Promise<void> | null = null;
  private again = false;

  constructor(
    private readonly sql: SqlStorage,
    /** Read at each use: the owning object's I/O may be a view that changes (test/worker.ts). */
    private readonly io: () => EventsIo,
    private readonly origin: () => Omit<EntryOrigin, "log"> | null,
    private readonly log: EntryOrigin["log"],
  ) {}

  migrate(): void {
    this.sql.exec("CREATE TABLE IF NOT EXISTS event_outbox (seq INTEGER PRIMARY KEY, entry TEXT NOT NULL)");
    this.owed = this.io() !== null && this.sql.exec("SELECT seq FROM event_outbox LIMIT 1").toArray().length > 0;
  }

  /** Inside the append's transaction: the stored entry text, as the log row holds it. */
  note(seq: number, entry: string): void {
    if (!this.io()) return;
    this.sql.exec("INSERT INTO event_outbox (seq, entry) VALUES (?, ?)", seq, entry);
    this.owed = true;
  }

  /** True when entries may be owed (a rolled-back append can leave it true: the next forward finds none). */
  pending(): boolean {
    return this.owed && this.io() !== null;
  }

  /** After a commit: forwards what is owed now, beside the answer; a failure waits for the alarm. */
  kick(): void {
    if (!this.owed) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = (async () => {
      await new Promise((resolve) => setTimeout(resolve, FORWARD_DELAY_MS));
      do {
        this.again = false;
        while (await this.forward());
      } while (this.again);
    })()
      .catch((error: unknown) => console.error(JSON.stringify({ event: "events.forward_failed", log: this.log, error: String(error) })))
      .finally(() => {
        this.running = null;
      });
  }

  /**
   * Forwards the oldest owed entries to the feed and forgets them once it has answered. Returns
   * whether more are owed. An entry type that is no event is forgotten without a call.
   */
  async forward(): Promise<boolean> {
    const origin = this.origin();
    const io = this.io();
    if (!io || !origin) return false;
    const rows = this.sql.exec<{ seq: number; entry: string }>("SELECT seq, entry FROM event_outbox ORDER BY seq LIMIT ?", FORWARD_BATCH).toArray();
    if (rows.length === 0) {
      this.owed = false;
      return false;
    }
    const events: OcsfEvent[] = [];
    for (const row of rows) {
      try {
        const event = ocsfEventOf(JSON.parse(row.entry) as MappedEntry, { ...origin, log: this.log });
        if (event) events.push(event);
      } catch (error) {
        // An entry the mapping cannot read must not hold back every later one; it stays in the verifiable log.
        console.error(JSON.stringify({ event: "events.unmappable", log: this.log, seq: row.seq, error: String(error) }));
      }
    }
    if (events.length > 0) await io.feed(origin.tenant).ingest(events);
    const last = rows[rows.length - 1]!.seq;
    this.sql.exec("DELETE FROM event_outbox WHERE seq <= ?", last);
    // Rows noted while the feed answered stay owed.
    this.owed = this.sql.exec("SELECT seq FROM event_outbox LIMIT 1").toArray().length > 0;
    return this.owed;
  }
}
