import { DurableObject } from "cloudflare:workers";
import { verifyConsistency } from "../worker/log/merkle.ts";
import type { WitnessEnv } from "./config.ts";

/** What the witness answers a submission with, before cosigning. */
export type AddOutcome =
  | { ok: true }
  /** 409: `old` is not the size last cosigned (with that size), or the same size came with another root. */
  | { ok: false; status: 409; size: number; reason: string }
  /** 422: the consistency proof does not verify. */
  | { ok: false; status: 422; size: number; reason: string };

/** Refusals kept as evidence of misbehaviour (tlog-witness allows logging them): the last this many. */
const MAX_REFUSALS = 100;

/**
 * One per log origin: the latest checkpoint (size and root) this witness cosigned. `add` checks
 * `old` against it, the proof from it, and stores the new one in one synchronous transaction,
 * so two submissions cannot interleave between check and store (tlog-witness: "checking the old
 * size … and persisting the new checkpoint must be performed atomically").
 */
export class WitnessLog extends DurableObject<WitnessEnv> {
  private readonly sql: SqlStorage;

  constructor(ctx: DurableObjectState, env: WitnessEnv) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    void ctx.blockConcurrencyWhile(async () => {
      this.sql.exec(`
        CREATE TABLE IF NOT EXISTS latest (
          singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
          size INTEGER NOT NULL,
          root TEXT NOT NULL,
          note TEXT NOT NULL,
          updated_at INTEGER NOT NULL
        );
        CREATE TABLE IF NOT EXISTS refusals (
          id INTEGER PRIMARY KEY AUTOINCREMENT,
          old INTEGER NOT NULL,
          size INTEGER NOT NULL,
          root TEXT NOT NULL,
          reason TEXT NOT NULL,
          note TEXT NOT NULL,
          at INTEGER NOT NULL
        );
      `);
    });
  }

  /** The latest cosigned size and root (0 and null before the first). */
  latest(): { size: number; root: string | null } {
    const row = this.sql.exec<{ size: number; root: string }>("SELECT size, root FROM latest").toArray()[0];
    return row ? { size: row.size, root: row.root } : { size: 0, root: null };
  }

  /** Checks a submission whose log signature the worker verified, and records it when it extends the latest. */
  add(args: { oldSize: number; size: number; root: string; proof: string[]; note: string; now: number }): AddOutcome {
    return this.ctx.storage.transactionSync(() => {
      const latest = this.latest();
      const refuse = (status: 409 | 422, reason: string): AddOutcome => {
        this.sql.exec("INSERT INTO refusals (old, size, root, reason, note, at) VALUES (?, ?, ?, ?, ?, ?)", args.oldSize, args.size, args.root, reason, args.note, args.now);
        this.sql.exec("DELETE FROM refusals WHERE id NOT IN (SELECT id FROM refusals ORDER BY id DESC LIMIT ?)", MAX_REFUSALS);
        return { ok: false, status, size: latest.size, reason };
      };
      if (args.oldSize !== latest.size) return refuse(409, `old size ${args.oldSize} is not the last cosigned size ${latest.size}`);
      if (args.size === latest.size) {
        // The same size with another root is two views of one log: the split view a witness exists to refuse.
        if (latest.root !== null && args.root !== latest.root) return refuse(409, `size ${args.size} was cosigned with another root`);
      } else {
        const fromRoot = latest.root === null ? new Uint8Array(32) : Buffer.from(latest.root, "hex");
        const proof = args.proof.map((hex) => Buffer.from(hex, "hex"));
        if (!verifyConsistency(latest.size, args.size, proof, fromRoot, Buffer.from(args.root, "hex"))) {
          return refuse(422, `the tree of size ${args.size} is not consistent with the one of size ${latest.size}`);
        }
      }
      this.sql.exec(
        "INSERT INTO latest (singleton, size, root, note, updated_at) VALUES (1, ?, ?, ?, ?) ON CONFLICT (singleton) DO UPDATE SET size = excluded.size, root = excluded.root, note = excluded.note, updated_at = excluded.updated_at",
        args.size,
        args.root,
        args.note,
        args.now,
      );
      return { ok: true };
    });
  }

  /** Refusals recorded, newest first (evidence of a log that showed two views). */
  refusals(): { old: number; size: number; root: string; reason: string; at: number }[] {
    return this.sql.exec<{ old: number; size: number; root: string; reason: string; at: number }>("SELECT old, size, root, reason, at FROM refusals ORDER BY id DESC").toArray();
  }
}
