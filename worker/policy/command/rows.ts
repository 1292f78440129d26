/**
 * The shape of a program-table row and the declarative machinery that applies
 * one (options, then operands). The rows themselves are in programs.ts; rows
 * for programs whose arguments are a language of their own call handlers.ts.
 */
import type { DeviceOs } from "../targets.ts";
import type { Invocation, TargetMarks } from "./invocation.ts";
import type { Word } from "./model.ts";
import type { Effect, OptionSpec, ParsedArgs, Role } from "./options.ts";
import type { CommandFlag, Shell } from "./types.ts";

/** What the operands (non-option arguments) of a program are. */
export interface Operands {
  /** Leading operands that are not targets (grep's pattern, chmod's mode, timeout's duration). */
  skip?: number;
  /** An option that supplies the skipped operand (`grep -e`), so that none is skipped. */
  skipUnless?: string;
  /** Every operand after the skipped ones. */
  each?: readonly Role[];
  /** The last operand when there are at least two (the destination of cp, mv …), unless the marker is set. */
  last?: readonly Role[];
  lastUnless?: string;
  /** With no target operand the program works on the current directory (ls, find): always, or once one of these markers is set (grep -r). */
  cwd?: boolean | readonly string[];
  /**
   * Whether, with the options it was given (their markers), the program walks the directories its
   * `each` operands name (and the working directory) following the symbolic links it finds below
   * them (`grep -R`, `rg -L`, `diff -r`).
   */
  followsLinks?: (markers: ReadonlySet<string>) => boolean;
  /** What else the program does to its `last` operand (`cp -r` writes a tree through the links there and copies links into it). */
  lastMarks?: (markers: ReadonlySet<string>) => TargetMarks;
  /** The operands after the skipped ones are a command this program runs (`sudo`, `timeout 5`, `nice`). */
  run?: boolean;
  /** Flags the wrapped command runs with (`elevated` for sudo). */
  runFlags?: readonly CommandFlag[];
}

export interface ProgramRow {
  /** Canonical program names (lowercase on case-insensitive systems) the row applies to. */
  names: readonly string[];
  /** Only under these shells (cmd.exe builtins, PowerShell cmdlets). */
  shells?: readonly Shell[];
  /** Only on these systems. */
  os?: readonly DeviceOs[];
  options?: OptionSpec;
  operands?: Operands;
  /** Flags every run of the program carries. */
  flags?: readonly CommandFlag[];
  /** The program's behaviour is unknowable from the line (eval of a file, history re-execution). */
  opaque?: boolean;
  /** For programs whose arguments are a language of their own (git, tar, find, interpreters). */
  run?: (invocation: Invocation, row: ProgramRow) => void;
}

export const R: Effect = { target: ["read"] };
export const W: Effect = { target: ["write"] };
export const D: Effect = { target: ["delete"] };
export const U: Effect = { target: ["url"] };
export const NONE: Effect = {};
export const SPAWN_PROGRAM: Effect = { spawn: "program" };
export const CONFIG: Effect = { flags: ["config_overrides"] };

/** A row's `followsLinks` when any of these markers says so. */
export function marked(...markers: string[]): (set: ReadonlySet<string>) => boolean {
  return (set) => markers.some((marker) => set.has(marker));
}

/** Options taking a value that is not a target (`-n 20`). */
export function plain(...names: string[]): Record<string, Effect> {
  return Object.fromEntries(names.map((name) => [name, NONE]));
}
export function all(effect: Effect, ...names: string[]): Record<string, Effect> {
  return Object.fromEntries(names.map((name) => [name, effect]));
}

/** Applies a row to an invocation. */
export function runRow(row: ProgramRow, invocation: Invocation): void {
  for (const flag of row.flags ?? []) invocation.flag(flag);
  if (row.opaque === true) invocation.opaque();
  if (row.run !== undefined) {
    row.run(invocation, row);
    return;
  }
  applyOperands(invocation, row);
}

