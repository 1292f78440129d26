/**
 * Option parsing driven by a program row: GNU getopt_long (clustered short
 * options, `--long=value`, unique prefixes of long options, `--`), the
 * one-dash long options of find-like programs, PowerShell parameters
 * (case-insensitive, `-Name:value`, unique prefixes) and Windows `/X` switches.
 *
 * Conservative by construction: an option the row does not know is either a
 * switch without a value (so a following word is still seen as an operand and
 * becomes a target: more targets, never fewer) or, for rows that ask for it,
 * makes the command opaque.
 */
import type { Word } from "./model.ts";

/** What the value of an option, or an operand, stands for. */
export type Role =
  /** A file the program reads. */
  | "read"
  /** A file the program writes. */
  | "write"
  /** A file the program deletes. */
  | "delete"
  /** A URL, or a host name curl-style tools complete to a URL. */
  | "url"
  /** An ssh destination `[user@]host` (port from the row). */
  | "ssh"
  /** scp / rsync operand: `[user@]host:path` is remote, anything else a local file (read). */
  | "remote";

/** The effect of an option, on its value or by its presence. */
export interface Effect {
  /** The option's value is a target of these roles. */
  target?: readonly Role[];
  flags?: readonly import("./types.ts").CommandFlag[];
  /** The command cannot be analysed once this option is present. */
  opaque?: boolean;
  /** A named condition later rules test (`pattern`: grep got its pattern from `-e`). */
  marker?: string;
  /**
   * The value is a program run on stdin (`sort --compress-program`), a program run
   * with each file as its argument (`rg --pre sh`), or a command line run by a
   * shell (`rsync -e 'ssh -p 2'`).
   */
  spawn?: "program" | "program-file" | "shell";
  /** The value is a directory the program works in (`tar -C`, `git -C`, `make -C`). */
  chdir?: boolean;
  /** The value is a file listing names the program then works on in this role (`tar -T list`, `du --files0-from=list`): not on the line. */
  names?: "read" | "write" | "delete";
}

export type OptionSyntax = "gnu" | "single-dash" | "powershell" | "windows";

/** How a row's options are spelled and what they do. */
export interface OptionSpec {
  /** Options taking a value, by spelling (`-o`, `--output`), with the value's effect. */
  values?: Readonly<Record<string, Effect>>;
  /** Options without a value that change what the program does. */
  switches?: Readonly<Record<string, Effect>>;
  /** Options whose value is optional and only attached (`--color=auto`, `-i.bak` for sed). */
  attached?: Readonly<Record<string, Effect>>;
  /** GNU getopt moves options after operands; POSIX tools and wrappers stop at the first operand. Default true. */
  permute?: boolean;
  /** An option the row does not know: a plain switch ("ignore", default) or the whole command opaque. */
  unknown?: "ignore" | "opaque";
  syntax?: OptionSyntax;
  /**
   * Options may start with an en dash, em dash or horizontal bar as well (`windows` syntax):
   * powershell.exe's and pwsh's own command line take any dash for a switch's hyphen
   * (CommandLineParameterParser, CharExtensions.IsDash), so `pwsh –Command …` runs code.
   * Only the option's name is respelled; its value keeps the spelling a program run from it sees.
   */
  anyDash?: boolean;
}

export interface ParsedOption {
  /** The spelling the row knows it by (after prefix completion), or the word as written when unknown. */
  name: string;
  value: Word | null;
  effect: Effect | null;
  /** Index of the option word in the argument list. */
  index: number;
  /** Index of the value word when it is a separate word. */
  valueIndex: number | null;
}

export interface ParsedArgs {
  options: ParsedOption[];
  /** Operands in order, with their index in the argument list. */
  operands: { word: Word; index: number }[];
  /** An option the row does not know, under `unknown: "opaque"`, or one whose value is not literal. */
  opaque: boolean;
  markers: Set<string>;
}

const NO_EFFECT: Effect = {};

/**
 * Splits `args` into options and operands the way the program would.
 * `stopAt` ends option parsing at the first operand even for permuting rows
 * (used when the first operand starts a wrapped command).
 */
export function parseOptions(args: readonly Word[], spec: OptionSpec, stopAt = false): ParsedArgs {
  const syntax = spec.syntax ?? "gnu";
  const permute = !stopAt && spec.permute !== false;
  const result: ParsedArgs = { options: [], operands: [], opaque: false, markers: new Set() };
  let ended = false;
  for (let i = 0; i < args.length; i += 1) {
    const word = args[i] as Word;
    const text = word.text;
    if (ended || word.unknown !== null || !isOption(word, syntax, spec.anyDash === true)) {
      // A non-literal word where an option could be: the program may read it
      // as an option the row cannot see; recorded as an operand, and as opaque
      // when the row says its options matter.
      if (!ended && word.unknown !== null && mayBeOption(word, syntax) && spec.unknown === "opaque") result.opaque = true;
      result.operands.push({ word, index: i });
      if (!permute) ended = true;
      continue;
    }
    if (syntax === "gnu" && text === "--") {
      ended = true;
      continue;
    }
    const consumed = parseOne(args, i, spec, syntax, result);
    i += consumed;
  }
  for (const option of result.options) {
    if (option.effect?.marker !== undefined) result.markers.add(option.effect.marker);
    if (option.effect?.opaque === true) result.opaque = true;
  }
  return result;
}

