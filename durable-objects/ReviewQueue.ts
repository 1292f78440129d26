import { DurableObject } from "cloudflare:workers";
import type { JsonValue } from "../worker/log/canonical.ts";
import {
  challengeFor,
  challengeStatement,
  holdSha256,
  type ChallengeStatement,
  type HoldRecord,
  type HoldShown,
  type ReviewStatus,
  type TierStep,
  type Verdict,
} from "../worker/review/record.ts";
import { WEBHOOK_MAX_ATTEMPTS, WEBHOOK_TIMEOUT_MS, nextAttemptAt, signatureHeader, type ReviewEvent } from "../worker/review/webhook.ts";
import type { StoredCredential } from "../worker/review/webauthn.ts";

/** A hold as routes and the page see it. */
export interface HoldState {
  id: string;
  status: ReviewStatus;
  /** permit or deny once decided (approval, rejection or the timeout rule). */
  outcome: "permit" | "deny" | null;
  shown: HoldShown;
  hold_sha256: string;
  deadline: number;
  approvals: { reviewer: string; at: string }[];
  decided_at: string | null;
  decided_by: string | null;
  released: boolean;
  token_ttl: number;
  ladder: TierStep[];
}

export interface ReviewerRecord {
  id: string;
  display_name: string;
  /** Devices this reviewer uses: holds they (or their agents) raise from these they may not approve. */
  devices: string[];
  /** Random WebAuthn user handle (base64url), never the reviewer id. */
  user_handle: string;
  created_at: string;
}

export type ReviewRefusalCode =
  | "not_found"
  | "already_exists"
  | "challenge_invalid"
  | "replay_detected"
  | "enrollment_invalid"
  | "counter_regression"
  | "self_approval"
  | "duplicate_approver"
  | "review_record_changed"
  | "review_not_pending"
  | "review_at_last_tier";
/** Expected refusals come back as values: an exception thrown across RPC loses its class. */
export type ReviewRefusal = { ok: false; code: ReviewRefusalCode };
export type ReviewOutcome<T> = ({ ok: true } & T) | ReviewRefusal;

export type ChallengePurpose = "register" | "login" | "verdict";

/** A stored challenge: what it was issued for, and (for verdicts) the statement it commits to. */
export interface ChallengeRow {
  challenge: string;
  purpose: ChallengePurpose;
  reviewer: string | null;
  review_id: string | null;
  /** For registrations: the hash of the enrollment token it was issued under. */
  enrollment: string | null;
  statement: ChallengeStatement | null;
  expires_at: number;
}

/** What the route hands over once an assertion verified: the raw assertion goes into the device log. */
export interface VerdictEvidence {
  credential_id: string;
  credential_public_key: string;
  new_counter: number;
  assertion: { id: string; clientDataJSON: string; authenticatorData: string; signature: string; userHandle: string | null };
}

/** How long an issued challenge may be answered. */
export const CHALLENGE_TTL_MS = 5 * 60_000;
/** Spent challenges are remembered this long past their expiry, so a replay says so. */
const SPENT_CHALLENGE_MEMORY_MS = 24 * 3_600_000;
/** Outstanding challenges per purpose: unanswered ones past this are dropped oldest first. */
const MAX_OPEN_CHALLENGES = 256;
const OUTBOX_RETRY_MS = 30_000;

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
  [key: string]: SqlStorageValue;
}

/**
 * One per tenant (named `<tenant>`): holds awaiting review, reviewers and their passkeys,
 * WebAuthn challenges, the evidence outbox to device logs, and webhook deliveries.
 * Every method takes `now` (ms); only `alarm()` reads the clock, through `clock`, which
 * tests may pin.
 */
