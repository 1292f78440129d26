import { sha256Hex } from "../../worker/encoding.ts";
import { isAbsolute, resolve, sep } from "node:path";
import { canonicalJson, type JsonValue } from "../../worker/log/canonical.ts";
import type { DecisionRequest, DecisionTarget } from "../client.ts";
import type { CommandAnalysis, CommandEnvironment } from "../../worker/policy/command/types.ts";
import type { TargetResult } from "../../worker/policy/targets.ts";
import { HookFailure } from "./protocol.ts";

/**
 * How a tool call becomes the actions Warden decides: one table per agent (cli/hooks/claude-code.ts,
 * cli/hooks/codex.ts), one row per tool, each row saying why it maps the way it does. The
 * helpers here are what the rows share; docs/hooks.md renders the tables.
 */

/** Warden's own analysis of a command line (worker/policy/command), as a mapping compares a line's readings with it. */
export type CommandAnalyser = (line: string, env: CommandEnvironment) => TargetResult<CommandAnalysis>;

/** Where the call runs: the session's directory, the OS user's home, and the platform's shells. */
export interface MapContext {
  cwd: string;
  home: string;
  platform: NodeJS.Platform;
  env: Record<string, string | undefined>;
  /** The OS user's login shell (the passwd entry's), where the platform has one: Codex's default shell. */
  loginShell?: string;
  /** Present for a mapping that {@link AgentMapping.comparesReadings}: most of the hook's code, so loaded only then. */
  analyse?: CommandAnalyser;
}

/** One action to decide, with the files whose bytes the outcome reports once the tool has run. */
export interface PlannedAction {
  action: DecisionRequest["action"];
  /** Files the action writes (hashed after the tool ran) or deletes (reported with a null hash). */
  files: string[];
  /** For a file reached through symbolic links (cli/hooks/links.ts): the path the call named, which leads to it. */
  through?: string;
}

/** A tool call by name, with its (untrusted, unchecked) input object. */
export interface ToolCall {
  name: string;
  input: Record<string, unknown>;
}

/** One row of an agent's table. */
export interface ToolRule {
  /** Why the row maps the call this way: the agent's documented tool and what policy must see of it. */
  why: string;
  plan(call: ToolCall, context: MapContext): PlannedAction[];
}

/** One agent's table: how each of its tool calls becomes Warden actions, and how its protocol answers. */
export interface AgentMapping {
  /** The agent's id in decisions (`agent.id`). */
  agent: "claude-code" | "codex";
  /** Built-in tools by the exact name the agent sends. */
  tools: Record<string, ToolRule>;
  /** Tools named `mcp__<server>__<tool>`. */
  mcp: ToolRule;
  /** Every other tool: decided as `agent.tool`, so the bundle, not the hook, says what is allowed. */
  other: ToolRule;
  /**
   * The exit status a command had when PostToolUse fires and the response names none: Claude
   * Code fires PostToolUse only for commands that exited 0 (a non-zero exit is
   * PostToolUseFailure, "Exit code N"); Codex fires it after failures too, so it says nothing.
   */
  successExitStatus: number | null;
  /**
   * Whether a permit is answered with `permissionDecision: "allow"`. Codex parses but does not
   * honour "allow" (developers.openai.com/codex/hooks), so its hook stays silent on a permit and
   * Codex's own approval flow goes on; a deny is honoured by both.
   */
  answersAllow: boolean;
  /**
   * Calls whose own permission prompt the agent keeps even after a permit: the hook stays silent
   * on them instead of answering "allow", which would stand in for that prompt.
   */
  keepsOwnPrompt?: (call: ToolCall) => boolean;
  /** Calls whose PostToolUse comes when they started, not when they ended: their exit status is not known then. */
  reportsAtStart?: (call: ToolCall) => boolean;
  /** Whether its rows compare how shells read a line (Codex: the model picks the shell), so the hook loads {@link MapContext.analyse}. */
  comparesReadings: boolean;
}

/** The actions for one call: the row for its name, the MCP row, or the catch-all row. */
export function planCall(mapping: AgentMapping, call: ToolCall, context: MapContext): PlannedAction[] {
  const rule = Object.hasOwn(mapping.tools, call.name) ? mapping.tools[call.name]! : /^mcp__.+__.+$/.test(call.name) ? mapping.mcp : mapping.other;
  return rule.plan(call, context);
}

/** A required string field of the tool input; a known tool without it is an unknown shape, never a guess. */
export function stringField(call: ToolCall, field: string): string {
  const value = call.input[field];
  if (typeof value !== "string" || value.length === 0) throw new HookFailure("unknown_tool_shape", `${call.name}: tool_input.${field} must be a non-empty string`);
  return value;
}

/** An optional string field; present but not a string is an unknown shape. */
export function optionalString(call: ToolCall, field: string): string | undefined {
  const value = call.input[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "string") throw new HookFailure("unknown_tool_shape", `${call.name}: tool_input.${field} must be a string`);
  return value === "" ? undefined : value;
}

/** A path the agent named, made absolute against the session directory (agents may send relative ones). */
export function absolutePath(path: string, cwd: string): string {
  return isAbsolute(path) ? path : resolve(cwd, path);
}


/** SHA-256 of the RFC 8785 form, so the hash does not depend on the order the agent wrote the keys in. */
export function canonicalSha256(value: unknown): string {
  return sha256Hex(canonicalJson(value as JsonValue));
}

const GLOB_CHARS = /[*?[\]{}]/;

/**
 * The directory a glob pattern searches: the literal part of the pattern before its first
 * wildcard segment, resolved against the search root. `../../etc/*` or `/etc/**` reach beyond
 * the root, and this is where they reach.
 */
export function globDirectory(pattern: string, root: string): string {
  const separators = /[\\/]/;
  const segments = pattern.split(separators);
  const literal: string[] = [];
  for (const segment of segments.slice(0, -1)) {
    if (GLOB_CHARS.test(segment)) break;
    literal.push(segment);
  }
  const prefix = literal.join(sep);
  if (prefix === "" && pattern.startsWith("/")) return "/";
  return prefix === "" ? root : absolutePath(prefix, root);
}

/** A file action on paths; `inputs` binds the token to exactly these contents when given. */
export function fileAction(type: "file.read" | "file.write" | "file.delete", paths: string[], inputs?: string): PlannedAction {
  const targets: DecisionTarget[] = paths.map((value) => ({ kind: "path", value }));
  return { action: { type, targets, ...(inputs !== undefined ? { inputs_sha256: inputs } : {}) }, files: type === "file.read" ? [] : paths };
}

/** A tool target (`mcp.call` or `agent.tool`) with the call's input bound by hash. */
export function toolAction(type: "mcp.call" | "agent.tool", call: ToolCall): PlannedAction {
  return { action: { type, targets: [{ kind: "tool", value: call.name }], inputs_sha256: canonicalSha256(call.input) }, files: [] };
}

type Shell = "bash" | "sh" | "zsh" | "powershell";

/** The shell a path names by its basename, when it is one of `allowed` (`/opt/homebrew/bin/zsh` → zsh, `pwsh.exe` → powershell). */
export function shellNamed<S extends Shell>(path: string | undefined, allowed: readonly S[]): S | undefined {
  if (!path) return undefined;
  const name = path.split(/[\\/]/).pop()!.toLowerCase().replace(/\.exe$/, "");
  return allowed.find((shell) => shell === (name === "pwsh" ? "powershell" : name));
}
