import { calculateJwkThumbprint } from "jose";
import { describe, expect, it } from "vitest";
import { checkpointText, parseCheckpointText } from "../../worker/log/checkpoint.ts";
import { importLogPublicKey, importLogSigningKey, noteSignerFor, noteVerifierFor } from "../../worker/log/keys.ts";
import { GENESIS_MAC, entryMac, parseMacKey } from "../../worker/log/mac.ts";
import { EMPTY_FRONTIER, MerkleAccumulator, extendFrontier, frontierRoot, isFrontier, leafHash } from "../../worker/log/merkle.ts";
import { NoteError, ed25519KeyId, parseNote, signNote, verifierKeyString, verifyNote } from "../../worker/log/note.ts";
import { parseRotationText, rotationText } from "../../worker/log/rotation.ts";

/**
 * golang.org/x/mod/sumdb/note, note_test.go and the package example: the
 * PeterNeumann key pair and its published signed note. Ed25519 is deterministic
 * (RFC 8032), so signing the same text must reproduce the note byte for byte.
 */
const GO = {
  signerKey: "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz",
  verifierKey: "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
  text: "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n",
  note:
    "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n\n" +
    "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n",
};

async function goKey() {
  const seed = Buffer.from(GO.signerKey.split("+").slice(4).join("+"), "base64").subarray(1);
  const publicKey = Buffer.from(GO.verifierKey.split("+").slice(2).join("+"), "base64").subarray(1);
  return importLogSigningKey(JSON.stringify({ kty: "OKP", crv: "Ed25519", x: publicKey.toString("base64url"), d: seed.toString("base64url") }));
}

describe("signed notes (C2SP signed-note)", () => {
  it("reproduces the Go sumdb/note vector: key ID, verifier key and signature", async () => {
    const key = await goKey();
    expect(ed25519KeyId("PeterNeumann", key.publicRaw).toString(16)).toBe("c74f20a3");
    expect(verifierKeyString("PeterNeumann", key.publicRaw)).toBe(GO.verifierKey);
    expect(await signNote(GO.text, [noteSignerFor(key, "PeterNeumann")])).toBe(GO.note);
  });

  it("verifies the Go note and refuses an edited one", async () => {
    const key = await goKey();
    const verifier = noteVerifierFor(await importLogPublicKey(key.publicJwk), "PeterNeumann");
    expect((await verifyNote(parseNote(GO.note), [verifier])).map((v) => v.id)).toEqual([key.kid]);
    await expect(verifyNote(parseNote(GO.note.replace("cryptography", "cryptographY")), [verifier])).rejects.toMatchObject({ code: "note_signature_invalid" });
  });

  it("ignores signatures of unknown keys and needs one known", async () => {
    const key = await goKey();
    const other = noteVerifierFor(key, "SomeoneElse");
    await expect(verifyNote(parseNote(GO.note), [other])).rejects.toMatchObject({ code: "note_unverified" });
    const sameNameOtherId = { ...noteVerifierFor(key, "PeterNeumann"), keyId: 1 };
    await expect(verifyNote(parseNote(GO.note), [sameNameOtherId])).rejects.toMatchObject({ code: "note_unverified" });
  });

  const malformed: [string, string][] = [
    ["no blank line", GO.text + "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"],
    ["no final newline", GO.note.slice(0, -1)],
    ["a control character", GO.note.replace("problem,", "problem,\t")],
    ["a hyphen instead of the em dash", GO.note.replace("—", "-")],
    ["a key name with +", GO.note.replace("PeterNeumann x08", "Peter+Neumann x08")],
    ["non-canonical base64", GO.note.replace("JnAM=", "JnAN=")],
    ["a signature too short for a key ID", GO.note.replace(/x08go\S+/, "AAAA")],
  ];
  it.each(malformed)("refuses a note with %s", (_name, note) => {
    expect(() => parseNote(note)).toThrow(NoteError);
  });

  it("signs with several keys in order and verifies with any subset", async () => {
    const [a, b] = await Promise.all([freshKey(), freshKey()]);
    const note = await signNote("hello\n", [noteSignerFor(a, "example.com/log"), noteSignerFor(b, "example.com/log")]);
    expect(parseNote(note).signatures).toHaveLength(2);
    expect((await verifyNote(parseNote(note), [noteVerifierFor(b, "example.com/log")])).map((v) => v.id)).toEqual([b.kid]);
  });
});

async function freshKey() {
  const pair = (await crypto.subtle.generateKey({ name: "Ed25519" }, true, ["sign", "verify"])) as CryptoKeyPair;
  return importLogSigningKey(JSON.stringify(await crypto.subtle.exportKey("jwk", pair.privateKey)));
}

