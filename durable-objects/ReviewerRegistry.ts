import { DurableObject } from "cloudflare:workers";
import type { Outcome } from "../worker/errors.ts";
import type { AdminChange, PasskeyChallenge, ReviewerDetail, ReviewerRecord } from "../worker/review/types.ts";
import type { StoredCredential } from "../worker/review/webauthn.ts";

/** Spent challenges are remembered this long past their expiry, so a replay says so. */
const SPENT_CHALLENGE_MEMORY_MS = 24 * 3_600_000;
/** Outstanding challenges per purpose: unanswered ones past this are dropped oldest first. */
const MAX_OPEN_CHALLENGES = 256;

interface ChangeRow {
  at: number;
  by: string;
  reason: string;
  logged_seq: number | null;
  logged_hash: string | null;
  [key: string]: SqlStorageValue;
}

function change(row: ChangeRow): AdminChange {
  return { at: row.at, by: row.by, reason: row.reason, log: row.logged_seq === null || row.logged_hash === null ? null : { seq: row.logged_seq, hash: row.logged_hash } };
}

interface CredentialRow {
  id: string;
  reviewer: string;
  public_key: string;
  counter: number;
  transports: string;
  [key: string]: SqlStorageValue;
}

/**
 * One per tenant (named `<tenant>`): reviewers, their one-time enrollment links, their
 * passkeys with signature counters, the sign-in and enrollment challenges, and the admins'
 * removals of reviewers and revocations of passkeys. It has no alarm and reaches nothing
 * outside itself: every method takes `now` from the caller.
 */
