import { createHash } from "node:crypto";
import { MAX_NOTE_SIGNATURES, NoteError, isKeyName, parseNote } from "./note.ts";

/**
 * Witness cosigning, both sides of C2SP tlog-witness (https://c2sp.org/tlog-witness) with
 * Ed25519 cosignatures of C2SP tlog-cosignature (https://c2sp.org/tlog-cosignature):
 *
 * - a log sends `POST <prefix>/add-checkpoint` with `old <size>`, the consistency proof from
 *   that size (one base64 hash a line), an empty line and the checkpoint (a signed note);
 * - the witness checks the log's signature, that `old` is the size it last cosigned for the
 *   origin (else 409 with that size), the proof (else 422), and answers with a cosignature
 *   line: `— <witness name> base64(key ID ‖ u64 timestamp ‖ Ed25519 signature)`, the
 *   signature over `cosignature/v1\ntime <timestamp>\n` followed by the checkpoint body.
 *
 * Pure: no I/O; the witness worker (witness/) and the device log (durable-objects/log-witness.ts)
 * do theirs, and `warden audit verify` checks cosignatures with {@link verifyCosignatures}.
 */

/** Signature type of an Ed25519 cosignature (tlog-cosignature §Format). */
export const COSIGNATURE_TYPE = 0x04;
/** tlog-witness: at most 63 proof lines. */
export const MAX_PROOF_LINES = 63;
/** Larger request bodies are refused before they are split. */
export const MAX_ADD_CHECKPOINT_BYTES = 16 * 1024;
const EM_DASH_PREFIX = "\u2014 ";

