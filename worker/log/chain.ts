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
  /** RFC 7638 thumbprint of the log signing key in force when the entry was appended (covered by `hash`). */
  key?: string;
  hash: string;
  /** Chained HMAC-SHA256 (`worker/log/mac.ts`), outside `hash`: it is computed over it. */
  mac?: string;
  /** Id of the HMAC key that made `mac`. */
  mac_key?: string;
}

/**
 * SHA-256 over the canonical form of the entry without its own hash.
 * Synchronous on purpose: the Durable Object computes it between reading the
 * head and writing the entry, where an awaited digest would let another
 * request interleave and fork the chain.
 */
export function entryHash(entry: Omit<LogEntry, "hash" | "mac" | "mac_key">): string {
  const { seq, time, prev, device, type, data, key } = entry;
  // An absent `key` drops out of the canonical form, so entries from before log keys hash as they did.
  return createHash("sha256")
    .update(canonicalJson({ seq, time, prev, device, type, data, key }))
    .digest("hex");
}

/** The entry that follows `head` in a chain: what every log's append computes, inside its transaction. */
export function nextEntry(
  head: { seq: number; hash: string },
  device: string,
  type: string,
  data: LogEntry["data"],
  now: number,
  key?: string,
): LogEntry {
  const body = { seq: head.seq + 1, time: new Date(now).toISOString(), prev: head.hash, device, type, data, ...(key === undefined ? {} : { key }) };
  return { ...body, hash: entryHash(body) };
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