export class ReviewerRegistry extends DurableObject<Env> {
  private readonly sql: SqlStorage;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    void ctx.blockConcurrencyWhile(async () => {
      this.sql.exec(`
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
        CREATE INDEX IF NOT EXISTS credentials_reviewer ON credentials (reviewer);
        CREATE TABLE IF NOT EXISTS challenges (
          challenge TEXT PRIMARY KEY,
          purpose TEXT NOT NULL,
          reviewer TEXT,
          enrollment TEXT,
          expires_at INTEGER NOT NULL,
          consumed_at INTEGER
        );
        CREATE TABLE IF NOT EXISTS removals (
          reviewer TEXT PRIMARY KEY,
          at INTEGER NOT NULL,
          by TEXT NOT NULL,
          reason TEXT NOT NULL,
          logged_seq INTEGER,
          logged_hash TEXT
        );
        CREATE TABLE IF NOT EXISTS revocations (
          credential TEXT PRIMARY KEY,
          reviewer TEXT NOT NULL,
          at INTEGER NOT NULL,
          by TEXT NOT NULL,
          reason TEXT NOT NULL,
          logged_seq INTEGER,
          logged_hash TEXT
        );
      `);
    });
  }

  /** Stores a new reviewer with their first one-time enrollment link; an id is registered once. */
  addReviewer(args: { reviewer: ReviewerRecord; enrollment: { tokenHash: string; expiresAt: number } }): Outcome<{ reviewer: ReviewerRecord }, "already_exists"> {
    return this.ctx.storage.transactionSync(() => {
      if (this.reviewer(args.reviewer.id)) return { ok: false as const, code: "already_exists" as const };
      this.sql.exec("INSERT INTO reviewers (id, record) VALUES (?, ?)", args.reviewer.id, JSON.stringify(args.reviewer));
      this.sql.exec("INSERT INTO enrollments (token_hash, reviewer, expires_at) VALUES (?, ?, ?)", args.enrollment.tokenHash, args.reviewer.id, args.enrollment.expiresAt);
      return { ok: true as const, reviewer: args.reviewer };
    });
  }

  /** A fresh one-time enrollment for an existing reviewer (a lost or additional passkey). */
  addEnrollment(args: { reviewer: string; tokenHash: string; expiresAt: number }): Outcome<object, "not_found" | "reviewer_removed"> {
    return this.ctx.storage.transactionSync(() => {
      if (!this.reviewer(args.reviewer)) return { ok: false as const, code: "not_found" as const };
      if (this.removal(args.reviewer)) return { ok: false as const, code: "reviewer_removed" as const };
      this.sql.exec("INSERT INTO enrollments (token_hash, reviewer, expires_at) VALUES (?, ?, ?)", args.tokenHash, args.reviewer, args.expiresAt);
      return { ok: true as const };
    });
  }

  /** The reviewer's record, or null; a removed reviewer's record stays (the logs name them), see `standing`. */
  reviewer(id: string): ReviewerRecord | null {
    const row = this.sql.exec<{ record: string }>("SELECT record FROM reviewers WHERE id = ?", id).toArray()[0];
    return row ? (JSON.parse(row.record) as ReviewerRecord) : null;
  }

  /** The reviewer's passkeys that are not revoked, oldest first (a verdict's challenge allows exactly these). */
  credentialIds(reviewer: string): string[] {
    return this.sql
      .exec<{ id: string }>("SELECT id FROM credentials WHERE reviewer = ? AND id NOT IN (SELECT credential FROM revocations) ORDER BY created_at, id", reviewer)
      .toArray()
      .map((row) => row.id);
  }

  /**
   * Whether a signed-in session still stands: its reviewer is not removed and the passkey it
   * was signed in with is still theirs and not revoked. Asked on every request a session makes,
   * so a removal or revocation ends it at the next one, not at its expiry.
   */
  standing(args: { reviewer: string; credential?: string }): Outcome<{ reviewer: ReviewerRecord }, "not_found" | "reviewer_removed" | "passkey_revoked"> {
    const reviewer = this.reviewer(args.reviewer);
    if (!reviewer) return { ok: false, code: "not_found" };
    if (this.removal(reviewer.id)) return { ok: false, code: "reviewer_removed" };
    // A reviewer signed in through Access holds no passkey session: each verdict's own assertion is the passkey check.
    if (args.credential === undefined) return { ok: true, reviewer };
    const credential = this.credential(args.credential);
    if (!credential || credential.reviewer !== reviewer.id) return { ok: false, code: "not_found" };
    if (this.revocation(credential.id)) return { ok: false, code: "passkey_revoked" };
    return { ok: true, reviewer };
  }

  /** A reviewer as an admin sees them: the record, the removal if any, and every passkey with its revocation. */
  detail(id: string): ReviewerDetail | null {
    const reviewer = this.reviewer(id);
    if (!reviewer) return null;
    const passkeys = this.sql
      .exec<{ id: string; created_at: number; last_used_at: number | null }>("SELECT id, created_at, last_used_at FROM credentials WHERE reviewer = ? ORDER BY created_at, id", id)
      .toArray()
      .map((row) => ({ ...row, revoked: this.revocation(row.id) }));
    return { reviewer, removed: this.removal(id), passkeys };
  }

  /**
   * Removes a reviewer: every passkey of theirs stops verifying, every session they hold stops
   * at its next request (`standing`), and their unused enrollment links are deleted. The record
   * stays, so the id is never registered again for someone else. Removing a removed reviewer
   * returns the first removal unchanged (`log` says whether it reached the admin log yet).
   */
  removeReviewer(args: { reviewer: string; by: string; reason: string; now: number }): Outcome<{ removed: AdminChange; passkeys: string[] }, "not_found"> {
    return this.ctx.storage.transactionSync(() => {
      if (!this.reviewer(args.reviewer)) return { ok: false as const, code: "not_found" as const };
      const passkeys = this.credentialIds(args.reviewer);
      this.sql.exec("INSERT INTO removals (reviewer, at, by, reason) VALUES (?, ?, ?, ?) ON CONFLICT (reviewer) DO NOTHING", args.reviewer, args.now, args.by, args.reason);
      this.sql.exec("DELETE FROM enrollments WHERE reviewer = ? AND used_at IS NULL", args.reviewer);
      return { ok: true as const, removed: this.removal(args.reviewer)!, passkeys };
    });
  }

  /**
   * Revokes one passkey of a reviewer: it no longer signs in or gives verdicts, and sessions
   * signed in with it stop at their next request. Its row stays, so the same credential can
   * never be registered again. Revoking a revoked passkey returns the first revocation.
   */
  revokePasskey(args: { reviewer: string; credential: string; by: string; reason: string; now: number }): Outcome<{ revoked: AdminChange }, "not_found"> {
    return this.ctx.storage.transactionSync(() => {
      const credential = this.credential(args.credential);
      if (!credential || credential.reviewer !== args.reviewer) return { ok: false as const, code: "not_found" as const };
      this.sql.exec(
        "INSERT INTO revocations (credential, reviewer, at, by, reason) VALUES (?, ?, ?, ?, ?) ON CONFLICT (credential) DO NOTHING",
        credential.id,
        args.reviewer,
        args.now,
        args.by,
        args.reason,
      );
      return { ok: true as const, revoked: this.revocation(credential.id)! };
    });
  }

  /** Notes where a removal or revocation was recorded in the tenant's admin log, so a repeated request records it once. */
  noteLogged(args: { kind: "removal" | "revocation"; id: string; log: { seq: number; hash: string } }): void {
    if (args.kind === "removal") this.sql.exec("UPDATE removals SET logged_seq = ?, logged_hash = ? WHERE reviewer = ? AND logged_seq IS NULL", args.log.seq, args.log.hash, args.id);
    else this.sql.exec("UPDATE revocations SET logged_seq = ?, logged_hash = ? WHERE credential = ? AND logged_seq IS NULL", args.log.seq, args.log.hash, args.id);
  }

  /** The reviewer an unused, unexpired enrollment token belongs to, with the passkeys they have. */
  enrollment(tokenHash: string, now: number): Outcome<{ reviewer: ReviewerRecord; credentials: string[] }, "enrollment_invalid"> {
    const row = this.sql
      .exec<{ reviewer: string; expires_at: number; used_at: number | null }>("SELECT reviewer, expires_at, used_at FROM enrollments WHERE token_hash = ?", tokenHash)
      .toArray()[0];
    if (!row || row.used_at !== null || row.expires_at <= now) return { ok: false, code: "enrollment_invalid" };
    const reviewer = this.reviewer(row.reviewer);
    if (!reviewer || this.removal(reviewer.id)) return { ok: false, code: "enrollment_invalid" };
    return { ok: true, reviewer, credentials: this.credentialIds(reviewer.id) };
  }

  /** Spends the enrollment token and stores the verified credential, together. */
  addCredential(args: {
    tokenHash: string;
    reviewer: string;
    credential: Omit<StoredCredential, "reviewer">;
    now: number;
  }): Outcome<{ reviewer: ReviewerRecord; credentials: number }, "enrollment_invalid" | "already_exists"> {
    return this.ctx.storage.transactionSync(() => {
      const spent = this.sql
        .exec("UPDATE enrollments SET used_at = ? WHERE token_hash = ? AND reviewer = ? AND used_at IS NULL AND expires_at > ? RETURNING token_hash", args.now, args.tokenHash, args.reviewer, args.now)
        .toArray();
      const reviewer = this.reviewer(args.reviewer);
      if (spent.length !== 1 || !reviewer || this.removal(reviewer.id)) return { ok: false as const, code: "enrollment_invalid" as const };
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
      return { ok: true as const, reviewer, credentials: this.credentialIds(reviewer.id).length };
    });
  }

  /** A passkey with its current counter, or null. */
  credential(id: string): StoredCredential | null {
    const row = this.sql.exec<CredentialRow>("SELECT id, reviewer, public_key, counter, transports FROM credentials WHERE id = ?", id).toArray()[0];
    return row ? { id: row.id, reviewer: row.reviewer, publicKey: row.public_key, counter: row.counter, transports: JSON.parse(row.transports) as string[] } : null;
  }

  /**
   * Check-and-set of a credential's signature counter after a verified assertion, for a
   * sign-in (`reviewer` null: any reviewer's passkey) or a verdict (`reviewer`: the one the
   * challenge was issued to). The verdict is applied only after this succeeded, so a cloned
   * authenticator's stale counter stops it before any hold changes — and so does a removal
   * or a revocation, which are refused here with their codes (only after the assertion
   * verified: the codes tell nothing to someone without the passkey).
   */
  useCredential(args: {
    id: string;
    reviewer: string | null;
    newCounter: number;
    now: number;
  }): Outcome<{ reviewer: ReviewerRecord; credentials: number }, "not_found" | "counter_regression" | "reviewer_removed" | "passkey_revoked"> {
    return this.ctx.storage.transactionSync(() => {
      const credential = this.credential(args.id);
      const reviewer = credential ? this.reviewer(credential.reviewer) : null;
      if (!credential || !reviewer || (args.reviewer !== null && reviewer.id !== args.reviewer)) return { ok: false as const, code: "not_found" as const };
      if (this.removal(reviewer.id)) return { ok: false as const, code: "reviewer_removed" as const };
      if (this.revocation(credential.id)) return { ok: false as const, code: "passkey_revoked" as const };
      // WebAuthn §6.1.1: both zero means the authenticator keeps no counter; otherwise it must grow.
      if ((args.newCounter > 0 || credential.counter > 0) && args.newCounter <= credential.counter) return { ok: false as const, code: "counter_regression" as const };
      this.sql.exec("UPDATE credentials SET counter = ?, last_used_at = ? WHERE id = ?", args.newCounter, args.now, credential.id);
      return { ok: true as const, reviewer, credentials: this.credentialIds(reviewer.id).length };
    });
  }

  /** Stores a sign-in or enrollment challenge; expired ones go, and at most 256 per purpose stay open. */
  issueChallenge(row: PasskeyChallenge, now: number): void {
    this.ctx.storage.transactionSync(() => {
      this.sql.exec("DELETE FROM challenges WHERE expires_at + ? <= ?", SPENT_CHALLENGE_MEMORY_MS, now);
      this.sql.exec(
        "INSERT INTO challenges (challenge, purpose, reviewer, enrollment, expires_at) VALUES (?, ?, ?, ?, ?)",
        row.challenge,
        row.purpose,
        row.reviewer,
        row.enrollment,
        row.expires_at,
      );
      this.sql.exec(
        "DELETE FROM challenges WHERE purpose = ? AND consumed_at IS NULL AND challenge NOT IN (SELECT challenge FROM challenges WHERE purpose = ? AND consumed_at IS NULL ORDER BY expires_at DESC LIMIT ?)",
        row.purpose,
        row.purpose,
        MAX_OPEN_CHALLENGES,
      );
    });
  }

  /**
   * Spends a challenge: it is marked used before anything is verified, so an assertion that
   * fails later has still used it up. A second presentation is a replay.
   */
  takeChallenge(challenge: string, now: number): Outcome<{ row: PasskeyChallenge }, "challenge_invalid" | "replay_detected"> {
    return this.ctx.storage.transactionSync(() => {
      const row = this.sql
        .exec<{ challenge: string; purpose: PasskeyChallenge["purpose"]; reviewer: string | null; enrollment: string | null; expires_at: number; consumed_at: number | null }>(
          "SELECT challenge, purpose, reviewer, enrollment, expires_at, consumed_at FROM challenges WHERE challenge = ?",
          challenge,
        )
        .toArray()[0];
      if (!row) return { ok: false as const, code: "challenge_invalid" as const };
      if (row.consumed_at !== null) return { ok: false as const, code: "replay_detected" as const };
      this.sql.exec("UPDATE challenges SET consumed_at = ? WHERE challenge = ?", now, challenge);
      if (row.expires_at <= now) return { ok: false as const, code: "challenge_invalid" as const };
      return { ok: true as const, row: { challenge: row.challenge, purpose: row.purpose, reviewer: row.reviewer, enrollment: row.enrollment, expires_at: row.expires_at } };
    });
  }

  private removal(reviewer: string): AdminChange | null {
    const row = this.sql.exec<ChangeRow>("SELECT at, by, reason, logged_seq, logged_hash FROM removals WHERE reviewer = ?", reviewer).toArray()[0];
    return row ? change(row) : null;
  }

  private revocation(credential: string): AdminChange | null {
    const row = this.sql.exec<ChangeRow>("SELECT at, by, reason, logged_seq, logged_hash FROM revocations WHERE credential = ?", credential).toArray()[0];
    return row ? change(row) : null;
  }
}
