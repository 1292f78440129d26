import { DurableObject } from "cloudflare:workers";
import { StateError, WardenError, type Outcome } from "../worker/errors.ts";
import type { JsonValue } from "../worker/log/canonical.ts";
import type { LogEntry } from "../worker/log/chain.ts";
import { checkOutboundUrl, outboundDevelopment } from "../worker/net/outbound-url.ts";
import { readTicketAnswer, ticketRequest, ticketTarget, type TicketTarget } from "../worker/review/ticket-services.ts";
import type { TicketService } from "../worker/review/ticket-templates.ts";
import type { OpenedTicket, OutboxItem } from "../worker/review/types.ts";
import { WEBHOOK_MAX_ATTEMPTS, WEBHOOK_TIMEOUT_MS, nextAttemptAt, signatureHeader } from "../worker/review/webhook.ts";
import type { DeviceLog } from "./DeviceLog.ts";

/** Where review notifications go; null when `REVIEW_WEBHOOK_URL` is unset (none are kept). */
export interface WebhookTarget {
  url: string;
  /** Unset, every attempt fails and says so: an unsigned notification is never sent. */
  secret: string | undefined;
  /** Why the URL is refused (`checkOutboundUrl`), or null: a refused URL is never called, every attempt says why. */
  refused: string | null;
}

/** Where an opened ticket's key goes back to: the tenant's holds (`ReviewHolds.noteTicket`). */
export interface TicketReceiver {
  noteTicket(ticket: OpenedTicket, now: number): Promise<Outcome<{ noted: boolean }, "not_found">>;
}

/**
 * Everything the outbox reaches outside its own storage. Production builds it from `env`
 * (`outboxIo`); tests construct the object over its real state with their own
 * (durable-objects/SCHEMA.md, "Injected I/O").
 */
export interface OutboxIo {
  /** The alarm handler's time source: the one place real time enters. */
  clock(): number;
  /** Sends one webhook or ticket request. */
  fetch(request: Request): Promise<Response>;
  webhook: WebhookTarget | null;
  /** Per ticketing service, where tickets go or why none can be opened. */
  tickets: Record<TicketService, TicketTarget>;
  /** The tenant's holds, told each opened ticket's key. */
  holds(tenant: string): TicketReceiver;
  /** The requester's device log, where evidence entries go. */
  deviceLog(tenant: string, device: string): DurableObjectStub<DeviceLog>;
  /** Sealed log segments: where an appended entry may have gone before a retry looks for it. */
  archive: R2Bucket;
}

/** The outbox's I/O in production. */
export function outboxIo(env: Env): OutboxIo {
  return {
    clock: () => Date.now(),
    fetch: (request) => fetch(request),
    webhook: webhookTarget(env),
    tickets: { jira: ticketTarget(env, "jira"), servicenow: ticketTarget(env, "servicenow") },
    holds: (tenant) => env.REVIEW_HOLDS.get(env.REVIEW_HOLDS.idFromName(tenant)),
    deviceLog: (tenant, device) => env.DEVICES.get(env.DEVICES.idFromName(`${tenant}/${device}`)),
    archive: env.ARCHIVE,
  };
}

/** `REVIEW_WEBHOOK_URL`, checked like every outbound endpoint (https and a public address in production). */
export function webhookTarget(env: Env): WebhookTarget | null {
  if (!env.REVIEW_WEBHOOK_URL) return null;
  const checked = checkOutboundUrl(env.REVIEW_WEBHOOK_URL, { development: outboundDevelopment(env) });
  return { url: env.REVIEW_WEBHOOK_URL, secret: env.REVIEW_WEBHOOK_SECRET, refused: checked.ok ? null : `REVIEW_WEBHOOK_URL is refused (${checked.reason})` };
}

/** A device log that failed to take an entry is tried again this long after. */
const RETRY_MS = 30_000;
/** Delivered keys are remembered this long, so a hand-off repeated after a lost answer is recognised. */
const DELIVERED_MEMORY_MS = 7 * 24 * 3_600_000;
/** Entries read per page while looking for an append whose answer was lost. */
const PROBE_PAGE = 256;

