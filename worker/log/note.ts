import { createHash } from "node:crypto";

/**
 * C2SP signed notes (https://c2sp.org/signed-note): a UTF-8 text ending in a
 * newline, a blank line, then one line per signature,
 * `— <key name> base64(uint32 key ID || Ed25519 signature)`. Checkpoints, key
 * rotations and export manifests are all signed notes, so one parser and one
 * verifier serve the worker and the CLI. Parse, then verify: `parseNote`
 * checks the form only; `verifyNote` checks signatures against keys the
 * caller trusts.
 */

/** Signature type byte of Ed25519 in the key ID (signed-note §Signature types). */
const ED25519_TYPE = 0x01;
const EM_DASH_PREFIX = "\u2014 ";
/** Verifiers must accept at least 16 signatures; nothing Warden signs carries more than two. */
export const MAX_NOTE_SIGNATURES = 16;
/** No note Warden reads is larger; a bigger one is refused before it is split. */
export const MAX_NOTE_BYTES = 64 * 1024;

export type NoteErrorCode = "note_malformed" | "note_unverified" | "note_signature_invalid";

export class NoteError extends Error {
  constructor(
    readonly code: NoteErrorCode,
    message: string,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

export interface NoteSignature {
  name: string;
  keyId: number;
  signature: Uint8Array;
}

export interface ParsedNote {
  /** The signed text, including its final newline. */
  text: string;
  signatures: NoteSignature[];
}

/** A key that can sign notes under `name`. */
export interface NoteSigner {
  name: string;
  keyId: number;
  sign(message: Uint8Array): Promise<Uint8Array>;
}

/** A trusted public key and the name it signs under; `id` is the caller's label for reports (e.g. a JWK thumbprint). */
export interface NoteVerifier {
  name: string;
  keyId: number;
  id: string;
  verify(message: Uint8Array, signature: Uint8Array): Promise<boolean>;
}

/** Key names are non-empty and contain no Unicode space and no `+` (signed-note §Format). */
export function isKeyName(name: string): boolean {
  return name.length > 0 && !/[\s+]/u.test(name);
}

/** key ID = SHA-256(key name || 0x0A || 0x01 || 32-byte Ed25519 public key)[:4], big-endian (signed-note §Ed25519 signatures). */
export function ed25519KeyId(name: string, publicKey: Uint8Array): number {
  if (publicKey.length !== 32) throw new NoteError("note_malformed", "an Ed25519 public key is 32 bytes");
  const digest = createHash("sha256").update(name, "utf8").update(Uint8Array.of(0x0a, ED25519_TYPE)).update(publicKey).digest();
  return digest.readUInt32BE(0);
}

/** Go's verifier-key form, `<name>+<hex key ID>+base64(0x01 || public key)`, for tools built on golang.org/x/mod/sumdb/note. */
export function verifierKeyString(name: string, publicKey: Uint8Array): string {
  const id = ed25519KeyId(name, publicKey).toString(16).padStart(8, "0");
  return `${name}+${id}+${Buffer.concat([Uint8Array.of(ED25519_TYPE), publicKey]).toString("base64")}`;
}

function checkText(text: string, what: string): void {
  // Signed notes are UTF-8 without control characters other than newline (signed-note §Format).
  if (/[\u0000-\u0009\u000b-\u001f]/.test(text)) throw new NoteError("note_malformed", `${what} contains a control character`);
  if (/[\ud800-\udfff]/.test(text.replace(/[\ud800-\udbff][\udc00-\udfff]/g, ""))) throw new NoteError("note_malformed", `${what} is not valid UTF-16/UTF-8`);
}

/** Signs `text` (which must end in a newline) with every signer, in order. */
export async function signNote(text: string, signers: NoteSigner[]): Promise<string> {
  if (!text.endsWith("\n")) throw new NoteError("note_malformed", "note text must end with a newline");
  checkText(text, "note text");
  if (signers.length === 0) throw new NoteError("note_malformed", "a note needs at least one signature");
  const message = new TextEncoder().encode(text);
  let lines = "";
  for (const signer of signers) {
    if (!isKeyName(signer.name)) throw new NoteError("note_malformed", "key names have no spaces and no +");
    const signature = await signer.sign(message);
    const blob = Buffer.alloc(4 + signature.length);
    blob.writeUInt32BE(signer.keyId >>> 0, 0);
    blob.set(signature, 4);
    lines += `${EM_DASH_PREFIX}${signer.name} ${blob.toString("base64")}\n`;
  }
  return `${text}\n${lines}`;
}

function decodeBase64Strict(value: string): Buffer | null {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(value) || value.length % 4 !== 0) return null;
  const bytes = Buffer.from(value, "base64");
  return bytes.toString("base64") === value ? bytes : null;
}

/** Splits a signed note into its text and signature lines; checks form only, never trust. */
export function parseNote(note: string): ParsedNote {
  if (typeof note !== "string") throw new NoteError("note_malformed", "a note is text");
  if (new TextEncoder().encode(note).length > MAX_NOTE_BYTES) throw new NoteError("note_malformed", `a note is at most ${MAX_NOTE_BYTES} bytes`);
  checkText(note, "note");
  if (!note.endsWith("\n")) throw new NoteError("note_malformed", "a note ends with a newline");
  // The text is separated from the signatures by the last empty line.
  const split = note.lastIndexOf("\n\n");
  if (split < 0) throw new NoteError("note_malformed", "a note has a blank line before its signatures");
  const text = note.slice(0, split + 1);
  const lines = note.slice(split + 2, -1).split("\n");
  if (lines.length > MAX_NOTE_SIGNATURES) throw new NoteError("note_malformed", `a note carries at most ${MAX_NOTE_SIGNATURES} signatures`);
  const signatures = lines.map((line) => {
    if (!line.startsWith(EM_DASH_PREFIX)) throw new NoteError("note_malformed", "a signature line starts with an em dash and a space");
    const rest = line.slice(EM_DASH_PREFIX.length);
    const space = rest.indexOf(" ");
    if (space < 0) throw new NoteError("note_malformed", "a signature line is `— <name> <base64>`");
    const name = rest.slice(0, space);
    if (!isKeyName(name)) throw new NoteError("note_malformed", "a key name has no spaces and no +");
    const blob = decodeBase64Strict(rest.slice(space + 1));
    if (!blob || blob.length < 5) throw new NoteError("note_malformed", "a signature is base64 of a key ID and a signature");
    return { name, keyId: blob.readUInt32BE(0), signature: new Uint8Array(blob.subarray(4)) };
  });
  if (signatures.length === 0) throw new NoteError("note_malformed", "a note has at least one signature");
  return { text, signatures };
}

/**
 * Verifies a parsed note as signed-note §Signatures requires: signatures from
 * unknown keys (name and ID not both matching) are ignored; a known key's
 * signature that fails rejects the note; at least one known key must have
 * signed. Returns the verifiers whose signatures verified, in note order.
 */
export async function verifyNote(note: ParsedNote, verifiers: NoteVerifier[]): Promise<NoteVerifier[]> {
  const message = new TextEncoder().encode(note.text);
  const verified: NoteVerifier[] = [];
  for (const signature of note.signatures) {
    const matching = verifiers.filter((verifier) => verifier.name === signature.name && verifier.keyId === signature.keyId);
    if (matching.length === 0) continue;
    let ok = false;
    for (const verifier of matching) {
      if (await verifier.verify(message, signature.signature)) {
        ok = true;
        if (!verified.includes(verifier)) verified.push(verifier);
        break;
      }
    }
    if (!ok) throw new NoteError("note_signature_invalid", `the signature of ${signature.name} does not verify`);
  }
  if (verified.length === 0) throw new NoteError("note_unverified", "no trusted key signed the note");
  return verified;
}
