/**
 * Bash's brace expansion (`a{,.bak}`, `src/{a,b/{c,d}}`, `f{1..3}`), read by bash's own rules
 * rather than by where a parser thinks a brace expression starts and ends: to bash,
 * `{x},/etc}` is `x}` and `/etc` (a `}` closes nothing until a comma or `..` came before it).
 *
 * A word is a list of tokens: unquoted characters, which may be brace syntax, and atoms (quoted
 * text, escaped characters, known expansions), which never are. Sequences are read in the forms
 * whose terms every bash from 3.2 on agrees on; any other `..` sequence, or a word that would expand to more than
 * {@link MAX_BRACE_WORDS} words, reads as null, and the caller keeps the word unknown.
 */

/** An unquoted character, or text that brace syntax cannot see into. */
export type BraceToken = string | { readonly value: string };

/** Words one argument may expand to; past it the argument stays unknown (each word is a target policy judges). */
export const MAX_BRACE_WORDS = 64;

/** Bounds on what is read at all: tokens in the word and unquoted `{` in it (bash rescans the rest of the word at each). */
export const MAX_BRACE_TOKENS = 1024;
export const MAX_BRACE_OPENERS = 32;

// The sequences bash 3.2 (macOS's) reads as bash 5 does: no zero padding and no step, both bash 4.
const NUMBER_SEQUENCE = /^(-?(?:0|[1-9][0-9]{0,8}))\.\.(-?(?:0|[1-9][0-9]{0,8}))$/;
const LETTER_SEQUENCE = /^(?:([a-z])\.\.([a-z])|([A-Z])\.\.([A-Z]))$/;

/** The words bash makes of `tokens`, in its order; null when they are not certain or too many. */
export function braceExpand(tokens: readonly BraceToken[]): BraceToken[][] | null {
  if (tokens.length > MAX_BRACE_TOKENS || tokens.filter((token) => token === "{").length > MAX_BRACE_OPENERS) return null;
  // Bash skips a `{` that follows a blank (an escaped one, in a word) when a blank or `}` comes after it: not reproduced.
  if (tokens.some((token, at) => token === "{" && at > 0 && blankEnded(tokens[at - 1]))) return null;
  return expand(tokens);
}

function blankEnded(token: BraceToken | undefined): boolean {
  return token !== undefined && typeof token !== "string" && /\s$/.test(token.value);
}

function expand(tokens: readonly BraceToken[]): BraceToken[][] | null {
  // The first `{` that opens a brace expression: one with a closing `}` after it.
  let open = -1;
  let close = -1;
  for (let from = 0; ; ) {
    const at = seek(tokens, from, "{");
    if (at < 0) break;
    close = seek(tokens, at + 1, "}");
    if (close >= 0) {
      open = at;
      break;
    }
    from = at + 1;
  }
  if (open < 0) return [[...tokens]];
  const amble = tokens.slice(open + 1, close);
  const rest = tokens.slice(close + 1);
  let alternatives: BraceToken[][] | null;
  if (amble.includes(",")) alternatives = expandAlternatives(amble);
  else {
    const terms = sequence(amble);
    if (terms === null) return null;
    // Not a sequence: the braces stay as they are, and what follows them is still read.
    if (terms === "literal") {
      if (rest.length === 0) return [[...tokens]];
      alternatives = [tokens.slice(open, close + 1)];
    } else alternatives = terms.map((term) => [{ value: term }]);
  }
  const tails = rest.length === 0 ? [[]] : expand(rest);
  if (alternatives === null || tails === null || alternatives.length * tails.length > MAX_BRACE_WORDS) return null;
  const preamble = tokens.slice(0, open);
  return alternatives.flatMap((alternative) => tails.map((tail) => [...preamble, ...alternative, ...tail]));
}

/** The alternatives of a brace body, each expanded in turn, one after the other. */
function expandAlternatives(amble: readonly BraceToken[]): BraceToken[][] | null {
  const words: BraceToken[][] = [];
  for (let start = 0; ; ) {
    const comma = seek(amble, start, ",");
    const piece = expand(amble.slice(start, comma < 0 ? amble.length : comma));
    if (piece === null || words.length + piece.length > MAX_BRACE_WORDS) return null;
    words.push(...piece);
    if (comma < 0) return words;
    start = comma + 1;
  }
}

/**
 * Where, from `from`, bash finds the `wanted` character at brace level 0: a `}` only once a comma
 * or a `..` (not right before a `}`) came before it at that level; a `{` not when it starts the
 * text and is followed by its end or by `}`. -1 when it does not.
 */
function seek(tokens: readonly BraceToken[], from: number, wanted: "{" | "}" | ","): number {
  let level = 0;
  let separators = wanted === "}" ? 0 : 1;
  for (let i = from; i < tokens.length; i += 1) {
    const token = tokens[i];
    if (typeof token !== "string") continue;
    if (token === wanted && level === 0 && separators > 0) {
      const next = tokens[i + 1];
      if (token === "{" && i === 0 && (next === undefined || next === "}")) continue;
      return i;
    }
    if (token === "{") level += 1;
    else if (token === "}" && level > 0) level -= 1;
    else if (wanted === "}" && level === 0 && (token === "," || (token === "." && tokens[i + 1] === "." && tokens[i + 2] !== "}"))) separators += 1;
  }
  return -1;
}

/**
 * A brace body without a comma: `literal` when bash would not read it as a sequence (no `..`),
 * its terms when it is one every bash reads alike (integers, or letters of one case), null for
 * a body with a quoted part (bash 5.2 looks for a comma there past quotes: `x{','..c}` is `x,..c`)
 * or any other `..` body (`{08..10}` is padded by bash 4 and not by bash 3.2, `{1..9..2}` a
 * sequence to one and text to the other).
 */
function sequence(amble: readonly BraceToken[]): string[] | "literal" | null {
  if (amble.some((token) => typeof token !== "string")) return null;
  const body = amble.join("");
  if (!body.includes("..")) return "literal";
  const numbers = NUMBER_SEQUENCE.exec(body);
  if (numbers !== null) return steps(Number(numbers[1]), Number(numbers[2]), String);
  const letters = LETTER_SEQUENCE.exec(body);
  if (letters === null) return null;
  const [, lowFrom, lowTo, upFrom, upTo] = letters;
  return steps((lowFrom ?? upFrom ?? "").charCodeAt(0), (lowTo ?? upTo ?? "").charCodeAt(0), (code) => String.fromCharCode(code));
}

function steps(from: number, to: number, term: (value: number) => string): string[] | null {
  if (Math.abs(to - from) + 1 > MAX_BRACE_WORDS) return null;
  const direction = to >= from ? 1 : -1;
  const terms: string[] = [];
  for (let value = from; value !== to + direction; value += direction) terms.push(term(value));
  return terms;
}
