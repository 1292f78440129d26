import { DurableObject } from "cloudflare:workers";
import { ConfigurationError, type Outcome } from "../worker/errors.ts";
import { sha256Hex } from "../worker/encoding.ts";
import type { JsonValue } from "../worker/log/canonical.ts";
import { actionIdentity, challengeFor, challengeStatement, scopeOfAction, holdSha256, recordSha256, type ChallengeStatement, type HoldRecord, type HoldShown, type ReviewStatus, type TierStep, type Verdict } from "../worker/review/record.ts";
import { TICKET_SERVICES, type TicketService } from "../worker/review/ticket-templates.ts";
import { renderTicket } from "../worker/review/tickets.ts";
import type { HoldState, HoldTicket, OpenedTicket, OutboxItem, RegisteredRequester, ReviewerRecord, VerdictChallenge, VerdictEvidence } from "../worker/review/types.ts";
import { CHALLENGE_TTL_MS, MAX_WAIT_SECONDS, type HoldWaiter } from "../worker/review/types.ts";
import type { ReviewEvent } from "../worker/review/webhook.ts";
import { MAX_ACTION_TOKEN_SECONDS, type ActionScope } from "../worker/tokens/action.ts";
import type { ReviewOutbox } from "./ReviewOutbox.ts";

/**
 * Everything the holds reach outside their own storage. Production builds it from `env`
 * (`holdsIo`); tests construct the object over its real state with their own
 * (durable-objects/SCHEMA.md, "Injected I/O").
 */
export interface HoldsIo {
  /** The alarm handler's time source: the one place real time enters. */
  clock(): number;
  /** The tenant's outbox, which delivers evidence and notifications. */
  outbox(tenant: string): DurableObjectStub<ReviewOutbox>;
  /** The reviewer page's link to one hold (notifications and tickets carry it), or null when `REVIEW_ORIGIN` is unset. */
  reviewLink(id: string): string | null;
}

/** The holds' I/O in production. */
export function holdsIo(env: Env): HoldsIo {
  return {
    clock: () => Date.now(),
    outbox: (tenant) => env.REVIEW_OUTBOX.get(env.REVIEW_OUTBOX.idFromName(tenant)),
    // The fragment names the hold's heading on the page; it never reaches a server.
    reviewLink: (id) => (env.REVIEW_ORIGIN ? `${env.REVIEW_ORIGIN}/review#hold-${encodeURIComponent(id)}` : null),
  };
}

/** Refusals of a verdict on a hold as it stands. */
type VerdictRefusal = "review_not_pending" | "self_approval" | "duplicate_approver" | "review_at_last_tier" | "review_record_changed" | "reviewer_removed";

/**
 * Holds one device may have pending. Each puts an action in front of people and may open
 * tickets; a device past this bound (an agent gone wrong, or a device someone else drives) gets
 * its further reviews denied (`review_unavailable`) until its holds are decided or expire.
 */
export const MAX_PENDING_HOLDS_PER_DEVICE = 50;

/** Spent challenges are remembered this long past their expiry, so a replay says so. */
const SPENT_CHALLENGE_MEMORY_MS = 24 * 3_600_000;
/** Outstanding verdict challenges: unanswered ones past this are dropped oldest first. */
const MAX_OPEN_CHALLENGES = 256;
/** Items the outbox has not taken yet are offered again this long after. */
const HANDOFF_RETRY_MS = 30_000;
/** Items per hand-off call, to bound one RPC's size. */
const HANDOFF_BATCH = 64;

const HOLD_WAITERS: readonly HoldWaiter[] = ["device", "staff"];
const waitKey = (id: string, waiter: HoldWaiter) => `${waiter}:${id}`;
/**
 * Open waits on one hold per waiter. Two agents asking for the identical action join one hold,
 * so a device may wait on it twice; past this many, the oldest wait ends (and reads the hold as
 * it is), which bounds a device's open waits to this many per pending hold.
 */
export const MAX_WAITS_PER_HOLD = 4;

interface HoldRow {
  id: string;
  action_hash: string;
  status: ReviewStatus;
  outcome: "permit" | "deny" | null;
  tier_index: number;
  deadline: number;
  record: string;
  ladder: string;
  token_ttl: number;
  created_at: number;
  decided_at: number | null;
  decided_by: string | null;
  released_at: number | null;
  token_jti: string | null;
  /** The requesting device's registered user when the hold was made, or null (none, or a hold from before it was kept). */
  requester_user: string | null;
  /** JSON `ActionScope`: the action as policy judged it, raw, for the token an approval releases; never shown. Null on a hold from before it was kept. */
  scope: string | null;
  [key: string]: SqlStorageValue;
}

interface ChallengeRow {
  challenge: string;
  reviewer: string;
  review_id: string;
  statement: string;
  expires_at: number;
  consumed_at: number | null;
  applied_at: number | null;
  [key: string]: SqlStorageValue;
}

/**
 * The holds of one device: counted at every new hold (a device has a bound on pending ones) and
 * cancelled by a quarantine (an admin's, or a SOAR playbook's). Holds are kept for the tenant's
 * lifetime, so a device's are found through `holds_device`, an index on the record's device, not
 * by reading every record (test/integration/query-plans.test.ts).
 */
export const HOLD_QUERIES = {
  pendingOfDevice: "SELECT count(*) AS n FROM holds WHERE json_extract(record, '$.requester.device') = ? AND status = 'pending'",
  liveForDevice:
    "SELECT * FROM holds WHERE json_extract(record, '$.requester.device') = ? AND (status = 'pending' OR (outcome = 'permit' AND released_at IS NULL)) AND json_extract(record, '$.decision_log.seq') < ? ORDER BY created_at, rowid",
} as const;

/**
 * The pending hold an identical action joins, among the holds under any of its hashes (a JSON array: under the current
 * key first, then each older key): the first hash's, as if each were asked for in turn. One indexed lookup per hash
 * (`holds_pending_action`, unique, so at most one hold each) in one statement, however many keys `VAULT_KEYS` keeps.
 * CROSS JOIN keeps the hashes the outer loop: SQLite does not reorder it.
 */
export const JOINABLE_HOLD =
  "SELECT holds.* FROM json_each(?) AS hash CROSS JOIN holds ON holds.action_hash = hash.value WHERE holds.status = 'pending' ORDER BY hash.key LIMIT 1";

/**
 * Drops the raw scope of holds released longer ago than any action token lives: a repeated
 * release past that signs nothing (worker/review/holds.ts), so the raw values the log masks are
 * kept no longer than a token could still need them. Run by `advance` when one is due
 * ({@link EARLIEST_RELEASED_SCOPE}).
 */
export const DROP_RELEASED_SCOPES = "UPDATE holds SET scope = NULL WHERE scope IS NOT NULL AND released_at <= ?";

/** When the earliest released hold that still keeps its scope was released (null: none does): the next scope the sweep can drop. */
export const EARLIEST_RELEASED_SCOPE = "SELECT min(released_at) AS t FROM holds WHERE scope IS NOT NULL";

/**
 * How long after its verdict an approval may still be released to its device. A reviewer approved
 * the action as it was asked then: an identical request within this time collects the approval
 * (`hold` returns the approved hold, so "approve, then retry" works once the agent's wait has
 * ended), and after it nothing releases the approval — the device asks again and a person looks
 * again.
 */
export const APPROVAL_RELEASE_MS = 15 * 60_000;

// An approval not yet released, nor reserved for a release (its `jti`): still collectable until its window ends.
const UNCOLLECTED = "outcome = 'permit' AND released_at IS NULL AND token_jti IS NULL";

// A hold whose approvals still matter: pending, or approved and not released yet (a removed reviewer's or a revoked
// passkey's approval of it is withdrawn).
const STANDING = "(holds.status = 'pending' OR (holds.status = 'approved' AND holds.released_at IS NULL))";

