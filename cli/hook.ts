import { realpathSync } from "node:fs";
import { homedir } from "node:os";
import { group, JSON_OPTION, oneLine, oneOf, parseOptions, parseWithPositionals, printResult, UsageError, type Command } from "./command.ts";
import { baseUrl, timeoutMs } from "./connect.ts";
import { claudeCode } from "./hooks/claude-code.ts";
import { codex } from "./hooks/codex.ts";
import { installHooks, settingsPath, shellQuote, type HookAgent } from "./hooks/install.ts";
import type { AgentMapping } from "./hooks/mapping.ts";
import { HookFailure, readInput, parseHookInput } from "./hooks/protocol.ts";
import { asHookFailure, postToolUse, preToolUse, type HookOptions } from "./hooks/run.ts";
import { configDir } from "./hooks/state.ts";

/**
 * `warden hook claude-code|codex`: the command an agent's hook settings run before and after
 * every tool call, and `warden hook install` that writes those settings. A hook answers on
 * stdout in the agent's protocol; whatever goes wrong — bad arguments included — is exit 2
 * with one line on stderr, the one exit status both agents treat as a block.
 */

const DEFAULT_REVIEW_WAIT_SECONDS = 120;
/** The agent's per-hook timeout is set this much above the review wait, so the hook, not the agent, ends a wait. */
const TIMEOUT_HEADROOM_SECONDS = 60;

const HOOK_OPTIONS = {
  url: { type: "string" },
  device: { type: "string" },
  key: { type: "string" },
  "review-wait": { type: "string" },
  timeout: { type: "string" },
  "state-dir": { type: "string" },
  "agent-version": { type: "string" },
} as const;

function reviewWaitSeconds(command: string, value: string | undefined): number {
  if (value === undefined) return DEFAULT_REVIEW_WAIT_SECONDS;
  const seconds = Number(value);
  if (!Number.isFinite(seconds) || seconds < 0 || seconds > 3600) throw new UsageError("--review-wait must be a number of seconds from 0 to 3600", command);
  return seconds;
}

/** Options, then the environment (WARDEN_URL, WARDEN_DEVICE, WARDEN_KEY, WARDEN_STATE_DIR). */
function hookOptions(command: string, mapping: AgentMapping, argv: string[]): HookOptions {
  const values = parseOptions(command, argv, HOOK_OPTIONS);
  const env = process.env;
  const url = values.url ?? env["WARDEN_URL"];
  const device = values.device ?? env["WARDEN_DEVICE"];
  const keyPath = values.key ?? env["WARDEN_KEY"];
  if (!url) throw new UsageError("--url (or WARDEN_URL) is required", command);
  if (!device) throw new UsageError("--device (or WARDEN_DEVICE) is required", command);
  if (!keyPath) throw new UsageError("--key (or WARDEN_KEY) is required", command);
  return {
    mapping,
    url: baseUrl(command, url),
    device,
    keyPath,
    stateRoot: values["state-dir"] ?? env["WARDEN_STATE_DIR"] ?? configDir(),
    reviewWaitMs: reviewWaitSeconds(command, values["review-wait"]) * 1000,
    timeoutMs: timeoutMs(command, values.timeout),
    agentVersion: values["agent-version"] ?? "unknown",
  };
}

function agentHook(name: HookAgent, mapping: AgentMapping, agentTitle: string): Command {
  const command = `warden hook ${name}`;
  return {
    summary: `${agentTitle} hook: decide every tool call with Warden (PreToolUse), log its outcome (PostToolUse)`,
    help: `Usage: ${command} --url <warden> --device <id> --key <file> [options]  < hook-input.json

Reads one ${agentTitle} hook input (JSON) on stdin. PreToolUse: maps the tool call to
Warden actions (docs/hooks.md), asks for decisions, waits for a review when one is held,
redeems every action token, then answers ${name === "codex" ? "nothing (a permit leaves Codex's own approval\nflow in place)" : '"allow"'} or "deny" with the reason. PostToolUse${name === "codex" ? "" : " and\nPostToolUseFailure"}: records the outcome in the device log.
Any error, bad input or unreachable Warden exits 2 with a reason on stderr: a block.

Options (or the environment):
  --url <url>            Warden base URL ($WARDEN_URL)
  --device <id>          Registered device id ($WARDEN_DEVICE)
  --key <file>           The device's private JWK ($WARDEN_KEY)
  --review-wait <s>      How long a held action waits for its reviewer (default ${DEFAULT_REVIEW_WAIT_SECONDS})
  --timeout <s>          Deadline of each request to Warden (default 10)
  --state-dir <dir>      Session, pending calls and log position ($WARDEN_STATE_DIR;
                         default ${configDir()})
  --agent-version <v>    The agent's version, logged with each decision (default unknown)
  -h, --help             Show this help`,

    async run(argv) {
      const options = hookOptions(command, mapping, argv);
      const input = parseHookInput(await readInput(process.stdin));
      let answer;
      try {
        answer = input.event === "PreToolUse" ? await preToolUse(input, options) : await postToolUse(input, options);
      } catch (error) {
        throw asHookFailure(error, options.url);
      }
      if (answer.stdout) process.stdout.write(answer.stdout + "\n");
      return 0;
    },
  };
}

