import { existsSync } from "node:fs";
import { delimiter, join } from "node:path";
import { absolutePath, fileAction, shellNamed, stringField, toolAction, type AgentMapping, type MapContext, type PlannedAction } from "./mapping.ts";
import { sha256Hex } from "../../worker/encoding.ts";
import type { DeviceOs, Shell as AnyShell } from "../../worker/policy/targets.ts";
import { HookFailure } from "./protocol.ts";

/**
 * Codex CLI's tools as Warden actions (developers.openai.com/codex/hooks and the hook
 * schemas in openai/codex codex-rs/hooks/schema; docs/hooks.md). Codex sends its shell tools
 * as `Bash` with one `command` string, `apply_patch` with the whole patch in `command`, and
 * MCP tools as `mcp__<server>__<tool>`.
 */

/**
 * The shell Codex runs a command string in when the model names none: PowerShell on Windows, else
 * the user's login shell (the passwd entry's, as Codex reads it; `$SHELL` when it cannot be read)
 * when it is one Codex runs, else bash.
 */
export function codexShell(context: MapContext): AnyShell {
  if (context.platform === "win32") return "powershell";
  return shellNamed(context.loginShell ?? context.env["SHELL"], ["bash", "zsh", "sh", "powershell"]) ?? "bash";
}

/**
 * POSIX words of a line that is nothing but words: single quotes, double quotes (with
 * `\"`, `\\`, `\$` and `` \` `` escapes) and backslashes; a backslash-newline is nothing, in
 * double quotes too. Anything a shell would act on
 * (operators, substitutions, globs, unbalanced quotes) gives null: such a line is sent whole.
 */
