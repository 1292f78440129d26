/**
 * The value of bash's ANSI-C quoting (`$'…'`), decoded by bash's rules rather than a parser's:
 * `$'\x{2f}etc'` is `/etc` to bash. Only escapes whose result is certain whatever the locale and
 * the bash version are decoded; a byte above ASCII, or a form some bash reads otherwise
 * (`\x{…}`; `\u`, `\U`, `\"` and `\?`, which bash 3.2, macOS's, leaves as text; `\c` before
 * anything but a letter or `@`) reads as null, and the word stays unknown. A NUL ends the value, as it ends a C
 * string in bash.
 */

const SIMPLE: Readonly<Record<string, string>> = { a: "\u0007", b: "\b", e: "\u001b", E: "\u001b", f: "\f", n: "\n", r: "\r", t: "\t", v: "\u000b", "\\": "\\", "'": "'" };
const OCTAL = /^[0-7]{1,3}/;
const HEX = /^[0-9A-Fa-f]{1,2}/;

/** The value of the text between `$'` and `'`; null when it is not certain. */
export function decodeAnsiC(body: string): string | null {
  let out = "";
  for (let i = 0; i < body.length; ) {
    if (body[i] !== "\\") {
      out += body[i];
      i += 1;
      continue;
    }
    const escape = readEscape(body, i + 1);
    if (escape === null) return null;
    if (escape.text === "\0") return out;
    out += escape.text;
    i += 1 + escape.length;
  }
  return out;
}

/** The escape whose letter is at `at` (after a backslash): its text and how many characters it took; null when not certain. */
function readEscape(body: string, at: number): { text: string; length: number } | null {
  const next = body[at];
  if (next === undefined) return null;
  const simple = SIMPLE[next];
  if (simple !== undefined) return { text: simple, length: 1 };
  const octal = OCTAL.exec(body.slice(at))?.[0];
  if (octal !== undefined) return ascii(parseInt(octal, 8) & 0xff, octal.length);
  if (next === "x") {
    if (body[at + 1] === "{") return null;
    const hex = HEX.exec(body.slice(at + 1))?.[0];
    return hex === undefined ? { text: "\\x", length: 1 } : ascii(parseInt(hex, 16), 1 + hex.length);
  }
  if (next === "c") {
    const control = body[at + 1];
    if (control === undefined) return { text: "\\c", length: 1 };
    return /^[A-Za-z@]$/.test(control) ? ascii(control.toUpperCase().charCodeAt(0) & 0x1f, 2) : null;
  }
  if (next === "u" || next === "U" || next === '"' || next === "?") return null;
  return { text: `\\${next}`, length: 1 };
}

/** A byte that is the same character in every locale; null above ASCII. */
function ascii(code: number, length: number): { text: string; length: number } | null {
  return code > 0x7f ? null : { text: String.fromCharCode(code), length };
}