function isOption(word: Word, syntax: OptionSyntax, anyDash: boolean): boolean {
  const text = word.text;
  if (syntax === "powershell") return word.param === true;
  if (syntax === "windows") return text.length > 1 && (text.startsWith("/") || text.startsWith("-") || (anyDash && asciiDash(text) !== text));
  return text.length > 1 && text.startsWith("-");
}

function mayBeOption(word: Word, syntax: OptionSyntax): boolean {
  if (syntax === "powershell") return false;
  // `$x` may expand to `-o evil`; `-$x` certainly is an option.
  return word.text.startsWith("-") || word.text.startsWith("$") || word.text.startsWith("\"$") || word.text.startsWith("`");
}

/** Parses the option at `i`; returns how many extra words it consumed. */
function parseOne(args: readonly Word[], i: number, spec: OptionSpec, syntax: OptionSyntax, result: ParsedArgs): number {
  const word = args[i] as Word;
  const text = word.text;
  const values = spec.values ?? {};
  const switches = spec.switches ?? {};
  const attached = spec.attached ?? {};
  const next = args[i + 1];
  const push = (name: string, value: Word | null, effect: Effect | null, valueIndex: number | null): void => {
    result.options.push({ name, value, effect, index: i, valueIndex });
  };
  const unknown = (): void => {
    if (spec.unknown === "opaque") result.opaque = true;
    push(text, null, null, null);
  };

  if (syntax === "powershell" || syntax === "windows" || syntax === "single-dash" || text.startsWith("--")) {
    // Long form: `--name=value`, `--name value`, `-Name:value`, `/X:value`.
    const separator = syntax === "powershell" || syntax === "windows" ? ":" : "=";
    const cut = text.indexOf(separator, 1);
    const rawName = cut < 0 ? text : text.slice(0, cut);
    const inline = cut < 0 ? null : text.slice(cut + 1);
    const caseless = syntax === "powershell" || syntax === "windows";
    const spelled = syntax === "powershell" || spec.anyDash === true ? asciiDash(rawName) : rawName;
    const name = complete(spelled, [...Object.keys(values), ...Object.keys(switches), ...Object.keys(attached)], caseless, syntax !== "windows");
    if (name === null) {
      unknown();
      return 0;
    }
    const valueEffect = values[name];
    if (valueEffect !== undefined) {
      if (inline !== null) {
        push(name, { text: inline, unknown: word.unknown }, valueEffect, null);
        return 0;
      }
      if (next === undefined) {
        push(name, null, valueEffect, null);
        return 0;
      }
      push(name, next, valueEffect, i + 1);
      return 1;
    }
    const attachedEffect = attached[name];
    if (attachedEffect !== undefined) {
      push(name, inline === null ? null : { text: inline, unknown: word.unknown }, attachedEffect, null);
      return 0;
    }
    push(name, null, switches[name] ?? NO_EFFECT, null);
    return 0;
  }

  // GNU short cluster: `-rf`, `-xzf a.tgz`, `-ofile`, `-n5`.
  for (let k = 1; k < text.length; k += 1) {
    const letter = `-${text.charAt(k)}`;
    const valueEffect = values[letter];
    if (valueEffect !== undefined) {
      const rest = text.slice(k + 1);
      if (rest !== "") {
        push(letter, { text: rest, unknown: null }, valueEffect, null);
        return 0;
      }
      if (next === undefined) {
        push(letter, null, valueEffect, null);
        return 0;
      }
      push(letter, next, valueEffect, i + 1);
      return 1;
    }
    const attachedEffect = attached[letter];
    if (attachedEffect !== undefined) {
      const rest = text.slice(k + 1);
      push(letter, rest === "" ? null : { text: rest, unknown: null }, attachedEffect, null);
      return 0;
    }
    const switchEffect = switches[letter];
    if (switchEffect !== undefined) {
      push(letter, null, switchEffect, null);
      continue;
    }
    if (spec.unknown === "opaque") result.opaque = true;
    push(letter, null, null, null);
  }
  return 0;
}

/** PowerShell takes an en dash, em dash or horizontal bar for a parameter's hyphen (language spec §2.2.2 dash), and so does its command line. */
export function asciiDash(text: string): string {
  return text.replace(/^[\u2013\u2014\u2015]/, "-");
}

/** Exact spelling, or the one known spelling it is a unique prefix of (GNU long options, PowerShell parameters). */
function complete(name: string, known: readonly string[], caseless: boolean, prefixes: boolean): string | null {
  const fold = (s: string): string => (caseless ? s.toLowerCase() : s);
  const wanted = fold(name);
  const exact = known.find((candidate) => fold(candidate) === wanted);
  if (exact !== undefined) return exact;
  if (!prefixes || wanted.length < 2 || (!caseless && !wanted.startsWith("--"))) return null;
  const matches = known.filter((candidate) => fold(candidate).startsWith(wanted) && fold(candidate).length > wanted.length);
  // Spellings of one option (`-o`/`--output`) are distinct keys; a prefix that
  // matches several keys is ambiguous to the program too, and it refuses it.
  return matches.length === 1 ? (matches[0] as string) : null;
}