export function plainWords(line: string): string[] | null {
  const words: string[] = [];
  let word: string | null = null;
  for (let at = 0; at < line.length; at += 1) {
    const char = line[at]!;
    if (char === " " || char === "\t") {
      if (word !== null) words.push(word);
      word = null;
    } else if (char === "'") {
      const end = line.indexOf("'", at + 1);
      if (end < 0) return null;
      word = (word ?? "") + line.slice(at + 1, end);
      at = end;
    } else if (char === '"') {
      let text = "";
      let closed = false;
      for (at += 1; at < line.length; at += 1) {
        const inner = line[at]!;
        if (inner === '"') {
          closed = true;
          break;
        }
        if (inner === "$" || inner === "`") return null;
        const escaped = inner === "\\" ? line[at + 1] : undefined;
        if (escaped !== undefined && '"\\$`\n'.includes(escaped)) {
          at += 1;
          // A backslash-newline is a line continuation: bash drops both.
          if (escaped !== "\n") text += escaped;
        } else text += inner;
      }
      if (!closed) return null;
      word = (word ?? "") + text;
    } else if (char === "\\") {
      if (at + 1 >= line.length) return null;
      at += 1;
      // A backslash-newline is a line continuation: bash drops both.
      if (line[at] !== "\n") word = (word ?? "") + line[at]!;
    } else if (/[;&|<>()$`*?[\]{}~#!=\n\r]/.test(char)) {
      // Unquoted, these make the line more than words (or might): it is not unwrapped.
      return null;
    } else {
      word = (word ?? "") + char;
    }
  }
  if (word !== null) words.push(word);
  return words;
}

/**
 * What Codex will run, in which shells. Its argv-based shell tool reaches the hook as the argv
 * shell-quoted and joined (`bash -lc 'git status'`): when the line is exactly a POSIX shell with
 * `-c`/`-lc` and one script, that shell runs the script — Codex runs the argv, and any POSIX
 * shell that runs the line reads its plain words alike (so not where Codex may run PowerShell or
 * cmd, which read quotes otherwise). Any other line may run in any shell Codex offers the model
 * ({@link codexShells}), so policy judges it as each of them reads it ({@link codexReadings}).
 */
export function codexCommand(line: string, context: MapContext): { value: string; shells: AnyShell[] } {
  const shells = codexShells(context);
  const words = shells.every((shell) => shell === "bash" || shell === "zsh" || shell === "sh") ? plainWords(line) : null;
  if (words && words.length === 3 && (words[1] === "-c" || words[1] === "-lc")) {
    const shell = shellNamed(words[0], ["bash", "zsh", "sh"]);
    if (shell && words[2]!.length > 0) return { value: words[2]!, shells: [shell] };
  }
  if (words && words.length >= 3 && shellNamed(words[0], ["powershell"])) {
    const flag = words.at(-2)!.toLowerCase();
    if ((flag === "-command" || flag === "-c") && words.at(-1)!.length > 0) return { value: words.at(-1)!, shells: ["powershell"] };
  }
  return { value: line, shells: codexReadings(line, shells, context) };
}

/**
 * The shells a line may run in under Codex, its default first. The model names the shell of each
 * call (exec_command's `shell`), and Codex does not pass that argument to the hook: Codex runs
 * bash, zsh or sh when the name, or a path's file stem, says so; PowerShell where pwsh or
 * powershell is installed; cmd on Windows; and for any other name /bin/sh (cmd.exe on Windows).
 */
export function codexShells(context: MapContext): AnyShell[] {
  const fallback: AnyShell[] = context.platform === "win32" ? ["powershell", "cmd", "bash", "sh", "zsh"] : ["bash", "zsh", "sh"];
  if (context.platform !== "win32" && powershellInstalled(context.env)) fallback.push("powershell");
  const preferred = codexShell(context);
  return [preferred, ...fallback.filter((shell) => shell !== preferred)];
}

function powershellInstalled(env: MapContext["env"]): boolean {
  const dirs = (env["PATH"] ?? "").split(delimiter).filter((dir) => dir !== "");
  return existsSync("/usr/local/bin/pwsh") || dirs.some((dir) => existsSync(join(dir, "pwsh")) || existsSync(join(dir, "powershell")));
}

const DEVICE_OS: Partial<Record<NodeJS.Platform, DeviceOs>> = { darwin: "macos", win32: "windows" };

/**
 * The shells among `shells` whose reading of `line` differs from every earlier one's. A line
 * that means the same in each (`git status`) is judged once, in the first; one that does not
 * (`ls > =x` writes ./=x in bash and the `x` on PATH in zsh) is judged as each distinct reading,
 * and every reading must be permitted. Readings are compared as Warden's own analysis gives
 * them: the commands run, their arguments, flags and redirections, and the files and URLs implied.
 */
export function codexReadings(line: string, shells: readonly AnyShell[], context: MapContext): AnyShell[] {
  const { analyse } = context;
  // Without the analysis no two readings are known to agree: each shell is judged.
  if (!analyse) return [...shells];
  const os = DEVICE_OS[context.platform] ?? "linux";
  const seen = new Set<string>();
  return shells.filter((shell) => {
    const analysis = analyse(line, { os, shell, cwd: context.cwd, home: context.home });
    const reading = JSON.stringify(analysis.ok ? [analysis.value.commands, analysis.value.targets] : analysis.reason);
    if (seen.has(reading)) return false;
    seen.add(reading);
    return true;
  });
}

/** The files one apply_patch changes, from its headers (`*** Add File:`, `*** Update File:`, `*** Move to:`, `*** Delete File:`). */
export interface PatchFiles {
  written: string[];
  deleted: string[];
}

// Codex (codex-rs/apply-patch, Rust) trims a hunk's header line of Unicode White_Space, which
// holds U+0085 and not U+FEFF; JavaScript's trim the other way round. Only the rest is read alike.
const EDGE_BLANK = /[\s\u0085]/;

/** Whether a blank at either edge of `line` is one Rust and JavaScript trim differently (U+0085, U+FEFF); linear in the line. */
function ambiguousEdge(line: string): boolean {
  const differs = (char: string) => char === "\u0085" || char === "\ufeff";
  for (let at = 0; at < line.length && EDGE_BLANK.test(line[at]!); at += 1) if (differs(line[at]!)) return true;
  for (let at = line.length - 1; at >= 0 && EDGE_BLANK.test(line[at]!); at -= 1) if (differs(line[at]!)) return true;
  return false;
}
const MOVE_TO = "*** Move to: ";
const HOME_RELATIVE = /^~(?:$|[\\/])/;

/**
 * Reads the file operations of a Codex patch as Codex reads them: a header is a line that starts
 * with `*** ` once trimmed (Codex trims a hunk's first line, so `  *** Delete File: x` after an
 * added file's lines deletes x), its path everything after the marker; a move line with blanks
 * around it is refused (Codex versions read it differently). Hunk lines are not interpreted (the
 * hash binds them); an unknown `***` header, a missing envelope, a line whose edges Codex would
 * trim otherwise, or a patch that names no file is an unknown shape, never a guess.
 */
export function patchFiles(patch: string, cwd: string): PatchFiles {
  const lines = patch.split(/\r?\n/);
  const ambiguous = lines.find(ambiguousEdge);
  if (ambiguous !== undefined) throw new HookFailure("unknown_tool_shape", `apply_patch: a line begins or ends with U+0085 or U+FEFF, which Codex trims otherwise: ${JSON.stringify(ambiguous.slice(0, 80))}`);
  const trimmed = lines.map((line) => line.trim());
  const first = trimmed.findIndex((line) => line !== "");
  const last = trimmed.findLastIndex((line) => line !== "");
  if (first < 0 || trimmed[first] !== "*** Begin Patch" || trimmed[last] !== "*** End Patch") {
    throw new HookFailure("unknown_tool_shape", "apply_patch: the patch must start with *** Begin Patch and end with *** End Patch");
  }
  const written: string[] = [];
  const deleted: string[] = [];
  let updating: string | null = null;
  for (let index = first + 1; index < last; index += 1) {
    const line = trimmed[index]!;
    if (!line.startsWith("*** ")) continue;
    const header = /^\*\*\* (Add File|Update File|Delete File|Move to): (.+)$/.exec(line);
    if (!header) {
      if (line === "*** End of File") continue;
      throw new HookFailure("unknown_tool_shape", `apply_patch: unknown header ${JSON.stringify(line.slice(0, 80))}`);
    }
    const named = header[2]!;
    // Codex 0.171 reads a move's path from the trimmed line (checked against its binary); the
    // source of earlier releases takes it from the line as it stands. Only a move both read alike is read.
    if (header[1] === "Move to" && lines[index] !== MOVE_TO + named) {
      throw new HookFailure("unknown_tool_shape", `apply_patch: a *** Move to: line with blanks around it, which Codex versions read differently: ${JSON.stringify(lines[index]!.slice(0, 80))}`);
    }
    // Some Codex versions resolve a leading `~` to the home, others a directory named `~`: not guessed.
    if (HOME_RELATIVE.test(named)) throw new HookFailure("unknown_tool_shape", `apply_patch: a path under ~, which Codex versions resolve differently: ${JSON.stringify(named.slice(0, 80))}`);
    const path = absolutePath(named, cwd);
    switch (header[1]) {
      case "Add File":
        written.push(path);
        updating = null;
        break;
      case "Update File":
        written.push(path);
        updating = path;
        break;
      case "Delete File":
        deleted.push(path);
        updating = null;
        break;
      case "Move to":
        // A move writes the destination and removes the source.
        if (updating === null) throw new HookFailure("unknown_tool_shape", "apply_patch: *** Move to: without the *** Update File: it moves");
        written.splice(written.lastIndexOf(updating), 1, path);
        deleted.push(updating);
        updating = null;
        break;
    }
  }
  if (written.length + deleted.length === 0) throw new HookFailure("unknown_tool_shape", "apply_patch: the patch names no file");
  return { written: [...new Set(written)], deleted: [...new Set(deleted)] };
}

/** At most this many targets per action (the decision API's limit); a larger patch is several actions. */
const MAX_TARGETS = 64;

function chunks(paths: string[]): string[][] {
  const out: string[][] = [];
  for (let at = 0; at < paths.length; at += MAX_TARGETS) out.push(paths.slice(at, at + MAX_TARGETS));
  return out;
}

function patchActions(patch: string, cwd: string): PlannedAction[] {
  const { written, deleted } = patchFiles(patch, cwd);
  const inputs = sha256Hex(patch);
  return [...chunks(written).map((paths) => fileAction("file.write", paths, inputs)), ...chunks(deleted).map((paths) => fileAction("file.delete", paths, inputs))];
}

const PATCH_COMMAND = /^(?:apply_patch|applypatch)$/;
// Codex's own shape of a script it applies, as it writes it: a here-document alone or after one `cd`, its delimiter
// quoted so that the body is text to every reader (unquoted, a shell that runs the line expands `$(…)` in it).
const HEREDOC_PATCH = /^(?:cd ([^\s'"\\$`;&|<>(){}*?[\]~#]+) && )?(?:apply_patch|applypatch) <<(['"])([A-Za-z_]\w*)\2\n([\s\S]*?)\n\3\n?$/;

/**
 * The script of a shell invocation as Codex picks it out for apply_patch (`parse_shell_script`):
 * `bash`/`zsh`/`sh` with `-c` or `-lc`, PowerShell with `-Command` (after `-NoProfile`, if any),
 * `cmd` with `/c`; the script is the last word. Null for anything else. The shell is named by
 * the file stem of its path, as Codex names it (`/bin/sh.distrib` is sh; `\\` separates only on Windows).
 */
function shellScript(words: readonly string[], platform: NodeJS.Platform): string | null {
  const [program, ...rest] = words;
  if (program === undefined || rest.length < 2) return null;
  const base = program.split(platform === "win32" ? /[\\/]/ : "/").pop()!;
  const shell = (base.lastIndexOf(".") > 0 ? base.slice(0, base.lastIndexOf(".")) : base).toLowerCase();
  const flags = rest.slice(0, -1);
  const powershell = shell === "pwsh" || shell === "powershell";
  const flag = powershell && flags.length === 2 && flags[0]!.toLowerCase() === "-noprofile" ? flags[1]! : flags.length === 1 ? flags[0]! : null;
  if (flag === null) return null;
  const reads = shell === "cmd" ? flag.toLowerCase() === "/c" : powershell ? flag.toLowerCase() === "-command" : ["bash", "zsh", "sh"].includes(shell) && (flag === "-c" || flag === "-lc");
  return reads ? rest.at(-1)! : null;
}

/**
 * The patch of a shell call Codex applies itself instead of running it (codex-rs/apply-patch
 * invocation.rs): `apply_patch <patch>` as argv, or a script ({@link shellScript}; a line Codex
 * runs with the user's shell is itself one) that is `[cd <dir> && ]apply_patch <<'EOF' … EOF`
 * alone; null for any other line. Any other call of apply_patch stays a command, which the
 * command analysis marks opaque: what it writes is not read from a line.
 */
export function interceptedPatch(line: string, context: Pick<MapContext, "cwd" | "platform" | "env">): { patch: string; cwd: string } | null {
  const words = plainWords(line);
  if (words !== null && words.length === 2 && PATCH_COMMAND.test(words[0]!)) return { patch: words[1]!.replaceAll("\r\n", "\n"), cwd: context.cwd };
  // A raw line Codex runs as `$SHELL -lc <line>`: its script when $SHELL is a shell Codex reads scripts of.
  const script = shellScript(words ?? [context.env["SHELL"] ?? "", "-lc", line], context.platform);
  const heredoc = script === null ? null : HEREDOC_PATCH.exec(script);
  if (heredoc === null) return null;
  const [, directory, , delimiter = "", body = ""] = heredoc;
  // The body ends at the first line that begins with its delimiter, for Codex's parser (a shell ends it at one that is
  // the delimiter); and a number is no `cd` path to Codex's query: either way Codex does not apply it, a shell runs it.
  if (body.split("\n").some((bodyLine) => bodyLine.startsWith(delimiter)) || (directory !== undefined && /^-?(?:0x)?[0-9]+$/i.test(directory))) return null;
  return { patch: body.replaceAll("\r\n", "\n"), cwd: directory === undefined ? context.cwd : absolutePath(directory, context.cwd) };
}

/** Codex's table: its shell tools, apply_patch and file read, then MCP tools and everything else. */
export const codex: AgentMapping = {
  agent: "codex",
  tools: {
    Bash: {
      why: "Codex's shell tools (shell, shell_command, exec_command, and input typed into a running shell): command.exec of the line in the shell that runs it; a typed-in line runs in `workdir` when Codex names it",
      plan: (call, context) => {
        const line = stringField(call, "command");
        const workdir = call.input["workdir"];
        if (typeof workdir === "string" && HOME_RELATIVE.test(workdir)) throw new HookFailure("unknown_tool_shape", "Bash: a workdir under ~, which Codex versions resolve differently");
        const cwd = typeof workdir === "string" && workdir.length > 0 ? absolutePath(workdir, context.cwd) : context.cwd;
        // Codex applies such a call itself: the shell never runs it, the patch's files change.
        const intercepted = interceptedPatch(line, { ...context, cwd });
        if (intercepted) return patchActions(intercepted.patch, intercepted.cwd);
        const { value, shells } = codexCommand(line, { ...context, cwd });
        return shells.map((shell) => ({ action: { type: "command.exec", targets: [{ kind: "command", value, cwd, home: context.home, shell }] }, files: [] }));
      },
    },
    apply_patch: {
      why: "Codex's file edit: file.write of every file it adds or updates (and a move's destination), file.delete of every file it deletes (and a move's source), each bound to SHA-256 of the whole patch",
      plan: (call, context) => patchActions(stringField(call, "command"), context.cwd),
    },
    Read: {
      why: "Codex's file-read tool, where enabled (same `file_path` as Claude Code's Read): file.read of that path",
      plan: (call, context) => [fileAction("file.read", [absolutePath(stringField(call, "file_path"), context.cwd)])],
    },
    view_image: {
      why: "Codex's image viewer reads a local file and hands its bytes to the model: file.read of `path`, so the bundle's file rules judge it as they judge any read",
      plan: (call, context) => {
        const path = stringField(call, "path");
        // Codex 0.171 reads `~/x` as a directory named `~`; other versions expand it to the home: not guessed.
        if (HOME_RELATIVE.test(path)) throw new HookFailure("unknown_tool_shape", "view_image: a path under ~, which Codex versions resolve differently");
        return [fileAction("file.read", [absolutePath(path, context.cwd)])];
      },
    },
  },
  mcp: {
    why: "An MCP server's tool acts outside the device: mcp.call naming server and tool, bound to its arguments",
    plan: (call) => [toolAction("mcp.call", call)],
  },
  other: {
    why: "Any other tool Codex hooks: agent.tool naming it, so the bundle decides",
    plan: (call) => [toolAction("agent.tool", call)],
  },
  successExitStatus: null,
  answersAllow: false,
  comparesReadings: true,
};
