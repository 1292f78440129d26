/**
 * The public shapes of command analysis: what a policy sees of a command line.
 * Kept apart from the grammars and the program table so that each of them can
 * import the shapes without importing the others.
 */
import type { DeviceOs, Shell } from "../targets.ts";

export { SHELLS, type Shell } from "../targets.ts";

/** Where and as whom a line runs; everything but `os` and `shell` is optional. */
export interface CommandEnvironment {
  os: DeviceOs;
  shell: Shell;
  /** Absolute directory (device syntax) the line runs in; relative file arguments resolve against it. */
  cwd?: string | undefined;
  /**
   * Absolute home directory (device syntax). `~` and `~/x` (bash, sh, zsh; PowerShell
   * cmdlet paths), `$HOME` (bash, sh, zsh), `$HOME`/`$env:USERPROFILE`/`$env:HOME`
   * (PowerShell) and `%USERPROFILE%` (cmd) resolve against it.
   */
  home?: string | undefined;
}

/**
 * A danger a policy can test without knowing the program. Each is set by a row of
 * the program table (`programs.ts`) or by the grammar; see `docs/commands.md`.
 */
export type CommandFlag =
  /** Code given as an argument or on stdin, which the policy cannot see: `node -e`, `python -c`, `curl … | sh`, `iex`. */
  | "inline_code"
  /** Settings that turn a harmless program into another one: `git -c core.pager=…`, `NODE_OPTIONS=…`, `npm --script-shell`. */
  | "config_overrides"
  /** Fetches code and runs it: `npx`, `npm install <url>`, `pip install git+…`, `git clone ext::…`. */
  | "remote_code"
  /** Runs a program on its own terms (`find -exec`, `rg --pre`, `tar --to-command`, `ssh -o ProxyCommand`). */
  | "spawns"
  /** Runs with other privileges: `sudo`, `doas`, `su -c`, `runas`, `Start-Process -Verb RunAs`. */
  | "elevated";

/** Every {@link CommandFlag}, sorted. */
export const COMMAND_FLAGS: readonly CommandFlag[] = ["config_overrides", "elevated", "inline_code", "remote_code", "spawns"];

/** A redirection of one simple command. */
export interface Redirection {
  /** The operator as the shell spells it: `>`, `>>`, `<`, `<>`, `>|`, `&>`, `&>>`, `>&`, `<&`, `<<`, `<<-`, `<<<`, PowerShell `*>`. */
  op: string;
  /** The explicit file descriptor (`2>`), or null when the operator's default applies. */
  fd: number | null;
  /** The target word after expansion; null when it is not literal (or for here-documents and here-strings). */
  target: string | null;
}

/** One program run by the line, after wrappers (`sudo`, `env`, `bash -c` …) were unwrapped. */
export interface SimpleCommand {
  /**
   * Canonical program name: basename, no `.exe`/`.cmd`/`.bat`/`.com` on windows,
   * case folded on macos and windows, PowerShell aliases resolved to their cmdlet
   * (lowercase) where unambiguous. "" when `opaque` and the program is unknown.
   */
  program: string;
  /**
   * Arguments after quote removal and literal expansion; an argument that depends
   * on an unknown expansion is kept as its source text and listed in `unknownArgs`.
   */
  args: string[];
  /** Indices into `args` of arguments that are not literal. */
  unknownArgs: number[];
  /**
   * Subcommand for programs that have them (git, npm, pnpm, yarn, pip, cargo, go,
   * docker, kubectl …), skipping global options (`git -C x -c y status` → "status");
   * otherwise the first non-option argument, or "".
   */
  subcommand: string;
  /** Wrappers unwrapped to reach this command, outermost first (`sudo`, `env`, `xargs`, `find`, `bash` …). */
  wrappers: string[];
  redirections: Redirection[];
  /** Sorted, unique. */
  flags: CommandFlag[];
  /**
   * True when this command cannot be analysed: its program is not literal, it
   * evaluates code the line does not show (`eval`, `source`), an option of a
   * program whose options change what it touches is unknown, quoting is
   * unbalanced, the line does not parse, or nesting passed its bound. An opaque
   * command is never treated as a known program: `program` is "" unless the
   * program itself is literal and only its behaviour is unknowable.
   */
  opaque: boolean;
}

/** What a derived target is evaluated as, like a direct target of that action. */
export type DerivedAction = "file.read" | "file.write" | "file.delete" | "http.request";

/** Why an argument that names a target could not be turned into one. */
export type UnresolvedReason =
  /** A relative path and no `cwd` in the environment. */
  | "relative_without_cwd"
  /** `~`, `$HOME` or `~user` and no (or another user's) `home`. */
  | "home_unknown"
  /** A literal `~` that the shell did not expand; the program may or may not expand it itself. */
  | "tilde"
  /** Depends on a variable, a command substitution or another expansion. */
  | "expansion"
  /** A wildcard the shell or the program expands against the filesystem. */
  | "glob"
  /** A placeholder the spawner fills in (`find -exec rm {} \;`, `parallel rm {}`). */
  | "placeholder"
  /** The names come from standard input (`xargs rm`) or from a file that lists them (`tar -T list`, `sha256sum -c sums`). */
  | "stdin"
  /** A network argument that is neither a URL nor a host the table knows how to read. */
  | "not_a_url"
  /** A windows path relative to a drive's own current directory (`C:foo`). */
  | "drive_relative"
  /** A POSIX-style absolute path under Git Bash on windows whose windows location is unknown (`/usr/x`). */
  | "posix_path_on_windows"
  /** Reached after an earlier command of the line can have made symbolic links on its way (`tar -x`, `ln -s`, `git checkout`). */
  | "links_made";

/** A target implied by an argument or redirection: evaluated by the caller under `action` like a direct target. */
export type DerivedTarget =
  | {
      action: DerivedAction;
      kind: "path" | "url";
      /** Absolute path in device syntax (the caller canonicalises it) or URL. */
      value: string;
      /**
       * The program walks this directory and follows the symbolic links it finds below it
       * (`grep -R`, `rg -L`, `find -L`, `zip -r`): what they lead to is read as well, and only
       * the device can see them (a hook follows them, cli/hooks/links.ts).
       */
      followsLinksBelow?: true;
      /** The program can make symbolic links below this path, or put one at it (`tar -x`, `ln -s`). */
      makesLinks?: true;
      /**
       * Another command of the line can make symbolic links (`makesLinks`) and this path is not
       * where it makes them as written; a hook checks that it is not there once the device's
       * links are followed either (`lnk -> out` and `tar -x -C out && cat lnk/k`).
       */
      afterLinksMade?: true;
      /** Index into {@link CommandAnalysis.commands} of the command it came from. */
      command: number;
    }
  | {
      action: DerivedAction;
      kind: "path" | "url";
      unresolved: UnresolvedReason;
      /** The argument as the program receives it (or its source text when not literal). */
      raw: string;
      command: number;
    };

/** Everything a policy needs to know about a command line. */
export interface CommandAnalysis {
  /** The input, NFC-normalised, trimmed. */
  line: string;
  shell: Shell;
  /**
   * Every simple command, nested ones included (substitutions, `-c` bodies,
   * subshells, function bodies, loops), in source order with a command before
   * the commands nested inside it; at least one.
   */
  commands: SimpleCommand[];
  targets: DerivedTarget[];
}