/** Whether an approved hold may still be released at `now`: within its window, or its release begun (its `jti` reserved, so it completes). */
function releasable(row: HoldRow, now: number): boolean {
  return row.token_jti !== null || (row.decided_at !== null && now < row.decided_at + APPROVAL_RELEASE_MS);
}

/**
 * The approved hold an identical action collects: under any of its hashes (current key first), decided within
 * {@link APPROVAL_RELEASE_MS} of now under the same bundle (its token names the bundle; another would refuse it at
 * redemption) and the same ladder of tiers — the action hash leaves out the context, on which the tier policy asks for
 * can depend (history), so an approval at a lower tier than the one now asked for is not collected —, its scope kept.
 * Through `holds_uncollected_action`.
 */
export const COLLECTABLE_HOLD = `SELECT holds.* FROM json_each(?) AS hash CROSS JOIN holds ON holds.action_hash = hash.value WHERE ${UNCOLLECTED} AND holds.decided_at > ? AND holds.scope IS NOT NULL AND json_extract(holds.record, '$.policy.digest') = ? AND holds.ladder = ? ORDER BY hash.key, holds.decided_at DESC LIMIT 1`;

/**
 * Drops the raw scope of approvals whose release window ended uncollected: nothing can release them any more. Through
 * `holds_scope_uncollected`, named: left to choose, SQLite reads `holds_scope_released` for their null release time.
 */
export const DROP_UNCOLLECTED_SCOPES = `UPDATE holds INDEXED BY holds_scope_uncollected SET scope = NULL WHERE scope IS NOT NULL AND ${UNCOLLECTED} AND decided_at <= ?`;

/** When the earliest uncollected approval that still keeps its scope was decided (null: none is): min() over its index's first entry. */
export const EARLIEST_UNCOLLECTED_SCOPE = `SELECT min(decided_at) AS t FROM holds INDEXED BY holds_scope_uncollected WHERE scope IS NOT NULL AND ${UNCOLLECTED}`;

/**
 * The identity holds were stored under before `action_hash` was keyed: the unkeyed SHA-256 of the
 * same `{tenant, device, agent, action}`, the action with its raw targets (`scope`'s; the record
 * shows them masked). Computed here only to find such a hold still pending, so an identical action
 * joins it as it always did; never stored, logged or shown for a new hold.
 */
function legacyActionHash(record: HoldRecord, scope: ActionScope): string {
  const { tenant, requester, agent, action } = record;
  return sha256Hex(actionIdentity({ tenant, device: requester.device, agent, action: { ...action, targets: scope.targets } }));
}

/**
 * What the token an approval releases is scoped to: the row's `scope`, or, for a hold from before
 * it was kept, its record's action, which then held the raw targets. (A scope dropped past its
 * tokens' life also reads as the record's: the release signs nothing then.)
 */
function scopeOf(row: HoldRow, record: HoldRecord): ActionScope {
  return row.scope !== null ? (JSON.parse(row.scope) as ActionScope) : scopeOfAction(record.action);
}

/**
 * Whom a verdict on `row` checks its requesting device's user against: the user the hold kept, else — a hold from before
 * it was kept, or of a device registered without one — the user the device's registration names (`registered`, which
 * the verdict service read; a registration is never changed once made). Undefined when neither is known.
 */
function requesterOf(row: HoldRow, registered: RegisteredRequester | undefined): string | null | undefined {
  if (row.requester_user !== null) return row.requester_user;
  return registered ? registered.user : undefined;
}

/**
 * One per tenant (named `<tenant>`): holds awaiting review, their approvals, the verdict
 * challenges that commit to them, and the deadline alarm that escalates and expires them.
 * Every change writes its evidence and notifications to `handoff` in the same transaction;
 * they reach the tenant's `ReviewOutbox` in that order, each under a stable key. Every
 * method takes `now` (ms); only `alarm()` reads the clock.
 */
/**
 * A sweep of the raw scopes holds keep, run by `advance` only once one is due, so the holds' every call does not run
 * it for nothing: `earliest` reads when the first kept scope began its lifetime (null: none is kept), `drop` drops every
 * one that began before a cutoff. The earliest is kept in memory and read again after a sweep — not taken from it, whose
 * transaction may yet roll back, keeping what it dropped — or once a new scope may fall due first (`stale`).
 */
class ScopeSweep {
  private earliest: number | null | undefined;

  constructor(
    private readonly sql: SqlStorage,
    private readonly queries: { earliest: string; drop: string },
    private readonly lifetimeMs: number,
  ) {}

  stale(): void {
    this.earliest = undefined;
  }

  /** Drops the scopes due by `now`, when one is. Runs inside a transaction. */
  run(now: number): void {
    const cutoff = now - this.lifetimeMs;
    if (this.earliest === undefined) this.earliest = this.sql.exec<{ t: number | null }>(this.queries.earliest).one().t;
    if (this.earliest === null || this.earliest > cutoff) return;
    this.sql.exec(this.queries.drop, cutoff);
    this.earliest = undefined;
  }
}

export class ReviewHolds extends DurableObject<Env> {
  private readonly sql: SqlStorage;
  private readonly io: HoldsIo;
  /** One hand-off at a time, so the outbox receives items in the order they were written. */
  private handing: Promise<unknown> = Promise.resolve();
  /** The open waits (`waitDecided`) by hold and waiter, oldest first: each ends its wait when called. */
  private readonly waits = new Map<string, Set<() => void>>();
  /** Scopes of released holds, due a token's life after the release; a release makes the earliest stale. */
  private readonly releasedScopes: ScopeSweep;
  /** Scopes of approvals never collected, due at the end of their release window; an approval makes the earliest stale. */
  private readonly uncollectedScopes: ScopeSweep;

