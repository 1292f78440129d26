import { DurableObject } from "cloudflare:workers";
import { WardenError, type Outcome } from "../worker/errors.ts";
import { knownName } from "./object-name.ts";
import type { OcsfEvent } from "../worker/events/ocsf.ts";
import { sinksFrom, type Sink, type SinkConfigProblem } from "../worker/events/sinks.ts";
import type { EventMessage } from "../worker/events/message.ts";

/** What the feed takes from outside, injected through the constructor (production: from `env`). */
export interface FeedIo {
  /** The producer binding events are pushed through; the consumer delivers them to the sinks. */
  queue: Queue<EventMessage>;
  sinks(): { ok: true; sinks: Sink[] } | { ok: false; problem: SinkConfigProblem };
  now(): number;
  /** Events older than this, once queued, are dropped from the pull feed. */
  retentionMs: number;
  /** Delay before a failed push is tried again. */
  retrySeconds: number;
}

const DEFAULT_RETENTION_DAYS = 7;

export function feedIoFrom(env: Env): FeedIo {
  const days = Number(env.EVENT_RETENTION_DAYS ?? DEFAULT_RETENTION_DAYS);
  return {
    queue: env.EVENTS_QUEUE,
    sinks: () => sinksFrom(env),
    now: () => Date.now(),
    retentionMs: (Number.isFinite(days) && days > 0 ? days : DEFAULT_RETENTION_DAYS) * 86_400_000,
    retrySeconds: 30,
  };
}

/** A queue batch holds at most 100 messages and 256 KB; the margin covers per-message overhead. */
const PUSH_MESSAGES = 100;
const PUSH_BYTES = 200_000;
/** Events pushed per alarm run, so one run stays within its CPU budget; the next runs at once. */
const PUSH_PER_RUN = 2_000;
/**
 * Runs after every push, so it must cost what it deletes, not what the feed keeps: through the
 * `events_by_time` index it visits only the expired rows, where a scan would read every kept
 * event's text on each run (a week of a tenant's events, several times a second).
 */
export const PRUNE_EXPIRED = "DELETE FROM events WHERE at < ? AND cursor <= ?";

export interface FeedPage {
  /** Each event as the stored JSON text: the feed neither parses nor re-serialises what it serves. */
  events: { cursor: number; event: string }[];
  /** The cursor to ask `after` next: the last one returned, or `after` when none were. */
  next: number;
  /** The oldest cursor still kept; asking `after` below `oldest - 1` is `cursor_expired`. */
  oldest: number;
  /** The newest cursor. */
  head: number;
}

/**
 * One per tenant: the ordered, gap-free feed of the tenant's OCSF events. Logs forward their
 * owed entries here (durable-objects/event-outbox.ts); each new event gets the next cursor in one
 * transaction, and an event seen before (by uid: the log entry's hash) is dropped, so forwarding
 * is idempotent. `GET /v1/events` pages it; the alarm pushes it, in cursor order, through the
 * Cloudflare Queue to each configured sink, advancing `queued_upto` only after the queue accepted.
 */
export class EventFeed extends DurableObject<Env> {
  private readonly sql: SqlStorage;
  private alarmAt: number | null = null;
  /** The tenant this feed is named for. */
  private tenant: string | null = null;

