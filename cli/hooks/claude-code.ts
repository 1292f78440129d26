import { accessSync, constants, statSync } from "node:fs";
import { basename, delimiter, join } from "node:path";
import { sha256Hex } from "../../worker/encoding.ts";
import {
  absolutePath,
  canonicalSha256,
  fileAction,
  globDirectory,
  optionalString,
  stringField,
  toolAction,
  type AgentMapping,
  type MapContext,
  type PlannedAction,
  type ToolCall,
  type ToolRule,
} from "./mapping.ts";
import { HookFailure } from "./protocol.ts";

/**
 * Claude Code's tools as Warden actions (hooks reference and tools reference at
 * code.claude.com, as of Claude Code v2.1.2xx; docs/hooks.md). Every file path Claude Code
 * sends is already absolute; relative ones are still resolved against `cwd`, so a future
 * change there cannot widen what a decision covers.
 */

/** Where Claude Code looks for a shell by name after CLAUDE_CODE_SHELL, $SHELL and PATH. */
const SHELL_DIRECTORIES = ["/bin", "/usr/bin", "/usr/local/bin", "/opt/homebrew/bin"];

/**
 * The shell Claude Code runs the Bash tool in, found as Claude Code 2.1.332 finds it: Git Bash
 * on Windows; elsewhere the first executable of CLAUDE_CODE_SHELL and $SHELL whose path merely
 * contains "bash" or "zsh" (`rbash` counts), then the preferred shell on PATH (bash when $SHELL's
 * name is bash, else zsh), both in the usual directories, then the other on PATH. The hook runs in
 * Claude Code's environment, so it sees the same variables and files. Read by the name of the
 * program found; one named neither (`/opt/bash-5/bin/sh`) is refused, since which grammar it
 * speaks cannot be told.
 */
export function claudeBashShell(context: MapContext): "bash" | "zsh" {
  if (context.platform === "win32") return "bash";
  const { env } = context;
  const named = [env["CLAUDE_CODE_SHELL"], env["SHELL"]].filter((path): path is string => path !== undefined && (path.includes("bash") || path.includes("zsh")));
  const [preferred, other] = basename(env["SHELL"] ?? "") === "bash" ? (["bash", "zsh"] as const) : (["zsh", "bash"] as const);
  // Every place a search of PATH would look, in order: the first executable among them is what it finds.
  const onPath = (name: string) => (env["PATH"] ?? "").split(delimiter).filter((dir) => dir !== "").map((dir) => join(dir, name));
  const chosen = [...named, ...onPath(preferred), ...[preferred, other].flatMap((name) => SHELL_DIRECTORIES.map((dir) => `${dir}/${name}`)), ...onPath(other)].find(executable);
  // None at all: Claude Code runs no Bash call, and the line's reading does not matter.
  if (chosen === undefined) return "bash";
  const name = basename(chosen);
  if (name.includes("zsh")) return "zsh";
  if (name.includes("bash")) return "bash";
  throw new HookFailure("configuration_error", `Claude Code would run Bash calls in ${chosen}, which is not named bash or zsh: the hook cannot tell how it reads a line`);
}

/** A file this user may execute (a directory named zsh is no shell). */
function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

function command(call: ToolCall, context: MapContext, shell: "bash" | "zsh" | "powershell"): PlannedAction[] {
  return [{ action: { type: "command.exec", targets: [{ kind: "command", value: stringField(call, "command"), cwd: context.cwd, home: context.home, shell }] }, files: [] }];
}

/**
 * A path field as Claude Code reads it: Claude Code trims the text and expands a leading `~`
 * before it opens anything, and hands some tools' paths to the hook as the model wrote them
 * (Glob's and Grep's `path`, checked against 2.1.332), which the hook and Warden would read as
 * written — `~` a directory of that name in the session directory. Such a path is refused rather
 * than read either way; any other is made absolute against the session directory.
 */
function claudePath(call: ToolCall, field: string, context: MapContext, value: string | undefined = stringField(call, field)): string {
  return absolutePath(readAsWritten(call, field, value), context.cwd);
}