interface EvidenceRow {
  id: number;
  key: string;
  tenant: string;
  device: string;
  type: string;
  data: string;
  at: number;
  probe_after: number | null;
  [key: string]: SqlStorageValue;
}

/** A ticket with every attempt to open it, for operators and tests. */
export interface TicketDelivery {
  id: number;
  key: string;
  review_id: string;
  service: TicketService;
  tier: string;
  body: string;
  /** `pending` (to be tried), `opened`, or `failed` after the last attempt. */
  state: string;
  ticket_key: string | null;
  ticket_url: string | null;
  /** When the hold noted the key (`ReviewHolds.noteTicket`), or null while it has not yet. */
  noted_at: number | null;
  attempts: { attempt: number; at: number; url: string; status: number | null; error: string | null }[];
}

/** A webhook event with every delivery attempt, for operators and tests. */
export interface WebhookDelivery {
  id: number;
  key: string;
  review_id: string;
  type: string;
  body: string;
  state: string;
  attempts: { attempt: number; at: number; url: string; status: number | null; error: string | null }[];
}

/**
 * The reads each alarm run and each accepted item make. Webhook events and tickets are kept for
 * as long as the tenant lives (a hold, its escalations and verdicts each add some), so each reads
 * through an index and never walks its table (test/integration/query-plans.test.ts).
 */
export const OUTBOX_QUERIES = {
  dueWebhooks: "SELECT id, key, body, attempts FROM webhook_events WHERE state = 'pending' AND next_at <= ? ORDER BY id",
  nextWebhook: "SELECT min(next_at) AS t FROM webhook_events WHERE state = 'pending'",
  nextTicket: "SELECT min(next_at) AS t FROM tickets WHERE state = 'pending'",
  unnotedTickets: "SELECT id, key, review_id, tenant, service, tier, ticket_key, ticket_url FROM tickets WHERE state = 'opened' AND noted_at IS NULL ORDER BY id",
  unnotedCount: "SELECT count(*) AS n FROM tickets WHERE state = 'opened' AND noted_at IS NULL",
  undeliveredEvidence: "SELECT count(*) AS n FROM evidence WHERE delivered_at IS NULL",
} as const;

/**
 * One per tenant (named `<tenant>`): delivers what the holds hand it. Evidence entries go to
 * their device logs exactly once and in order; webhooks are signed and retried with backoff,
 * every attempt recorded. Every method takes `now`; only `alarm()` reads the clock.
 */
export class ReviewOutbox extends DurableObject<Env> {
  private readonly sql: SqlStorage;
  private readonly io: OutboxIo;
  /** One drain of the evidence at a time: a second would append the entry the first is appending. */
  private draining: Promise<unknown> = Promise.resolve();
  /** One webhook run at a time, for the same reason. */
  private sending: Promise<unknown> = Promise.resolve();