  constructor(
    ctx: DurableObjectState,
    env: Env,
    private readonly io: FeedIo = feedIoFrom(env),
  ) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    void ctx.blockConcurrencyWhile(async () => {
      this.sql.exec(`
        CREATE TABLE IF NOT EXISTS events (
          cursor INTEGER PRIMARY KEY,
          uid TEXT NOT NULL UNIQUE,
          at INTEGER NOT NULL,
          event TEXT NOT NULL
        );
        CREATE INDEX IF NOT EXISTS events_by_time ON events (at);
        CREATE TABLE IF NOT EXISTS feed_state (
          singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
          head INTEGER NOT NULL,
          queued_upto INTEGER NOT NULL
        );
        INSERT INTO feed_state (singleton, head, queued_upto) VALUES (1, 0, 0) ON CONFLICT (singleton) DO NOTHING;
      `);
      this.tenant = knownName(ctx);
      this.alarmAt = await ctx.storage.getAlarm();
    });
  }

  /** Adds the events not seen before, each at the next cursor; returns how many were new. */
  ingest(events: OcsfEvent[]): { accepted: number } {
    const now = this.io.now();
    const accepted = this.ctx.storage.transactionSync(() => {
      let { head } = this.state();
      let added = 0;
      for (const event of events) {
        const inserted = this.sql
          .exec("INSERT INTO events (cursor, uid, at, event) VALUES (?, ?, ?, ?) ON CONFLICT (uid) DO NOTHING RETURNING cursor", head + 1, event.metadata.uid, now, JSON.stringify(event))
          .toArray();
        if (inserted.length === 1) {
          head += 1;
          added += 1;
        }
      }
      this.sql.exec("UPDATE feed_state SET head = ? WHERE singleton = 1", head);
      return added;
    });
    if (accepted > 0) this.ensureAlarm(now);
    return { accepted };
  }

  /** Up to `limit` events after cursor `after` (from the oldest kept when `after` is null). */
  read(after: number | null, limit: number): Outcome<FeedPage, "cursor_expired"> {
    const { head } = this.state();
    const oldestRow = this.sql.exec<{ cursor: number }>("SELECT cursor FROM events ORDER BY cursor LIMIT 1").toArray()[0];
    const oldest = oldestRow?.cursor ?? head + 1;
    const from = after ?? oldest - 1;
    if (from < oldest - 1) return { ok: false, code: "cursor_expired" };
    const rows = this.sql.exec<{ cursor: number; event: string }>("SELECT cursor, event FROM events WHERE cursor > ? ORDER BY cursor LIMIT ?", from, limit).toArray();
    const events = rows.map((row) => ({ cursor: row.cursor, event: row.event }));
    return { ok: true, events, next: events.at(-1)?.cursor ?? from, oldest, head };
  }

  /** Where pushing stands: the newest cursor and the last one the queue accepted. */
  pushState(): { head: number; queuedUpto: number } {
    const state = this.state();
    return { head: state.head, queuedUpto: state.queued_upto };
  }

  override async alarm(): Promise<void> {
    const now = this.io.now();
    this.alarmAt = null;
    let again = false;
    try {
      again = await this.push(now);
      this.prune(now);
    } catch (error) {
      console.error(JSON.stringify({ event: "events.push_failed", error: String(error) }));
      this.ensureAlarm(now + this.io.retrySeconds * 1000);
      return;
    }
    if (again) this.ensureAlarm(now);
  }

  /** Pushes events past `queued_upto` to every sink, in cursor order; true when more are waiting. */
  private async push(now: number): Promise<boolean> {
    const configured = this.io.sinks();
    if (!configured.ok) {
      // Nothing is pushed to a half-configured set: the events wait here until it is fixed.
      console.error(JSON.stringify({ event: "events.sinks_refused", ...configured.problem }));
      this.ensureAlarm(now + this.io.retrySeconds * 1000);
      return false;
    }
    const tenant = this.tenant;
    if (tenant === null) throw new WardenError("internal_error", "an event feed that does not know its tenant");
    const sinks = configured.sinks.filter((sink) => sink.tenants === null || sink.tenants.includes(tenant));
    let pushed = 0;
    for (;;) {
      const { queued_upto: upto, head } = this.state();
      if (upto >= head) return false;
      if (pushed >= PUSH_PER_RUN) return true;
      const rows = this.sql.exec<{ cursor: number; event: string }>("SELECT cursor, event FROM events WHERE cursor > ? ORDER BY cursor LIMIT ?", upto, PUSH_MESSAGES).toArray();
      const messages: MessageSendRequest<EventMessage>[] = [];
      let bytes = 0;
      let last = upto;
      for (const row of rows) {
        const size = (row.event.length + 64) * Math.max(1, sinks.length);
        if (messages.length > 0 && (bytes + size > PUSH_BYTES || messages.length + sinks.length > PUSH_MESSAGES)) break;
        const event = JSON.parse(row.event) as OcsfEvent;
        for (const sink of sinks) messages.push({ body: { tenant, sink: sink.name, cursor: row.cursor, event }, contentType: "json" });
        bytes += size;
        last = row.cursor;
      }
      if (messages.length > 0) await this.io.queue.sendBatch(messages);
      this.sql.exec("UPDATE feed_state SET queued_upto = ? WHERE singleton = 1 AND queued_upto < ?", last, last);
      pushed += last - upto;
    }
  }

  /** Drops events past retention that the queue already has; the pull feed says so with `oldest`. */
  private prune(now: number): void {
    const { queued_upto } = this.state();
    this.sql.exec(PRUNE_EXPIRED, now - this.io.retentionMs, queued_upto);
  }

  private state(): { head: number; queued_upto: number } {
    return this.sql.exec<{ head: number; queued_upto: number }>("SELECT head, queued_upto FROM feed_state WHERE singleton = 1").one();
  }

  private ensureAlarm(at: number): void {
    if (this.alarmAt !== null && this.alarmAt <= at) return;
    this.alarmAt = at;
    this.ctx.storage.setAlarm(at).catch((error: unknown) => console.error(JSON.stringify({ event: "events.set_alarm_failed", error: String(error) })));
  }
}
