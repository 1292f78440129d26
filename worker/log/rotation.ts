import { noteVerifierFor, type LogKey } from "./keys.ts";
import { NoteError, parseNote, verifyNote } from "./note.ts";

/**
 * The statement a `log.key_rotated` entry carries, as a signed note signed by
 * the retiring key and then the new one (both under the log's origin):
 *
 *     warden.log-key-rotation.v1
 *     <origin>
 *     from <kid of the retiring key>
 *     to <kid of the new key>
 *     time <RFC 3339>
 */
export interface Rotation {
  origin: string;
  from: string;
  to: string;
  time: string;
}

const HEADER = "warden.log-key-rotation.v1";
const KID = /^[A-Za-z0-9_-]{43}$/;

export function rotationText(rotation: Rotation): string {
  return `${HEADER}\n${rotation.origin}\nfrom ${rotation.from}\nto ${rotation.to}\ntime ${rotation.time}\n`;
}

export function parseRotationText(text: string): Rotation {
  const lines = text.split("\n");
  if (lines.length !== 6 || lines[0] !== HEADER || lines[5] !== "") throw new NoteError("note_malformed", "not a key rotation statement");
  const [, origin, fromLine, toLine, timeLine] = lines as [string, string, string, string, string];
  const from = fromLine.startsWith("from ") ? fromLine.slice(5) : "";
  const to = toLine.startsWith("to ") ? toLine.slice(3) : "";
  const time = timeLine.startsWith("time ") ? timeLine.slice(5) : "";
  if (!origin || !KID.test(from) || !KID.test(to) || Number.isNaN(Date.parse(time))) throw new NoteError("note_malformed", "a malformed key rotation statement");
  return { origin, from, to, time };
}

/**
 * Verifies a signed rotation statement from `from` to `to`: it is a rotation between those two
 * keys (by kid), and both signed it under the origin it states. Returns the rotation; throws a
 * NoteError otherwise. A signature under either key's name and ID that does not verify rejects
 * it, as does a statement only one of them signed. The export verifier checks a rotation entry's
 * statement with it; the published log keys, a statement in the archive vouching for a retired key.
 */
export async function verifyRotationStatement(statement: string, from: LogKey, to: LogKey): Promise<Rotation> {
  const parsed = parseNote(statement);
  const rotation = parseRotationText(parsed.text);
  if (rotation.from !== from.kid || rotation.to !== to.kid) throw new NoteError("note_malformed", `the statement is of a rotation from ${rotation.from} to ${rotation.to}`);
  if (from.kid === to.kid) throw new NoteError("note_malformed", "a rotation is between two keys");
  const signers = await verifyNote(parsed, [noteVerifierFor(from, rotation.origin), noteVerifierFor(to, rotation.origin)]);
  if (signers.length !== 2) throw new NoteError("note_unverified", "the statement is not signed by both the old and the new key");
  return rotation;
}
