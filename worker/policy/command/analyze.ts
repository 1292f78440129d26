/**
 * The analyser: grammar output → simple commands with their targets and flags,
 * through the program table. Wrappers are unwrapped here, and code nested in
 * strings (`bash -c`, `cmd /c`, `pwsh -Command`) is parsed again, up to
 * MAX_NESTED_CODE levels.
 */
import { MAX_NESTED_CODE, MAX_WRAPPERS, type ParseContext, type RawCommand, type RawRedirection, type Word } from "./model.ts";
import type { Continuation, Invocation, PendingTarget, TargetMarks } from "./invocation.ts";
import { parseOptions, type Effect, type OptionSpec, type ParsedArgs, type Role } from "./options.ts";
import { resolvePath, resolveUrl, sshUrl, splitRemote } from "./paths.ts";
import { parsePosix } from "./posix.ts";
import { parsePowerShell } from "./powershell.ts";
import { parseCmd } from "./cmd.ts";
import { assignmentFlags, findRow, programName, runRow } from "./programs.ts";
import type { CommandFlag, DerivedTarget, Redirection, SimpleCommand } from "./types.ts";
import { canonicalizePath, foldCase, type DeviceOs } from "../targets.ts";

/** Flags, targets and redirections a wrapper passes to what it runs. */
interface Inherited {
  flags: readonly CommandFlag[];
  targets: readonly PendingTarget[];
  redirections: readonly Redirection[];
}

const NOTHING: Inherited = { flags: [], targets: [], redirections: [] };

/** Parses `source` with the grammar of `shell`. */
function parseLine(source: string, ctx: ParseContext): RawCommand[] {
  switch (ctx.shell) {
    case "bash":
    case "sh":
    case "zsh":
      return parsePosix(source, ctx);
    case "powershell":
      return parsePowerShell(source, ctx);
    case "cmd":
      return parseCmd(source, ctx);
  }
}

/** The pending form of what a program does to a path besides reading or writing it. */
function pendingMarks(marks: TargetMarks): { followsLinksBelow?: true; makesLinks?: true } {
  return { ...(marks.followsLinksBelow === true ? { followsLinksBelow: true } : {}), ...(marks.makesLinks === true ? { makesLinks: true } : {}) };
}

/** Where a command of the line can make symbolic links: below `under`, or anywhere (`under` null). */
interface LinkMaker {
  command: number;
  under: string | null;
}

export class Analyzer {
  readonly commands: SimpleCommand[] = [];
  readonly targets: DerivedTarget[] = [];
  readonly linkMakers: LinkMaker[] = [];
  /** Every `cd` of the line, in the order met (null: to a directory not known). */
  readonly directoryChanges: (Word | null)[] = [];

  /** Analyses a line (or a nested body) and returns how many commands it produced. */
  line(source: string, ctx: ParseContext, wrappers: readonly string[], inherited: Inherited): number {
    const before = this.commands.length;
    const raws = parseLine(source, ctx);
    raws.forEach((raw, index) => {
      // Targets and redirections of a wrapper belong to the first command it ran.
      this.raw(raw, ctx, wrappers, index === 0 ? inherited : { ...NOTHING, flags: inherited.flags });
    });
    return this.commands.length - before;
  }

  private raw(raw: RawCommand, ctx: ParseContext, wrappers: readonly string[], inherited: Inherited): void {
    const redirectTargets: PendingTarget[] = [];
    const redirections = raw.redirections.map((redirection) => this.redirection(redirection, ctx, redirectTargets));
    const flags = new Set<CommandFlag>(inherited.flags);
    for (const assignment of raw.assignments) for (const flag of assignmentFlags(assignment.name)) flags.add(flag);
    const carried: Inherited = {
      flags: [...flags],
      targets: [...inherited.targets, ...redirectTargets],
      redirections: [...inherited.redirections, ...redirections],
    };
    const allWrappers = [...wrappers, ...raw.wrappers];
    if (raw.words.length === 0 || raw.opaque === "program_not_literal" || raw.opaque === "parse_error" || raw.opaque === "nesting") {
      this.emit(this.bare("", raw.words.slice(1), allWrappers, carried, raw.opaque !== null));
      return;
    }
    // The program is literal but something in its arguments is not knowable
    // (`--%`, a .NET call, a zsh-only construct): the row still records what it
    // can see, and the command stays opaque.
    this.invoke(raw.words, ctx, allWrappers, carried, [], raw.opaque !== null);
  }

