/**
 * The hook wire protocol shared by Claude Code and Codex (docs/hooks.md names the versions):
 * one JSON object on stdin per tool call; on stdout, for PreToolUse, an optional
 * `hookSpecificOutput` with `permissionDecision`; exit 2 with a reason on stderr blocks.
 * Nothing here talks to Warden or touches files.
 */
import { parseStrictJson } from "../../worker/json/strict.ts";

/** The hook events the hooks handle; anything else is refused (exit 2), never silently passed. */
export const HOOK_EVENTS = ["PreToolUse", "PostToolUse", "PostToolUseFailure"] as const;
/** One of HOOK_EVENTS. */
export type HookEvent = (typeof HOOK_EVENTS)[number];

/**
 * Why a hook blocks instead of answering: each is printed as `warden hook: <code>: <detail>`
 * on stderr with exit 2, the one answer both agents treat as a block whatever else happens.
 */
export type HookFailureCode =
  | "malformed_input"
  | "unsupported_event"
  | "unknown_tool_shape"
  | "configuration_error"
  | "state_unavailable"
  | "warden_unreachable"
  | "warden_refused"
  | "malformed_response"
  | "no_pending_decision"
  | "outcome_not_recorded"
  | "internal_error";

/** A failure with its stable code; the command prints it and exits 2. */
export class HookFailure extends Error {
  constructor(
    readonly code: HookFailureCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "HookFailure";
  }
}

/** A tool call as the agent describes it, checked for the fields the hooks rely on. */
export interface HookInput {
  event: HookEvent;
  /** Absolute working directory of the agent session when the hook fired. */
  cwd: string;
  toolName: string;
  toolInput: Record<string, unknown>;
  /** The agent's id for this call; PostToolUse finds its decision by it. */
  toolUseId: string | undefined;
  /** PostToolUse: what the tool returned. */
  toolResponse: unknown;
  /** PostToolUseFailure: the error the agent reported. */
  error: string | undefined;
  /** Tool run time the agent measured (Claude Code sends `duration_ms`). */
  durationMs: number | undefined;
  /** Logged with the decision (never seen by policy): session, call and mode fields the agent sent. */
  context: Record<string, string>;
}

/** A hook's stdin is one JSON object; a Write of a large file makes it large, but never this large. */
export const MAX_INPUT_BYTES = 16 * 1024 * 1024;

/** Reads all of `stream`, refusing more than `maxBytes` (a hook's input is untrusted and bounded). */
export async function readInput(stream: AsyncIterable<Uint8Array | string>, maxBytes = MAX_INPUT_BYTES): Promise<string> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of stream) {
    const bytes = typeof chunk === "string" ? new TextEncoder().encode(chunk) : chunk;
    size += bytes.length;
    if (size > maxBytes) throw new HookFailure("malformed_input", `the hook input is larger than ${maxBytes} bytes`);
    chunks.push(bytes);
  }
  const all = new Uint8Array(size);
  let at = 0;
  for (const chunk of chunks) {
    all.set(chunk, at);
    at += chunk.length;
  }
  try {
    return new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(all);
  } catch {
    throw new HookFailure("malformed_input", "the hook input is not UTF-8");
  }
}

const CONTEXT_FIELDS = ["session_id", "permission_mode", "model", "turn_id", "agent_id", "agent_type", "prompt_id"] as const;

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Parses and checks one hook input; anything that is not the documented shape is `malformed_input`. */
export function parseHookInput(text: string): HookInput {
  let value: unknown;
  try {
    // Strict: a reader that kept the other of two `command`s would judge another action than the agent runs.
    value = parseStrictJson(text);
  } catch (error) {
    throw new HookFailure("malformed_input", `the hook input is not JSON: ${(error as Error).message}`);
  }
  if (!isObject(value)) throw new HookFailure("malformed_input", "the hook input is not a JSON object");
  const event = value["hook_event_name"];
  if (typeof event !== "string") throw new HookFailure("malformed_input", "hook_event_name is missing");
  if (!(HOOK_EVENTS as readonly string[]).includes(event)) throw new HookFailure("unsupported_event", `${event} is not an event warden hooks handle (${HOOK_EVENTS.join(", ")})`);
  const cwd = value["cwd"];
  // Relative paths are resolved against cwd, so it must itself be absolute (POSIX or Windows).
  if (typeof cwd !== "string" || !(cwd.startsWith("/") || /^[A-Za-z]:[\\/]/.test(cwd))) throw new HookFailure("malformed_input", "cwd must be an absolute path");
  const toolName = value["tool_name"];
  if (typeof toolName !== "string" || toolName.length === 0 || toolName.length > 256) throw new HookFailure("malformed_input", "tool_name must be a string of 1 to 256 characters");
  const toolInput = value["tool_input"];
  if (!isObject(toolInput)) throw new HookFailure("malformed_input", "tool_input must be a JSON object");
  const toolUseId = value["tool_use_id"];
  if (toolUseId !== undefined && (typeof toolUseId !== "string" || toolUseId.length === 0 || toolUseId.length > 256)) throw new HookFailure("malformed_input", "tool_use_id must be a non-empty string");
  const error = value["error"];
  const duration = value["duration_ms"];
  const context: Record<string, string> = {};
  for (const field of CONTEXT_FIELDS) {
    const entry = value[field];
    if (typeof entry === "string" && entry.length > 0) context[field] = entry.slice(0, 1024);
  }
  return {
    event: event as HookEvent,
    cwd,
    toolName,
    toolInput,
    toolUseId,
    toolResponse: value["tool_response"],
    error: typeof error === "string" ? error : undefined,
    durationMs: typeof duration === "number" && Number.isInteger(duration) && duration >= 0 ? duration : undefined,
    context,
  };
}

/** The PreToolUse answers, in the shape both agents read (`hookSpecificOutput`). */
export function preToolUseAnswer(decision: "allow" | "deny", reason: string): string {
  return JSON.stringify({ hookSpecificOutput: { hookEventName: "PreToolUse", permissionDecision: decision, permissionDecisionReason: reason } });
}
