import { NoteError } from "./note.ts";

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
