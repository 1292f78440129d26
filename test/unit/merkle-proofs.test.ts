import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import {
  EMPTY_FRONTIER,
  consistencyProof,
  extendFrontier,
  frontierRoot,
  inclusionProof,
  leafHash,
  memorySource,
  rangeHash,
  verifyConsistency,
  verifyInclusion,
} from "../../worker/log/merkle.ts";

// RFC 6962 / RFC 9162 inclusion and consistency proofs (worker/log/merkle.ts): the reference
// vectors of the certificate-transparency test suite, and every index and size pair up to 40
// generated here, checked against the compact-range root the checkpoints are signed over.

/** The eight leaf inputs of the RFC 6962 reference test vectors (certificate-transparency `merkle_tree_test`). */
const CT_LEAVES = ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"];
const CT_ROOT_8 = "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328";

const inputs = (n: number) => Array.from({ length: n }, (_, i) => createHash("sha256").update(`entry ${i}`).digest("hex"));
const leaves = (hexInputs: string[]) => hexInputs.map((hex) => leafHash(Buffer.from(hex, "hex")));
const rootOf = (hexInputs: string[]) => frontierRoot(extendFrontier(EMPTY_FRONTIER, hexInputs));

describe("Merkle proofs (RFC 6962 §2.1, RFC 9162 §2.1)", () => {
  it("computes the RFC 6962 reference root of eight leaves, by range and by compact range", async () => {
    const source = memorySource(leaves(CT_LEAVES));
    expect((await rangeHash(source, 0, 8)).toString("hex")).toBe(CT_ROOT_8);
    expect(rootOf(CT_LEAVES).toString("hex")).toBe(CT_ROOT_8);
  });

  it("every leaf of every tree up to 40 has an inclusion proof that verifies, and only for its own leaf, size and root", async () => {
    const all = inputs(40);
    const hashes = leaves(all);
    const source = memorySource(hashes);
    for (let size = 1; size <= 40; size += 1) {
      const root = rootOf(all.slice(0, size));
      expect((await rangeHash(source, 0, size)).equals(root)).toBe(true);
      for (let index = 0; index < size; index += 1) {
        const proof = await inclusionProof(source, index, size);
        expect(verifyInclusion(index, size, hashes[index]!, proof, root)).toBe(true);
        expect(verifyInclusion(index, size, hashes[(index + 1) % 40]!, proof, root)).toBe(false);
        if (size > 1) {
          expect(verifyInclusion((index + 1) % size, size, hashes[index]!, proof, root)).toBe(false);
          // The root is what binds the size (a checkpoint signs both): under the next tree's root the proof fails.
          if (size < 40) expect(verifyInclusion(index, size + 1, hashes[index]!, proof, rootOf(all.slice(0, size + 1)))).toBe(false);
        }
        if (proof.length > 0) {
          const bent = proof.map((p, i) => (i === proof.length - 1 ? Buffer.from(p.map((b, j) => (j === 0 ? b ^ 1 : b))) : p));
          expect(verifyInclusion(index, size, hashes[index]!, bent, root)).toBe(false);
          expect(verifyInclusion(index, size, hashes[index]!, proof.slice(0, -1), root)).toBe(false);
        }
      }
    }
  });

  it("every pair of sizes up to 40 has a consistency proof that verifies, and fails for another root or size", async () => {
    const all = inputs(40);
    const source = memorySource(leaves(all));
    const roots = [Buffer.alloc(32), ...Array.from({ length: 40 }, (_, i) => rootOf(all.slice(0, i + 1)))];
    for (let to = 1; to <= 40; to += 1) {
      for (let from = 0; from <= to; from += 1) {
        const proof = await consistencyProof(source, from, to);
        expect(verifyConsistency(from, to, proof, roots[from]!, roots[to]!), `${from}→${to}`).toBe(true);
        if (from > 0 && from < to) {
          expect(verifyConsistency(from, to, proof, roots[to]!, roots[to]!)).toBe(false);
          expect(verifyConsistency(from, to, proof, roots[from]!, roots[from]!)).toBe(false);
          if (to < 40) expect(verifyConsistency(from, to + 1, proof, roots[from]!, roots[to + 1]!)).toBe(false);
        }
      }
    }
  });

  it("a forked history is not consistent: one changed leaf breaks every proof across it", async () => {
    const all = inputs(20);
    const forked = [...all];
    forked[5] = createHash("sha256").update("rewritten").digest("hex");
    const proof = await consistencyProof(memorySource(leaves(forked)), 8, 20);
    expect(verifyConsistency(8, 20, proof, rootOf(all.slice(0, 8)), rootOf(forked))).toBe(false);
    expect(verifyConsistency(8, 20, proof, rootOf(forked.slice(0, 8)), rootOf(forked))).toBe(true);
  });

  it("reports every completed interior node while extending, as the log stores them", async () => {
    const all = inputs(37);
    const source = memorySource(leaves(all));
    const seen: [number, number, string][] = [];
    let frontier = EMPTY_FRONTIER;
    for (const chunk of [all.slice(0, 5), all.slice(5, 20), all.slice(20)]) frontier = extendFrontier(frontier, chunk, (level, index, hash) => seen.push([level, index, hash.toString("hex")]));
    for (const [level, index, hash] of seen) expect((await source.node(level, index)).toString("hex")).toBe(hash);
    // 37 leaves complete 18 + 9 + 4 + 2 + 1 perfect subtrees above the leaves.
    expect(seen.length).toBe(34);
  });
});
