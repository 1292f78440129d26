import { parseArgs, type ParseArgsConfig } from "node:util";

/**
 * What every `warden` command is: a summary for the listing, a help text and a
 * run function that returns the process exit code. Commands print their result
 * to stdout; `main` turns any error they throw into one line on stderr and exit 1.
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

/** An error as one line: its message, plus its cause's (fetch hides ECONNREFUSED there). */
export function oneLine(error: unknown): string {
  let message = error instanceof Error ? error.message : String(error);
  const cause = error instanceof Error ? error.cause : undefined;
  if (cause instanceof Error && cause.message && !message.includes(cause.message)) message += ` (${cause.message})`;
  else if (cause && typeof cause === "object" && "code" in cause) message += ` (${String(cause.code)})`;
  return message.replace(/\s+/g, " ").trim();
}
