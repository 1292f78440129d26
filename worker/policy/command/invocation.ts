/**
 * The interface between the analyser and the program table: one program being
 * run with its arguments. Table rows read the arguments and record targets,
 * flags, the subcommand, and the programs or code they run in turn.
 */
import type { CommandFlag, DerivedAction, UnresolvedReason } from "./types.ts";
import type { ParseContext, Word } from "./model.ts";
import type { Effect, OptionSpec, ParsedArgs, Role } from "./options.ts";

/**
 * What a program does to a path besides reading or writing it. `followsLinksBelow`: it walks the
 * directory and follows the symbolic links below it (`grep -R`), or writes a tree into it through
 * the links already there (`tar -x`). `makesLinks`: it can make symbolic links below it (an archive
 * extracted into it, a clone, a tree copied with its links) or put one at it (`ln -s`, `mv`), so
 * another command of the line cannot be judged by the links the device has now below it. (A link
 * put at the path itself leads where its source did, which the hook follows and Warden decides.)
 */
export interface TargetMarks {
  followsLinksBelow?: boolean;
  makesLinks?: boolean;
}

/** A target before it is attached to a command index. */
export type PendingTarget =
  | { action: DerivedAction; kind: "path" | "url"; value: string; followsLinksBelow?: true; makesLinks?: true }
  | { action: DerivedAction; kind: "path" | "url"; unresolved: UnresolvedReason; raw: string };

/** What runs next when a row hands the arguments on. */
export type Continuation =
  /** Arguments that are a command line of their own (`sudo rm x`, `find -exec rm {} ;`). */
  | { kind: "argv"; words: Word[]; ctx: ParseContext; extra?: Word[] }
  /** A string that is code in a shell's grammar (`bash -c '…'`, `cmd /c …`, `watch 'ls -l'`). */
  | { kind: "code"; code: Word; ctx: ParseContext };

export interface Invocation {
  /** Canonical program name. */
  readonly program: string;
  /** The program word as the program received it (before alias resolution and canonicalisation). */
  readonly written: string;
  /** Arguments after the program word. */
  readonly args: readonly Word[];
  /** The environment the program runs in; rows that change directory update `cwd`. */
  ctx: ParseContext;

  /** Records `word` as a target of `role` (resolving paths against `ctx` or `at`), with what else the program does there. */
  target(role: Role, word: Word, at?: ParseContext, marks?: TargetMarks): void;
  /** Records an already-resolved target. */
  pending(target: PendingTarget): void;
  /** Records the working directory (each one the line may be in) as a target of `action`: the program was given no path. */
  workingDirectory(action: "file.read" | "file.write" | "file.delete", marks?: TargetMarks): void;
  /** The program can make symbolic links anywhere another command of the line may look (git's checkouts write the whole work tree). */
  makesLinksAnywhere(): void;
  /** Records a directory change (`cd`), which later relative paths of the line may resolve against; null: not known. */
  changesDirectory(dir: Word | null): void;
  flag(flag: CommandFlag): void;
  /** The command cannot be analysed; the program name stays (it is literal). */
  opaque(): void;
  setSubcommand(name: string): void;

  /**
   * Hands the rest of the line to another program. `fold`: this program is only a
   * wrapper (`sudo`, `env`, `bash -c`) and is not listed itself; otherwise it is
   * listed and spawns the continuation (`find -exec`, `git` aliases).
   */
  then(next: Continuation, fold: boolean, flags?: readonly CommandFlag[]): void;

  /** Parses the arguments (or `args`) with a spec, applying option effects (targets, flags, chdir, spawns, opaque). */
  options(spec: OptionSpec, args?: readonly Word[], stopAt?: boolean): ParsedArgs;
  /** Applies one option effect to a value. */
  effect(effect: Effect, value: Word | null): void;
}
