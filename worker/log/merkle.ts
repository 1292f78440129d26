import { createHash } from "node:crypto";

/**
 * RFC 6962 §2.1 Merkle tree hash over a device log, kept as a compact range:
 * the roots of the perfect subtrees that make up the first `size` leaves,
 * largest first (one per set bit of `size`). That is all it takes to append
 * and to compute the root, so a checkpoint never needs entries that were
 * archived and pruned. Synchronous (node:crypto) like the entry hash.
 *
 * A leaf's input is the 32 bytes of the entry's chain hash, so the tree
 * commits to every entry and an inclusion proof proves an entry hash.
 */
export interface Frontier {
  size: number;
  /** Hex SHA-256 subtree roots, largest subtree first. */
  nodes: string[];
}

export const EMPTY_FRONTIER: Frontier = { size: 0, nodes: [] };

function sha256(...parts: Uint8Array[]): Buffer {
  const hash = createHash("sha256");
  for (const part of parts) hash.update(part);
  return hash.digest();
}

const LEAF_PREFIX = Uint8Array.of(0x00);
const NODE_PREFIX = Uint8Array.of(0x01);

/** RFC 6962 §2.1: MTH({d}) = SHA-256(0x00 || d). */
export function leafHash(data: Uint8Array): Buffer {
  return sha256(LEAF_PREFIX, data);
}

function nodeHash(left: Uint8Array, right: Uint8Array): Buffer {
  return sha256(NODE_PREFIX, left, right);
}

/**
 * Appends leaves (their inputs, e.g. entry hashes as hex) to a frontier and
 * returns the new one; `frontier` itself is not changed. `onNode` hears of every
 * perfect subtree completed on the way (level ≥ 1; index = its position among the
 * subtrees of that level), so a log can keep interior nodes for proofs.
 */
export function extendFrontier(frontier: Frontier, leafInputsHex: Iterable<string>, onNode?: (level: number, index: number, hash: Buffer) => void): Frontier {
  const stack: Buffer[] = frontier.nodes.map((node) => Buffer.from(node, "hex"));
  let size = frontier.size;
  for (const input of leafInputsHex) {
    let node: Buffer = leafHash(Buffer.from(input, "hex"));
    let level = 0;
    // Each trailing 1 bit of the old size is a perfect subtree the new leaf completes.
    for (let bits = size; bits % 2 === 1; bits = Math.floor(bits / 2)) {
      node = nodeHash(stack.pop() as Buffer, node);
      level += 1;
      onNode?.(level, (size + 1) / 2 ** level - 1, node);
    }
    stack.push(node);
    size += 1;
  }
  return { size, nodes: stack.map((node) => node.toString("hex")) };
}

/** Incremental form for long runs (the CLI): appends one leaf in place. */
export class MerkleAccumulator {
  private readonly stack: Buffer[];
  size: number;

  constructor(start: Frontier = EMPTY_FRONTIER) {
    this.stack = start.nodes.map((node) => Buffer.from(node, "hex"));
    this.size = start.size;
  }

  push(leafInput: Uint8Array): void {
    let node: Buffer = leafHash(leafInput);
    for (let bits = this.size; bits % 2 === 1; bits = Math.floor(bits / 2)) node = nodeHash(this.stack.pop() as Buffer, node);
    this.stack.push(node);
    this.size += 1;
  }

  frontier(): Frontier {
    return { size: this.size, nodes: this.stack.map((node) => node.toString("hex")) };
  }

  root(): Buffer {
    return foldRoot(this.stack);
  }
}

function foldRoot(stack: Buffer[]): Buffer {
  // RFC 6962: the empty tree's hash is SHA-256 of the empty string.
  if (stack.length === 0) return sha256();
  let root = stack[stack.length - 1] as Buffer;
  for (let index = stack.length - 2; index >= 0; index -= 1) root = nodeHash(stack[index] as Buffer, root);
  return root;
}

/** The RFC 6962 root of the tree the frontier describes. */
export function frontierRoot(frontier: Frontier): Buffer {
  return foldRoot(frontier.nodes.map((node) => Buffer.from(node, "hex")));
}

/** A frontier is well formed when it has one node per set bit of its size, each 32 bytes. */
export function isFrontier(value: unknown): value is Frontier {
  if (typeof value !== "object" || value === null) return false;
  const { size, nodes } = value as { size?: unknown; nodes?: unknown };
  if (typeof size !== "number" || !Number.isSafeInteger(size) || size < 0 || !Array.isArray(nodes)) return false;
  let bits = 0;
  for (let rest = size; rest > 0; rest = Math.floor(rest / 2)) bits += rest % 2;
  return nodes.length === bits && nodes.every((node) => typeof node === "string" && /^[0-9a-f]{64}$/.test(node));
}

// ---------------------------------------------------------------- proofs (RFC 6962 §2.1, RFC 9162 §2.1)

/**
 * Where proofs get their hashes: the root of the perfect subtree of `2^level` leaves starting
 * at leaf `index * 2^level` (level 0: a leaf hash). The log's object answers from stored
 * interior nodes and leaf hashes; tests answer from a list of leaves.
 */
export interface SubtreeSource {
  node(level: number, index: number): Promise<Buffer>;
}