const INSTALL = "warden hook install";

const install: Command = {
  summary: "Write the hook settings for Claude Code or Codex (idempotent)",
  help: `Usage: ${INSTALL} <claude-code|codex> --url <warden> --device <id> --key <file> [options]

Adds \`warden hook <agent>\` for every tool (PreToolUse, PostToolUse, and PostToolUseFailure for
Claude Code) to the agent's settings, keeping every other hook and setting. Running it again
replaces the handlers it wrote, so it never duplicates them.

  claude-code  ~/.claude/settings.json (user) or <project>/.claude/settings.json
  codex        ~/.codex/hooks.json ($CODEX_HOME) or <project>/.codex/hooks.json

Options:
  --scope <scope>        user | project (default user)
  --project-dir <dir>    The project for --scope project (default the current directory)
  --settings <file>      Write this settings file instead
  --json                 Print { settings, changed } as JSON
  --url, --device, --key, --review-wait, --state-dir
                         Written into the hook command (see \`warden hook claude-code --help\`)
  -h, --help             Show this help

The hook's timeout is set to the review wait plus ${TIMEOUT_HEADROOM_SECONDS} s: an agent lets a timed-out
hook's call through, so the hook must always finish first.`,

  async run(argv) {
    const { values, positionals } = parseWithPositionals(
      INSTALL,
      argv,
      { ...HOOK_OPTIONS, scope: { type: "string", default: "user" }, "project-dir": { type: "string" }, settings: { type: "string" }, ...JSON_OPTION },
      1,
    );
    const agent = oneOf(INSTALL, "agent", positionals[0]!, ["claude-code", "codex"] as const);
    const scope = oneOf(INSTALL, "scope", values.scope, ["user", "project"] as const);
    const url = values.url ?? process.env["WARDEN_URL"];
    const device = values.device ?? process.env["WARDEN_DEVICE"];
    const key = values.key ?? process.env["WARDEN_KEY"];
    if (!url || !device || !key) throw new UsageError("--url, --device and --key (or WARDEN_URL, WARDEN_DEVICE, WARDEN_KEY) are required", INSTALL);
    const wait = reviewWaitSeconds(INSTALL, values["review-wait"]);
    const words = [process.execPath, realpathSync(process.argv[1]!), "hook", agent, "--url", baseUrl(INSTALL, url), "--device", device, "--key", realpathSync(key)];
    if (values["review-wait"] !== undefined) words.push("--review-wait", String(wait));
    if (values.timeout !== undefined) words.push("--timeout", values.timeout);
    if (values["state-dir"] !== undefined) words.push("--state-dir", values["state-dir"]);
    const path = values.settings ?? settingsPath(agent, scope, homedir(), values["project-dir"] ?? process.cwd(), process.env);
    const { changed } = installHooks(path, agent, words.map(shellQuote).join(" "), wait + TIMEOUT_HEADROOM_SECONDS);
    printResult(values.json, { settings: path, changed }, (r) => [`${r.changed ? "installed" : "already installed"}: ${r.settings}`]);
    return 0;
  },
};

const hooks = group("hook", "Agent hooks: Claude Code and Codex ask Warden before every tool call", {
  "claude-code": agentHook("claude-code", claudeCode, "Claude Code"),
  codex: agentHook("codex", codex, "Codex"),
  install,
});

/**
 * The group, with one difference: outside `install`, any error — a usage error included — is
 * printed as `warden hook: <code>: …` and exits 2, never 1, which both agents would read as
 * "let the call through".
 */
const command: Command = {
  summary: hooks.summary,
  help: hooks.help,
  async run(argv) {
    if (argv[0] === "install" || argv[0] === undefined || argv[0] === "--help" || argv[0] === "-h" || argv[0] === "help") return hooks.run(argv);
    // A failure outside the awaited chain must block too, not exit 1.
    const blockOn = (error: unknown) => {
      process.stderr.write(`warden hook: internal_error: ${oneLine(error)}\n`);
      process.exit(2);
    };
    process.on("uncaughtException", blockOn);
    process.on("unhandledRejection", blockOn);
    try {
      return await hooks.run(argv);
    } catch (error) {
      const failure = error instanceof HookFailure ? error : error instanceof UsageError ? new HookFailure("configuration_error", error.message) : asHookFailure(error, "Warden");
      process.stderr.write(`warden hook: ${failure.code}: ${oneLine(failure)}\n`);
      return 2;
    }
  },
};

export default command;