  private redirection(redirection: RawRedirection, ctx: ParseContext, targets: PendingTarget[]): Redirection {
    const target = redirection.target;
    const out: Redirection = { op: redirection.op, fd: redirection.fd, target: target === null || target.unknown !== null ? null : target.text };
    if (target === null || redirection.duplicate === true) return out;
    const actions: ("file.read" | "file.write")[] =
      redirection.op === "<" ? ["file.read"] : redirection.op === "<>" ? ["file.read", "file.write"] : ["file.write"];
    const resolved = resolvePath(target, ctx);
    if (resolved === null) return out;
    for (const action of actions) targets.push({ action, kind: "path", ...resolved });
    return out;
  }

  /**
   * Runs `words` (program first) through the table. `extra` are arguments the
   * program receives at run time that the line does not show (xargs' stdin):
   * the row sees them, the listed command does not.
   */
  invoke(words: readonly Word[], ctx: ParseContext, wrappers: readonly string[], inherited: Inherited, extra: readonly Word[] = [], opaque = false): void {
    const programWord = words[0];
    const args = words.slice(1);
    if (programWord === undefined) {
      this.emit(this.bare("", [], wrappers, inherited, false));
      return;
    }
    const program = programWord.unknown === null && programWord.braced !== true ? programName(programWord.text, ctx) : null;
    if (program === null || wrappers.length > MAX_WRAPPERS) {
      this.emit(this.bare("", args, wrappers, inherited, true));
      return;
    }
    const invocation = new Recorder(program, programWord.text, [...args, ...extra], ctx, this.directoryChanges);
    // A program named by its path (`./evil/rm`, `/tmp/x/tsc`): the file that runs is part of what the policy judges.
    if (/[\\/]/.test(programWord.text)) invocation.target("read", programWord);
    const row = findRow(program, ctx);
    if (row !== undefined) runRow(row, invocation);
    if (opaque) invocation.opaque();

    const flags = [...inherited.flags, ...invocation.flags];
    const folding = invocation.isOpaque ? undefined : invocation.continuations.find((entry) => entry.fold);
    if (folding !== undefined) {
      const passed: Inherited = {
        flags: [...flags, ...invocation.passedFlags],
        targets: [...inherited.targets, ...invocation.targets],
        redirections: inherited.redirections,
      };
      // `bash -c ''` runs nothing but bash itself, which is then listed.
      if (this.continueWith(folding.next, [...wrappers, program], passed) > 0) return;
    }
    const command = this.bare(program, args, wrappers, { ...inherited, flags, targets: [...inherited.targets, ...invocation.targets] }, invocation.isOpaque);
    // Programs without subcommands: the first argument that is not an option.
    command.subcommand = invocation.subcommand ?? args.find((arg) => arg.unknown === null && !arg.text.startsWith("-"))?.text ?? "";
    this.emit(command);
    if (invocation.linksAnywhere) this.linkMakers.push({ command: this.commands.length - 1, under: null });
    if (invocation.isOpaque) return;
    for (const entry of invocation.continuations) {
      if (entry === folding) continue;
      this.continueWith(entry.next, [...wrappers, program], { flags: invocation.passedFlags, targets: [], redirections: [] });
    }
  }

  private continueWith(next: Continuation, wrappers: readonly string[], inherited: Inherited): number {
    const before = this.commands.length;
    if (next.kind === "argv") {
      if (next.words.length === 0) return 0;
      this.invoke(next.words, next.ctx, wrappers, inherited, next.extra ?? []);
      return this.commands.length - before;
    }
    if (next.code.unknown !== null || next.ctx.depth > MAX_NESTED_CODE) {
      // Code that is not literal, or nested past the bound: something runs
      // that the policy cannot see.
      this.emit(this.bare("", [next.code], wrappers, inherited, true));
      return 1;
    }
    return this.line(next.code.text, next.ctx, wrappers, inherited);
  }

  private bare(program: string, args: readonly Word[], wrappers: readonly string[], inherited: Inherited, opaque: boolean): SimpleCommand & { pending: readonly PendingTarget[] } {
    const unknownArgs: number[] = [];
    args.forEach((arg, index) => {
      if (arg.unknown !== null) unknownArgs.push(index);
    });
    return {
      program,
      args: args.map((arg) => arg.text),
      unknownArgs,
      subcommand: "",
      wrappers: [...wrappers],
      redirections: [...inherited.redirections],
      flags: [...new Set(inherited.flags)].sort(),
      opaque,
      pending: inherited.targets,
    };
  }

