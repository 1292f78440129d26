/**
 * The bare floor of a logged decision (part A): a Durable Object that does the least a
 * hash-chained log can do — one SQLite insert of a row with `hash = SHA-256(prev ‖ row)`,
 * synchronous, no HMAC, no keys, no device record, no auth. Bench build only (bench/worker.ts
 * exports it; bench/server.ts binds it as CHAIN_FLOOR); never deployed.
 *
 * Warden's own `append` is not the floor: it reads the device record, canonicalises the
 * entry (RFC 8785), names the log key and chains an HMAC. Timing the decision against this
 * class shows what the whole decision costs above the one thing it cannot skip.
 */
import { DurableObject } from "cloudflare:workers";
import { createHash } from "node:crypto";

/** `prev` of the first row. */
const GENESIS = "0".repeat(64);

export class ChainFloor extends DurableObject<Env> {
  private readonly sql: SqlStorage;
  private head: { seq: number; hash: string } = { seq: 0, hash: GENESIS };

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    void ctx.blockConcurrencyWhile(async () => {
      this.sql.exec("CREATE TABLE IF NOT EXISTS chain (seq INTEGER PRIMARY KEY, hash TEXT NOT NULL, row TEXT NOT NULL)");
      const last = this.sql.exec<{ seq: number; hash: string }>("SELECT seq, hash FROM chain ORDER BY seq DESC LIMIT 1").toArray()[0];
      if (last) this.head = { seq: last.seq, hash: last.hash };
    });
  }

  /** Appends `row` (a decision-sized JSON text) after the head; no await between read and write. */
  append(row: string): { seq: number; hash: string } {
    const seq = this.head.seq + 1;
    const hash = createHash("sha256").update(this.head.hash).update(row).digest("hex");
    this.sql.exec("INSERT INTO chain (seq, hash, row) VALUES (?, ?, ?)", seq, hash, row);
    this.head = { seq, hash };
    return this.head;
  }
}