/** The largest power of two strictly below `n` (n ≥ 2). */
function splitPoint(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/** MTH of leaves [start, end): perfect aligned subtrees from the source, combined as RFC 6962 §2.1 splits the range. */
export async function rangeHash(source: SubtreeSource, start: number, end: number): Promise<Buffer> {
  const size = end - start;
  if (size <= 0) return sha256();
  // A power-of-two range at an aligned start is one stored (or derivable) subtree.
  if ((size & (size - 1)) === 0 && start % size === 0) return source.node(Math.log2(size), start / size);
  const k = splitPoint(size);
  return nodeHash(await rangeHash(source, start, start + k), await rangeHash(source, start + k, end));
}

/** RFC 6962 §2.1.1 PATH(m, D[n]): the audit path of leaf `index` in the tree of `size` leaves, deepest first. */
export async function inclusionProof(source: SubtreeSource, index: number, size: number): Promise<Buffer[]> {
  if (!Number.isSafeInteger(index) || !Number.isSafeInteger(size) || index < 0 || index >= size) throw new RangeError(`leaf ${index} is not in a tree of ${size}`);
  const path = async (m: number, start: number, n: number): Promise<Buffer[]> => {
    if (n === 1) return [];
    const k = splitPoint(n);
    if (m < k) return [...(await path(m, start, k)), await rangeHash(source, start + k, start + n)];
    return [...(await path(m - k, start + k, n - k)), await rangeHash(source, start, start + k)];
  };
  return path(index, 0, size);
}

/** RFC 6962 §2.1.2 PROOF(m, D[n]): the consistency proof from the tree of `from` leaves to that of `to`. Empty when `from` is 0 or equals `to`. */
export async function consistencyProof(source: SubtreeSource, from: number, to: number): Promise<Buffer[]> {
  if (!Number.isSafeInteger(from) || !Number.isSafeInteger(to) || from < 0 || from > to) throw new RangeError(`no consistency proof from ${from} to ${to}`);
  if (from === 0 || from === to) return [];
  const subproof = async (m: number, start: number, n: number, complete: boolean): Promise<Buffer[]> => {
    if (m === n) return complete ? [] : [await rangeHash(source, start, start + n)];
    const k = splitPoint(n);
    if (m <= k) return [...(await subproof(m, start, k, complete)), await rangeHash(source, start + k, start + n)];
    return [...(await subproof(m - k, start + k, n - k, false)), await rangeHash(source, start, start + k)];
  };
  return subproof(from, 0, to, true);
}

/** RFC 9162 §2.1.3.2: whether `proof` proves the leaf hash at `index` in a tree of `size` with `root`. */
export function verifyInclusion(index: number, size: number, leaf: Uint8Array, proof: readonly Uint8Array[], root: Uint8Array): boolean {
  if (!Number.isSafeInteger(index) || !Number.isSafeInteger(size) || index < 0 || index >= size) return false;
  let fn = index;
  let sn = size - 1;
  let r: Buffer = Buffer.from(leaf);
  for (const p of proof) {
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      r = nodeHash(p, r);
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn = Math.floor(fn / 2);
          sn = Math.floor(sn / 2);
        }
      }
    } else {
      r = nodeHash(r, p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 && r.equals(Buffer.from(root));
}

/** RFC 9162 §2.1.4.2: whether `proof` shows the tree of `from` leaves with `fromRoot` is a prefix of the one of `to` with `toRoot`. */
export function verifyConsistency(from: number, to: number, proof: readonly Uint8Array[], fromRoot: Uint8Array, toRoot: Uint8Array): boolean {
  if (!Number.isSafeInteger(from) || !Number.isSafeInteger(to) || from < 0 || from > to) return false;
  if (from === 0) return proof.length === 0;
  if (from === to) return proof.length === 0 && Buffer.from(fromRoot).equals(Buffer.from(toRoot));
  const path = (from & (from - 1)) === 0 ? [Buffer.from(fromRoot), ...proof.map((p) => Buffer.from(p))] : proof.map((p) => Buffer.from(p));
  if (path.length === 0) return false;
  let fn = from - 1;
  let sn = to - 1;
  while (fn % 2 === 1) {
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  let fr = path[0] as Buffer;
  let sr = path[0] as Buffer;
  for (const c of path.slice(1)) {
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      fr = nodeHash(c, fr);
      sr = nodeHash(c, sr);
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn = Math.floor(fn / 2);
          sn = Math.floor(sn / 2);
        }
      }
    } else {
      sr = nodeHash(sr, c);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 && fr.equals(Buffer.from(fromRoot)) && sr.equals(Buffer.from(toRoot));
}

/** A source over leaf hashes held in memory (tests, small logs): interior nodes are computed. */
export function memorySource(leafHashes: readonly Uint8Array[]): SubtreeSource {
  const cache = new Map<string, Buffer>();
  const node = async (level: number, index: number): Promise<Buffer> => {
    const key = `${level}/${index}`;
    const known = cache.get(key);
    if (known) return known;
    const start = index * 2 ** level;
    if (start + 2 ** level > leafHashes.length) throw new RangeError(`subtree ${key} is past the last leaf`);
    const value = level === 0 ? Buffer.from(leafHashes[index] as Uint8Array) : nodeHash(await node(level - 1, 2 * index), await node(level - 1, 2 * index + 1));
    cache.set(key, value);
    return value;
  };
  return { node };
}