export class WitnessProtocolError extends Error {
  constructor(
    /** The HTTP status tlog-witness assigns to this failure. */
    readonly status: 400 | 403 | 404 | 409 | 422,
    message: string,
    /** For 409: the size the witness last cosigned. */
    readonly size?: number,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/** A witness's public identity: its name and Ed25519 key, as a verifier key (vkey). */
export interface WitnessKey {
  name: string;
  keyId: number;
  publicKey: Uint8Array;
  /** `<name>+<hex key ID>+base64(0x04 ‖ public key)`. */
  vkey: string;
}

/** Key ID of a cosigner: SHA-256(name ‖ "\n" ‖ 0x04 ‖ public key)[:4] (tlog-cosignature §Format). */
export function cosignatureKeyId(name: string, publicKey: Uint8Array): number {
  return createHash("sha256").update(name, "utf8").update(Uint8Array.of(0x0a, COSIGNATURE_TYPE)).update(publicKey).digest().readUInt32BE(0);
}

/** The vkey of a witness key. */
export function witnessVkey(name: string, publicKey: Uint8Array): string {
  const id = cosignatureKeyId(name, publicKey).toString(16).padStart(8, "0");
  return `${name}+${id}+${Buffer.concat([Uint8Array.of(COSIGNATURE_TYPE), publicKey]).toString("base64")}`;
}

/** Parses a witness vkey; refuses another signature type, a key that is not 32 bytes, or a key ID that does not match. */
export function parseWitnessVkey(vkey: string): WitnessKey {
  // Split at the first two `+` only: the name and ID have none, but base64 may.
  const first = typeof vkey === "string" ? vkey.indexOf("+") : -1;
  const second = first < 0 ? -1 : vkey.indexOf("+", first + 1);
  if (second < 0) throw new NoteError("note_malformed", "a witness key is <name>+<hex key ID>+<base64 key>");
  const [name, id, key] = [vkey.slice(0, first), vkey.slice(first + 1, second), vkey.slice(second + 1)];
  if (!isKeyName(name) || !/^[0-9a-f]{8}$/.test(id)) throw new NoteError("note_malformed", "a witness key names a key name and an 8-digit hex key ID");
  const bytes = Buffer.from(key, "base64");
  if (bytes.toString("base64") !== key || bytes.length !== 33 || bytes[0] !== COSIGNATURE_TYPE) {
    throw new NoteError("note_malformed", "a witness key is base64 of 0x04 and a 32-byte Ed25519 key");
  }
  const publicKey = new Uint8Array(bytes.subarray(1));
  const keyId = cosignatureKeyId(name, publicKey);
  if (keyId !== parseInt(id, 16)) throw new NoteError("note_malformed", "the witness key's ID does not match its name and key");
  return { name, keyId, publicKey, vkey };
}

/** The message a cosignature signs: the header, the timestamp line and the checkpoint body (with its final newline). */
export function cosignedMessage(checkpointText: string, timestamp: number): Uint8Array {
  return new TextEncoder().encode(`cosignature/v1\ntime ${timestamp}\n${checkpointText}`);
}

/** A cosignature line (with its newline) by `key` over `checkpointText` at `timestamp` (POSIX seconds). */
export async function cosign(key: { name: string; publicKey: Uint8Array; privateKey: CryptoKey }, checkpointText: string, timestamp: number): Promise<string> {
  if (!Number.isSafeInteger(timestamp) || timestamp < 0) throw new RangeError("a cosignature timestamp is POSIX seconds");
  const signature = new Uint8Array(await crypto.subtle.sign({ name: "Ed25519" }, key.privateKey, cosignedMessage(checkpointText, timestamp)));
  const blob = Buffer.alloc(4 + 8 + signature.length);
  blob.writeUInt32BE(cosignatureKeyId(key.name, key.publicKey), 0);
  blob.writeBigUInt64BE(BigInt(timestamp), 4);
  blob.set(signature, 12);
  return `${EM_DASH_PREFIX}${key.name} ${blob.toString("base64")}\n`;
}

/** A cosignature that verified: whose, and when it says it was made. */
export interface Cosignature {
  witness: WitnessKey;
  timestamp: number;
}

/**
 * The cosignatures of `note` by `witnesses` that verify (signed-note rules: lines of unknown
 * keys are ignored; a known key's line that does not verify rejects the note). At most one
 * per witness is counted.
 */
export async function verifyCosignatures(note: string, witnesses: readonly WitnessKey[]): Promise<Cosignature[]> {
  const parsed = parseNote(note);
  const found: Cosignature[] = [];
  for (const line of parsed.signatures) {
    const witness = witnesses.find((w) => w.name === line.name && w.keyId === line.keyId);
    if (!witness) continue;
    if (line.signature.length !== 8 + 64) throw new NoteError("note_signature_invalid", `the cosignature of ${witness.name} is not a timestamped Ed25519 signature`);
    const timestamp = Buffer.from(line.signature.subarray(0, 8)).readBigUInt64BE(0);
    if (timestamp > BigInt(Number.MAX_SAFE_INTEGER)) throw new NoteError("note_signature_invalid", `the cosignature of ${witness.name} has an impossible timestamp`);
    const key = await crypto.subtle.importKey("raw", witness.publicKey as Uint8Array<ArrayBuffer>, { name: "Ed25519" }, false, ["verify"]);
    const ok = await crypto.subtle.verify({ name: "Ed25519" }, key, line.signature.subarray(8) as Uint8Array<ArrayBuffer>, cosignedMessage(parsed.text, Number(timestamp)));
    if (!ok) throw new NoteError("note_signature_invalid", `the cosignature of ${witness.name} does not verify`);
    if (!found.some((f) => f.witness === witness)) found.push({ witness, timestamp: Number(timestamp) });
  }
  return found;
}

/** Adds signature lines to a note (a witness's answer), refusing lines that are not signature lines. */
export function withSignatureLines(note: string, lines: string): string {
  const added = lines.split("\n").filter((line) => line.length > 0);
  for (const line of added) if (!line.startsWith(EM_DASH_PREFIX)) throw new NoteError("note_malformed", "a witness answered with something other than signature lines");
  const combined = `${note}${added.map((line) => `${line}\n`).join("")}`;
  // Parse to hold the result to the signed-note limits (and refuse a malformed line before it is stored).
  if (parseNote(combined).signatures.length > MAX_NOTE_SIGNATURES) throw new NoteError("note_malformed", "too many signatures");
  return combined;
}

/** The three lines every checkpoint has (tlog-checkpoint): origin, size, root; extension lines follow. */
export interface TlogCheckpoint {
  origin: string;
  size: number;
  root: Uint8Array;
}

/** Reads the origin, size and root of any tlog-checkpoint body (Warden's have extension lines after them). */
export function parseTlogCheckpoint(text: string): TlogCheckpoint {
  const lines = text.split("\n");
  if (lines.length < 4 || lines[lines.length - 1] !== "") throw new WitnessProtocolError(400, "a checkpoint has an origin, a size and a root line");
  const [origin, sizeLine, rootLine] = lines as [string, string, string];
  if (!isKeyName(origin)) throw new WitnessProtocolError(400, "the checkpoint origin is not a key name");
  if (!/^(0|[1-9]\d{0,15})$/.test(sizeLine) || !Number.isSafeInteger(Number(sizeLine))) throw new WitnessProtocolError(400, "the checkpoint size is not a decimal");
  const root = Buffer.from(rootLine, "base64");
  if (root.length !== 32 || root.toString("base64") !== rootLine) throw new WitnessProtocolError(400, "the checkpoint root is not base64 of 32 bytes");
  return { origin, size: Number(sizeLine), root: new Uint8Array(root) };
}

export interface AddCheckpointRequest {
  oldSize: number;
  proof: Uint8Array[];
  /** The checkpoint as a signed note. */
  checkpoint: string;
}

/** The body of `add-checkpoint`. */
export function formatAddCheckpoint(request: AddCheckpointRequest): string {
  const proof = request.proof.map((hash) => `${Buffer.from(hash).toString("base64")}\n`).join("");
  return `old ${request.oldSize}\n${proof}\n${request.checkpoint}`;
}

/** Parses an `add-checkpoint` body strictly; a malformed one is 400 (tlog-witness). */
export function parseAddCheckpoint(body: string): AddCheckpointRequest {
  if (new TextEncoder().encode(body).length > MAX_ADD_CHECKPOINT_BYTES) throw new WitnessProtocolError(400, "request too large");
  const blank = body.indexOf("\n\n");
  if (blank < 0) throw new WitnessProtocolError(400, "no empty line before the checkpoint");
  const head = body.slice(0, blank).split("\n");
  const oldLine = head[0] ?? "";
  const match = /^old (0|[1-9]\d{0,15})$/.exec(oldLine);
  if (!match || !Number.isSafeInteger(Number(match[1]))) throw new WitnessProtocolError(400, "the first line is `old <size>`");
  const lines = head.slice(1);
  if (lines.length > MAX_PROOF_LINES) throw new WitnessProtocolError(400, `more than ${MAX_PROOF_LINES} proof lines`);
  const proof = lines.map((line) => {
    const hash = Buffer.from(line, "base64");
    if (hash.length !== 32 || hash.toString("base64") !== line) throw new WitnessProtocolError(400, "a proof line is base64 of 32 bytes");
    return new Uint8Array(hash);
  });
  const checkpoint = body.slice(blank + 2);
  try {
    parseNote(checkpoint);
  } catch (error) {
    throw new WitnessProtocolError(400, `the checkpoint is not a signed note (${(error as Error).message})`);
  }
  return { oldSize: Number(match[1]), proof, checkpoint };
}

/** A witness a log asks to cosign: its key and where its submission prefix is. */
export interface WitnessConfig {
  key: WitnessKey;
  /** Submission prefix (no trailing slash); `add-checkpoint` is appended. */
  url: string;
}

/** `WITNESSES`: a JSON list of `{vkey, url}`; absent or empty, the log asks no witness. */
export function parseWitnessConfig(value: unknown): WitnessConfig[] {
  if (value === undefined || value === null || value === "") return [];
  if (!Array.isArray(value)) throw new NoteError("note_malformed", "WITNESSES is a list of {vkey, url}");
  return value.map((entry: unknown) => {
    const { vkey, url } = (entry ?? {}) as { vkey?: unknown; url?: unknown };
    if (typeof vkey !== "string" || typeof url !== "string" || !/^https?:\/\/[^\s]+$/.test(url)) throw new NoteError("note_malformed", "a witness is {vkey, url}");
    return { key: parseWitnessVkey(vkey), url: url.replace(/\/+$/, "") };
  });
}
