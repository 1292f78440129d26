import packageJson from "../package.json";
import { UsageError, oneLine, type Command } from "./command.ts";
import { STATUS } from "./exit.ts";

/**
 * The `warden` command line (bin/warden.js loads its compiled form from dist/cli/).
 *
 * Adding a command is one line in `commands`: its summary and the module that
 * default-exports it. Modules load only when their command runs, so
 * `warden --help` stays fast and no command pays for another's dependencies.
 */
interface CommandEntry {
  summary: string;
  load: () => Promise<{ default: Command }>;
}

const commands: Record<string, CommandEntry> = {
  shim: { summary: "Reference shim: register a device key, ask for decisions, check the log", load: () => import("./shim.ts") },
  hook: { summary: "Agent hooks: Claude Code and Codex ask Warden before every tool call", load: () => import("./hook.ts") },
  bundle: { summary: "Test, build, sign, publish, format and evaluate policy bundles", load: () => import("./bundle.ts") },
  keys: { summary: "Manage bundle publisher keys", load: () => import("./keys.ts") },
  agent: { summary: "Approve agent builds for the agent registry (warden agent sign)", load: () => import("./agent.ts") },
  audit: { summary: "Verify log exports offline (warden audit verify)", load: () => import("./audit.ts") },
  evidence: { summary: "Verify attestation evidence offline (warden evidence verify)", load: () => import("./evidence-command.ts") },
};

export const HELP = [
  "warden: policy decisions for AI-agent actions",
  "",
  "Usage: warden <command> [options]",
  "",
  "Commands:",
  ...Object.entries(commands).map(([name, entry]) => `  ${name.padEnd(Math.max(...Object.keys(commands).map((key) => key.length)))}  ${entry.summary}`),
  "",
  "Options:",
  "  -h, --help     Show this help",
  "  -V, --version  Print the version",
  "",
  "Run `warden <command> --help` for a command's options. Exit status: 0 done (permitted, valid,",
  "verified), 1 usage or environment error, 2 rejected or failed verification; `warden shim` and",
  "`warden hook` keep their documented codes (docs/cli.md).",
].join("\n");

/** `warden --version`: the package's version, as `npm ls` and bug reports name it. */
export const VERSION = `warden ${packageJson.version}`;

/** Runs the command line `argv` (without node and the script) and returns the exit code. Never throws. */
export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  try {
    if (name === undefined) {
      process.stderr.write(HELP + "\n");
      return STATUS.error;
    }
    if (name === "--help" || name === "-h" || name === "help") {
      process.stdout.write(HELP + "\n");
      return STATUS.ok;
    }
    if (name === "--version" || name === "-V" || name === "version") {
      process.stdout.write(VERSION + "\n");
      return STATUS.ok;
    }
    const entry = Object.hasOwn(commands, name) ? commands[name] : undefined;
    if (!entry) throw new UsageError(`unknown command: ${name}`, "warden");
    const command = (await entry.load()).default;
    if (rest.length === 1 && (rest[0] === "--help" || rest[0] === "-h")) {
      process.stdout.write(command.help + "\n");
      return 0;
    }
    return await command.run(rest);
  } catch (error) {
    const hint = error instanceof UsageError ? ` (see \`${error.helpCommand} --help\`)` : "";
    process.stderr.write(`warden: ${oneLine(error)}${hint}\n`);
    return STATUS.error;
  }
}