/** `value` of `field`, unless Claude Code reads it otherwise than as written: a leading `~`, blanks around it. */
function readAsWritten(call: ToolCall, field: string, value: string): string {
  if (value.startsWith("~") || value !== value.trim()) {
    throw new HookFailure("unknown_tool_shape", `${call.name}: tool_input.${field} starts with ~ or has blanks around it, which Claude Code reads otherwise than as written; send an absolute path`);
  }
  return value;
}

/**
 * The built-in rows, each refusing a call meant for another machine: with remote tools on,
 * Claude Code runs a call that names `_host` on that machine, while this hook would judge it
 * against this device's files, directories and shell.
 */
function onThisMachine(rows: Record<string, ToolRule>): Record<string, ToolRule> {
  return Object.fromEntries(
    Object.entries(rows).map(([name, rule]) => [
      name,
      {
        why: rule.why,
        plan: (call: ToolCall, context: MapContext) => {
          if (Object.hasOwn(call.input, "_host")) throw new HookFailure("unknown_tool_shape", `${call.name}: tool_input._host runs the call on another machine, which this device's hook cannot judge`);
          return rule.plan(call, context);
        },
      },
    ]),
  );
}

/** The edit a tool makes, as JSON: `inputs_sha256` is SHA-256 of its RFC 8785 form (docs/hooks.md). */
function editInputs(call: ToolCall, edits: unknown): string {
  if (!Array.isArray(edits) || edits.length === 0) throw new HookFailure("unknown_tool_shape", `${call.name}: tool_input.edits must be a non-empty array`);
  return canonicalSha256(
    edits.map((edit: unknown, index) => {
      const fields = typeof edit === "object" && edit !== null ? (edit as Record<string, unknown>) : {};
      const { old_string, new_string, replace_all } = fields;
      if (typeof old_string !== "string" || typeof new_string !== "string" || (replace_all !== undefined && typeof replace_all !== "boolean")) {
        throw new HookFailure("unknown_tool_shape", `${call.name}: edit ${index} needs old_string and new_string (and a boolean replace_all)`);
      }
      return { old_string, new_string, replace_all: replace_all ?? false };
    }),
  );
}

/** The tools that run a command in Claude Code's (possibly sandboxed) shell. */
const SHELL_TOOLS: ReadonlySet<string> = new Set(["Bash", "PowerShell", "Monitor"]);

/** The origin of the Anthropic API, where WebSearch queries go (tools reference: "Anthropic's web search backend"). */
export const CLAUDE_SEARCH_PROVIDER = "https://api.anthropic.com/";

