import { DurableObject } from "cloudflare:workers";
import type { Outcome } from "../worker/errors.ts";
import type { PasskeyChallenge, ReviewerRecord } from "../worker/review/types.ts";
import type { StoredCredential } from "../worker/review/webauthn.ts";

/** Spent challenges are remembered this long past their expiry, so a replay says so. */
const SPENT_CHALLENGE_MEMORY_MS = 24 * 3_600_000;
/** Outstanding challenges per purpose: unanswered ones past this are dropped oldest first. */
const MAX_OPEN_CHALLENGES = 256;

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
 * passkeys with signature counters, and the sign-in and enrollment challenges. It has no
 * alarm and reaches nothing outside itself: every method takes `now` from the caller.
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
  addEnrollment(args: { reviewer: string; tokenHash: string; expiresAt: number }): Outcome<object, "not_found"> {
    return this.ctx.storage.transactionSync(() => {
      if (!this.reviewer(args.reviewer)) return { ok: false as const, code: "not_found" as const };
      this.sql.exec("INSERT INTO enrollments (token_hash, reviewer, expires_at) VALUES (?, ?, ?)", args.tokenHash, args.reviewer, args.expiresAt);
      return { ok: true as const };
    });
  }

  /** The reviewer's record, or null. */
  reviewer(id: string): ReviewerRecord | null {
    const row = this.sql.exec<{ record: string }>("SELECT record FROM reviewers WHERE id = ?", id).toArray()[0];
    return row ? (JSON.parse(row.record) as ReviewerRecord) : null;
  }

  /** The reviewer's passkeys, oldest first (a verdict's challenge allows exactly these). */
  credentialIds(reviewer: string): string[] {
    return this.sql.exec<{ id: string }>("SELECT id FROM credentials WHERE reviewer = ? ORDER BY created_at, id", reviewer).toArray().map((row) => row.id);
  }

  /** The reviewer an unused, unexpired enrollment token belongs to, with the passkeys they have. */
  enrollment(tokenHash: string, now: number): Outcome<{ reviewer: ReviewerRecord; credentials: string[] }, "enrollment_invalid"> {
    const row = this.sql
      .exec<{ reviewer: string; expires_at: number; used_at: number | null }>("SELECT reviewer, expires_at, used_at FROM enrollments WHERE token_hash = ?", tokenHash)
      .toArray()[0];
    if (!row || row.used_at !== null || row.expires_at <= now) return { ok: false, code: "enrollment_invalid" };
    const reviewer = this.reviewer(row.reviewer);
    if (!reviewer) return { ok: false, code: "enrollment_invalid" };
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
      if (spent.length !== 1 || !reviewer) return { ok: false as const, code: "enrollment_invalid" as const };
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
   * authenticator's stale counter stops it before any hold changes.
   */
  useCredential(args: { id: string; reviewer: string | null; newCounter: number; now: number }): Outcome<{ reviewer: ReviewerRecord; credentials: number }, "not_found" | "counter_regression"> {
    return this.ctx.storage.transactionSync(() => {
      const credential = this.credential(args.id);
      const reviewer = credential ? this.reviewer(credential.reviewer) : null;
      if (!credential || !reviewer || (args.reviewer !== null && reviewer.id !== args.reviewer)) return { ok: false as const, code: "not_found" as const };
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
}
