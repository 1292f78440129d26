/**
 * One strict JSON reader for every trust boundary (request bodies, JWS headers and
 * payloads, evidence, bundle documents, log exports). Pure and dependency-free, so the
 * worker, the Durable Objects and the CLI read JSON the same way.
 *
 * `JSON.parse` accepts texts on which readers disagree: with two members of the same
 * name it keeps the last where others keep the first; it lets a lone surrogate through
 * where others substitute U+FFFD or fail; it rounds 9007199254740993 to …992 where
 * others keep it exact. A verdict taken on one reading and executed on another is a
 * bypass, so this reader refuses every such text instead of picking a reading
 * (RFC 8259 §4, §6, §8; RFC 7493 I-JSON §2).
 *
 * Exactly what is refused, each with its {@link StrictJsonCode}:
 *
 * - anything outside the RFC 8259 grammar: comments, trailing commas, single quotes,
 *   unquoted keys, leading zeros, `+1`, `.5`, `1.`, `NaN`, `Infinity`, bare words;
 * - raw U+0000–U+001F inside strings, and escapes other than §7's;
 * - a byte order mark at the start (bytes or text), and bytes that are not well-formed
 *   UTF-8 (overlong forms, encoded surrogates, truncated sequences);
 * - a surrogate without its partner, raw or `\uD800`-escaped; a pair must be two
 *   escapes or two raw code units;
 * - two members of one object whose names are equal after unescaping
 *   (`"a"` and `"\u0061"`);
 * - numbers, by value after rounding to the nearest double:
 *   - magnitude above 2^53−1 (`9007199254740992`, `9007199254740993`, `1.0e20`,
 *     `1.5e300`): beyond it a double no longer holds every integer, so two readers may
 *     see two numbers. Every double that large is an integer, hence the code
 *     `unsafe_integer` whatever the literal's form;
 *   - literals too large for a double (`1e400`): `non_finite_number`;
 *   - nonzero literals that round to zero (`1e-400`): `number_underflow`;
 *   - `-0` (and `-0.0`, `-0e5`) is accepted and read as 0, the number RFC 8785
 *     serialises it as;
 * - nesting deeper than `maxDepth` (64 unless given);
 * - anything but whitespace after the value.
 *
 * Objects are ordinary objects built like `JSON.parse` builds them: a `"__proto__"`
 * member is an own data property and never changes the result's prototype.
 */

/** A JSON value as Warden handles it; object members may be `undefined` before serialisation (canonical JSON skips them). */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue | undefined };

/** Why a text was refused; a closed union, stable for tests and clients. */
export type StrictJsonCode =
  /** Outside the RFC 8259 grammar (comments, trailing commas, single quotes, leading zeros, NaN, bare words…). */
  | "syntax"
  /** The text ends inside a value, or holds no value at all. */
  | "unexpected_end"
  /** Something other than whitespace after the value. */
  | "trailing_data"
  /** A raw U+0000–U+001F inside a string (RFC 8259 §7). */
  | "control_character"
  /** A backslash escape §7 does not define, or `\u` without four hex digits. */
  | "invalid_escape"
  /** A UTF-16 surrogate without its partner, raw or escaped (§8.2). */
  | "lone_surrogate"
  /** Bytes that are not well-formed UTF-8 (§8.1). */
  | "invalid_utf8"
  /** A byte order mark before the value (§8.1 forbids adding one; it is refused, not skipped). */
  | "bom"
  /** Two members of one object with the same name after unescaping (§4). */
  | "duplicate_key"
  /** A number whose magnitude exceeds 2^53−1 (§6; I-JSON §2.2). */
  | "unsafe_integer"
  /** A number literal beyond the range of a double. */
  | "non_finite_number"
  /** A nonzero number literal that rounds to zero. */
  | "number_underflow"
  /** Arrays and objects nested deeper than `maxDepth`. */
  | "too_deep";

/**
 * A refused text. `offset` counts UTF-16 code units of the decoded text. The message
 * names the code and the offset and never quotes the input, so it is safe to log or send.
 */
export class StrictJsonError extends Error {
  readonly code: StrictJsonCode;
  readonly offset: number;

  constructor(code: StrictJsonCode, offset: number) {
    super(`${code} at offset ${offset}`);
    this.code = code;
    this.offset = offset;
    this.name = new.target.name;
  }
}

export interface StrictJsonOptions {
  /** How many arrays and objects may nest (the top-level one counts); default {@link DEFAULT_MAX_DEPTH}. */
  maxDepth?: number;
}

/** Deep enough for every document Warden reads; shallow enough that recursion can never exhaust the stack. */
export const DEFAULT_MAX_DEPTH = 64;

// `ignoreBOM: true` keeps a leading U+FEFF in the output, so it is refused below rather than silently dropped.
const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

// The reader's state: parsing is synchronous and never re-entered, so one set serves every call.
let src = "";
let pos = 0;
let end = 0;
let maxDepth = DEFAULT_MAX_DEPTH;

function fail(code: StrictJsonCode, at: number = pos): never {
  throw new StrictJsonError(code, at);
}

