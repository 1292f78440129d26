/**
 * What a grammar hands to the analyser: simple commands as words, independent of
 * the shell that produced them. The program table never sees shell syntax.
 */
import type { DeviceOs } from "../targets.ts";
import type { Shell } from "./types.ts";

/** Why a word's value is not known before the line runs. */
export type WordUnknown = "expansion" | "glob" | "home_unknown" | "stdin" | "placeholder";

/** One argument as the program will receive it. */
export interface Word {
  /** The value after quote removal and literal expansion; the source text when `unknown` is set. */
  text: string;
  /** Null when `text` is exactly what the program receives. */
  unknown: WordUnknown | null;
  /**
   * PowerShell only: an unquoted `-Name` (or `-Name:`) token, which binds a cmdlet
   * parameter; a quoted `'-Name'` is an ordinary value.
   */
  param?: boolean;
  /** PowerShell only: the elements of an unquoted comma list `a,b,c`, which binds as several values. */
  items?: string[];
  /**
   * bash only: one of the words a brace expression made (`{rm,ls}` is `rm` and `ls`). Known, but
   * the line never shows it as a word: as a program (after a wrapper: `sudo {rm,ls} -rf /`) it
   * is not literal, as in program position.
   */
  braced?: true;
}

/** Why a grammar could not make sense of a command. */
export type OpaqueCause = "parse_error" | "program_not_literal" | "stop_parsing" | "unsupported_syntax" | "nesting" | "arithmetic_code";

export interface RawRedirection {
  op: string;
  fd: number | null;
  /** The target word; null for here-documents, here-strings and descriptor duplication. */
  target: Word | null;
  /** True when the target is a file descriptor (`2>&1`), not a path. */
  duplicate?: boolean;
}

/** A simple command as a grammar found it, before the program table looks at it. */
export interface RawCommand {
  /** Program word first. Empty when the command is only assignments and redirections. */
  words: Word[];
  /** `NAME=value` prefixes (POSIX) that become the program's environment. */
  assignments: { name: string; value: Word }[];
  redirections: RawRedirection[];
  /** Wrappers the grammar itself unwrapped (`time`, cmd's `call`, PowerShell's `&`). */
  wrappers: string[];
  /** Set when the grammar cannot say what runs. */
  opaque: OpaqueCause | null;
}

/** What every grammar and the analyser share about the line being parsed. */
export interface ParseContext {
  os: DeviceOs;
  shell: Shell;
  cwd: string | null;
  /**
   * Other directories the line may be in when this command runs: every
   * directory a `cd` anywhere in the line can reach (null: one that is not
   * known). Relative paths resolve against `cwd` and each of these.
   */
  otherCwds: readonly (string | null)[];
  home: string | null;
  /** How many times a string has been re-parsed as code to get here (`bash -c`, `cmd /c`, `-EncodedCommand`). */
  depth: number;
  /** cmd.exe started with `/v:on`: `!VAR!` expands (Warden treats it as unknown either way). */
  delayedExpansion?: boolean;
}

/** Bound on code nested inside strings (`bash -c "sh -c '…'"`): beyond it the inner command is opaque. */
export const MAX_NESTED_CODE = 4;

/**
 * Bound on substitutions, blocks and groups nested in one another (`$($($(…)))`):
 * beyond it the inner code is one opaque command. It also bounds the work: unbash
 * parses a substitution when it is first read, each over the rest of the line.
 */
export const MAX_NESTED_SYNTAX = 32;

/** Bound on wrappers around one command (`sudo env nice timeout 5 …`): beyond it the command is opaque. */
export const MAX_WRAPPERS = 16;

/** A literal word. */
export function literal(text: string): Word {
  return { text, unknown: null };
}