  constructor(ctx: DurableObjectState, env: Env, io: HoldsIo = holdsIo(env)) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.io = io;
    this.releasedScopes = new ScopeSweep(this.sql, { earliest: EARLIEST_RELEASED_SCOPE, drop: DROP_RELEASED_SCOPES }, MAX_ACTION_TOKEN_SECONDS * 1000);
    this.uncollectedScopes = new ScopeSweep(this.sql, { earliest: EARLIEST_UNCOLLECTED_SCOPE, drop: DROP_UNCOLLECTED_SCOPES }, APPROVAL_RELEASE_MS);
    void ctx.blockConcurrencyWhile(async () => {
      this.sql.exec(`
        CREATE TABLE IF NOT EXISTS holds (
          id TEXT PRIMARY KEY,
          action_hash TEXT NOT NULL,
          status TEXT NOT NULL,
          outcome TEXT,
          tier_index INTEGER NOT NULL,
          deadline INTEGER NOT NULL,
          record TEXT NOT NULL,
          ladder TEXT NOT NULL,
          token_ttl INTEGER NOT NULL,
          created_at INTEGER NOT NULL,
          decided_at INTEGER,
          decided_by TEXT,
          released_at INTEGER,
          token_jti TEXT,
          items INTEGER NOT NULL DEFAULT 0,
          requester_user TEXT,
          scope TEXT
        );
        CREATE UNIQUE INDEX IF NOT EXISTS holds_pending_action ON holds (action_hash) WHERE status = 'pending';
        CREATE INDEX IF NOT EXISTS holds_status_deadline ON holds (status, deadline);
        CREATE INDEX IF NOT EXISTS holds_device ON holds (json_extract(record, '$.requester.device'));
        CREATE TABLE IF NOT EXISTS approvals (
          review_id TEXT NOT NULL,
          reviewer TEXT NOT NULL,
          credential_id TEXT NOT NULL,
          at INTEGER NOT NULL,
          PRIMARY KEY (review_id, reviewer)
        );
        CREATE TABLE IF NOT EXISTS challenges (
          challenge TEXT PRIMARY KEY,
          reviewer TEXT NOT NULL,
          review_id TEXT NOT NULL,
          statement TEXT NOT NULL,
          expires_at INTEGER NOT NULL,
          consumed_at INTEGER,
          applied_at INTEGER
        );
        CREATE TABLE IF NOT EXISTS barred (
          reviewer TEXT PRIMARY KEY,
          at INTEGER NOT NULL
        );
        CREATE TABLE IF NOT EXISTS revoked_credentials (
          credential TEXT PRIMARY KEY,
          reviewer TEXT NOT NULL,
          at INTEGER NOT NULL
        );
        CREATE TABLE IF NOT EXISTS quarantine_fences (
          device TEXT PRIMARY KEY,
          before_seq INTEGER NOT NULL
        );
        CREATE TABLE IF NOT EXISTS tickets (
          item TEXT PRIMARY KEY,
          review_id TEXT NOT NULL,
          service TEXT NOT NULL,
          tier TEXT NOT NULL,
          key TEXT NOT NULL,
          url TEXT NOT NULL,
          at INTEGER NOT NULL
        );
        CREATE INDEX IF NOT EXISTS tickets_review ON tickets (review_id, at);
        CREATE TABLE IF NOT EXISTS handoff (
          id INTEGER PRIMARY KEY AUTOINCREMENT,
          tenant TEXT NOT NULL,
          review_id TEXT NOT NULL,
          item TEXT NOT NULL
        );
      `);
      // Holds from before the requester's user was kept: theirs is null here, and a verdict on them is checked against the user
      // the device's registration names (`requesterToRead`).
      const holds = this.sql.exec<{ sql: string }>("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'holds'").one().sql;
      if (!holds.includes("requester_user")) this.sql.exec("ALTER TABLE holds ADD COLUMN requester_user TEXT");
      // Holds from before the token's scope was kept apart: their record holds the raw action and their action hash is
      // the unkeyed one; a null scope marks them (`legacyActionHash`, `scopeOf`).
      if (!/\bscope\b/.test(holds)) this.sql.exec("ALTER TABLE holds ADD COLUMN scope TEXT");
      this.sql.exec("CREATE INDEX IF NOT EXISTS holds_scope_released ON holds (released_at) WHERE scope IS NOT NULL");
      this.sql.exec(`CREATE INDEX IF NOT EXISTS holds_uncollected_action ON holds (action_hash, decided_at) WHERE ${UNCOLLECTED}`);
      this.sql.exec(`CREATE INDEX IF NOT EXISTS holds_scope_uncollected ON holds (decided_at) WHERE scope IS NOT NULL AND ${UNCOLLECTED}`);
    });
  }

  // ── holds ──────────────────────────────────────────────────────────────

  /**
   * Queues a hold, or returns the pending one for the same action (same `action_hash`):
   * an identical request while one waits joins it instead of queueing twice — at the tier policy
   * asks now ({@link joinAsked}) — and one within {@link APPROVAL_RELEASE_MS} of an approval not
   * yet released collects it. `formerHashes` are
   * the same action's hashes under the tenant's older keys (a pending hold made before a key
   * rotation is joined too); a hold made before action hashes were keyed is found by its unkeyed
   * hash ({@link legacyActionHash}). `scope` is the action as policy judged it, raw values
   * included, which the token an approval releases is scoped to: kept beside the record (whose
   * targets are masked as the log holds them) and never shown. `requesterUser` is the requesting
   * device's registered user, kept beside the signed record too: they may not approve it.
   */
  async hold(
    input: { record: HoldRecord; scope: ActionScope; formerHashes?: string[]; ladder: TierStep[]; tokenTtl: number; requesterUser?: string | null },
    now: number,
  ): Promise<{ created: boolean; hold: HoldState } | { refused: "device_hold_limit" | "device_quarantined" | "review_tier_changed" }> {
    const first = input.ladder[0];
    if (!first) throw new ConfigurationError("configuration_error", "a hold needs at least one tier");
    const result = this.ctx.storage.transactionSync(() => {
      this.advance(now);
      const pending = this.joinable(input);
      if (pending) {
        const joined = this.joinAsked(pending, input, now);
        return joined ? { created: false, hold: this.view(joined) } : { refused: "review_tier_changed" as const };
      }
      const collected = this.collectable(input, now);
      if (collected) return { created: false, hold: this.view(collected) };
      // A decision the device log put before a quarantine whose cancellation already ran here: its hold would escape it.
      const fence = this.sql.exec<{ before_seq: number }>("SELECT before_seq FROM quarantine_fences WHERE device = ?", input.record.requester.device).toArray()[0];
      if (fence && input.record.decision_log.seq < fence.before_seq) return { refused: "device_quarantined" as const };
      if (this.sql.exec<{ n: number }>(HOLD_QUERIES.pendingOfDevice, input.record.requester.device).one().n >= MAX_PENDING_HOLDS_PER_DEVICE) return { refused: "device_hold_limit" as const };
      this.sql.exec(
        "INSERT INTO holds (id, action_hash, status, tier_index, deadline, record, ladder, token_ttl, created_at, requester_user, scope) VALUES (?, ?, 'pending', 0, ?, ?, ?, ?, ?, ?, ?)",
        input.record.review_id,
        input.record.action_hash,
        now + first.sla_minutes * 60_000,
        JSON.stringify(input.record),
        JSON.stringify(input.ladder),
        input.tokenTtl,
        now,
        input.requesterUser ?? null,
        JSON.stringify(input.scope),
      );
      const hold = this.view(this.row(input.record.review_id)!);
      this.enqueueWebhook(hold, "review.created", { tier: hold.shown.tier, previous_tier: null, deadline: hold.shown.deadline, by: "policy" }, now);
      this.enqueueTickets(hold.id, now);
      return { created: true, hold };
    });
    await this.settle(now);
    return result;
  }

  /** The hold after applying every deadline that passed by `now`. */
  async state(id: string, now: number): Promise<HoldState | null> {
    this.ctx.storage.transactionSync(() => this.advance(now));
    await this.settle(now);
    const row = this.row(id);
    return row ? this.view(row) : null;
  }

  /**
   * Returns once hold `id` is no longer pending, or after `waitMs` (at most 25 s); at once when
   * it is not pending now. A hold keeps at most {@link MAX_WAITS_PER_HOLD} open waits per waiter:
   * one more ends the oldest (whose request, retried or abandoned, then reads the hold as it is).
   * The caller reads the hold afterwards; nothing here reads the clock.
   */
  async waitDecided(id: string, waiter: HoldWaiter, waitMs: number): Promise<void> {
    const row = this.row(id);
    if (!row || row.status !== "pending" || waitMs <= 0) return;
    const key = waitKey(id, waiter);
    const open = this.waits.get(key) ?? new Set<() => void>();
    this.waits.set(key, open);
    if (open.size >= MAX_WAITS_PER_HOLD) [...open][0]?.();
    await new Promise<void>((resolve) => {
      const end = () => {
        clearTimeout(timer);
        open.delete(end);
        if (open.size === 0 && this.waits.get(key) === open) this.waits.delete(key);
        resolve();
      };
      const timer = setTimeout(end, Math.min(waitMs, MAX_WAIT_SECONDS * 1000));
      open.add(end);
    });
  }

  /** Pending holds, by deadline. */
  async pending(now: number, limit = 100): Promise<HoldState[]> {
    this.ctx.storage.transactionSync(() => this.advance(now));
    await this.settle(now);
    return this.sql
      .exec<HoldRow>("SELECT * FROM holds WHERE status = 'pending' ORDER BY deadline, id LIMIT ?", limit)
      .toArray()
      .map((row) => this.view(row));
  }

  /**
   * Releases an approved hold (or one the timeout rule permitted) to its requester.
   * `review.released` names the action token's `jti`; it is queued behind every earlier
   * entry of the hold, and the hold is marked released only once all of them are in the
   * device log, so the caller signs the token after its evidence is there. A release that
   * stopped half way keeps its `jti`: the entry naming it may already be in the log.
   * A hold already released answers with the same `jti` and release time, so its device can be
   * handed the same token again (an answer lost on the way must not cost a second review);
   * nothing new is logged.
   */
  async release(args: {
    id: string;
    device: string;
    jti: string;
    now: number;
  }): Promise<Outcome<{ hold: HoldState; scope: ActionScope; jti: string; releasedAt: number; repeated: boolean }, "not_found" | "review_not_pending" | "review_evidence_pending">> {
    const started = this.ctx.storage.transactionSync(() => {
      this.advance(args.now);
      const row = this.row(args.id);
      if (!row) return { ok: false as const, code: "not_found" as const };
      const hold = this.view(row);
      if (hold.shown.record.requester.device !== args.device) return { ok: false as const, code: "not_found" as const };
      const scope = scopeOf(row, hold.shown.record);
      if (row.outcome === "permit" && row.released_at !== null && row.token_jti !== null) return { ok: true as const, repeated: true as const, hold, scope, jti: row.token_jti, releasedAt: row.released_at };
      if (row.outcome !== "permit" || row.released_at !== null) return { ok: false as const, code: "review_not_pending" as const };
      if (!releasable(row, args.now)) {
        this.sql.exec("UPDATE holds SET scope = NULL WHERE id = ?", args.id);
        return { ok: false as const, code: "review_not_pending" as const };
      }
      if (row.token_jti === null) {
        this.sql.exec("UPDATE holds SET token_jti = ? WHERE id = ?", args.jti, args.id);
        const { record } = hold.shown;
        this.enqueueEvidence(hold, "review.released", { review_id: hold.id, decision_id: record.decision_id, action_hash: record.action_hash, token_jti: args.jti, by: row.decided_by }, args.now);
      }
      return { ok: true as const, repeated: false as const, tenant: hold.shown.record.tenant, scope, jti: row.token_jti ?? args.jti };
    });
    if (!started.ok) {
      await this.settle(args.now);
      return started;
    }
    if (started.repeated) return { ok: true, hold: started.hold, scope: started.scope, jti: started.jti, releasedAt: started.releasedAt, repeated: true };
    if (!(await this.settle(args.now, { tenant: started.tenant, review: args.id }))) return { ok: false, code: "review_evidence_pending" };
    // A hold cancelled while its evidence was on the way is not released: no token is signed.
    const marked = this.sql.exec("UPDATE holds SET released_at = ? WHERE id = ? AND released_at IS NULL AND outcome = 'permit' RETURNING id", args.now, args.id).toArray();
    if (marked.length !== 1) return { ok: false, code: "review_not_pending" };
    // Its scope falls due a token's life from now, maybe before the one the sweep waits for.
    this.releasedScopes.stale();
    return { ok: true, hold: this.view(this.row(args.id)!), scope: started.scope, jti: started.jti, releasedAt: args.now, repeated: false };
  }

  /**
   * Ends every hold of `device` that could still hand it a token: pending ones, and decided
   * ones whose token was not released yet (an approval given before the device was quarantined
   * must not release an action after it). Each becomes `cancelled` with outcome deny, with
   * `review.cancelled` queued for the device log and a `review.cancelled` webhook, in one
   * transaction. `logged` says whether every entry reached the log before this returned.
   * With `quarantineSeq`, the seq of the `device.quarantined` entry this cancellation follows (an
   * admin's, or a playbook's delivered after the fact and retried until it lands), only holds of
   * decisions the device log put before it end: one of a decision after an admin released the
   * device is not that quarantine's to end. The log's order, not the requests' clocks: a request
   * that started before the quarantining one may have logged its review just before it, with a
   * later `now`. Repeating it changes nothing more. It also fences the device: a hold asked for
   * afterwards for a decision the log put before it (its review was logged just before the
   * quarantine, its hold made just after the cancellation) is refused.
   */
  async cancelForDevice(args: {
    device: string;
    reason: string;
    by: string;
    now: number;
    quarantineSeq?: number;
  }): Promise<{ cancelled: { id: string; previous: ReviewStatus }[]; logged: boolean }> {
    const { device, reason, by, now } = args;
    const cancelled = this.ctx.storage.transactionSync(() => {
      this.advance(now);
      if (args.quarantineSeq !== undefined) {
        this.sql.exec(
          "INSERT INTO quarantine_fences (device, before_seq) VALUES (?, ?) ON CONFLICT (device) DO UPDATE SET before_seq = max(before_seq, excluded.before_seq)",
          device,
          args.quarantineSeq,
        );
      }
      const rows = this.sql
        .exec<HoldRow>(HOLD_QUERIES.liveForDevice, device, args.quarantineSeq ?? Number.MAX_SAFE_INTEGER)
        .toArray();
      return rows.map((row) => {
        const hold = this.view(row);
        const { record } = hold.shown;
        this.decide(row.id, "cancelled", "deny", now, by);
        this.enqueueEvidence(hold, "review.cancelled", { review_id: hold.id, decision_id: record.decision_id, action_hash: record.action_hash, previous: row.status, outcome: "deny", by, reason }, now);
        this.enqueueWebhook(hold, "review.cancelled", { tier: hold.shown.tier, previous_tier: null, deadline: null, outcome: "deny", by }, now);
        return { id: row.id, previous: row.status, tenant: record.tenant };
      });
    });
    let logged = await this.settle(now);
    for (const hold of cancelled) {
      if (!logged) break;
      try {
        logged = (await this.io.outbox(hold.tenant).waiting(hold.id)) === 0;
      } catch {
        logged = false;
      }
    }
    return { cancelled: cancelled.map(({ id, previous }) => ({ id, previous })), logged };
  }

  /**
   * Bars a removed reviewer: every verdict challenge issued to them is void (spent, and any
   * later presentation is `reviewer_removed`), and their approvals of holds still pending, or
   * approved and not yet released, no longer count — each withdrawal goes to the device log as
   * `review.approval_withdrawn`, and an approved hold is cancelled.
   * Repeating it changes nothing more.
   */
  async barReviewer(args: { reviewer: string; reason: string; by: string; now: number }): Promise<{ voided: number; withdrawn: string[] }> {
    const { reviewer, reason, by, now } = args;
    const result = this.ctx.storage.transactionSync(() => {
      this.advance(now);
      this.sql.exec("INSERT INTO barred (reviewer, at) VALUES (?, ?) ON CONFLICT (reviewer) DO NOTHING", reviewer, now);
      const voided = this.sql.exec("UPDATE challenges SET consumed_at = ? WHERE reviewer = ? AND consumed_at IS NULL RETURNING challenge", now, reviewer).toArray().length;
      const rows = this.sql
        .exec<HoldRow>(`SELECT holds.* FROM holds JOIN approvals ON approvals.review_id = holds.id WHERE approvals.reviewer = ? AND ${STANDING} ORDER BY holds.created_at, holds.rowid`, reviewer)
        .toArray();
      return { voided, withdrawn: this.withdrawApprovals(rows, { reviewer, credential: null, by, reason }, now) };
    });
    await this.settle(now);
    return result;
  }

  /**
   * Takes back what a revoked passkey gave: its approvals of holds still pending, or approved and
   * not yet released (then cancelled), no longer count — each withdrawal goes to the device log as
   * `review.approval_withdrawn`, naming the credential — and a verdict it gave whose commit comes after this is refused
   * (`passkey_revoked`). The reviewer's approvals made with another passkey stand. Repeating it
   * changes nothing more.
   */
  async withdrawCredential(args: { reviewer: string; credential: string; reason: string; by: string; now: number }): Promise<{ withdrawn: string[] }> {
    const { reviewer, credential, reason, by, now } = args;
    const result = this.ctx.storage.transactionSync(() => {
      this.advance(now);
      this.sql.exec("INSERT INTO revoked_credentials (credential, reviewer, at) VALUES (?, ?, ?) ON CONFLICT (credential) DO NOTHING", credential, reviewer, now);
      const rows = this.sql
        .exec<HoldRow>(
          `SELECT holds.* FROM holds JOIN approvals ON approvals.review_id = holds.id WHERE approvals.reviewer = ? AND approvals.credential_id = ? AND ${STANDING} ORDER BY holds.created_at, holds.rowid`,
          reviewer,
          credential,
        )
        .toArray();
      return { withdrawn: this.withdrawApprovals(rows, { reviewer, credential, by, reason }, now) };
    });
    await this.settle(now);
    return result;
  }

  /**
   * Deletes `reviewer`'s approval of each hold in `rows` and queues its `review.approval_withdrawn`; a hold the approval
   * had already decided, not yet released, is cancelled as well (`review.cancelled`): it would otherwise hand the device
   * a token on the word of a reviewer no longer trusted. Inside a transaction.
   */
  private withdrawApprovals(rows: HoldRow[], args: { reviewer: string; credential: string | null; by: string; reason: string }, now: number): string[] {
    const { reviewer, credential, by, reason } = args;
    // An approval past its release window, never collected, can hand nothing: it is left as it was decided.
    const live = rows.filter((row) => row.status === "pending" || releasable(row, now));
    for (const row of live) {
      this.sql.exec("DELETE FROM approvals WHERE review_id = ? AND reviewer = ?", row.id, reviewer);
      const hold = this.view(row);
      const { record } = hold.shown;
      this.enqueueEvidence(
        hold,
        "review.approval_withdrawn",
        {
          review_id: hold.id,
          decision_id: record.decision_id,
          action_hash: record.action_hash,
          reviewer,
          ...(credential !== null ? { credential_id: credential } : {}),
          approvals: hold.approvals.length,
          approvers_required: hold.shown.approvers_required,
          by,
          reason,
        },
        now,
      );
      if (row.status === "pending") continue;
      this.decide(row.id, "cancelled", "deny", now, by);
      this.enqueueEvidence(hold, "review.cancelled", { review_id: hold.id, decision_id: record.decision_id, action_hash: record.action_hash, previous: row.status, outcome: "deny", by, reason }, now);
      this.enqueueWebhook(hold, "review.cancelled", { tier: hold.shown.tier, previous_tier: null, deadline: null, outcome: "deny", by }, now);
    }
    return live.map((row) => row.id);
  }

  /**
   * Notes a ticket the outbox opened for a hold, once per ticket item: the hold's state shows it,
   * and `review.ticket` puts its key into the device log. The signed record is left as it is: a
   * reviewer's challenge commits to what they were shown, and a ticket key arriving while they
   * look must not make their verdict `review_record_changed`.
   */
  async noteTicket(ticket: OpenedTicket, now: number): Promise<Outcome<{ noted: boolean }, "not_found">> {
    const result = this.ctx.storage.transactionSync(() => {
      const row = this.row(ticket.review_id);
      if (!row) return { ok: false as const, code: "not_found" as const };
      const inserted = this.sql
        .exec(
          "INSERT INTO tickets (item, review_id, service, tier, key, url, at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (item) DO NOTHING RETURNING item",
          ticket.item,
          ticket.review_id,
          ticket.service,
          ticket.tier,
          ticket.key,
          ticket.url,
          now,
        )
        .toArray();
      if (inserted.length === 0) return { ok: true as const, noted: false };
      const hold = this.view(row);
      const { record } = hold.shown;
      this.enqueueEvidence(
        hold,
        "review.ticket",
        {
          review_id: hold.id,
          decision_id: record.decision_id,
          action_hash: record.action_hash,
          service: ticket.service,
          tier: ticket.tier,
          ticket_key: ticket.key,
          ticket_url: ticket.url,
          ticket_item: ticket.item,
          record_sha256: recordSha256(record),
        },
        now,
      );
      return { ok: true as const, noted: true };
    });
    await this.settle(now);
    return result;
  }

  // ── verdicts ───────────────────────────────────────────────────────────

  /**
   * The requesting device of hold `id` when the hold did not keep whom the device is registered to (a hold from before
   * `requester_user`, or of a device registered without a user), else null: the verdict service then reads the device's
   * registration and passes what it names to {@link prepareVerdict} and {@link commitVerdict} as `registered`.
   */
  requesterToRead(id: string): { tenant: string; device: string } | null {
    const row = this.sql
      .exec<{ tenant: string; device: string }>("SELECT json_extract(record, '$.tenant') AS tenant, json_extract(record, '$.requester.device') AS device FROM holds WHERE id = ? AND requester_user IS NULL", id)
      .toArray()[0];
    return row ?? null;
  }

  /**
   * Issues the challenge for one reviewer's verdict on the hold as it stands. `shownSha256`
   * is the digest of the hold the page rendered: if it changed since, the reviewer must look
   * again. `reviewer` comes from the reviewer registry (records never change once stored).
   */
  async prepareVerdict(args: {
    id: string;
    reviewer: ReviewerRecord;
    verdict: Verdict;
    shownSha256: string;
    nonce: string;
    now: number;
    /** For a hold that did not keep its requester's user: whom its device's registration names ({@link requesterToRead}). */
    registered?: RegisteredRequester;
  }): Promise<Outcome<{ statement: ChallengeStatement; challenge: string; hold: HoldState }, "not_found" | VerdictRefusal>> {
    const result = this.ctx.storage.transactionSync(() => {
      this.advance(args.now);
      const row = this.row(args.id);
      if (!row) return { ok: false as const, code: "not_found" as const };
      const hold = this.view(row);
      const refusal = this.verdictRefusal(hold, requesterOf(row, args.registered), args.reviewer, args.verdict) ?? (hold.hold_sha256 !== args.shownSha256 ? ("review_record_changed" as const) : null);
      if (refusal) return { ok: false as const, code: refusal };
      const statement = challengeStatement(hold.shown, { verdict: args.verdict, reviewer: args.reviewer.id, nonce: args.nonce });
      const challenge = challengeFor(statement);
      this.sql.exec("DELETE FROM challenges WHERE expires_at + ? <= ?", SPENT_CHALLENGE_MEMORY_MS, args.now);
      this.sql.exec(
        "INSERT INTO challenges (challenge, reviewer, review_id, statement, expires_at) VALUES (?, ?, ?, ?, ?)",
        challenge,
        args.reviewer.id,
        hold.id,
        JSON.stringify(statement),
        Math.min(args.now + CHALLENGE_TTL_MS, hold.deadline),
      );
      this.sql.exec(
        "DELETE FROM challenges WHERE consumed_at IS NULL AND challenge NOT IN (SELECT challenge FROM challenges WHERE consumed_at IS NULL ORDER BY expires_at DESC LIMIT ?)",
        MAX_OPEN_CHALLENGES,
      );
      return { ok: true as const, statement, challenge, hold };
    });
    await this.settle(args.now);
    return result;
  }

  /**
   * Spends a verdict challenge: it is marked used before anything is verified, so an
   * assertion that fails later has still used it up. A second presentation is a replay.
   */
  takeChallenge(challenge: string, now: number): Outcome<{ row: VerdictChallenge }, "challenge_invalid" | "replay_detected" | "reviewer_removed"> {
    return this.ctx.storage.transactionSync(() => {
      const row = this.sql.exec<ChallengeRow>("SELECT * FROM challenges WHERE challenge = ?", challenge).toArray()[0];
      if (!row) return { ok: false as const, code: "challenge_invalid" as const };
      // Before the replay check: a removed reviewer's challenges were spent by the removal itself.
      if (this.barred(row.reviewer)) return { ok: false as const, code: "reviewer_removed" as const };
      if (row.consumed_at !== null) return { ok: false as const, code: "replay_detected" as const };
      this.sql.exec("UPDATE challenges SET consumed_at = ? WHERE challenge = ?", now, challenge);
      if (row.expires_at <= now) return { ok: false as const, code: "challenge_invalid" as const };
      const { reviewer, review_id, expires_at } = row;
      return { ok: true as const, row: { challenge, reviewer, review_id, statement: JSON.parse(row.statement) as ChallengeStatement, expires_at } };
    });
  }

  /**
   * Applies a verdict whose assertion the service verified over `challenge` and whose
   * credential counter the reviewer registry already moved forward. The challenge is applied
   * at most once (a repeated call is `replay_detected`), and everything is checked again in
   * the transaction that applies it: the hold must still be exactly what the challenge
   * committed to, the reviewer must not be the requester nor have approved already. The
   * evidence is written in the same transaction and handed to the outbox before this returns;
   * `logged` says whether it reached the device log.
   */
  async commitVerdict(args: {
    challenge: string;
    reviewer: ReviewerRecord;
    evidence: VerdictEvidence;
    now: number;
    /** As for {@link prepareVerdict}. */
    registered?: RegisteredRequester;
  }): Promise<Outcome<{ hold: HoldState; logged: boolean }, "challenge_invalid" | "replay_detected" | "not_found" | "passkey_revoked" | VerdictRefusal>> {
    const { reviewer, evidence, now } = args;
    const result = this.ctx.storage.transactionSync(() => {
      this.advance(now);
      const stored = this.sql.exec<ChallengeRow>("SELECT * FROM challenges WHERE challenge = ?", args.challenge).toArray()[0];
      // Never taken means never checked against an assertion; another reviewer's is not this one's to use.
      if (!stored || stored.consumed_at === null || stored.reviewer !== reviewer.id) return { ok: false as const, code: "challenge_invalid" as const };
      if (stored.applied_at !== null) return { ok: false as const, code: "replay_detected" as const };
      this.sql.exec("UPDATE challenges SET applied_at = ? WHERE challenge = ?", now, args.challenge);
      const statement = JSON.parse(stored.statement) as ChallengeStatement;
      const holdRow = this.row(stored.review_id);
      if (!holdRow) return { ok: false as const, code: "not_found" as const };
      const hold = this.view(holdRow);
      if (hold.status !== "pending") return { ok: false as const, code: "review_not_pending" as const };
      const current = challengeFor(challengeStatement(hold.shown, { verdict: statement.verdict, reviewer: reviewer.id, nonce: statement.nonce }));
      if (current !== args.challenge) return { ok: false as const, code: "review_record_changed" as const };
      const refusal = this.verdictRefusal(hold, requesterOf(holdRow, args.registered), reviewer, statement.verdict);
      if (refusal) return { ok: false as const, code: refusal };
      // A passkey revoked after this verdict's counter check: the revocation withdrew what it gave, and it gives nothing more.
      if (this.credentialRevoked(evidence.credential_id)) return { ok: false as const, code: "passkey_revoked" as const };

      const record = hold.shown.record;
      const base = {
        review_id: hold.id,
        decision_id: record.decision_id,
        action_hash: record.action_hash,
        verdict: statement.verdict,
        reviewer: reviewer.id,
        credential_id: evidence.credential_id,
        credential_public_key: evidence.credential_public_key,
        challenge: args.challenge,
        statement: statement as unknown as JsonValue,
        assertion: evidence.assertion as unknown as JsonValue,
      };
      if (statement.verdict === "approve") {
        this.sql.exec("INSERT INTO approvals (review_id, reviewer, credential_id, at) VALUES (?, ?, ?, ?)", hold.id, reviewer.id, evidence.credential_id, now);
        const count = this.sql.exec<{ n: number }>("SELECT count(*) AS n FROM approvals WHERE review_id = ?", hold.id).one().n;
        const done = count >= hold.shown.approvers_required;
        if (done) this.decide(hold.id, "approved", "permit", now, this.approverList(hold.id));
        this.enqueueEvidence(hold, "review.approved", { ...base, approvals: count, approvers_required: hold.shown.approvers_required, outcome: done ? "approved" : "pending" }, now);
      } else if (statement.verdict === "reject") {
        this.decide(hold.id, "rejected", "deny", now, reviewer.id);
        this.enqueueEvidence(hold, "review.rejected", { ...base, outcome: "rejected" }, now);
      } else {
        const next = this.escalate(holdRow, now + (hold.ladder[holdRow.tier_index + 1]?.sla_minutes ?? 0) * 60_000);
        this.announceEscalation(hold, next, reviewer.id, { ...base, by: reviewer.id }, now);
      }
      return { ok: true as const, hold: this.view(this.row(hold.id)!) };
    });
    if (!result.ok) {
      await this.settle(now);
      return result;
    }
    const logged = await this.settle(now, { tenant: result.hold.shown.record.tenant, review: result.hold.id });
    return { ok: true, hold: result.hold, logged };
  }

  // ── time ───────────────────────────────────────────────────────────────

  /** Everything due by `now`: deadlines (escalation up the ladder, then the timeout rule), items not handed over; then the next alarm. */
  async tick(now: number): Promise<void> {
    this.ctx.storage.transactionSync(() => this.advance(now));
    await this.settle(now);
  }

  override async alarm(): Promise<void> {
    await this.tick(this.io.clock());
  }

  // ── internals ──────────────────────────────────────────────────────────

  /** The pending hold an identical action joins: under its hash, its hash under an older key, or (a hold from before keyed hashes) its unkeyed hash. */
  private joinable(input: { record: HoldRecord; scope: ActionScope; formerHashes?: string[] }): HoldRow | undefined {
    const row = this.sql.exec<HoldRow>(JOINABLE_HOLD, JSON.stringify([input.record.action_hash, ...(input.formerHashes ?? [])])).toArray()[0];
    if (row) return row;
    // The unkeyed hash is computed only while such a hold is pending; it ends with its ladder.
    if (this.sql.exec("SELECT 1 FROM holds WHERE status = 'pending' AND scope IS NULL LIMIT 1").toArray().length === 0) return undefined;
    return this.sql.exec<HoldRow>("SELECT * FROM holds WHERE action_hash = ? AND status = 'pending' AND scope IS NULL", legacyActionHash(input.record, input.scope)).toArray()[0];
  }

  /**
   * The pending hold of an identical action, at the tiers policy asks now. Both ladders are tails
   * of one bundle's tiers; the context policy reads (history) can move the tier between two asks.
   * Asked above the tier the hold stands at, the hold climbs to the asked tier at once — an
   * escalation by policy, logged and notified like any other, its deadline that tier's SLA from
   * now, its ladder from then on the asked one (so a retry at those tiers collects its approval) —
   * or a reviewer of the lower tier would decide what policy now sends higher. Asked at or
   * below it, the hold is joined as it stands, as strict or stricter. Ladders that are not tails of
   * one another (another bundle's tiers) have no tier in common to compare: null, refused, since
   * one action cannot have two pending holds.
   */
  private joinAsked(row: HoldRow, input: { record: HoldRecord; ladder: TierStep[] }, now: number): HoldRow | null {
    const held = (JSON.parse(row.ladder) as TierStep[]).map((step) => JSON.stringify(step));
    const asked = input.ladder.map((step) => JSON.stringify(step));
    const tailOf = (ladder: string[], tail: string[]) => tail.length <= ladder.length && tail.every((step, index) => step === ladder[ladder.length - tail.length + index]);
    if (tailOf(asked, held)) return row;
    if (!tailOf(held, asked)) return null;
    const to = held.length - asked.length;
    if (to <= row.tier_index) return row;
    const hold = this.view(row);
    const deadline = now + (input.ladder[0] as TierStep).sla_minutes * 60_000;
    this.sql.exec("UPDATE holds SET ladder = ?, tier_index = 0, deadline = ? WHERE id = ?", JSON.stringify(input.ladder), deadline, row.id);
    const next = { tier: (input.ladder[0] as TierStep).name, deadline: new Date(deadline).toISOString() };
    const base = { review_id: hold.id, decision_id: hold.shown.record.decision_id, action_hash: hold.shown.record.action_hash, by: "policy", asked_by: input.record.decision_id };
    this.announceEscalation(hold, next, "policy", base, now);
    return this.row(row.id);
  }

  /** The approval an identical action collects ({@link COLLECTABLE_HOLD}): decided within its release window under the same bundle and ladder, not yet released. */
  private collectable(input: { record: HoldRecord; formerHashes?: string[]; ladder: TierStep[] }, now: number): HoldRow | undefined {
    const hashes = JSON.stringify([input.record.action_hash, ...(input.formerHashes ?? [])]);
    return this.sql.exec<HoldRow>(COLLECTABLE_HOLD, hashes, now - APPROVAL_RELEASE_MS, input.record.policy.digest, JSON.stringify(input.ladder)).toArray()[0];
  }

  private row(id: string): HoldRow | null {
    return this.sql.exec<HoldRow>("SELECT * FROM holds WHERE id = ?", id).toArray()[0] ?? null;
  }

  private view(row: HoldRow): HoldState {
    const record = JSON.parse(row.record) as HoldRecord;
    const ladder = JSON.parse(row.ladder) as TierStep[];
    const tier = ladder[row.tier_index]!;
    const shown: HoldShown = { record, tier: tier.name, deadline: new Date(row.deadline).toISOString(), approvers_required: tier.approvers };
    const tickets = this.sql
      .exec<{ service: TicketService; tier: string; key: string; url: string; at: number }>("SELECT service, tier, key, url, at FROM tickets WHERE review_id = ? ORDER BY at, item", row.id)
      .toArray()
      .map((ticket): HoldTicket => ({ ...ticket, at: new Date(ticket.at).toISOString() }));
    return {
      id: row.id,
      status: row.status,
      outcome: row.outcome,
      shown,
      hold_sha256: holdSha256(shown),
      deadline: row.deadline,
      approvals: this.sql
        .exec<{ reviewer: string; at: number }>("SELECT reviewer, at FROM approvals WHERE review_id = ? ORDER BY at, reviewer", row.id)
        .toArray()
        .map((approval) => ({ reviewer: approval.reviewer, at: new Date(approval.at).toISOString() })),
      decided_at: row.decided_at === null ? null : new Date(row.decided_at).toISOString(),
      decided_by: row.decided_by,
      released: row.released_at !== null,
      token_ttl: row.token_ttl,
      tickets,
      ladder: ladder.map(({ name, sla_minutes, on_timeout, approvers }) => ({ name, sla_minutes, on_timeout, approvers })),
    };
  }

  /**
   * Why `reviewer` may not give `verdict` on `hold` now, if they may not. `requesterUser` is whom the requesting device is
   * registered to (null: no one), or undefined when that is not known ({@link requesterOf}).
   */
  private verdictRefusal(hold: HoldState, requesterUser: string | null | undefined, reviewer: ReviewerRecord, verdict: Verdict): VerdictRefusal | null {
    if (this.barred(reviewer.id)) return "reviewer_removed";
    if (hold.status !== "pending") return "review_not_pending";
    // Separation of duties: the device's own user (and so any agent on it) can neither release its hold nor
    // steer it to another tier's approvers — whether an admin listed the device among the reviewer's, or the
    // device is registered to the reviewer (both name the person by their e-mail, which every entry point
    // lower-cases; compared so here too). Rejecting their own request stays theirs to do. A requester not
    // known may be the reviewer: no one approves or escalates then (fail closed).
    if (verdict === "approve" || verdict === "escalate") {
      if (reviewer.devices.includes(hold.shown.record.requester.device)) return "self_approval";
      if (requesterUser === undefined) return "self_approval";
      if (requesterUser !== null && requesterUser.toLowerCase() === reviewer.id.toLowerCase()) return "self_approval";
    }
    if (verdict === "approve" && hold.approvals.some((approval) => approval.reviewer === reviewer.id)) return "duplicate_approver";
    if (verdict === "escalate" && hold.ladder.length <= hold.ladder.findIndex((step) => step.name === hold.shown.tier) + 1) return "review_at_last_tier";
    return null;
  }

  private approverList(id: string): string {
    return this.sql
      .exec<{ reviewer: string }>("SELECT reviewer FROM approvals WHERE review_id = ? ORDER BY at, reviewer", id)
      .toArray()
      .map((row) => row.reviewer)
      .join(",");
  }

  private decide(id: string, status: ReviewStatus, outcome: "permit" | "deny", at: number, by: string): void {
    // A hold that ends without a permit releases no token: the raw scope it kept for one goes with it.
    this.sql.exec("UPDATE holds SET status = ?, outcome = ?, decided_at = ?, decided_by = ?, scope = CASE WHEN ? = 'deny' THEN NULL ELSE scope END WHERE id = ?", status, outcome, at, by, outcome, id);
    // An approval's scope falls due at the end of its release window, maybe before the one the sweep waits for.
    if (outcome === "permit") this.uncollectedScopes.stale();
    // Ended even if the transaction rolls back: the wait then reads the hold still pending. A woken device's
    // release queues behind the hand-off of this decision's evidence (`settle`), so it finds the evidence logged.
    for (const waiter of HOLD_WAITERS) for (const end of [...(this.waits.get(waitKey(id, waiter)) ?? [])]) end();
  }

  private escalate(row: HoldRow, deadline: number): { tier: string; deadline: string } {
    const ladder = JSON.parse(row.ladder) as TierStep[];
    const next = ladder[row.tier_index + 1]!;
    this.sql.exec("UPDATE holds SET tier_index = ?, deadline = ? WHERE id = ?", row.tier_index + 1, deadline, row.id);
    return { tier: next.name, deadline: new Date(deadline).toISOString() };
  }

  /**
   * Applies every deadline that passed by `now`, in time order: a hold moves up a tier when
   * its SLA passes (its next deadline counts from the missed one, not from when the alarm ran),
   * and past its last tier the timeout rule decides. Entries are dated `now`, naming the missed
   * deadline, so a device log's times never run backwards. Runs inside a transaction.
   */
  private advance(now: number): void {
    this.releasedScopes.run(now);
    this.uncollectedScopes.run(now);
    for (;;) {
      const row = this.sql.exec<HoldRow>("SELECT * FROM holds WHERE status = 'pending' AND deadline <= ? ORDER BY deadline, id LIMIT 1", now).toArray()[0];
      if (!row) return;
      const hold = this.view(row);
      const ladder = hold.ladder;
      const base = { review_id: hold.id, decision_id: hold.shown.record.decision_id, action_hash: hold.shown.record.action_hash, by: "sla" };
      if (row.tier_index + 1 < ladder.length) {
        const next = this.escalate(row, row.deadline + ladder[row.tier_index + 1]!.sla_minutes * 60_000);
        this.announceEscalation(hold, next, "sla", { ...base, missed: hold.shown.deadline }, now);
      } else {
        const outcome = ladder[row.tier_index]!.on_timeout;
        // Decided when the rule is applied, not at the missed deadline: a permit's release window counts from it, and an
        // alarm that ran later than the window would otherwise give a permit nothing could ever hand over.
        this.decide(row.id, "expired", outcome, now, "timeout");
        this.enqueueEvidence(hold, "review.expired", { ...base, tier: hold.shown.tier, missed: hold.shown.deadline, outcome, rule: "on_timeout" }, now);
        this.enqueueWebhook(hold, "review.expired", { tier: hold.shown.tier, previous_tier: null, deadline: null, outcome, by: "timeout" }, now);
      }
    }
  }

  /**
   * Announces a hold's move from the tier `hold` shows to `next`, by a reviewer, the SLA or policy: the evidence (`data`
   * names who or what moved it), the webhook, and the tickets the new tier asks for. Inside a transaction.
   */
  private announceEscalation(hold: HoldState, next: { tier: string; deadline: string }, by: string, data: { [key: string]: JsonValue }, now: number): void {
    this.enqueueEvidence(hold, "review.escalated", { ...data, from: hold.shown.tier, to: next.tier, deadline: next.deadline }, now);
    this.enqueueWebhook(hold, "review.escalated", { tier: next.tier, previous_tier: hold.shown.tier, deadline: next.deadline, by }, now);
    this.enqueueTickets(hold.id, now);
  }

  /** The hold's next item key, `<review id>#<n>`: stable across every hand-off and delivery attempt. */
  private nextKey(id: string): string {
    const { items } = this.sql.exec<{ items: number }>("UPDATE holds SET items = items + 1 WHERE id = ? RETURNING items", id).one();
    return `${id}#${items}`;
  }

  private enqueue(hold: HoldState, item: OutboxItem): void {
    this.sql.exec("INSERT INTO handoff (tenant, review_id, item) VALUES (?, ?, ?)", hold.shown.record.tenant, hold.id, JSON.stringify(item));
  }

  private enqueueEvidence(hold: HoldState, type: string, data: { [key: string]: JsonValue }, at: number): void {
    const { record } = hold.shown;
    const key = this.nextKey(hold.id);
    this.enqueue(hold, { kind: "evidence", key, review_id: hold.id, tenant: record.tenant, device: record.requester.device, type, data: { ...data, evidence_id: key }, at });
  }

  private enqueueWebhook(
    hold: HoldState,
    type: ReviewEvent["type"],
    change: Pick<ReviewEvent, "tier" | "previous_tier" | "deadline" | "by"> & { outcome?: ReviewEvent["outcome"] },
    at: number,
  ): void {
    const { record } = hold.shown;
    const event: ReviewEvent = {
      type,
      review_id: hold.id,
      tenant: record.tenant,
      tier: change.tier,
      previous_tier: change.previous_tier,
      deadline: change.deadline,
      outcome: change.outcome ?? null,
      by: change.by,
      action: { type: record.action.type, targets: record.action.targets.length },
      requester: record.requester,
      link: this.io.reviewLink(hold.id),
      proof: { record_sha256: recordSha256(record), decision_log: record.decision_log },
      at: new Date(at).toISOString(),
    };
    this.enqueue(hold, { kind: "webhook", key: this.nextKey(hold.id), review_id: hold.id, event, at });
  }

  /**
   * Queues the tickets the hold's current tier asks for, rendered from the tier's templates as
   * the hold stands now (just created or just escalated). Runs inside a transaction.
   */
  private enqueueTickets(id: string, at: number): void {
    const row = this.row(id)!;
    const templates = (JSON.parse(row.ladder) as TierStep[])[row.tier_index]?.tickets;
    if (!templates) return;
    const hold = this.view(row);
    for (const service of TICKET_SERVICES) {
      const template = templates[service];
      if (!template) continue;
      const key = this.nextKey(id);
      const facts = { record: hold.shown.record, tier: hold.shown.tier, deadline: hold.shown.deadline, link: this.io.reviewLink(id), ticketId: key };
      // Jira's issue create takes `{fields}`; a ServiceNow Table API insert takes the record itself.
      const body = service === "jira" ? { fields: renderTicket(template.fields, facts) } : renderTicket(template.fields, facts);
      this.enqueue(hold, { kind: "ticket", key, review_id: id, tenant: hold.shown.record.tenant, service, tier: hold.shown.tier, body, at });
    }
  }

  private barred(reviewer: string): boolean {
    return this.sql.exec("SELECT 1 FROM barred WHERE reviewer = ?", reviewer).toArray().length > 0;
  }

  private credentialRevoked(credential: string): boolean {
    return this.sql.exec("SELECT 1 FROM revoked_credentials WHERE credential = ?", credential).toArray().length > 0;
  }

  /**
   * Hands waiting items to the outbox, then sets the alarm for the next deadline (or a retry
   * of the hand-off). With `watch`, true only when every evidence entry of that hold is in its
   * device log; without, true when everything was handed over.
   */
  private async settle(now: number, watch?: { tenant: string; review: string }): Promise<boolean> {
    const run = this.handing.then(() => this.handOff(now, watch));
    this.handing = run.catch(() => undefined);
    try {
      return await run;
    } finally {
      await this.scheduleAlarm(now);
    }
  }

  /**
   * Offers the items in the order they were written, a batch at a time, and deletes them only
   * once the outbox took them: an answer lost on the way means they are offered again, and the
   * outbox, keying each item, takes it once.
   */
  private async handOff(now: number, watch: { tenant: string; review: string } | undefined): Promise<boolean> {
    let undelivered: number | null = null;
    for (;;) {
      const rows = this.sql.exec<{ id: number; tenant: string; item: string }>("SELECT id, tenant, item FROM handoff ORDER BY id LIMIT ?", HANDOFF_BATCH).toArray();
      const first = rows[0];
      if (!first) break;
      const end = rows.findIndex((row) => row.tenant !== first.tenant);
      const batch = end === -1 ? rows : rows.slice(0, end);
      const watched = watch?.tenant === first.tenant ? watch.review : undefined;
      try {
        const answer = await this.io.outbox(first.tenant).accept(
          batch.map((row) => JSON.parse(row.item) as OutboxItem),
          now,
          watched,
        );
        if (watched !== undefined) undelivered = answer.undelivered;
      } catch (error) {
        console.error(JSON.stringify({ event: "review.handoff_deferred", items: batch.length, error: String(error) }));
        return false;
      }
      this.sql.exec("DELETE FROM handoff WHERE id BETWEEN ? AND ?", first.id, batch[batch.length - 1]!.id);
    }
    if (!watch) return true;
    if (undelivered === null) {
      try {
        undelivered = (await this.io.outbox(watch.tenant).accept([], now, watch.review)).undelivered;
      } catch (error) {
        console.error(JSON.stringify({ event: "review.handoff_deferred", items: 0, error: String(error) }));
        return false;
      }
    }
    return undelivered === 0;
  }

  private async scheduleAlarm(now: number): Promise<void> {
    const deadline = this.sql.exec<{ t: number | null }>("SELECT min(deadline) AS t FROM holds WHERE status = 'pending'").one().t;
    const handoff = this.sql.exec<{ n: number }>("SELECT count(*) AS n FROM handoff").one().n > 0 ? now + HANDOFF_RETRY_MS : null;
    const times = [deadline, handoff].filter((time): time is number => time !== null);
    if (times.length === 0) {
      await this.ctx.storage.deleteAlarm();
      return;
    }
    const next = Math.min(...times);
    if ((await this.ctx.storage.getAlarm()) !== next) await this.ctx.storage.setAlarm(next);
  }
}
