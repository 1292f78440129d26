import { parseArgs, type ParseArgsConfig } from "node:util";

/**
 * What every `warden` command is: a summary for the listing, a help text and a
 * run function that returns the process exit code (cli/exit.ts `STATUS`). Commands print
 * their result to stdout (as JSON with `--json`) and anything else to stderr; `main` turns
 * any error they throw into one line on stderr and exit 1.
 */
export interface Command {
  /** One line, shown by `warden --help` (and by a group's help). */
  summary: string;
  /** Full help, shown by `--help`. */
  help: string;
  run(argv: string[]): Promise<number>;
}

/** Bad arguments: reported with a pointer to the command's help. */
export class UsageError extends Error {
  constructor(
    message: string,
    readonly helpCommand: string,
  ) {
    super(message);
    this.name = "UsageError";
  }
}

export function wantsHelp(argv: string[]): boolean {
  return argv.includes("--help") || argv.includes("-h");
}

type Options = NonNullable<ParseArgsConfig["options"]>;

/** Strict parseArgs: unknown options and positionals are usage errors naming `command`. */
export function parseOptions<const T extends Options>(command: string, argv: string[], options: T) {
  try {
    return parseArgs({ args: argv, options, strict: true, allowPositionals: false }).values;
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error), command);
  }
}

/** Like `parseOptions`, for commands that take exactly `count` positional arguments (`warden bundle test <dir>`). */
export function parseWithPositionals<const T extends Options>(command: string, argv: string[], options: T, count: number) {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options, strict: true, allowPositionals: true });
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error), command);
  }
  if (parsed.positionals.length !== count) throw new UsageError(`expected ${count} argument${count === 1 ? "" : "s"}, got ${parsed.positionals.length}`, command);
  return { values: parsed.values, positionals: parsed.positionals };
}

/** The value of a required option, or a usage error. */
export function required<T>(command: string, values: Record<string, unknown>, name: string): T {
  const value = values[name];
  if (value === undefined || value === "") throw new UsageError(`--${name} is required`, command);
  return value as T;
}

/** The value of an option that must be one of `choices`. */
export function oneOf<const C extends readonly string[]>(command: string, name: string, value: string, choices: C): C[number] {
  if (!choices.includes(value)) throw new UsageError(`--${name} must be one of ${choices.join(", ")}, not ${JSON.stringify(value)}`, command);
  return value;
}

/** Commands with subcommands (`warden shim register`, later `warden bundle publish`…). */
export function group(name: string, summary: string, subcommands: Record<string, Command>): Command {
  const width = Math.max(...Object.keys(subcommands).map((key) => key.length));
  const help = [
    `warden ${name}: ${summary}`,
    "",
    `Usage: warden ${name} <command> [options]`,
    "",
    "Commands:",
    ...Object.entries(subcommands).map(([key, command]) => `  ${key.padEnd(width)}  ${command.summary}`),
    "",
    `Run \`warden ${name} <command> --help\` for a command's options.`,
  ].join("\n");
  return {
    summary,
    help,
    async run(argv) {
      const [sub, ...rest] = argv;
      if (sub === undefined || sub === "--help" || sub === "-h" || sub === "help") {
        (sub === undefined ? process.stderr : process.stdout).write(help + "\n");
        return sub === undefined ? 1 : 0;
      }
      const command = Object.hasOwn(subcommands, sub) ? subcommands[sub] : undefined;
      if (!command) throw new UsageError(`unknown command: warden ${name} ${sub}`, `warden ${name}`);
      if (wantsHelp(rest)) {
        process.stdout.write(command.help + "\n");
        return 0;
      }
      return command.run(rest);
    },
  };
}

/**
 * What a file system error means to the person who typed the path, by its errno code: Node's
 * own text (`ENOENT: no such file or directory, open 'x'`) names a syscall, not the problem.
 */
const FILE_ERRORS: Record<string, (path: string) => string> = {
  ENOENT: (path) => `${path}: no such file or directory`,
  ENOTDIR: (path) => `${path}: a part of this path is not a directory`,
  EISDIR: (path) => `${path} is a directory, not a file`,
  EACCES: (path) => `${path}: permission denied`,
  EPERM: (path) => `${path}: operation not permitted`,
  EEXIST: (path) => `${path} already exists (refusing to overwrite it)`,
  ENOSPC: (path) => `${path}: no space left on the device`,
  EROFS: (path) => `${path}: read-only file system`,
};

/** A file system error as one friendly line naming the path, or undefined for any other error. */
export function fileErrorMessage(error: unknown): string | undefined {
  if (!(error instanceof Error)) return undefined;
  const { code, path } = error as NodeJS.ErrnoException;
  const describe = code !== undefined && Object.hasOwn(FILE_ERRORS, code) ? FILE_ERRORS[code] : undefined;
  return describe && typeof path === "string" ? describe(path) : undefined;
}

/** An RFC 3339 time given as an option (`--now`); anything else is a usage error, never a verification result. */
export function parseTime(command: string, value: string): Date {
  const time = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/i.test(value) ? new Date(value) : new Date(Number.NaN);
  if (Number.isNaN(time.getTime())) throw new UsageError(`--now must be an RFC 3339 time such as 2026-01-31T12:00:00Z, not ${JSON.stringify(value)}`, command);
  return time;
}

/** `--json`, accepted by every command that prints a result: one JSON document on stdout instead of text. */
export const JSON_OPTION = { json: { type: "boolean", default: false } } as const;

/** Prints a command's result: `value` as JSON with `--json`, else the text lines `human` makes of it. Only results go to stdout. */
export function printResult<T>(json: boolean | undefined, value: T, human: (value: T) => string[]): void {
  process.stdout.write(json ? `${JSON.stringify(value, null, 2)}\n` : human(value).map((line) => `${line}\n`).join(""));
}

/** Progress and logs: stderr, so stdout carries only the result. */
export function log(line: string): void {
  process.stderr.write(`${line}\n`);
}

/** An error as one line: its message, plus its cause's (fetch hides ECONNREFUSED there). */
export function oneLine(error: unknown): string {
  const friendly = fileErrorMessage(error);
  if (friendly) return friendly;
  let message = error instanceof Error ? error.message : String(error);
  const cause = error instanceof Error ? error.cause : undefined;
  if (cause instanceof Error && cause.message && !message.includes(cause.message)) message += ` (${cause.message})`;
  else if (cause && typeof cause === "object" && "code" in cause) message += ` (${String(cause.code)})`;
  return message.replace(/\s+/g, " ").trim();
}
