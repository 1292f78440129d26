import { createHash } from "node:crypto";
import { WardenError } from "../worker/errors.ts";
import type { LogEntry } from "../worker/log/chain.ts";
import { leafHash, type Frontier, type SubtreeSource } from "../worker/log/merkle.ts";
import type { LogAccess } from "./log-io.ts";

/**
 * The Merkle tree of a device log, for proofs (receipts' inclusion proofs, witnesses'
 * consistency proofs): every perfect subtree of at least 2^{@link STORED_LEVEL} leaves is kept
 * when a checkpoint's compact range is extended over it (durable-objects/log-signing.ts), so a
 * proof needs at most two blocks of 2^STORED_LEVEL leaf hashes, read from the rows still here
 * or from the archived segment that holds them. Nothing here is trusted by a verifier: every
 * hash it hands out ends in a root the log key signed, or the proof fails.
 *
 * Entries retention deleted (durable-objects/log-retention.ts) cannot be read again, but what a
 * proof about a kept entry needs of them is the compact range over them — the tree the newest
 * deleted segment's manifest carries, kept in its row. A subtree a proof of a leaf at or past the
 * cut (or of consistency from a size at or past it) needs is either wholly at or past the cut,
 * read from kept leaves; or wholly below it, and then a node of that range (one strictly inside a
 * node would have a parent wholly below the cut, so no kept leaf's path passes it); or it spans
 * the cut, and is hashed from its two children, each again one of these. So proofs about kept
 * entries are the same bytes after retention as before; only one needing a deleted leaf is
 * refused (`log_range_expired`).
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
    /** The compact range over the entries retention deleted (its size is the last of them), or null when none was. */
    private readonly expiredTree: () => Frontier | null = () => null,
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
    const blocks = new Map<number, Promise<(Buffer | undefined)[]>>();
    const computed = new Map<string, Promise<Buffer>>();
    const expired = this.expiredTree();
    const cut = expired?.size ?? 0;
    const belowCut = expiredNodes(expired);
    const block = (index: number): Promise<(Buffer | undefined)[]> => {
      let found = blocks.get(index);
      if (!found) {
        found = this.leafBlock(index * BLOCK + 1, Math.min((index + 1) * BLOCK, size), cut + 1);
        blocks.set(index, found);
      }
      return found;
    };
    const node = (level: number, index: number): Promise<Buffer> => {
      if ((index + 1) * 2 ** level > size) return Promise.reject(new WardenError("internal_error", `subtree ${level}/${index} is past leaf ${size}`));
      const key = `${level}/${index}`;
      const kept = belowCut.get(key);
      if (kept) return Promise.resolve(kept);
      let value = computed.get(key);
      if (value) return value;
      value = (async () => {
        if (level === 0) {
          const leaves = await block(Math.floor(index / BLOCK));
          const leaf = leaves[index % BLOCK];
          if (!leaf) throw new WardenError("log_range_expired", `entry ${index + 1} was deleted with its segment at the end of its retention`);
          return leaf;
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

  /** Leaf hashes of entries `first..last` (RFC 6962 leaf hash of each entry's chain hash); none for those before `from` (deleted by retention). */
  private async leafBlock(first: number, last: number, from: number): Promise<(Buffer | undefined)[]> {
    const hashes = new Map<number, string>();
    for (const row of this.log.sql.exec<{ seq: number; hash: string }>("SELECT seq, hash FROM log WHERE seq BETWEEN ? AND ?", Math.max(first, from), last)) hashes.set(row.seq, row.hash);
    for (let seq = Math.max(first, from); seq <= last; seq += 1) {
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
    const out: (Buffer | undefined)[] = [];
    for (let seq = first; seq <= last; seq += 1) {
      const hash = seq < from ? undefined : hashes.get(seq);
      out.push(hash === undefined ? undefined : leafHash(Buffer.from(hash, "hex")));
    }
    return out;
  }
}

/** The nodes of a compact range by `level/index`: one perfect subtree per set bit of its size, largest first. */
function expiredNodes(range: Frontier | null): Map<string, Buffer> {
  const nodes = new Map<string, Buffer>();
  if (!range) return nodes;
  let start = 0;
  let next = 0;
  for (let level = 52; level >= 0; level -= 1) {
    const width = 2 ** level;
    if (Math.floor(range.size / width) % 2 === 0) continue;
    const hash = range.nodes[next];
    if (hash === undefined) throw new WardenError("storage_error", `the compact range of ${range.size} leaves has too few nodes`);
    nodes.set(`${level}/${start / width}`, Buffer.from(hash, "hex"));
    start += width;
    next += 1;
  }
  return nodes;
}
