import { createHash } from "node:crypto";
import { WardenError } from "../worker/errors.ts";
import type { LogEntry } from "../worker/log/chain.ts";
import { leafHash, type SubtreeSource } from "../worker/log/merkle.ts";
import type { LogAccess } from "./log-io.ts";

/**
 * The Merkle tree of a device log, for proofs (receipts' inclusion proofs, witnesses'
 * consistency proofs): every perfect subtree of at least 2^{@link STORED_LEVEL} leaves is kept
 * when a checkpoint's compact range is extended over it (durable-objects/log-signing.ts), so a
 * proof needs at most two blocks of 2^STORED_LEVEL leaf hashes, read from the rows still here
 * or from the archived segment that holds them. Nothing here is trusted by a verifier: every
 * hash it hands out ends in a root the log key signed, or the proof fails.
 */

/** Subtrees of 256 leaves and up are stored: some 2 rows per 256 entries, never pruned. */
export const STORED_LEVEL = 8;
const BLOCK = 2 ** STORED_LEVEL;

/** What the tree reads of the archive: the stored lines of the sealed segment holding `seq`. */
export interface ArchivedLines {
  segmentLines(seq: number): Promise<{ first: number; lines: string[] } | null>;
}

export class LogTree {
  constructor(
    private readonly log: LogAccess,
    private readonly archive: ArchivedLines,
  ) {}

  migrate(): void {
    this.log.sql.exec(`
      CREATE TABLE IF NOT EXISTS tree_nodes (
        level INTEGER NOT NULL,
        idx INTEGER NOT NULL,
        hash TEXT NOT NULL,
        PRIMARY KEY (level, idx)
      ) WITHOUT ROWID;
    `);
  }

  /** Keeps completed subtrees of {@link STORED_LEVEL} and up (call inside the transaction that stores the checkpoint). */
  store(nodes: readonly { level: number; index: number; hash: string }[]): void {
    for (const node of nodes) {
      if (node.level < STORED_LEVEL) continue;
      this.log.sql.exec("INSERT INTO tree_nodes (level, idx, hash) VALUES (?, ?, ?) ON CONFLICT (level, idx) DO NOTHING", node.level, node.index, node.hash);
    }
  }

  /** The stored JSON of entry `seq`: from the rows here, else from its archived segment. */
  async entryText(seq: number): Promise<string | null> {
    const row = this.log.sql.exec<{ entry: string }>("SELECT entry FROM log WHERE seq = ?", seq).toArray()[0];
    if (row) return row.entry;
    const segment = await this.archive.segmentLines(seq);
    return segment?.lines[seq - segment.first] ?? null;
  }

  /**
   * A subtree source for proofs over the first `size` leaves. Leaf hashes are read a block at a
   * time and kept for the source's life (one request); stored nodes are looked up; anything
   * else (a log older than the node table) is computed from its children.
   */
  source(size: number): SubtreeSource {
    const blocks = new Map<number, Promise<Buffer[]>>();
    const computed = new Map<string, Promise<Buffer>>();
    const block = (index: number): Promise<Buffer[]> => {
      let found = blocks.get(index);
      if (!found) {
        found = this.leafBlock(index * BLOCK + 1, Math.min((index + 1) * BLOCK, size));
        blocks.set(index, found);
      }
      return found;
    };
    const node = (level: number, index: number): Promise<Buffer> => {
      if ((index + 1) * 2 ** level > size) return Promise.reject(new WardenError("internal_error", `subtree ${level}/${index} is past leaf ${size}`));
      const key = `${level}/${index}`;
      let value = computed.get(key);
      if (value) return value;
      value = (async () => {
        if (level === 0) {
          const leaves = await block(Math.floor(index / BLOCK));
          return leaves[index % BLOCK] as Buffer;
        }
        if (level >= STORED_LEVEL) {
          const stored = this.log.sql.exec<{ hash: string }>("SELECT hash FROM tree_nodes WHERE level = ? AND idx = ?", level, index).toArray()[0];
          if (stored) return Buffer.from(stored.hash, "hex");
        }
        const left = await node(level - 1, 2 * index);
        const right = await node(level - 1, 2 * index + 1);
        return createHash("sha256").update(Uint8Array.of(0x01)).update(left).update(right).digest();
      })();
      computed.set(key, value);
      return value;
    };
    return { node };
  }

  /** Leaf hashes of entries `first..last` (RFC 6962 leaf hash of each entry's chain hash). */
  private async leafBlock(first: number, last: number): Promise<Buffer[]> {
    const hashes = new Map<number, string>();
    for (const row of this.log.sql.exec<{ seq: number; hash: string }>("SELECT seq, hash FROM log WHERE seq BETWEEN ? AND ?", first, last)) hashes.set(row.seq, row.hash);
    for (let seq = first; seq <= last; seq += 1) {
      if (hashes.has(seq)) continue;
      // Archived and pruned: the segment's lines are the entries' stored JSON, in order.
      const segment = await this.archive.segmentLines(seq);
      if (!segment) throw new WardenError("storage_error", `entry ${seq} is neither here nor in a sealed segment`);
      segment.lines.forEach((line, offset) => {
        const at = segment.first + offset;
        if (at >= first && at <= last) hashes.set(at, (JSON.parse(line) as LogEntry).hash);
      });
      if (!hashes.has(seq)) throw new WardenError("storage_error", `entry ${seq} is missing from its segment`);
    }
    const out: Buffer[] = [];
    for (let seq = first; seq <= last; seq += 1) out.push(leafHash(Buffer.from(hashes.get(seq) as string, "hex")));
    return out;
  }
}
