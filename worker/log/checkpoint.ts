import { NoteError } from "./note.ts";

/**
 * Checkpoint bodies in C2SP tlog-checkpoint form (https://c2sp.org/tlog-checkpoint):
 *
 *     <origin>                       warden.example.com/log/<tenant>/<device>
 *     <size>                         number of entries, decimal
 *     <root>                         base64 RFC 6962 Merkle root over the entry hashes (worker/log/merkle.ts)
 *     head <hex>                     extension: hash of entry <size>, the chain head
 *     time <RFC 3339>                extension: when the Durable Object signed it
 *
 * The first three lines are what transparency-log tooling reads; the two
 * extension lines let an auditor match the checkpoint against the hash chain
 * without rebuilding the tree. The note is signed under the origin as key name.
 */
export interface Checkpoint {
  origin: string;
  size: number;
  /** Hex of the 32-byte RFC 6962 root. */
  root: string;
  /** Hash of entry `size` (64 zeros for an empty log). */
  head: string;
  time: string;
}

const HEX64 = /^[0-9a-f]{64}$/;
const RFC3339_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$/;

/** The origin (log identity, and the key name its notes are signed under) of a device's log; `prefix` is `LOG_ORIGIN`. */
export function logOrigin(prefix: string | undefined, tenant: string, device: string): string {
  return `${(prefix || "warden").replace(/\/+$/, "")}/${tenant}/${device}`;
}

/** The origin a tenant-wide document (the compliance package) is signed under: `<LOG_ORIGIN>/<tenant>`. */
export function tenantOrigin(prefix: string | undefined, tenant: string): string {
  return `${(prefix || "warden").replace(/\/+$/, "")}/${tenant}`;
}

export function checkpointText(checkpoint: Checkpoint): string {
  const root = Buffer.from(checkpoint.root, "hex").toString("base64");
  return `${checkpoint.origin}\n${checkpoint.size}\n${root}\nhead ${checkpoint.head}\ntime ${checkpoint.time}\n`;
}

/** Parses a checkpoint body (a note's text); strict: exactly the five lines Warden writes. */
export function parseCheckpointText(text: string): Checkpoint {
  const lines = text.split("\n");
  if (lines.length !== 6 || lines[5] !== "") throw new NoteError("note_malformed", "a Warden checkpoint has five lines");
  const [origin, sizeLine, rootLine, headLine, timeLine] = lines as [string, string, string, string, string];
  if (origin.length === 0 || /[\s+]/u.test(origin)) throw new NoteError("note_malformed", "the checkpoint origin is empty or has spaces");
  if (!/^(0|[1-9]\d{0,15})$/.test(sizeLine) || !Number.isSafeInteger(Number(sizeLine))) throw new NoteError("note_malformed", "the checkpoint size is not a decimal without leading zeros");
  const root = Buffer.from(rootLine, "base64");
  if (root.length !== 32 || root.toString("base64") !== rootLine) throw new NoteError("note_malformed", "the checkpoint root is not base64 of 32 bytes");
  const head = headLine.startsWith("head ") ? headLine.slice(5) : "";
  if (!HEX64.test(head)) throw new NoteError("note_malformed", "the checkpoint head line is `head <64 hex>`");
  const time = timeLine.startsWith("time ") ? timeLine.slice(5) : "";
  if (!RFC3339_UTC.test(time) || Number.isNaN(Date.parse(time))) throw new NoteError("note_malformed", "the checkpoint time line is `time <RFC 3339 UTC>`");
  return { origin, size: Number(sizeLine), root: root.toString("hex"), head, time };
}

/** A checkpoint as a device log keeps and serves it: its fields, the key that signed it, and the signed note. */
export interface StoredCheckpoint {
  origin: string;
  size: number;
  root: string;
  head: string;
  time: string;
  key: string;
  note: string;
}