  private emit(command: SimpleCommand & { pending: readonly PendingTarget[] }): void {
    const index = this.commands.length;
    const { pending, ...rest } = command;
    rest.flags = [...new Set(rest.flags)].sort();
    this.commands.push(rest);
    // One target per path and role; one that makes links keeps saying so.
    const seen = new Map<string, DerivedTarget>();
    for (const each of pending) {
      const { makesLinks, ...target } = "value" in each ? each : { ...each, makesLinks: undefined };
      if (makesLinks === true && "value" in each) this.linkMakers.push({ command: index, under: each.value });
      const key = JSON.stringify(target);
      const found = seen.get(key);
      if (found !== undefined) {
        if (makesLinks === true && "value" in found) found.makesLinks = true;
        continue;
      }
      const derived: DerivedTarget = { ...target, ...(makesLinks !== undefined ? { makesLinks } : {}), command: index };
      seen.set(key, derived);
      this.targets.push(derived);
    }
  }

  /**
   * The line's targets, each path another command reaches below where one may make symbolic
   * links refused as `links_made` (anywhere, for git's checkouts), and one walked through its
   * links that holds such a place. The device's links are followed when a hook answers, before
   * the line runs; those the line makes are not there yet, so which file such a path reaches
   * cannot be told (`tar -xf repo.tar && cat repo/docs/id_rsa`). Only a command that runs before
   * the maker in a line of plain `&&`, `||` and `;` (`ordered`) is clear of it: a pipeline runs its
   * commands together, a loop again, a function or a trap later. A delete of a name directly in
   * the place (`unzip a.zip && rm a.zip`) removes whatever is there, link or not, without following
   * it. A path is taken below a directory both as written and with its `.`/`..` resolved, since a
   * `..` after a link climbs from where the link led. Every other path of such a line is marked
   * `afterLinksMade`, for a hook to check once the device's links are followed. Not on windows,
   * whose links the hooks do not follow either.
   */
  targetsAfterLinks(os: DeviceOs, ordered: boolean): DerivedTarget[] {
    if (os === "windows" || this.linkMakers.length === 0) return this.targets;
    // Each place in both its forms once, not once per path it is held against.
    const places = this.linkMakers.map((maker) => ({ ...maker, forms: maker.under === null ? null : pathForms(maker.under, os) }));
    return this.targets.map((target) => {
      if (target.kind !== "path" || !("value" in target)) return target;
      const makers = places.filter((maker) => maker.command !== target.command && !(ordered && target.command < maker.command));
      const forms = pathForms(target.value, os);
      const refused = makers.some(
        (maker) =>
          maker.forms === null ||
          (below(forms, maker.forms) && !(target.action === "file.delete" && removesName(target.value, maker.forms, os))) ||
          (target.followsLinksBelow === true && (maker.under === target.value || below(maker.forms, forms))),
      );
      if (refused) return { action: target.action, kind: target.kind, unresolved: "links_made" as const, raw: target.value, command: target.command };
      return makers.length > 0 ? { ...target, afterLinksMade: true as const } : target;
    });
  }
}

/** Collects what a table row says about one invocation. */
class Recorder implements Invocation {
  readonly targets: PendingTarget[] = [];
  readonly flags = new Set<CommandFlag>();
  /** Flags for what this program runs (e.g. `elevated` from sudo). */
  readonly passedFlags: CommandFlag[] = [];
  subcommand: string | null = null;
  isOpaque = false;
  linksAnywhere = false;
  readonly continuations: { next: Continuation; fold: boolean }[] = [];


  constructor(
    readonly program: string,
    readonly written: string,
    readonly args: readonly Word[],
    public ctx: ParseContext,
    private readonly directoryChanges: (Word | null)[],
  ) {}

  target(role: Role, word: Word, at: ParseContext = this.ctx, marks: TargetMarks = {}): void {
    switch (role) {
      case "read":
      case "write":
      case "delete":
        // A relative path names a file under every directory the line may be in.
        // PowerShell expands `~` in provider paths (and, since 7.4, for native programs).
        for (const cwd of [at.cwd, ...at.otherCwds]) {
          const resolved = resolvePath(word, { ...at, cwd }, { tildeIsHome: at.shell === "powershell" });
          if (resolved !== null) this.pending({ action: `file.${role}`, kind: "path", ...resolved, ...("value" in resolved ? pendingMarks(marks) : {}) });
        }
        return;
      case "url": {
        const resolved = resolveUrl(word, { curlGlob: this.program === "curl" });
        if (resolved !== null) this.pending({ action: "http.request", kind: "url", ...resolved });
        return;
      }
      case "ssh":
        if (word.unknown !== null) this.pending({ action: "http.request", kind: "url", unresolved: "expansion", raw: word.text });
        else this.pending({ action: "http.request", kind: "url", ...sshUrl(word.text, null) });
        return;
      case "remote": {
        if (word.unknown !== null) {
          this.pending({ action: "http.request", kind: "url", unresolved: "expansion", raw: word.text });
          return;
        }
        const side = splitRemote(word.text, at);
        if ("remote" in side) this.pending({ action: "http.request", kind: "url", ...sshUrl(side.remote, null) });
        else this.target("read", word, at);
        return;
      }
    }
  }

