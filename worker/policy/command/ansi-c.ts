/**
 * The value of bash's ANSI-C quoting (`$'…'`), decoded by bash's rules rather than a parser's:
 * `$'\x{2f}etc'` is `/etc` to bash. Only escapes whose result is certain whatever the locale are
 * decoded; a byte or code point above ASCII, a surrogate, or a form a bash version may read
 * otherwise (`\x{…}`, `\u{…}`, `\c` before anything but a letter or `@`) reads as null, and the
 * word stays unknown. A NUL ends the value, as it ends a C string in bash.
 */

const SIMPLE: Readonly<Record<string, string>> = { a: "\u0007", b: "\b", e: "\u001b", E: "\u001b", f: "\f", n: "\n", r: "\r", t: "\t", v: "\u000b", "\\": "\\", "'": "'", '"': '"', "?": "?" };
const OCTAL = /^[0-7]{1,3}/;
const HEX = { x: /^[0-9A-Fa-f]{1,2}/, u: /^[0-9A-Fa-f]{1,4}/, U: /^[0-9A-Fa-f]{1,8}/ } as const;

/** The value of the text between `$'` and `'`; null when it is not certain. */
export function decodeAnsiC(body: string): string | null {
  let out = "";
  for (let i = 0; i < body.length; i += 1) {
    const char = body[i] as string;
    if (char !== "\\") {
      out += char;
      continue;
    }
    const next = body[i + 1];
    if (next === undefined) return out + "\\";
    const simple = SIMPLE[next];
    let code: number;
    let used: number;
    if (simple !== undefined) {
      out += simple;
      i += 1;
      continue;
    } else if (OCTAL.test(body.slice(i + 1))) {
      const digits = (OCTAL.exec(body.slice(i + 1)) as RegExpExecArray)[0];
      code = parseInt(digits, 8) & 0xff;
      used = digits.length;
    } else if (next === "x" || next === "u" || next === "U") {
      if (body[i + 2] === "{") return null;
      const digits = HEX[next].exec(body.slice(i + 2))?.[0];
      if (digits === undefined) {
        out += `\\${next}`;
        i += 1;
        continue;
      }
      code = parseInt(digits, 16);
      used = 1 + digits.length;
    } else if (next === "c") {
      const control = body[i + 2];
      if (control === undefined) return out + "\\c";
      if (!/^[A-Za-z@]$/.test(control)) return null;
      code = control.toUpperCase().charCodeAt(0) & 0x1f;
      used = 2;
    } else {
      out += `\\${next}`;
      i += 1;
      continue;
    }
    if (code === 0) return out;
    if (code > 0x7f) return null;
    out += String.fromCharCode(code);
    i += used;
  }
  return out;
}
