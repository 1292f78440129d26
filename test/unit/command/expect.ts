/**
 * The compact notation the command tables are written in, and its reading.
 *
 * A command is `"wrapper>…>program arg arg @subcommand #flag,flag ~0,2 !"`:
 * arguments separated by single spaces; `@…` the subcommand when it is not the
 * first argument that does not start with `-` (the documented default); `#…`
 * the flags; `~…` the indices of unknown arguments; a final `!` opaque. Anything
 * with blanks or marker characters in an argument is written as an object.
 *
 * A target is `"[index:]r|w|d|u value"` (file.read, file.write, file.delete,
 * http.request; path or URL by action), with a `*` after the letter when the program
 * follows the symbolic links below it (`r* /dir`), or `"[index:]r ?reason raw"` when unresolved.
 */
import { expect } from "vitest";
import { analyzeCommand, type CommandAnalysis, type CommandEnvironment, type CommandFlag, type DerivedTarget, type SimpleCommand } from "../../../worker/policy/command/index.ts";

export type ExpectedCommand =
  | string
  | { p: string; a?: string[]; s?: string; w?: string[]; f?: CommandFlag[]; u?: number[]; o?: boolean; r?: SimpleCommand["redirections"] };

const ACTIONS = { r: "file.read", w: "file.write", d: "file.delete", u: "http.request" } as const;

function defaultSubcommand(args: readonly string[], unknown: readonly number[]): string {
  const index = args.findIndex((arg, i) => !unknown.includes(i) && !arg.startsWith("-"));
  return index < 0 ? "" : (args[index] as string);
}

/** Reads one expected command into the fields a SimpleCommand is compared on (redirections aside). */
export function readCommand(expected: ExpectedCommand): Omit<SimpleCommand, "redirections"> & { redirections?: SimpleCommand["redirections"] } {
  if (typeof expected !== "string") {
    const args = expected.a ?? [];
    const unknownArgs = expected.u ?? [];
    const out: Omit<SimpleCommand, "redirections"> & { redirections?: SimpleCommand["redirections"] } = {
      program: expected.p,
      args,
      unknownArgs,
      subcommand: expected.s ?? defaultSubcommand(args, unknownArgs),
      wrappers: expected.w ?? [],
      flags: expected.f ?? [],
      opaque: expected.o ?? false,
    };
    if (expected.r !== undefined) out.redirections = expected.r;
    return out;
  }
  let text = expected;
  let opaque = false;
  if (text.endsWith(" !") || text === "!") {
    opaque = true;
    text = text === "!" ? "" : text.slice(0, -2);
  }
  const tokens = text === "" ? [] : text.split(" ");
  let subcommand: string | null = null;
  let flags: CommandFlag[] = [];
  let unknownArgs: number[] = [];
  while (tokens.length > 0) {
    const last = tokens[tokens.length - 1] as string;
    if (last.startsWith("@")) subcommand = last.slice(1);
    else if (last.startsWith("#")) flags = last.slice(1).split(",") as CommandFlag[];
    else if (last.startsWith("~")) unknownArgs = last.slice(1).split(",").map(Number);
    else break;
    tokens.pop();
  }
  const head = tokens.shift() ?? "";
  const parts = head.split(">");
  const program = parts.pop() ?? "";
  return {
    program,
    args: tokens,
    unknownArgs,
    subcommand: subcommand ?? defaultSubcommand(tokens, unknownArgs),
    wrappers: parts,
    flags,
    opaque,
  };
}

export function readTarget(expected: string): DerivedTarget {
  const match = /^(?:([0-9]+):)?([rwdu])(\*?) (\?([a-z_]+) )?(.*)$/s.exec(expected);
  if (match === null) throw new Error(`bad target notation: ${expected}`);
  const action = ACTIONS[match[2] as keyof typeof ACTIONS];
  const kind = action === "http.request" ? "url" : "path";
  const command = Number(match[1] ?? "0");
  if (match[5] !== undefined) return { action, kind, unresolved: match[5] as never, raw: match[6] ?? "", command };
  return { action, kind, value: match[6] ?? "", ...(match[3] === "*" ? { followsLinksBelow: true as const } : {}), command };
}