/** `syntax`, or `unexpected_end` when the text has run out. */
function unexpected(): never {
  fail(pos >= end ? "unexpected_end" : "syntax");
}

/**
 * Parses `input` (text, or bytes that must be UTF-8) as one strict JSON value; throws
 * {@link StrictJsonError} with the first problem.
 */
export function parseStrictJson(input: string | Uint8Array, options: StrictJsonOptions = {}): JsonValue {
  let text: string;
  if (typeof input === "string") {
    text = input;
  } else {
    try {
      text = utf8.decode(input);
    } catch {
      throw new StrictJsonError("invalid_utf8", 0);
    }
  }
  if (text.charCodeAt(0) === 0xfeff) throw new StrictJsonError("bom", 0);
  src = text;
  pos = 0;
  end = text.length;
  maxDepth = options.maxDepth ?? DEFAULT_MAX_DEPTH;
  try {
    skipWhitespace();
    const value = parseValue(0);
    skipWhitespace();
    if (pos < end) fail("trailing_data");
    return value;
  } finally {
    // Not kept alive by the module after the call.
    src = "";
  }
}

function skipWhitespace(): void {
  const s = src;
  let i = pos;
  while (i < end) {
    const c = s.charCodeAt(i);
    if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) break;
    i += 1;
  }
  pos = i;
}

function parseValue(depth: number): JsonValue {
  const c = src.charCodeAt(pos);
  switch (c) {
    case 0x22: // "
      pos += 1;
      return parseString();
    case 0x7b: // {
      return parseObject(depth + 1);
    case 0x5b: // [
      return parseArray(depth + 1);
    case 0x74: // t
      return literal("true", true);
    case 0x66: // f
      return literal("false", false);
    case 0x6e: // n
      return literal("null", null);
    default:
      if (c === 0x2d || (c >= 0x30 && c <= 0x39)) return parseNumber();
      return unexpected();
  }
}

function literal<T extends JsonValue>(word: string, value: T): T {
  if (src.startsWith(word, pos)) {
    pos += word.length;
    return value;
  }
  // A prefix of the word cut off by the end of the text is a truncation, anything else a bare word.
  if (word.startsWith(src.slice(pos, end))) fail("unexpected_end", end);
  return fail("syntax");
}

function parseObject(depth: number): { [key: string]: JsonValue } {
  if (depth > maxDepth) fail("too_deep");
  pos += 1;
  const object: { [key: string]: JsonValue } = {};
  skipWhitespace();
  if (src.charCodeAt(pos) === 0x7d) {
    pos += 1;
    return object;
  }
  for (;;) {
    if (src.charCodeAt(pos) !== 0x22) unexpected();
    const keyAt = pos;
    pos += 1;
    const key = parseString();
    // Names are compared decoded: "a" and "\u0061" are one name to every reader.
    if (Object.hasOwn(object, key)) fail("duplicate_key", keyAt);
    skipWhitespace();
    if (src.charCodeAt(pos) !== 0x3a) unexpected();
    pos += 1;
    skipWhitespace();
    const value = parseValue(depth);
    if (key === "__proto__") {
      // Assignment would call Object.prototype's __proto__ setter and swap the prototype; JSON.parse defines it instead.
      Object.defineProperty(object, key, { value, enumerable: true, writable: true, configurable: true });
    } else {
      object[key] = value;
    }
    skipWhitespace();
    const c = src.charCodeAt(pos);
    if (c === 0x2c) {
      pos += 1;
      skipWhitespace();
      continue;
    }
    if (c === 0x7d) {
      pos += 1;
      return object;
    }
    unexpected();
  }
}

function parseArray(depth: number): JsonValue[] {
  if (depth > maxDepth) fail("too_deep");
  pos += 1;
  const array: JsonValue[] = [];
  skipWhitespace();
  if (src.charCodeAt(pos) === 0x5d) {
    pos += 1;
    return array;
  }
  for (;;) {
    array.push(parseValue(depth));
    skipWhitespace();
    const c = src.charCodeAt(pos);
    if (c === 0x2c) {
      pos += 1;
      skipWhitespace();
      continue;
    }
    if (c === 0x5d) {
      pos += 1;
      return array;
    }
    unexpected();
  }
}

/** A string's contents from just after its opening quote: the common case, no escapes, is one scan and one slice. */
function parseString(): string {
  const s = src;
  const start = pos;
  for (let i = start; i < end; i += 1) {
    const c = s.charCodeAt(i);
    if (c === 0x22) {
      pos = i + 1;
      return s.slice(start, i);
    }
    if (c === 0x5c || c < 0x20 || (c >= 0xd800 && c <= 0xdfff)) {
      pos = i;
      return parseEscapedString(start);
    }
  }
  pos = end;
  return fail("unexpected_end");
}

/** A raw surrogate must be a high one followed by a raw low one (text input; decoded UTF-8 never has lone ones). */
function rawSurrogatePair(c: number): void {
  const next = src.charCodeAt(pos + 1);
  if (c > 0xdbff || !(next >= 0xdc00 && next <= 0xdfff)) fail("lone_surrogate");
  pos += 2;
}