describe("RFC 6962 Merkle tree (compact range)", () => {
  // transparency-dev/merkle testonly/constants.go: RFC 6962 reference leaves and roots for sizes 0..8.
  const inputs = ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"];
  const roots = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
  ];

  it.each(roots.map((root, size) => [size, root] as const))("root of the first %i reference leaves", (size, root) => {
    const frontier = extendFrontier(EMPTY_FRONTIER, inputs.slice(0, size));
    expect(frontierRoot(frontier).toString("hex")).toBe(root);
    expect(isFrontier(frontier)).toBe(true);
    const accumulator = new MerkleAccumulator();
    for (const input of inputs.slice(0, size)) accumulator.push(Buffer.from(input, "hex"));
    expect(accumulator.root().toString("hex")).toBe(root);
  });

  it("extending in steps equals extending at once, for every split up to 70 leaves", () => {
    const leaves = Array.from({ length: 70 }, (_, index) => leafHash(Buffer.from([index])).toString("hex"));
    const whole = extendFrontier(EMPTY_FRONTIER, leaves);
    for (let split = 0; split <= 70; split += 7) {
      expect(extendFrontier(extendFrontier(EMPTY_FRONTIER, leaves.slice(0, split)), leaves.slice(split))).toEqual(whole);
      expect(new MerkleAccumulator(extendFrontier(EMPTY_FRONTIER, leaves.slice(0, split))).size).toBe(split);
    }
  });

  it("refuses frontiers whose node count does not match their size", () => {
    expect(isFrontier({ size: 3, nodes: ["00".repeat(32)] })).toBe(false);
    expect(isFrontier({ size: 3, nodes: ["00".repeat(32), "11".repeat(32)] })).toBe(true);
  });
});

describe("checkpoints (C2SP tlog-checkpoint)", () => {
  const checkpoint = { origin: "warden.example.com/log/default/laptop-1", size: 42, root: "ab".repeat(32), head: "cd".repeat(32), time: "2026-11-22T10:00:00.000Z" };

  it("round-trips, with the root as base64 on the third line", () => {
    const text = checkpointText(checkpoint);
    expect(text.split("\n")[2]).toBe(Buffer.from(checkpoint.root, "hex").toString("base64"));
    expect(parseCheckpointText(text)).toEqual(checkpoint);
  });

  const bad: [string, (text: string) => string][] = [
    ["a leading zero in the size", (text) => text.replace("\n42\n", "\n042\n")],
    ["a short root", (text) => text.replace(/\n[A-Za-z0-9+/]{43}=\n/, "\nAAAA\n")],
    ["a missing head line", (text) => text.replace(/head [0-9a-f]+\n/, "")],
    ["an extra line", (text) => `${text}extra\n`],
    ["a time that is not RFC 3339", (text) => text.replace("2026-11-22T10:00:00.000Z", "yesterday")],
  ];
  it.each(bad)("refuses %s", (_name, mutate) => {
    expect(() => parseCheckpointText(mutate(checkpointText(checkpoint)))).toThrow(NoteError);
  });

  it("rotation statements round-trip", () => {
    const rotation = { origin: checkpoint.origin, from: "a".repeat(43), to: "b".repeat(43), time: checkpoint.time };
    expect(parseRotationText(rotationText(rotation))).toEqual(rotation);
  });
});

describe("log keys and the HMAC chain", () => {
  it("the synchronous kid is the RFC 7638 thumbprint jose computes", async () => {
    const key = await goKey();
    expect(key.kid).toBe(await calculateJwkThumbprint({ kty: "OKP", crv: "Ed25519", x: key.publicJwk.x }));
  });

  it("refuses a kid that is not the key's thumbprint", async () => {
    const key = await goKey();
    await expect(importLogPublicKey({ ...key.publicJwk, kid: "someone-else" })).rejects.toThrow();
  });

  it("HMAC keys need 32 bytes; the chain depends on every earlier entry", () => {
    expect(() => parseMacKey(Buffer.alloc(16).toString("base64url"))).toThrow();
    const key = parseMacKey(Buffer.alloc(32, 7).toString("base64url"));
    expect(key.id).toMatch(/^[0-9a-f]{16}$/);
    const first = entryMac(key, GENESIS_MAC, "11".repeat(32));
    const second = entryMac(key, first, "22".repeat(32));
    expect(entryMac(key, entryMac(key, GENESIS_MAC, "33".repeat(32)), "22".repeat(32))).not.toBe(second);
  });
});