function targetKey(target: DerivedTarget): string {
  return JSON.stringify([target.command, target.action, target.kind, "value" in target ? target.value : `?${target.unresolved} ${target.raw}`, "followsLinksBelow" in target]);
}

/** The analysis in the shape the expectations are compared on. */
export function shapeOf(analysis: CommandAnalysis, withRedirections: boolean): { commands: unknown[]; targets: string[] } {
  return {
    commands: analysis.commands.map((command) => {
      const { redirections, ...rest } = command;
      return withRedirections ? command : rest;
    }),
    targets: analysis.targets.map(targetKey).sort(),
  };
}

export function expectedShape(commands: readonly ExpectedCommand[], targets: readonly string[]): { commands: unknown[]; targets: string[]; withRedirections: boolean } {
  const read = commands.map(readCommand);
  const withRedirections = read.some((command) => command.redirections !== undefined);
  return {
    commands: read.map((command) => (withRedirections ? { ...command, redirections: command.redirections ?? [] } : command)),
    targets: targets.map((target) => targetKey(readTarget(target))).sort(),
    withRedirections,
  };
}

/** Writes an analysis in the notation (used to draft rows, which are then checked by hand). */
export function notate(analysis: CommandAnalysis): { commands: ExpectedCommand[]; targets: string[] } {
  const commands = analysis.commands.map((command): ExpectedCommand => {
    const simple =
      command.program !== "" &&
      !/[ >@#~!]/.test(command.program) &&
      command.wrappers.every((wrapper) => !/[ >]/.test(wrapper)) &&
      command.args.every((arg) => arg !== "" && !/[ \n]/.test(arg) && !/^[@#~!]/.test(arg) && arg !== "!");
    const sub = command.subcommand === defaultSubcommand(command.args, command.unknownArgs) ? null : command.subcommand;
    if (!simple) {
      const out: Exclude<ExpectedCommand, string> = { p: command.program };
      if (command.args.length > 0) out.a = command.args;
      if (sub !== null) out.s = sub;
      if (command.wrappers.length > 0) out.w = command.wrappers;
      if (command.flags.length > 0) out.f = command.flags;
      if (command.unknownArgs.length > 0) out.u = command.unknownArgs;
      if (command.opaque) out.o = true;
      return out;
    }
    let text = [command.wrappers.map((wrapper) => `${wrapper}>`).join("") + command.program, ...command.args].join(" ");
    if (sub !== null) text += ` @${sub}`;
    if (command.flags.length > 0) text += ` #${command.flags.join(",")}`;
    if (command.unknownArgs.length > 0) text += ` ~${command.unknownArgs.join(",")}`;
    if (command.opaque) text += " !";
    return text;
  });
  const targets = analysis.targets.map((target) => {
    const letter = target.action === "file.read" ? "r" : target.action === "file.write" ? "w" : target.action === "file.delete" ? "d" : "u";
    const prefix = target.command === 0 ? "" : `${target.command}:`;
    return "value" in target ? `${prefix}${letter}${"followsLinksBelow" in target ? "*" : ""} ${target.value}` : `${prefix}${letter} ?${target.unresolved} ${target.raw}`;
  });
  return { commands, targets };
}

/** One row of a command table: the line, every simple command it runs, every target it implies. */
export type Row = [line: string, commands: ExpectedCommand[], targets: string[]];

export const LINUX: CommandEnvironment = { os: "linux", shell: "bash", cwd: "/home/dev/proj", home: "/home/dev" };
export const MACOS: CommandEnvironment = { os: "macos", shell: "zsh", cwd: "/Users/dev/proj", home: "/Users/dev" };
export const WINDOWS: CommandEnvironment = { os: "windows", shell: "powershell", cwd: "C:\\work\\proj", home: "C:\\Users\\dev" };

/** Asserts that `line` analyses to exactly the row's commands and targets. */
export function checkRow(env: CommandEnvironment, [line, commands, targets]: Row): void {
  const result = analyzeCommand(line, env);
  if (!result.ok) throw new Error(`${JSON.stringify(line)} was refused: ${result.reason}`);
  const expected = expectedShape(commands, targets);
  expect(shapeOf(result.value, expected.withRedirections)).toEqual({ commands: expected.commands, targets: expected.targets });
}
