import { UsageError, oneLine, type Command } from "./command.ts";

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
  bundle: { summary: "Test, build, sign and publish policy bundles", load: () => import("./bundle.ts") },
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
  "Run `warden <command> --help` for a command's options.",
].join("\n");

/** Runs the command line `argv` (without node and the script) and returns the exit code. Never throws. */
export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  try {
    if (name === undefined) {
      process.stderr.write(HELP + "\n");
      return 1;
    }
    if (name === "--help" || name === "-h" || name === "help") {
      process.stdout.write(HELP + "\n");
      return 0;
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
    return 1;
  }
}