function parseEscapedString(start: number): string {
  let out = src.slice(start, pos);
  let run = pos;
  while (pos < end) {
    const c = src.charCodeAt(pos);
    if (c === 0x22) {
      out += src.slice(run, pos);
      pos += 1;
      return out;
    }
    if (c === 0x5c) {
      out += src.slice(run, pos);
      out += escape();
      run = pos;
      continue;
    }
    if (c < 0x20) fail("control_character");
    if (c >= 0xd800 && c <= 0xdfff) rawSurrogatePair(c);
    else pos += 1;
  }
  return fail("unexpected_end");
}

/** One escape sequence at `pos` (its backslash), RFC 8259 §7; returns what it stands for. */
function escape(): string {
  const at = pos;
  if (pos + 1 >= end) fail("unexpected_end", end);
  const c = src.charCodeAt(pos + 1);
  pos += 2;
  switch (c) {
    case 0x22:
      return '"';
    case 0x5c:
      return "\\";
    case 0x2f:
      return "/";
    case 0x62:
      return "\b";
    case 0x66:
      return "\f";
    case 0x6e:
      return "\n";
    case 0x72:
      return "\r";
    case 0x74:
      return "\t";
    case 0x75: {
      const unit = hex4(at);
      if (unit < 0xd800 || unit > 0xdfff) return String.fromCharCode(unit);
      // §7: a character outside the BMP is escaped as a high then a low surrogate, both as \u escapes.
      if (unit > 0xdbff || src.charCodeAt(pos) !== 0x5c || src.charCodeAt(pos + 1) !== 0x75) fail("lone_surrogate", at);
      pos += 2;
      const low = hex4(at);
      if (low < 0xdc00 || low > 0xdfff) fail("lone_surrogate", at);
      return String.fromCharCode(unit, low);
    }
    default:
      return fail("invalid_escape", at);
  }
}

/** Four hex digits at `pos` (after `\u`). */
function hex4(escapeAt: number): number {
  let unit = 0;
  for (let k = 0; k < 4; k += 1) {
    if (pos + k >= end) fail("unexpected_end", end);
    const c = src.charCodeAt(pos + k);
    let digit: number;
    if (c >= 0x30 && c <= 0x39) digit = c - 0x30;
    else if (c >= 0x61 && c <= 0x66) digit = c - 0x57;
    else if (c >= 0x41 && c <= 0x46) digit = c - 0x37;
    else return fail("invalid_escape", escapeAt);
    unit = unit * 16 + digit;
  }
  pos += 4;
  return unit;
}

/** Integers with at most this many digits are exact when accumulated in a double, so they skip Number(). */
const EXACT_DIGITS = 15;

function parseNumber(): number {
  const start = pos;
  let negative = false;
  let c = src.charCodeAt(pos);
  if (c === 0x2d) {
    negative = true;
    pos += 1;
    c = src.charCodeAt(pos);
  }
  const intStart = pos;
  let int = 0;
  if (c === 0x30) {
    pos += 1;
    c = src.charCodeAt(pos);
    // §6: no leading zeros.
    if (c >= 0x30 && c <= 0x39) fail("syntax");
  } else if (c >= 0x31 && c <= 0x39) {
    do {
      int = int * 10 + (c - 0x30);
      pos += 1;
      c = src.charCodeAt(pos);
    } while (c >= 0x30 && c <= 0x39);
  } else {
    unexpected();
  }
  const intDigits = pos - intStart;
  let plain = true;
  if (c === 0x2e) {
    plain = false;
    pos += 1;
    digits();
    c = src.charCodeAt(pos);
  }
  if (c === 0x65 || c === 0x45) {
    plain = false;
    pos += 1;
    c = src.charCodeAt(pos);
    if (c === 0x2b || c === 0x2d) pos += 1;
    digits();
  }
  if (plain && intDigits <= EXACT_DIGITS) return negative && int !== 0 ? -int : int;
  const value = Number(src.slice(start, pos));
  if (!Number.isFinite(value)) fail("non_finite_number", start);
  if (value > Number.MAX_SAFE_INTEGER || value < -Number.MAX_SAFE_INTEGER) fail("unsafe_integer", start);
  if (value === 0) {
    // A mantissa with a nonzero digit that came out as zero was rounded away; -0 is read as 0.
    for (let k = intStart; k < pos; k += 1) {
      const d = src.charCodeAt(k);
      if (d === 0x65 || d === 0x45) break;
      if (d >= 0x31 && d <= 0x39) fail("number_underflow", start);
    }
    return 0;
  }
  return value;
}

/** One or more digits (§6: a fraction or exponent needs at least one). */
function digits(): void {
  const c = src.charCodeAt(pos);
  if (!(c >= 0x30 && c <= 0x39)) unexpected();
  do pos += 1;
  while (pos < end && src.charCodeAt(pos) >= 0x30 && src.charCodeAt(pos) <= 0x39);
}
