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
 * returns the new one; `frontier` itself is not changed.
 */
export function extendFrontier(frontier: Frontier, leafInputsHex: Iterable<string>): Frontier {
  const stack: Buffer[] = frontier.nodes.map((node) => Buffer.from(node, "hex"));
  let size = frontier.size;
  for (const input of leafInputsHex) {
    let node: Buffer = leafHash(Buffer.from(input, "hex"));
    // Each trailing 1 bit of the old size is a perfect subtree the new leaf completes.
    for (let bits = size; bits % 2 === 1; bits = Math.floor(bits / 2)) node = nodeHash(stack.pop() as Buffer, node);
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
