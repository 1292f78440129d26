import { DurableObject } from "cloudflare:workers";
import { StateError, WardenError } from "../worker/errors.ts";
import type { JsonValue } from "../worker/log/canonical.ts";
import type { LogEntry } from "../worker/log/chain.ts";
import type { OutboxItem } from "../worker/review/types.ts";
import { WEBHOOK_MAX_ATTEMPTS, WEBHOOK_TIMEOUT_MS, nextAttemptAt, signatureHeader } from "../worker/review/webhook.ts";
import type { DeviceLog } from "./DeviceLog.ts";

/** Where review notifications go; null when `REVIEW_WEBHOOK_URL` is unset (none are kept). */
export interface WebhookTarget {
  url: string;
  /** Unset, every attempt fails and says so: an unsigned notification is never sent. */
  secret: string | undefined;
}

/**
 * Everything the outbox reaches outside its own storage. Production builds it from `env`
 * (`outboxIo`); tests construct the object over its real state with their own
 * (durable-objects/SCHEMA.md, "Injected I/O").
 */
export interface OutboxIo {
  /** The alarm handler's time source: the one place real time enters. */
  clock(): number;
  /** Sends one webhook request. */
  fetch(request: Request): Promise<Response>;
  webhook: WebhookTarget | null;
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
    webhook: env.REVIEW_WEBHOOK_URL ? { url: env.REVIEW_WEBHOOK_URL, secret: env.REVIEW_WEBHOOK_SECRET } : null,
    deviceLog: (tenant, device) => env.DEVICES.get(env.DEVICES.idFromName(`${tenant}/${device}`)),
    archive: env.ARCHIVE,
  };
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
        CREATE TABLE IF NOT EXISTS webhook_attempts (
          event_id INTEGER NOT NULL,
          attempt INTEGER NOT NULL,
          at INTEGER NOT NULL,
          url TEXT NOT NULL,
          status INTEGER,
          error TEXT,
          PRIMARY KEY (event_id, attempt)
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

  /** Everything due by `now`: evidence not yet in a device log, webhook deliveries; then the next alarm. */
  async tick(now: number): Promise<void> {
    await this.drain(now);
    await this.sendWebhooks(now);
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
      .exec<{ id: number; key: string; body: string; attempts: number }>("SELECT id, key, body, attempts FROM webhook_events WHERE state = 'pending' AND next_at <= ? ORDER BY id", now)
      .toArray();
    for (const event of due) {
      const attempt = event.attempts + 1;
      let status: number | null = null;
      let error: string | null = null;
      if (!target?.secret) error = "REVIEW_WEBHOOK_URL or REVIEW_WEBHOOK_SECRET is not set";
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

  private async scheduleAlarm(now: number): Promise<void> {
    const webhook = this.sql.exec<{ t: number | null }>("SELECT min(next_at) AS t FROM webhook_events WHERE state = 'pending'").one().t;
    const evidence = this.sql.exec<{ n: number }>("SELECT count(*) AS n FROM evidence WHERE delivered_at IS NULL").one().n > 0 ? now + RETRY_MS : null;
    const times = [webhook, evidence].filter((time): time is number => time !== null);
    if (times.length === 0) {
      await this.ctx.storage.deleteAlarm();
      return;
    }
    const next = Math.min(...times);
    if ((await this.ctx.storage.getAlarm()) !== next) await this.ctx.storage.setAlarm(next);
  }
}
