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
export type JsonValue = null | boolean | number | string | JsonValue[] | {
    [key: string]: JsonValue | undefined;
};
/** Why a text was refused; a closed union, stable for tests and clients. */
export type StrictJsonCode = 
/** Outside the RFC 8259 grammar (comments, trailing commas, single quotes, leading zeros, NaN, bare words…). */
"syntax"
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
export declare class StrictJsonError extends Error {
    readonly code: StrictJsonCode;
    readonly offset: number;
    constructor(code: StrictJsonCode, offset: number);
}
export interface StrictJsonOptions {
    /** How many arrays and objects may nest (the top-level one counts); default {@link DEFAULT_MAX_DEPTH}. */
    maxDepth?: number;
}
/** Deep enough for every document Warden reads; shallow enough that recursion can never exhaust the stack. */
export declare const DEFAULT_MAX_DEPTH = 64;
/**
 * Parses `input` (text, or bytes that must be UTF-8) as one strict JSON value; throws
 * {@link StrictJsonError} with the first problem.
 */
export declare function parseStrictJson(input: string | Uint8Array, options?: StrictJsonOptions): JsonValue;