  pending(target: PendingTarget): void {
    this.targets.push(target);
  }

  workingDirectory(action: "file.read" | "file.write" | "file.delete", marks: TargetMarks = {}): void {
    for (const cwd of [this.ctx.cwd, ...this.ctx.otherCwds]) {
      if (cwd === null) this.pending({ action, kind: "path", unresolved: "relative_without_cwd", raw: "." });
      else this.pending({ action, kind: "path", value: cwd, ...pendingMarks(marks) });
    }
  }

  makesLinksAnywhere(): void {
    this.linksAnywhere = true;
  }

  changesDirectory(dir: Word | null): void {
    this.directoryChanges.push(dir);
  }

  flag(flag: CommandFlag): void {
    this.flags.add(flag);
  }

  opaque(): void {
    this.isOpaque = true;
  }

  setSubcommand(name: string): void {
    this.subcommand = name;
  }

  then(next: Continuation, fold: boolean, flags: readonly CommandFlag[] = []): void {
    this.continuations.push({ next, fold });
    this.passedFlags.push(...flags);
  }

  options(spec: OptionSpec, args: readonly Word[] = this.args, stopAt = false): ParsedArgs {
    const parsed = parseOptions(args, spec, stopAt);
    if (parsed.opaque) this.opaque();
    for (const option of parsed.options) if (option.effect !== null) this.effect(option.effect, option.value);
    return parsed;
  }

  effect(effect: Effect, value: Word | null): void {
    for (const flag of effect.flags ?? []) this.flag(flag);
    if (effect.opaque === true) this.opaque();
    if (value === null) return;
    for (const role of effect.target ?? []) this.target(role, value);
    if (effect.names !== undefined) this.pending({ action: `file.${effect.names}`, kind: "path", unresolved: "stdin", raw: value.text });
    if (effect.chdir === true) this.chdir(value);
    if (effect.spawn !== undefined) {
      this.flag("spawns");
      // A literal program is listed as a command of its own; a command line is
      // parsed as what runs it (sh on every OS: git, tar and ssh all use it).
      // `tar -I 'zstd -d'`: a program with arguments is a command line.
      if (effect.spawn !== "shell" && value.unknown === null && /\s/.test(value.text)) this.then({ kind: "code", code: value, ctx: { ...this.ctx, shell: "sh", depth: this.ctx.depth + 1 } }, false);
      // `rg --pre sh` runs `sh FILE` for every file searched.
      else if (effect.spawn === "program") this.then({ kind: "argv", words: [value], ctx: this.ctx }, false);
      else if (effect.spawn === "program-file") this.then({ kind: "argv", words: [value], ctx: this.ctx, extra: [{ text: "{}", unknown: "placeholder" }] }, false);
      else this.then({ kind: "code", code: value, ctx: { ...this.ctx, shell: "sh", depth: this.ctx.depth + 1 } }, false);
    }
  }

  /** Later relative paths of this program resolve against `dir` (unknown when `dir` is not literal). */
  chdir(dir: Word): void {
    const into = (cwd: string | null): string | null => {
      const resolved = resolvePath(dir, { ...this.ctx, cwd });
      return resolved !== null && "value" in resolved ? resolved.value : null;
    };
    this.ctx = { ...this.ctx, cwd: into(this.ctx.cwd), otherCwds: [...new Set(this.ctx.otherCwds.map(into))] };
  }
}

/** A path as written and in canonical form (`.` and `..` resolved as text), case folded on macos. */
type PathForms = readonly [written: string, canonical: string];

function pathForms(path: string, os: DeviceOs): PathForms {
  const result = canonicalizePath(path, os);
  const fold = (text: string) => (os === "macos" ? foldCase(text) : text);
  return [fold(path), fold(result.ok ? result.value.path : path)];
}

/** Whether `path` is below the directory `directory`, in either form (each against the same form). */
function below(path: PathForms, directory: PathForms): boolean {
  return path.some((form, index) => {
    const outer = directory[index] as string;
    const prefix = outer.endsWith("/") ? outer : `${outer}/`;
    return form.length > prefix.length && form.startsWith(prefix);
  });
}

/** A delete of a name directly in `directory` (no `/` after it): it removes what is there, a link included, without following it. */
function removesName(path: string, directory: PathForms, os: DeviceOs): boolean {
  if (path.endsWith("/") || path.endsWith("/.")) return false;
  return !below(pathForms(path.slice(0, path.lastIndexOf("/")) || "/", os), directory);
}
