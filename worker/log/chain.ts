import { createHash } from "node:crypto";
import { canonicalJson, type JsonValue } from "./canonical.ts";

/** `prev` of the first entry of every device log. */
export const GENESIS_PREV = "0".repeat(64);

/** What the Durable Object assigns: position, time and link. */
export interface ChainPosition {
  seq: number;
  time: string;
  prev: string;
}

/** One entry of a device log, as stored and as exported. `hash` covers every other field. */
export interface LogEntry extends ChainPosition {
  device: string;
  type: string;
  data: { [key: string]: JsonValue | undefined };
  hash: string;
}

/**
 * SHA-256 over the canonical form of the entry without its own hash.
 * Synchronous on purpose: the Durable Object computes it between reading the
 * head and writing the entry, where an awaited digest would let another
 * request interleave and fork the chain.
 */
export function entryHash(entry: Omit<LogEntry, "hash">): string {
  const { seq, time, prev, device, type, data } = entry;
  return createHash("sha256")
    .update(canonicalJson({ seq, time, prev, device, type, data }))
    .digest("hex");
}

export type ChainBreak =
  | { seq: number; problem: "seq_gap" }
  | { seq: number; problem: "prev_mismatch" }
  | { seq: number; problem: "hash_mismatch" }
  | { seq: number; problem: "device_mismatch" };

/**
 * Checks that `entries` continue the chain after `after` (genesis when omitted):
 * consecutive seq, each prev the hash before it, each hash recomputed.
 * Returns the first break, or null when the whole run verifies.
 */
export function verifyChain(
  entries: Iterable<LogEntry>,
  device: string,
  after: { seq: number; hash: string } = { seq: 0, hash: GENESIS_PREV },
): ChainBreak | null {
  let expectedSeq = after.seq + 1;
  let expectedPrev = after.hash;
  for (const entry of entries) {
    if (entry.seq !== expectedSeq) return { seq: entry.seq, problem: "seq_gap" };
    if (entry.device !== device) return { seq: entry.seq, problem: "device_mismatch" };
    if (entry.prev !== expectedPrev) return { seq: entry.seq, problem: "prev_mismatch" };
    if (entryHash(entry) !== entry.hash) return { seq: entry.seq, problem: "hash_mismatch" };
    expectedSeq += 1;
    expectedPrev = entry.hash;
  }
  return null;
}