export class ReviewQueue extends DurableObject<Env> {
  private readonly sql: SqlStorage;
  /** The alarm handler's time source: the boundary where real time enters. */
  clock: () => number = () => Date.now();
  private flushing: Promise<void> | null = null;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
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
          token_jti TEXT
        );
        CREATE UNIQUE INDEX IF NOT EXISTS holds_pending_action ON holds (action_hash) WHERE status = 'pending';
        CREATE INDEX IF NOT EXISTS holds_status_deadline ON holds (status, deadline);
        CREATE TABLE IF NOT EXISTS approvals (
          review_id TEXT NOT NULL,
          reviewer TEXT NOT NULL,
          credential_id TEXT NOT NULL,
          at INTEGER NOT NULL,
          PRIMARY KEY (review_id, reviewer)
        );
        CREATE TABLE IF NOT EXISTS reviewers (id TEXT PRIMARY KEY, record TEXT NOT NULL);
        CREATE TABLE IF NOT EXISTS enrollments (
          token_hash TEXT PRIMARY KEY,
          reviewer TEXT NOT NULL,
          expires_at INTEGER NOT NULL,
          used_at INTEGER
        );
        CREATE TABLE IF NOT EXISTS credentials (
          id TEXT PRIMARY KEY,
          reviewer TEXT NOT NULL,
          public_key TEXT NOT NULL,
          counter INTEGER NOT NULL,
          transports TEXT NOT NULL,
          created_at INTEGER NOT NULL,
          last_used_at INTEGER
        );
        CREATE TABLE IF NOT EXISTS challenges (
          challenge TEXT PRIMARY KEY,
          purpose TEXT NOT NULL,
          reviewer TEXT,
          review_id TEXT,
          enrollment TEXT,
          statement TEXT,
          expires_at INTEGER NOT NULL,
          consumed_at INTEGER
        );
        CREATE TABLE IF NOT EXISTS outbox (
          id INTEGER PRIMARY KEY AUTOINCREMENT,
          review_id TEXT NOT NULL,
          tenant TEXT NOT NULL,
          device TEXT NOT NULL,
          type TEXT NOT NULL,
          data TEXT NOT NULL,
          at INTEGER NOT NULL,
          attempts INTEGER NOT NULL DEFAULT 0,
          last_error TEXT
        );
        CREATE TABLE IF NOT EXISTS webhook_events (
          id INTEGER PRIMARY KEY AUTOINCREMENT,
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

  // ── holds ──────────────────────────────────────────────────────────────

  /**
   * Queues a hold, or returns the pending one for the same action (same `action_hash`):
   * an identical request while one waits joins it instead of queueing twice.
   */
  async hold(input: { record: HoldRecord; ladder: TierStep[]; tokenTtl: number }, now: number): Promise<{ created: boolean; hold: HoldState }> {
    const first = input.ladder[0];
    if (!first) throw new Error("a hold needs at least one tier");
    const result = this.ctx.storage.transactionSync(() => {
      this.advance(now);
      const existing = this.sql.exec<HoldRow>("SELECT * FROM holds WHERE action_hash = ? AND status = 'pending'", input.record.action_hash).toArray()[0];
      if (existing) return { created: false, hold: this.view(existing) };
      this.sql.exec(
        "INSERT INTO holds (id, action_hash, status, tier_index, deadline, record, ladder, token_ttl, created_at) VALUES (?, ?, 'pending', 0, ?, ?, ?, ?, ?)",
        input.record.review_id,
        input.record.action_hash,
        now + first.sla_minutes * 60_000,
        JSON.stringify(input.record),
        JSON.stringify(input.ladder),
        input.tokenTtl,
        now,
      );
      return { created: true, hold: this.view(this.row(input.record.review_id)!) };
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
   * Marks an approved hold (or one the timeout rule permitted) released to its requester
   * with the action token `jti`, once: the release is in the device log before the route
   * signs the token, and every piece of evidence for the hold is there before that.
   */
  async release(args: { id: string; device: string; jti: string; now: number }): Promise<ReviewOutcome<{ hold: HoldState }>> {
    return this.ctx.blockConcurrencyWhile(async () => {
      this.ctx.storage.transactionSync(() => this.advance(args.now));
      await this.flushOutbox();
      const row = this.row(args.id);
      if (!row) return { ok: false as const, code: "not_found" as const };
      const record = JSON.parse(row.record) as HoldRecord;
      if (record.requester.device !== args.device) return { ok: false as const, code: "not_found" as const };
      if (row.outcome !== "permit" || row.released_at !== null) return { ok: false as const, code: "review_not_pending" as const };
      const unlogged = this.sql.exec<{ n: number }>("SELECT count(*) AS n FROM outbox WHERE review_id = ?", args.id).one().n;
      if (unlogged > 0) throw new Error("the hold's evidence is not in the device log yet");
      const appended = await this.deviceLog(record.tenant, record.requester.device).append(
        "review.released",
        { review_id: args.id, decision_id: record.decision_id, action_hash: record.action_hash, token_jti: args.jti, by: row.decided_by },
        args.now,
      );
      if (!appended.ok) throw new Error(`device log refused the release: ${appended.code}`);
      this.sql.exec("UPDATE holds SET released_at = ?, token_jti = ? WHERE id = ?", args.now, args.jti, args.id);
      return { ok: true as const, hold: this.view(this.row(args.id)!) };
    });
  }

  // ── reviewers and passkeys ─────────────────────────────────────────────

  addReviewer(args: { reviewer: ReviewerRecord; enrollment: { tokenHash: string; expiresAt: number } }): ReviewOutcome<{ reviewer: ReviewerRecord }> {
    return this.ctx.storage.transactionSync(() => {
      if (this.reviewer(args.reviewer.id)) return { ok: false as const, code: "already_exists" as const };
      this.sql.exec("INSERT INTO reviewers (id, record) VALUES (?, ?)", args.reviewer.id, JSON.stringify(args.reviewer));
      this.sql.exec("INSERT INTO enrollments (token_hash, reviewer, expires_at) VALUES (?, ?, ?)", args.enrollment.tokenHash, args.reviewer.id, args.enrollment.expiresAt);
      return { ok: true as const, reviewer: args.reviewer };
    });
  }

  /** A fresh one-time enrollment for an existing reviewer (a lost or additional passkey). */
  addEnrollment(args: { reviewer: string; tokenHash: string; expiresAt: number }): ReviewOutcome<object> {
    if (!this.reviewer(args.reviewer)) return { ok: false, code: "not_found" };
    this.sql.exec("INSERT INTO enrollments (token_hash, reviewer, expires_at) VALUES (?, ?, ?)", args.tokenHash, args.reviewer, args.expiresAt);
    return { ok: true };
  }

  reviewer(id: string): ReviewerRecord | null {
    const row = this.sql.exec<{ record: string }>("SELECT record FROM reviewers WHERE id = ?", id).toArray()[0];
    return row ? (JSON.parse(row.record) as ReviewerRecord) : null;
  }

  credentialIds(reviewer: string): string[] {
    return this.sql.exec<{ id: string }>("SELECT id FROM credentials WHERE reviewer = ? ORDER BY created_at", reviewer).toArray().map((row) => row.id);
  }

  /** The reviewer an unused, unexpired enrollment token belongs to. */
  enrollment(tokenHash: string, now: number): ReviewOutcome<{ reviewer: ReviewerRecord; credentials: string[] }> {
    const row = this.sql.exec<{ reviewer: string; expires_at: number; used_at: number | null }>("SELECT reviewer, expires_at, used_at FROM enrollments WHERE token_hash = ?", tokenHash).toArray()[0];
    if (!row || row.used_at !== null || row.expires_at <= now) return { ok: false, code: "enrollment_invalid" };
    const reviewer = this.reviewer(row.reviewer);
    if (!reviewer) return { ok: false, code: "enrollment_invalid" };
    return { ok: true, reviewer, credentials: this.credentialIds(reviewer.id) };
  }

  /** Spends the enrollment token and stores the verified credential, together. */
  addCredential(args: { tokenHash: string; reviewer: string; credential: Omit<StoredCredential, "reviewer">; now: number }): ReviewOutcome<object> {
    return this.ctx.storage.transactionSync(() => {
      const spent = this.sql
        .exec("UPDATE enrollments SET used_at = ? WHERE token_hash = ? AND reviewer = ? AND used_at IS NULL AND expires_at > ? RETURNING token_hash", args.now, args.tokenHash, args.reviewer, args.now)
        .toArray();
      if (spent.length !== 1) return { ok: false as const, code: "enrollment_invalid" as const };
      const inserted = this.sql
        .exec(
          "INSERT INTO credentials (id, reviewer, public_key, counter, transports, created_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING RETURNING id",
          args.credential.id,
          args.reviewer,
          args.credential.publicKey,
          args.credential.counter,
          JSON.stringify(args.credential.transports),
          args.now,
        )
        .toArray();
      if (inserted.length !== 1) return { ok: false as const, code: "already_exists" as const };
      return { ok: true as const };
    });
  }

  credential(id: string): StoredCredential | null {
    const row = this.sql
      .exec<{ id: string; reviewer: string; public_key: string; counter: number; transports: string }>("SELECT id, reviewer, public_key, counter, transports FROM credentials WHERE id = ?", id)
      .toArray()[0];
    return row ? { id: row.id, reviewer: row.reviewer, publicKey: row.public_key, counter: row.counter, transports: JSON.parse(row.transports) as string[] } : null;
  }

  /** Check-and-set of a credential's signature counter after a verified sign-in. */
  useCredential(args: { id: string; newCounter: number; now: number }): ReviewOutcome<{ reviewer: ReviewerRecord }> {
    return this.ctx.storage.transactionSync(() => {
      const credential = this.credential(args.id);
      const reviewer = credential ? this.reviewer(credential.reviewer) : null;
      if (!credential || !reviewer) return { ok: false as const, code: "not_found" as const };
      if (!this.bumpCounter(credential, args.newCounter, args.now)) return { ok: false as const, code: "counter_regression" as const };
      return { ok: true as const, reviewer };
    });
  }

  // ── challenges ─────────────────────────────────────────────────────────

  issueChallenge(row: Omit<ChallengeRow, "statement">, now: number): void {
    this.ctx.storage.transactionSync(() => {
      this.sql.exec("DELETE FROM challenges WHERE expires_at + ? <= ?", SPENT_CHALLENGE_MEMORY_MS, now);
      this.insertChallenge({ ...row, statement: null });
    });
  }

  /**
   * Spends a challenge: it is marked used before anything is verified, so an assertion that
   * fails later has still used it up. A second presentation is a replay.
   */
  takeChallenge(challenge: string, now: number): ReviewOutcome<{ row: ChallengeRow }> {
    return this.ctx.storage.transactionSync(() => {
      const row = this.sql
        .exec<{ challenge: string; purpose: ChallengePurpose; reviewer: string | null; review_id: string | null; enrollment: string | null; statement: string | null; expires_at: number; consumed_at: number | null }>(
          "SELECT * FROM challenges WHERE challenge = ?",
          challenge,
        )
        .toArray()[0];
      if (!row) return { ok: false as const, code: "challenge_invalid" as const };
      if (row.consumed_at !== null) return { ok: false as const, code: "replay_detected" as const };
      this.sql.exec("UPDATE challenges SET consumed_at = ? WHERE challenge = ?", now, challenge);
      if (row.expires_at <= now) return { ok: false as const, code: "challenge_invalid" as const };
      const { consumed_at: _consumed, statement, ...rest } = row;
      return { ok: true as const, row: { ...rest, statement: statement === null ? null : (JSON.parse(statement) as ChallengeStatement) } };
    });
  }

  // ── verdicts ───────────────────────────────────────────────────────────

  /**
   * Issues the challenge for one reviewer's verdict on the hold as it stands. `shownSha256`
   * is the digest of the hold the page rendered: if it changed since, the reviewer must look again.
   */
  async prepareVerdict(args: { id: string; reviewer: string; verdict: Verdict; shownSha256: string; nonce: string; now: number }): Promise<
    ReviewOutcome<{ statement: ChallengeStatement; challenge: string; hold: HoldState; credentials: string[] }>
  > {
    const result = this.ctx.storage.transactionSync(() => {
      this.advance(args.now);
      const row = this.row(args.id);
      const reviewer = this.reviewer(args.reviewer);
      if (!row || !reviewer) return { ok: false as const, code: "not_found" as const };
      const hold = this.view(row);
      const refusal = this.verdictRefusal(hold, reviewer, args.verdict) ?? (hold.hold_sha256 !== args.shownSha256 ? ("review_record_changed" as const) : null);
      if (refusal) return { ok: false as const, code: refusal };
      const statement = challengeStatement(hold.shown, { verdict: args.verdict, reviewer: reviewer.id, nonce: args.nonce });
      const challenge = challengeFor(statement);
      this.sql.exec("DELETE FROM challenges WHERE expires_at + ? <= ?", SPENT_CHALLENGE_MEMORY_MS, args.now);
      this.insertChallenge({
        challenge,
        purpose: "verdict",
        reviewer: reviewer.id,
        review_id: hold.id,
        enrollment: null,
        statement,
        expires_at: Math.min(args.now + CHALLENGE_TTL_MS, hold.deadline),
      });
      return { ok: true as const, statement, challenge, hold, credentials: this.credentialIds(reviewer.id) };
    });
    await this.settle(args.now);
    return result;
  }

  /**
   * Applies a verdict whose assertion the route verified over `row.challenge`. Everything
   * is checked again in the transaction that applies it: the hold must still be exactly
   * what the challenge committed to, the counter must move forward, the reviewer must not
   * be the requester nor have approved already. The evidence goes to the outbox in the same
   * transaction and is flushed to the device log before this returns.
   */
  async commitVerdict(args: { row: ChallengeRow; evidence: VerdictEvidence; now: number }): Promise<ReviewOutcome<{ hold: HoldState; logged: boolean }>> {
    const { row, evidence, now } = args;
    const statement = row.statement;
    if (row.purpose !== "verdict" || !statement || !row.review_id || !row.reviewer) return { ok: false, code: "challenge_invalid" };
    const result = this.ctx.storage.transactionSync(() => {
      this.advance(now);
      const holdRow = this.row(row.review_id!);
      const reviewer = this.reviewer(row.reviewer!);
      const credential = this.credential(evidence.credential_id);
      if (!holdRow || !reviewer || !credential || credential.reviewer !== reviewer.id) return { ok: false as const, code: "not_found" as const };
      const hold = this.view(holdRow);
      if (hold.status !== "pending") return { ok: false as const, code: "review_not_pending" as const };
      const current = challengeFor(challengeStatement(hold.shown, { verdict: statement.verdict, reviewer: reviewer.id, nonce: statement.nonce }));
      if (current !== row.challenge) return { ok: false as const, code: "review_record_changed" as const };
      const refusal = this.verdictRefusal(hold, reviewer, statement.verdict);
      if (refusal) return { ok: false as const, code: refusal };
      if (!this.bumpCounter(credential, evidence.new_counter, now)) return { ok: false as const, code: "counter_regression" as const };

      const record = hold.shown.record;
      const base = {
        review_id: hold.id,
        decision_id: record.decision_id,
        action_hash: record.action_hash,
        verdict: statement.verdict,
        reviewer: reviewer.id,
        credential_id: evidence.credential_id,
        credential_public_key: evidence.credential_public_key,
        challenge: row.challenge,
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
        this.enqueueEvidence(hold, "review.escalated", { ...base, from: hold.shown.tier, to: next.tier, deadline: next.deadline, by: reviewer.id }, now);
        this.enqueueWebhook(hold, "review.escalated", { tier: next.tier, previous_tier: hold.shown.tier, deadline: next.deadline, by: reviewer.id }, now);
      }
      return { ok: true as const, hold: this.view(this.row(hold.id)!) };
    });
    if (!result.ok) return result;
    await this.settle(now);
    const unlogged = this.sql.exec<{ n: number }>("SELECT count(*) AS n FROM outbox WHERE review_id = ?", result.hold.id).one().n;
    return { ok: true, hold: result.hold, logged: unlogged === 0 };
  }

  // ── time ───────────────────────────────────────────────────────────────

  /**
   * Everything due by `now`: deadlines (escalation up the ladder, then the timeout rule),
   * evidence not yet in a device log, webhook deliveries; then the next alarm.
   */
  async tick(now: number): Promise<void> {
    this.ctx.storage.transactionSync(() => this.advance(now));
    await this.flushOutbox();
    await this.deliverWebhooks(now);
    await this.scheduleAlarm(now);
  }

  override async alarm(): Promise<void> {
    await this.tick(this.clock());
  }

  /** Webhook events and their attempts, for operators and tests. */
  deliveries(reviewId?: string): { id: number; review_id: string; type: string; body: string; state: string; attempts: { attempt: number; at: number; url: string; status: number | null; error: string | null }[] }[] {
    const events = this.sql
      .exec<{ id: number; review_id: string; type: string; body: string; state: string }>(
        reviewId === undefined ? "SELECT id, review_id, type, body, state FROM webhook_events ORDER BY id" : "SELECT id, review_id, type, body, state FROM webhook_events WHERE review_id = ? ORDER BY id",
        ...(reviewId === undefined ? [] : [reviewId]),
      )
      .toArray();
    return events.map((event) => ({
      ...event,
      attempts: this.sql
        .exec<{ attempt: number; at: number; url: string; status: number | null; error: string | null }>("SELECT attempt, at, url, status, error FROM webhook_attempts WHERE event_id = ? ORDER BY attempt", event.id)
        .toArray(),
    }));
  }

  // ── internals ──────────────────────────────────────────────────────────

  private row(id: string): HoldRow | null {
    return this.sql.exec<HoldRow>("SELECT * FROM holds WHERE id = ?", id).toArray()[0] ?? null;
  }

  private view(row: HoldRow): HoldState {
    const record = JSON.parse(row.record) as HoldRecord;
    const ladder = JSON.parse(row.ladder) as TierStep[];
    const tier = ladder[row.tier_index]!;
    const shown: HoldShown = { record, tier: tier.name, deadline: new Date(row.deadline).toISOString(), approvers_required: tier.approvers };
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
      ladder,
    };
  }

  /** Why `reviewer` may not give `verdict` on `hold` now, if they may not. */
  private verdictRefusal(hold: HoldState, reviewer: ReviewerRecord, verdict: Verdict): ReviewRefusalCode | null {
    if (hold.status !== "pending") return "review_not_pending";
    if (verdict === "approve") {
      // Separation of duties: the device's own user (and so any agent on it) cannot release its hold.
      if (reviewer.devices.includes(hold.shown.record.requester.device)) return "self_approval";
      if (hold.approvals.some((approval) => approval.reviewer === reviewer.id)) return "duplicate_approver";
    }
    if (verdict === "escalate" && hold.ladder.length <= hold.ladder.findIndex((step) => step.name === hold.shown.tier) + 1) return "review_at_last_tier";
    return null;
  }

  private bumpCounter(credential: StoredCredential, newCounter: number, now: number): boolean {
    // WebAuthn §6.1.1: both zero means the authenticator keeps no counter; otherwise it must grow.
    if ((newCounter > 0 || credential.counter > 0) && newCounter <= credential.counter) return false;
    const updated = this.sql.exec("UPDATE credentials SET counter = ?, last_used_at = ? WHERE id = ? AND counter = ? RETURNING id", newCounter, now, credential.id, credential.counter).toArray();
    return updated.length === 1;
  }

  private approverList(id: string): string {
    return this.sql
      .exec<{ reviewer: string }>("SELECT reviewer FROM approvals WHERE review_id = ? ORDER BY at, reviewer", id)
      .toArray()
      .map((row) => row.reviewer)
      .join(",");
  }

  private decide(id: string, status: ReviewStatus, outcome: "permit" | "deny", at: number, by: string): void {
    this.sql.exec("UPDATE holds SET status = ?, outcome = ?, decided_at = ?, decided_by = ? WHERE id = ?", status, outcome, at, by, id);
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
    for (;;) {
      const row = this.sql.exec<HoldRow>("SELECT * FROM holds WHERE status = 'pending' AND deadline <= ? ORDER BY deadline, id LIMIT 1", now).toArray()[0];
      if (!row) return;
      const hold = this.view(row);
      const ladder = hold.ladder;
      const base = { review_id: hold.id, decision_id: hold.shown.record.decision_id, action_hash: hold.shown.record.action_hash, by: "sla" };
      if (row.tier_index + 1 < ladder.length) {
        const next = this.escalate(row, row.deadline + ladder[row.tier_index + 1]!.sla_minutes * 60_000);
        this.enqueueEvidence(hold, "review.escalated", { ...base, from: hold.shown.tier, to: next.tier, deadline: next.deadline, missed: hold.shown.deadline }, now);
        this.enqueueWebhook(hold, "review.escalated", { tier: next.tier, previous_tier: hold.shown.tier, deadline: next.deadline, by: "sla" }, now);
      } else {
        const outcome = ladder[row.tier_index]!.on_timeout;
        this.decide(row.id, "expired", outcome, row.deadline, "timeout");
        this.enqueueEvidence(hold, "review.expired", { ...base, tier: hold.shown.tier, missed: hold.shown.deadline, outcome, rule: "on_timeout" }, now);
        this.enqueueWebhook(hold, "review.expired", { tier: hold.shown.tier, previous_tier: null, deadline: null, outcome, by: "timeout" }, now);
      }
    }
  }

  private enqueueEvidence(hold: HoldState, type: string, data: { [key: string]: JsonValue }, at: number): void {
    const { record } = hold.shown;
    this.sql.exec(
      "INSERT INTO outbox (review_id, tenant, device, type, data, at) VALUES (?, ?, ?, ?, ?, ?)",
      hold.id,
      record.tenant,
      record.requester.device,
      type,
      JSON.stringify(data),
      at,
    );
  }

  private enqueueWebhook(
    hold: HoldState,
    type: ReviewEvent["type"],
    change: Pick<ReviewEvent, "tier" | "previous_tier" | "deadline" | "by"> & { outcome?: ReviewEvent["outcome"] },
    at: number,
  ): void {
    if (!this.env.REVIEW_WEBHOOK_URL) return;
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
      at: new Date(at).toISOString(),
    };
    this.sql.exec("INSERT INTO webhook_events (review_id, type, body, created_at, next_at, state) VALUES (?, ?, ?, ?, ?, 'pending')", hold.id, type, JSON.stringify(event), at, at);
  }

  private insertChallenge(row: ChallengeRow): void {
    this.sql.exec(
      "INSERT INTO challenges (challenge, purpose, reviewer, review_id, enrollment, statement, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
      row.challenge,
      row.purpose,
      row.reviewer,
      row.review_id,
      row.enrollment,
      row.statement === null ? null : JSON.stringify(row.statement),
      row.expires_at,
    );
    this.sql.exec(
      "DELETE FROM challenges WHERE purpose = ? AND consumed_at IS NULL AND challenge NOT IN (SELECT challenge FROM challenges WHERE purpose = ? AND consumed_at IS NULL ORDER BY expires_at DESC LIMIT ?)",
      row.purpose,
      row.purpose,
      MAX_OPEN_CHALLENGES,
    );
  }

  private deviceLog(tenant: string, device: string) {
    return this.env.DEVICES.get(this.env.DEVICES.idFromName(`${tenant}/${device}`));
  }

  /** Flushes the outbox, then sets the alarm for whatever is left or due next. */
  private async settle(now: number): Promise<void> {
    await this.flushOutbox();
    await this.scheduleAlarm(now);
  }

  /** Appends outbox entries to their device logs in order; one flush at a time, so none is appended twice. */
  private flushOutbox(): Promise<void> {
    if (!this.flushing) {
      // Cleared once settled, never from inside: an empty outbox finishes before the assignment.
      const running = this.drainOutbox();
      this.flushing = running;
      void running.finally(() => {
        if (this.flushing === running) this.flushing = null;
      });
    }
    return this.flushing;
  }

  private async drainOutbox(): Promise<void> {
    for (;;) {
      const entry = this.sql.exec<{ id: number; tenant: string; device: string; type: string; data: string; at: number }>("SELECT id, tenant, device, type, data, at FROM outbox ORDER BY id LIMIT 1").toArray()[0];
      if (!entry) return;
      try {
        const appended = await this.deviceLog(entry.tenant, entry.device).append(entry.type, JSON.parse(entry.data) as { [key: string]: JsonValue }, entry.at);
        if (!appended.ok) console.error(JSON.stringify({ event: "review.evidence_dropped", device: entry.device, type: entry.type, code: appended.code }));
        this.sql.exec("DELETE FROM outbox WHERE id = ?", entry.id);
      } catch (error) {
        this.sql.exec("UPDATE outbox SET attempts = attempts + 1, last_error = ? WHERE id = ?", String(error).slice(0, 500), entry.id);
        console.error(JSON.stringify({ event: "review.evidence_deferred", device: entry.device, type: entry.type, error: String(error) }));
        return;
      }
    }
  }

  private async deliverWebhooks(now: number): Promise<void> {
    const url = this.env.REVIEW_WEBHOOK_URL;
    const secret = this.env.REVIEW_WEBHOOK_SECRET;
    const due = this.sql.exec<{ id: number; body: string; attempts: number }>("SELECT id, body, attempts FROM webhook_events WHERE state = 'pending' AND next_at <= ? ORDER BY id", now).toArray();
    for (const event of due) {
      const attempt = event.attempts + 1;
      let status: number | null = null;
      let error: string | null = null;
      if (!url || !secret) error = "REVIEW_WEBHOOK_URL or REVIEW_WEBHOOK_SECRET is not set";
      else {
        try {
          const timestamp = Math.floor(now / 1000);
          const response = await fetch(url, {
            method: "POST",
            headers: {
              "content-type": "application/json",
              "warden-signature": await signatureHeader(secret, timestamp, event.body),
              "warden-event-id": `${this.ctx.id.toString().slice(0, 16)}-${event.id}`,
              "warden-delivery-attempt": String(attempt),
            },
            body: event.body,
            signal: AbortSignal.timeout(WEBHOOK_TIMEOUT_MS),
          });
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
        this.sql.exec("INSERT INTO webhook_attempts (event_id, attempt, at, url, status, error) VALUES (?, ?, ?, ?, ?, ?)", event.id, attempt, now, url ?? "", status, error);
        this.sql.exec("UPDATE webhook_events SET attempts = ?, next_at = ?, state = ? WHERE id = ?", attempt, next, state, event.id);
      });
    }
  }

  private async scheduleAlarm(now: number): Promise<void> {
    const deadline = this.sql.exec<{ t: number | null }>("SELECT min(deadline) AS t FROM holds WHERE status = 'pending'").one().t;
    const webhook = this.sql.exec<{ t: number | null }>("SELECT min(next_at) AS t FROM webhook_events WHERE state = 'pending'").one().t;
    const outbox = this.sql.exec<{ n: number }>("SELECT count(*) AS n FROM outbox").one().n > 0 ? now + OUTBOX_RETRY_MS : null;
    const times = [deadline, webhook, outbox].filter((time): time is number => time !== null);
    if (times.length === 0) {
      await this.ctx.storage.deleteAlarm();
      return;
    }
    const next = Math.min(...times);
    const current = await this.ctx.storage.getAlarm();
    if (current !== next) await this.ctx.storage.setAlarm(next);
  }
}