  constructor(ctx: DurableObjectState, env: Env, io: OutboxIo = outboxIo(env)) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.io = io;
    void ctx.blockConcurrencyWhile(async () => {
      this.sql.exec(`
        CREATE TABLE IF NOT EXISTS evidence (
          id INTEGER PRIMARY KEY AUTOINCREMENT,
          key TEXT NOT NULL UNIQUE,
          review_id TEXT NOT NULL,
          tenant TEXT NOT NULL,
          device TEXT NOT NULL,
          type TEXT NOT NULL,
          data TEXT NOT NULL,
          at INTEGER NOT NULL,
          probe_after INTEGER,
          attempts INTEGER NOT NULL DEFAULT 0,
          last_error TEXT,
          delivered_at INTEGER,
          result TEXT
        );
        CREATE INDEX IF NOT EXISTS evidence_waiting ON evidence (delivered_at, id);
        CREATE INDEX IF NOT EXISTS evidence_review ON evidence (review_id, delivered_at);
        CREATE TABLE IF NOT EXISTS webhook_events (
          id INTEGER PRIMARY KEY AUTOINCREMENT,
          key TEXT NOT NULL UNIQUE,
          review_id TEXT NOT NULL,
          type TEXT NOT NULL,
          body TEXT NOT NULL,
          created_at INTEGER NOT NULL,
          attempts INTEGER NOT NULL DEFAULT 0,
          next_at INTEGER,
          state TEXT NOT NULL
        );
        CREATE INDEX IF NOT EXISTS webhook_events_due ON webhook_events (state, next_at);
        CREATE TABLE IF NOT EXISTS webhook_attempts (
          event_id INTEGER NOT NULL,
          attempt INTEGER NOT NULL,
          at INTEGER NOT NULL,
          url TEXT NOT NULL,
          status INTEGER,
          error TEXT,
          PRIMARY KEY (event_id, attempt)
        );
        CREATE TABLE IF NOT EXISTS tickets (
          id INTEGER PRIMARY KEY AUTOINCREMENT,
          key TEXT NOT NULL UNIQUE,
          review_id TEXT NOT NULL,
          tenant TEXT NOT NULL,
          service TEXT NOT NULL,
          tier TEXT NOT NULL,
          body TEXT NOT NULL,
          created_at INTEGER NOT NULL,
          attempts INTEGER NOT NULL DEFAULT 0,
          next_at INTEGER,
          state TEXT NOT NULL,
          ticket_key TEXT,
          ticket_url TEXT,
          noted_at INTEGER
        );
        CREATE INDEX IF NOT EXISTS tickets_due ON tickets (state, next_at);
        CREATE INDEX IF NOT EXISTS tickets_unnoted ON tickets (state, noted_at);
        CREATE TABLE IF NOT EXISTS ticket_attempts (
          ticket_id INTEGER NOT NULL,
          attempt INTEGER NOT NULL,
          at INTEGER NOT NULL,
          url TEXT NOT NULL,
          status INTEGER,
          error TEXT,
          PRIMARY KEY (ticket_id, attempt)
        );
      `);
    });
  }

  /**
   * Takes items from the holds, each once by its key (a hand-off repeated because its answer
   * was lost adds nothing), appends waiting evidence to device logs, and says how many of
   * `watch`'s evidence entries are still not in their log.
   */
  async accept(items: OutboxItem[], now: number, watch?: string): Promise<{ undelivered: number }> {
    this.ctx.storage.transactionSync(() => {
      this.sql.exec("DELETE FROM evidence WHERE delivered_at IS NOT NULL AND delivered_at <= ?", now - DELIVERED_MEMORY_MS);
      for (const item of items) {
        if (item.kind === "evidence") {
          this.sql.exec(
            "INSERT INTO evidence (key, review_id, tenant, device, type, data, at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (key) DO NOTHING",
            item.key,
            item.review_id,
            item.tenant,
            item.device,
            item.type,
            JSON.stringify(item.data),
            item.at,
          );
        } else if (item.kind === "ticket") {
          // Kept whether or not the service is configured: an unconfigured one is an attempt that says so.
          this.sql.exec(
            "INSERT INTO tickets (key, review_id, tenant, service, tier, body, created_at, next_at, state) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pending') ON CONFLICT (key) DO NOTHING",
            item.key,
            item.review_id,
            item.tenant,
            item.service,
            item.tier,
            JSON.stringify(item.body),
            item.at,
            item.at,
          );
        } else if (this.io.webhook) {
          this.sql.exec(
            "INSERT INTO webhook_events (key, review_id, type, body, created_at, next_at, state) VALUES (?, ?, ?, ?, ?, ?, 'pending') ON CONFLICT (key) DO NOTHING",
            item.key,
            item.review_id,
            item.event.type,
            JSON.stringify(item.event),
            item.at,
            item.at,
          );
        }
      }
    });
    await this.drain(now);
    await this.scheduleAlarm(now);
    return { undelivered: watch === undefined ? 0 : this.waiting(watch) };
  }

  /** Everything due by `now`: evidence not yet in a device log, webhook deliveries, tickets to open or note; then the next alarm. */
  async tick(now: number): Promise<void> {
    await this.drain(now);
    await this.sendWebhooks(now);
    await this.openTickets(now);
    await this.scheduleAlarm(now);
  }

  override async alarm(): Promise<void> {
    await this.tick(this.io.clock());
  }

  /** Evidence entries of one hold not yet in their device log. */
  waiting(reviewId: string): number {
    return this.sql.exec<{ n: number }>("SELECT count(*) AS n FROM evidence WHERE review_id = ? AND delivered_at IS NULL", reviewId).one().n;
  }

  /** Webhook events and their attempts, for operators and tests. */
  deliveries(reviewId?: string): WebhookDelivery[] {
    const columns = "SELECT id, key, review_id, type, body, state FROM webhook_events";
    const events =
      reviewId === undefined
        ? this.sql.exec<Omit<WebhookDelivery, "attempts">>(`${columns} ORDER BY id`).toArray()
        : this.sql.exec<Omit<WebhookDelivery, "attempts">>(`${columns} WHERE review_id = ? ORDER BY id`, reviewId).toArray();
    return events.map((event) => ({
      ...event,
      attempts: this.sql
        .exec<WebhookDelivery["attempts"][number]>("SELECT attempt, at, url, status, error FROM webhook_attempts WHERE event_id = ? ORDER BY attempt", event.id)
        .toArray(),
    }));
  }

  /** Tickets and every attempt to open them, for operators and tests. */
  tickets(reviewId?: string): TicketDelivery[] {
    const columns = "SELECT id, key, review_id, service, tier, body, state, ticket_key, ticket_url, noted_at FROM tickets";
    const rows =
      reviewId === undefined
        ? this.sql.exec<Omit<TicketDelivery, "attempts">>(`${columns} ORDER BY id`).toArray()
        : this.sql.exec<Omit<TicketDelivery, "attempts">>(`${columns} WHERE review_id = ? ORDER BY id`, reviewId).toArray();
    return rows.map((row) => ({
      ...row,
      attempts: this.sql
        .exec<TicketDelivery["attempts"][number]>("SELECT attempt, at, url, status, error FROM ticket_attempts WHERE ticket_id = ? ORDER BY attempt", row.id)
        .toArray(),
    }));
  }

  // ── evidence ───────────────────────────────────────────────────────────

  private drain(now: number): Promise<void> {
    const run = this.draining.then(() => this.drainInOrder(now));
    this.draining = run.catch(() => undefined);
    return run;
  }

  /** Appends waiting entries oldest first, stopping at the first that fails, so none overtakes another. */
  private async drainInOrder(now: number): Promise<void> {
    for (;;) {
      const row = this.sql
        .exec<EvidenceRow>("SELECT id, key, tenant, device, type, data, at, probe_after FROM evidence WHERE delivered_at IS NULL ORDER BY id LIMIT 1")
        .toArray()[0];
      if (!row) return;
      try {
        await this.deliver(row, now);
      } catch (error) {
        const reason = error instanceof WardenError ? `${error.code}: ${error.message}` : String(error);
        this.sql.exec("UPDATE evidence SET attempts = attempts + 1, last_error = ? WHERE id = ?", reason.slice(0, 500), row.id);
        console.error(JSON.stringify({ event: "review.evidence_deferred", device: row.device, type: row.type, key: row.key, error: String(error) }));
        return;
      }
    }
  }

  /**
   * Appends one entry exactly once. The log's head is recorded before the append is sent; an
   * attempt whose answer never came back (the append may or may not have landed) is followed
   * by a search from that head for the entry's `evidence_id` before anything is sent again.
   */
  private async deliver(row: EvidenceRow, now: number): Promise<void> {
    const log = this.io.deviceLog(row.tenant, row.device);
    if (row.probe_after !== null && (await this.landed(log, row.probe_after, row.key))) {
      this.finish(row.id, "appended", now);
      return;
    }
    const { exists, head } = await log.readLog(Number.MAX_SAFE_INTEGER, 0);
    if (!exists) {
      this.drop(row, "not_found", now);
      return;
    }
    // Durable before the append leaves: the output gate holds the request until this write is stored.
    this.sql.exec("UPDATE evidence SET probe_after = ? WHERE id = ?", head.seq, row.id);
    const appended = await log.append(row.type, JSON.parse(row.data) as { [key: string]: JsonValue }, row.at);
    if (appended.ok) this.finish(row.id, "appended", now);
    else this.drop(row, appended.code, now);
  }

  /** Whether an entry with `evidence_id` = `key` is in the log after `after`, here or already archived to R2. */
  private async landed(log: DurableObjectStub<DeviceLog>, after: number, key: string): Promise<boolean> {
    for (let cursor = after + 1; ; ) {
      const slice = await log.exportSlice(cursor, PROBE_PAGE);
      if (slice.kind === "end") return false;
      const lines = slice.kind === "entries" ? slice.entries : await this.archivedLines(slice.key);
      for (const line of lines) {
        const entry = JSON.parse(line) as LogEntry;
        if (entry.seq >= cursor && entry.data["evidence_id"] === key) return true;
      }
      cursor = slice.kind === "entries" ? cursor + slice.entries.length : slice.manifest.last + 1;
    }
  }

  private async archivedLines(key: string): Promise<string[]> {
    const object = await this.io.archive.get(key);
    // A sealed segment the log names but the archive lacks: stop, and try again later rather than guess.
    if (!object) throw new StateError("internal_error", `archived segment ${key} is missing`);
    return (await object.text()).split("\n").filter((line) => line !== "");
  }

  private finish(id: number, result: string, now: number): void {
    this.sql.exec("UPDATE evidence SET delivered_at = ?, result = ? WHERE id = ?", now, result, id);
  }

  /** A log that refuses the entry (no such device) will refuse it again: it is recorded and not retried. */
  private drop(row: EvidenceRow, code: string, now: number): void {
    console.error(JSON.stringify({ event: "review.evidence_dropped", device: row.device, type: row.type, key: row.key, code }));
    this.finish(row.id, `refused:${code}`, now);
  }

  // ── webhooks ───────────────────────────────────────────────────────────

  private sendWebhooks(now: number): Promise<void> {
    const run = this.sending.then(() => this.sendDue(now));
    this.sending = run.catch(() => undefined);
    return run;
  }

  private async sendDue(now: number): Promise<void> {
    const target = this.io.webhook;
    const due = this.sql
      .exec<{ id: number; key: string; body: string; attempts: number }>(OUTBOX_QUERIES.dueWebhooks, now)
      .toArray();
    for (const event of due) {
      const attempt = event.attempts + 1;
      let status: number | null = null;
      let error: string | null = null;
      if (!target?.secret) error = "REVIEW_WEBHOOK_URL or REVIEW_WEBHOOK_SECRET is not set";
      else if (target.refused) error = target.refused;
      else {
        try {
          const timestamp = Math.floor(now / 1000);
          const response = await this.io.fetch(
            new Request(target.url, {
              method: "POST",
              headers: {
                "content-type": "application/json",
                "warden-signature": await signatureHeader(target.secret, timestamp, event.body),
                "warden-event-id": event.key,
                "warden-delivery-attempt": String(attempt),
              },
              body: event.body,
              signal: AbortSignal.timeout(WEBHOOK_TIMEOUT_MS),
            }),
          );
          status = response.status;
          await response.body?.cancel();
        } catch (cause) {
          error = String(cause).slice(0, 500);
        }
      }
      const delivered = status !== null && status >= 200 && status < 300;
      const next = delivered ? null : nextAttemptAt(attempt, now);
      const state = delivered ? "delivered" : next === null || attempt >= WEBHOOK_MAX_ATTEMPTS ? "failed" : "pending";
      this.ctx.storage.transactionSync(() => {
        this.sql.exec("INSERT INTO webhook_attempts (event_id, attempt, at, url, status, error) VALUES (?, ?, ?, ?, ?, ?)", event.id, attempt, now, target?.url ?? "", status, error);
        this.sql.exec("UPDATE webhook_events SET attempts = ?, next_at = ?, state = ? WHERE id = ?", attempt, next, state, event.id);
      });
    }
  }

  // ── tickets ────────────────────────────────────────────────────────────

  private openTickets(now: number): Promise<void> {
    // Serialised with the webhooks: one run of outbound requests at a time, so none is sent twice.
    const run = this.sending.then(async () => {
      await this.openDue(now);
      await this.noteOpened(now);
    });
    this.sending = run.catch(() => undefined);
    return run;
  }

  /**
   * Opens each due ticket, retried with the webhooks' backoff and every attempt recorded. A
   * ticketing API has no idempotency key: an attempt whose answer was lost may have opened the
   * ticket, and the retry opens another naming the same `{{ticket_id}}`.
   */
  private async openDue(now: number): Promise<void> {
    const due = this.sql
      .exec<{ id: number; key: string; service: TicketService; body: string; attempts: number }>(
        "SELECT id, key, service, body, attempts FROM tickets WHERE state = 'pending' AND next_at <= ? ORDER BY id",
        now,
      )
      .toArray();
    for (const ticket of due) {
      const attempt = ticket.attempts + 1;
      const target = this.io.tickets[ticket.service];
      let status: number | null = null;
      let error: string | null = null;
      let opened: { key: string; url: string } | null = null;
      if (!target.ok) error = target.problem;
      else {
        try {
          const response = await this.io.fetch(ticketRequest(ticket.service, target, ticket.body, AbortSignal.timeout(WEBHOOK_TIMEOUT_MS)));
          status = response.status;
          const answer = await readTicketAnswer(ticket.service, target.base, response);
          if (answer.ok) opened = answer.ticket;
          else error = answer.error.slice(0, 500);
        } catch (cause) {
          error = String(cause).slice(0, 500);
        }
      }
      const next = opened ? null : nextAttemptAt(attempt, now);
      const state = opened ? "opened" : next === null || attempt >= WEBHOOK_MAX_ATTEMPTS ? "failed" : "pending";
      if (state === "failed") console.error(JSON.stringify({ event: "review.ticket_failed", key: ticket.key, service: ticket.service, error }));
      this.ctx.storage.transactionSync(() => {
        this.sql.exec("INSERT INTO ticket_attempts (ticket_id, attempt, at, url, status, error) VALUES (?, ?, ?, ?, ?, ?)", ticket.id, attempt, now, target.ok ? target.base : "", status, error);
        this.sql.exec(
          "UPDATE tickets SET attempts = ?, next_at = ?, state = ?, ticket_key = ?, ticket_url = ? WHERE id = ?",
          attempt,
          next,
          state,
          opened?.key ?? null,
          opened?.url ?? null,
          ticket.id,
        );
      });
    }
  }

  /** Tells the holds each opened ticket's key, until they have taken it (they note an item once). */
  private async noteOpened(now: number): Promise<void> {
    const opened = this.sql
      .exec<{ id: number; key: string; review_id: string; tenant: string; service: TicketService; tier: string; ticket_key: string; ticket_url: string }>(OUTBOX_QUERIES.unnotedTickets)
      .toArray();
    for (const ticket of opened) {
      try {
        const noted = await this.io
          .holds(ticket.tenant)
          .noteTicket({ review_id: ticket.review_id, item: ticket.key, service: ticket.service, tier: ticket.tier, key: ticket.ticket_key, url: ticket.ticket_url }, now);
        if (!noted.ok) console.error(JSON.stringify({ event: "review.ticket_unnoted", key: ticket.key, code: noted.code }));
        this.sql.exec("UPDATE tickets SET noted_at = ? WHERE id = ?", now, ticket.id);
      } catch (error) {
        console.error(JSON.stringify({ event: "review.ticket_note_deferred", key: ticket.key, error: String(error) }));
        return;
      }
    }
  }

  private async scheduleAlarm(now: number): Promise<void> {
    const webhook = this.sql.exec<{ t: number | null }>(OUTBOX_QUERIES.nextWebhook).one().t;
    const ticket = this.sql.exec<{ t: number | null }>(OUTBOX_QUERIES.nextTicket).one().t;
    const evidence = this.sql.exec<{ n: number }>(OUTBOX_QUERIES.undeliveredEvidence).one().n > 0 ? now + RETRY_MS : null;
    const unnoted = this.sql.exec<{ n: number }>(OUTBOX_QUERIES.unnotedCount).one().n > 0 ? now + RETRY_MS : null;
    const times = [webhook, ticket, evidence, unnoted].filter((time): time is number => time !== null);
    if (times.length === 0) {
      await this.ctx.storage.deleteAlarm();
      return;
    }
    const next = Math.min(...times);
    if ((await this.ctx.storage.getAlarm()) !== next) await this.ctx.storage.setAlarm(next);
  }
}
