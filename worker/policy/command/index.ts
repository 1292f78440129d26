/**
 * Command analysis: a command line parsed in the grammar of the shell that
 * runs it, reduced to every simple command it runs (wrappers unwrapped, nested
 * code parsed again), the files and URLs its arguments and redirections name,
 * and the danger flags of the program table. Pure: no I/O, no bindings; the
 * same in workerd and Node. See docs/commands.md.
 */
import type { DeviceOs, TargetRejection, TargetResult } from "../targets.ts";
import { Analyzer } from "./analyze.ts";
import type { ParseContext, Word } from "./model.ts";
import { isAbsoluteDirectory, resolvePath } from "./paths.ts";
import type { CommandAnalysis, CommandEnvironment } from "./types.ts";

export { COMMAND_FLAGS, SHELLS } from "./types.ts";
export { defaultShell } from "../targets.ts";
export type {
  CommandAnalysis,
  CommandEnvironment,
  CommandFlag,
  DerivedAction,
  DerivedTarget,
  Redirection,
  Shell,
  SimpleCommand,
  UnresolvedReason,
} from "./types.ts";

const MAX_COMMAND_LENGTH = 8192;
// Bound on the directories a line's `cd`s can lead to, beyond which the working directory is unknown.
const MAX_DIRECTORIES = 16;
/**
 * Bound on the files and URLs one action's command lines imply. Each is judged by policy and
 * logged, and a line of short names under many reachable directories implies thousands: a
 * line, and an action's lines together, naming more are refused (`too_many_targets`) rather
 * than judged (docs/commands.md).
 */
export const MAX_IMPLIED_TARGETS = 256;

// As targets.ts screens targets: lone surrogates have no UTF-8 form; NUL and
// the C0/C1 controls other than tab and newline (including CR, which bash
// keeps inside words) split or hide what a reviewer reads; format characters
// render as nothing (`r\u200Bm`). Newlines are allowed: here-documents,
// continuations and multi-line scripts need them.
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const CONTROL = /[\u0001-\u0008\u000B-\u001F\u007F-\u009F\u2028\u2029]/;
const INVISIBLE = /[\p{Cf}\p{Default_Ignorable_Code_Point}]/u;

function screen(raw: string): TargetRejection | null {
  if (raw.length > MAX_COMMAND_LENGTH) return "too_long";
  if (LONE_SURROGATE.test(raw)) return "invalid_utf8";
  if (raw.includes("\u0000")) return "nul_byte";
  if (CONTROL.test(raw)) return "control_character";
  if (INVISIBLE.test(raw)) return "invisible_character";
  return null;
}

/**
 * Analyses a command line for the environment it runs in.
 *
 * Never throws on any input string. Refuses, as `canonicalizeCommand` does, an
 * empty line, one over 8192 characters, and NUL, control (other than tab and
 * newline), invisible characters or lone surrogates. Everything else yields at
 * least one command: what cannot be parsed is an opaque command.
 */
export function analyzeCommand(raw: string, env: CommandEnvironment): TargetResult<CommandAnalysis> {
  const problem = screen(raw);
  if (problem !== null) return { ok: false, reason: problem };
  const line = trimmed(raw.normalize("NFC"), env.shell);
  if (line === "") return { ok: false, reason: "empty" };
  const { os, shell } = env;
  const base: ParseContext = {
    os,
    shell,
    cwd: directory(env.cwd, os),
    otherCwds: [],
    home: directory(env.home, os),
    depth: 0,
  };
  try {
    // First pass: does the line `cd`, and where can its `cd`s lead (a pass of
    // their own, see directoryChanges)? Every relative path then resolves
    // against each of those directories as well, whatever the order and
    // conditions the commands run in.
    const first = new Analyzer();
    first.line(line, base, [], { flags: [], targets: [], redirections: [] });
    const otherCwds = first.directoryChanges.length === 0 ? [] : reachable(line.includes("~+") ? directoryChanges(line, base) : first.directoryChanges, base);
    const analyzer = otherCwds.length === 0 ? first : new Analyzer();
    if (analyzer !== first) analyzer.line(line, { ...base, otherCwds }, [], { flags: [], targets: [], redirections: [] });
    const commands = analyzer.commands;
    if (commands.length === 0) {
      // Only comments or nothing the grammar recognised as a command.
      commands.push({ program: "", args: [], unknownArgs: [], subcommand: "", wrappers: [], redirections: [], flags: [], opaque: true });
    }
    if (analyzer.targets.length > MAX_IMPLIED_TARGETS) return { ok: false, reason: "too_many_targets" };
    const targets = analyzer.linkMakers.length === 0 ? analyzer.targets : analyzer.targetsAfterLinks(os, runsInOrder(line, shell));
    return { ok: true, value: { line, shell, commands, targets } };
  } catch {
    // Nothing above throws by design; if something does (a grammar bug, stack
    // exhaustion), the line is opaque rather than an exception on the decision path.
    return {
      ok: true,
      value: { line, shell, commands: [{ program: "", args: [], unknownArgs: [], subcommand: "", wrappers: [], redirections: [], flags: [], opaque: true }], targets: [] },
    };
  }
}