/** Claude Code's table: one row per built-in tool, then MCP tools and everything else. */
export const claudeCode: AgentMapping = {
  agent: "claude-code",
  tools: onThisMachine({
    Bash: {
      why: "A shell line: the worker analyses every simple command in it, in the shell Claude Code runs it in, from the session directory",
      plan: (call, context) => command(call, context, claudeBashShell(context)),
    },
    PowerShell: {
      why: "Windows' native shell tool: the same line analysis, as PowerShell parses it",
      plan: (call, context) => command(call, context, "powershell"),
    },
    Monitor: {
      why: "Watches a shell command's output, or a WebSocket, and streams what arrives to the model: command.exec of the command as the Bash tool's shell reads it, or an http.request to the ws(s) URL that sends data off the device (the URL is agent-chosen)",
      plan: (call, context) => {
        const ws = call.input["ws"];
        if (ws === undefined) return command(call, context, claudeBashShell(context));
        if (call.input["command"] !== undefined || typeof ws !== "object" || ws === null) throw new HookFailure("unknown_tool_shape", "Monitor: tool_input needs one of command (a string) or ws (an object with url)");
        const url = (ws as Record<string, unknown>)["url"];
        if (typeof url !== "string" || url.length === 0) throw new HookFailure("unknown_tool_shape", "Monitor: tool_input.ws.url must be a non-empty string");
        // Bound to the whole `ws`: its protocols are agent-chosen and sent with the connection.
        return [{ action: { type: "http.request", targets: [{ kind: "url", value: url }], inputs_sha256: canonicalSha256(ws), sends_external: true }, files: [] }];
      },
    },
    Read: {
      why: "Reads one file: file.read of that path",
      plan: (call, context) => [fileAction("file.read", [claudePath(call, "file_path", context)])],
    },
    Glob: {
      why: "Lists files: file.read of the directory the pattern reaches, which an absolute or ../ pattern moves outside `path`",
      plan: (call, context) => {
        const path = optionalString(call, "path");
        const root = path === undefined ? context.cwd : claudePath(call, "path", context, path);
        return [fileAction("file.read", [globDirectory(readAsWritten(call, "pattern", stringField(call, "pattern")), root)])];
      },
    },
    Grep: {
      why: "Searches file contents under `path` (a file or a directory; the session directory when absent): file.read of it",
      plan: (call, context) => {
        stringField(call, "pattern");
        const path = optionalString(call, "path");
        return [fileAction("file.read", [path === undefined ? context.cwd : claudePath(call, "path", context, path)])];
      },
    },
    Write: {
      why: "Replaces a file with `content`: file.write bound to SHA-256 of exactly those UTF-8 bytes, which is also the file's hash afterwards",
      plan: (call, context) => {
        const content = call.input["content"];
        if (typeof content !== "string") throw new HookFailure("unknown_tool_shape", "Write: tool_input.content must be a string");
        return [fileAction("file.write", [claudePath(call, "file_path", context)], sha256Hex(content))];
      },
    },
    Edit: {
      why: "A string replacement in a file: file.write bound to the edit (old, new, replace_all)",
      plan: (call, context) => [fileAction("file.write", [claudePath(call, "file_path", context)], editInputs(call, [call.input]))],
    },
    MultiEdit: {
      why: "Several replacements in one file (older Claude Code): file.write bound to every edit, in order",
      plan: (call, context) => [fileAction("file.write", [claudePath(call, "file_path", context)], editInputs(call, call.input["edits"]))],
    },
    NotebookEdit: {
      why: "Replaces, inserts or deletes one notebook cell: a write of the notebook file, bound to the cell edit",
      plan: (call, context) => {
        const { cell_id, cell_type, edit_mode } = call.input;
        const source = call.input["new_source"];
        if (typeof source !== "string") throw new HookFailure("unknown_tool_shape", "NotebookEdit: tool_input.new_source must be a string");
        const inputs = canonicalSha256({ cell_id: cell_id ?? null, cell_type: cell_type ?? null, edit_mode: edit_mode ?? "replace", new_source: source });
        return [fileAction("file.write", [claudePath(call, "notebook_path", context)], inputs)];
      },
    },
    WebFetch: {
      why: "Fetches an agent-chosen URL (and runs an agent-written prompt on it): an http.request that sends data off the device, since neither the URL nor the prompt can be shown free of workspace data, bound to the whole input (the prompt too)",
      plan: (call) => [{ action: { type: "http.request", targets: [{ kind: "url", value: stringField(call, "url") }], inputs_sha256: canonicalSha256(call.input), sends_external: true }, files: [] }],
    },
    WebSearch: {
      why: "Sends an agent-written query to Anthropic's search backend: an http.request to that provider, sending data off the device, bound to the whole input (the query and its domain filters)",
      plan: (call) => {
        stringField(call, "query");
        return [{ action: { type: "http.request", targets: [{ kind: "url", value: CLAUDE_SEARCH_PROVIDER }], inputs_sha256: canonicalSha256(call.input), sends_external: true }, files: [] }];
      },
    },
  }),
  mcp: {
    why: "An MCP server's tool acts outside the device: mcp.call naming server and tool, bound to its arguments",
    plan: (call) => [toolAction("mcp.call", call)],
  },
  other: {
    why: "Any other tool (Agent, TodoWrite, ExitPlanMode, tools yet to come): agent.tool naming it, so the bundle decides",
    plan: (call) => [toolAction("agent.tool", call)],
  },
  successExitStatus: 0,
  answersAllow: true,
  // Leaving the sandbox (or widening its network, `allowed_domains` on the shell tools — on WebSearch it filters results)
  // is a prompt of Claude Code's own: Warden's permit must not answer it.
  keepsOwnPrompt: (call) => SHELL_TOOLS.has(call.name) && (call.input["dangerouslyDisableSandbox"] === true || call.input["allowed_domains"] !== undefined),
  // Monitor always runs in the background, a Bash call when asked to: PostToolUse comes when it started.
  reportsAtStart: (call) => call.name === "Monitor" || (call.name === "Bash" && call.input["run_in_background"] === true),
  comparesReadings: false,
};