/** The declarative part of a row: options, then operands; what it parsed, for handlers that extend it. */
export function applyOperands(invocation: Invocation, row: Pick<ProgramRow, "options" | "operands">, args: readonly Word[] = invocation.args): ParsedArgs {
  const operands = row.operands ?? {};
  const parsed = invocation.options(row.options ?? {}, args, operands.run === true);
  const words = parsed.operands.map((operand) => operand.word);
  invocation.setSubcommand(words[0]?.unknown === null ? words[0].text : "");
  const skip = operands.skipUnless !== undefined && parsed.markers.has(operands.skipUnless) ? 0 : (operands.skip ?? 0);
  const rest = words.slice(skip);
  if (operands.run === true) {
    if (rest.length > 0) invocation.then({ kind: "argv", words: rest, ctx: invocation.ctx }, true, operands.runFlags ?? []);
    return parsed;
  }
  const hasLast = operands.last !== undefined && rest.length >= 2 && !(operands.lastUnless !== undefined && parsed.markers.has(operands.lastUnless));
  const followsLinks = operands.followsLinks?.(parsed.markers) ?? false;
  const lastMarks = operands.lastMarks?.(parsed.markers) ?? {};
  rest.forEach((word, index) => {
    const last = hasLast && index === rest.length - 1;
    for (const role of last ? (operands.last ?? []) : (operands.each ?? [])) invocation.target(role, word, undefined, last ? lastMarks : { followsLinksBelow: followsLinks });
  });
  const cwd = operands.cwd;
  if (rest.length === 0 && (cwd === true || (Array.isArray(cwd) && cwd.some((marker) => parsed.markers.has(marker))))) invocation.workingDirectory("file.read", { followsLinksBelow: followsLinks });
  return parsed;
}

// Variables a program run with them cannot be turned into another program by:
// locale, time zone, colour and CI switches, logging verbosity, author identity.
// Everything else is a config override, because the set of variables that
// change what runs is open-ended (LD_PRELOAD, DYLD_*, NODE_OPTIONS, PYTHONPATH,
// GIT_SSH_COMMAND, PAGER, EDITOR, BASH_ENV, PATH, HOME, npm_config_*, PIP_*,
// GOFLAGS, RUSTC_WRAPPER …) and a denylist would miss the next one.
const INERT_VARIABLES = new Set([
  "CI", "NODE_ENV", "RAILS_ENV", "RACK_ENV", "APP_ENV", "FLASK_ENV", "ENV", "DEBUG", "VERBOSE", "QUIET", "FORCE_COLOR", "NO_COLOR", "CLICOLOR", "CLICOLOR_FORCE", "TERM", "COLORTERM", "COLUMNS", "LINES",
  "LANG", "LANGUAGE", "TZ", "RUST_BACKTRACE", "RUST_LOG", "RUST_LIB_BACKTRACE", "CARGO_TERM_COLOR", "PYTHONUNBUFFERED", "PYTHONDONTWRITEBYTECODE", "PYTHONIOENCODING", "PYTHONUTF8", "PYTHONHASHSEED", "PYTHONWARNINGS",
  "NODE_NO_WARNINGS", "GOOS", "GOARCH", "CGO_ENABLED", "GOMAXPROCS", "GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_AUTHOR_DATE", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL", "GIT_COMMITTER_DATE", "GIT_TERMINAL_PROMPT",
  "HUSKY", "PORT", "HOST", "LOG_LEVEL", "LOGLEVEL", "JOBS", "TEST", "TESTING", "NPM_CONFIG_LOGLEVEL", "NEXT_TELEMETRY_DISABLED", "DOTNET_CLI_TELEMETRY_OPTOUT", "DO_NOT_TRACK", "SOURCE_DATE_EPOCH",
]);

/** Flags implied by putting `name=value` in a program's (or the shell's) environment. */
export function assignmentFlags(name: string): CommandFlag[] {
  const upper = name.toUpperCase();
  if (INERT_VARIABLES.has(upper) || /^LC_[A-Z]+$/.test(upper)) return [];
  return ["config_overrides"];
}