/**
 * Whether the line's commands run one after the other in the order written, each once: a POSIX
 * line of simple commands joined by `&&`, `||`, `;` and newlines. A pipe, `&`, a subshell, a
 * group, a substitution, a loop, a function or a trap can run a command written earlier after
 * one written later; a quoted `|` or `(` is taken as one too (only more is refused).
 */
function runsInOrder(line: string, shell: CommandEnvironment["shell"]): boolean {
  if (shell !== "bash" && shell !== "sh" && shell !== "zsh") return false;
  const joined = line.replace(/&&|\|\|/g, " ");
  return !/[|&(){}`]|\$\(/.test(joined) && !/(?:^|[\s;])(?:for|while|until|select|function|trap|coproc|repeat)(?=[\s;]|$)/.test(joined);
}

/**
 * The line without leading and trailing blanks. For a POSIX shell a blank is a space, a tab or a
 * newline (`x\u00a0` is a word of its own to bash), and one a trailing backslash escapes stays:
 * `rm foo\\ ` removes `foo `, and a backslash-newline at the end is nothing.
 */
function trimmed(line: string, shell: CommandEnvironment["shell"]): string {
  if (shell !== "bash" && shell !== "sh" && shell !== "zsh") return line.trim();
  const start = line.replace(/^[ \t\n]+/, "");
  let end = start.length;
  while (end > 0 && " \t\n".includes(start[end - 1] as string)) end -= 1;
  const escapesBlank = end < start.length && /(?:^|[^\\])(?:\\\\)*\\$/.test(start.slice(0, end));
  return start.slice(0, escapesBlank ? end + 1 : end);
}

/** An absolute directory in device syntax, or null (an unusable value is as good as none). */
function directory(value: string | undefined, os: DeviceOs): string | null {
  if (value === undefined || value === "" || screen(value) !== null || !isAbsoluteDirectory(value, os)) return null;
  return value;
}

/**
 * The `cd`s of a line that has some and names `~+`, read as if it could already be anywhere. The
 * first reading took `~+` ($PWD) as the starting directory, but in `cd /a; cd ~+/b` it is `/a`:
 * with an unknown directory among the line's, `~+` has no value and such a `cd` leads somewhere
 * unknown. Without `~+` the first reading's `cd`s are these, and the line is not read again.
 */
function directoryChanges(line: string, base: ParseContext): (Word | null)[] {
  const anywhere = new Analyzer();
  anywhere.line(line, { ...base, otherCwds: [null] }, [], { flags: [], targets: [], redirections: [] });
  return anywhere.directoryChanges;
}

/** Every directory the `cd`s of a line can reach from `base.cwd` (null when one is unknown). */
function reachable(changes: readonly (Word | null)[], base: ParseContext): (string | null)[] {
  const seen = new Set<string | null>([base.cwd]);
  let frontier: (string | null)[] = [base.cwd];
  // Each round applies every cd to every directory found so far (`cd a; cd b` in
  // any order and any number of times), until nothing new appears.
  for (let round = 0; round < changes.length && frontier.length > 0; round += 1) {
    const next: (string | null)[] = [];
    for (const from of frontier) {
      for (const change of changes) {
        const to = change === null ? null : target(change, from, base);
        if (!seen.has(to)) {
          seen.add(to);
          next.push(to);
        }
      }
    }
    frontier = next;
    if (seen.size > MAX_DIRECTORIES) return [null];
  }
  seen.delete(base.cwd);
  return [...seen];
}

function target(change: Word, from: string | null, base: ParseContext): string | null {
  const resolved = resolvePath(change, { ...base, cwd: from }, { tildeIsHome: true });
  return resolved !== null && "value" in resolved ? resolved.value : null;
}
