import { chmodSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { dirname, join } from "node:path";
import { parseStrictJson } from "../../worker/json/strict.ts";

/**
 * `warden hook install`: writes the agent's hook settings so every tool call goes through
 * `warden hook <agent>`. Idempotent: the handlers it wrote before are found by their command
 * (`… hook claude-code …`) and replaced; every other hook, setting and key order is kept.
 */

export type HookAgent = "claude-code" | "codex";

interface AgentSettings {
  /** The events the hook handles for this agent. */
  events: string[];
  /** A matcher that selects every tool: Claude Code reads "*" as "all"; Codex takes a regex. */
  matcher: string;
}

const AGENTS: Record<HookAgent, AgentSettings> = {
  "claude-code": { events: ["PreToolUse", "PostToolUse", "PostToolUseFailure"], matcher: "*" },
  codex: { events: ["PreToolUse", "PostToolUse"], matcher: ".*" },
};

/** Where the agent reads hooks: user scope under the home directory, project scope in the repository. */
export function settingsPath(agent: HookAgent, scope: "user" | "project", home: string, projectDir: string, env: Record<string, string | undefined> = {}): string {
  if (agent === "claude-code") return scope === "user" ? join(home, ".claude", "settings.json") : join(projectDir, ".claude", "settings.json");
  return scope === "user" ? join(env["CODEX_HOME"] || join(home, ".codex"), "hooks.json") : join(projectDir, ".codex", "hooks.json");
}

/** POSIX single quoting: Claude Code runs shell-form hooks with sh (Git Bash on Windows), Codex with the user's shell. */
export function shellQuote(word: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'"'"'`)}'`;
}

const OURS = /\bhook (claude-code|codex)\b/;

function isOurs(handler: unknown, agent: HookAgent): boolean {
  if (typeof handler !== "object" || handler === null) return false;
  const command = (handler as { command?: unknown }).command;
  if (typeof command !== "string") return false;
  const match = OURS.exec(command);
  return match !== null && match[1] === agent && command.includes("warden");
}

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * The settings with one matcher group per event running `command`, and no other handler of
 * ours left anywhere. A group that held only our handler is replaced where it stood; otherwise
 * ours is appended, so reinstalling changes nothing.
 */
export function withHooks(settings: Json, agent: HookAgent, command: string, timeoutSeconds: number): Json {
  const { events, matcher } = AGENTS[agent];
  const hooks = settings["hooks"] === undefined ? {} : settings["hooks"];
  if (!isObject(hooks)) throw new Error("the settings' `hooks` is not an object");
  const next: Json = { ...hooks };
  for (const event of events) {
    const groups = next[event] === undefined ? [] : next[event];
    if (!Array.isArray(groups)) throw new Error(`the settings' hooks.${event} is not an array`);
    const ourGroup = { matcher, hooks: [{ type: "command", command, timeout: timeoutSeconds }] };
    let at = -1;
    const kept: unknown[] = [];
    for (const group of groups) {
      const handlers = isObject(group) && Array.isArray(group["hooks"]) ? (group["hooks"] as unknown[]) : null;
      if (!handlers || !handlers.some((handler) => isOurs(handler, agent))) {
        kept.push(group);
        continue;
      }
      const others = handlers.filter((handler) => !isOurs(handler, agent));
      if (others.length > 0) kept.push({ ...(group as Json), hooks: others });
      else if (at < 0) at = kept.length;
    }
    kept.splice(at < 0 ? kept.length : at, 0, ourGroup);
    next[event] = kept;
  }
  return { ...settings, hooks: next };
}

/** Reads, updates and atomically rewrites the settings file; returns whether anything changed. */
export function installHooks(path: string, agent: HookAgent, command: string, timeoutSeconds: number): { changed: boolean } {
  let before: string | null = null;
  let mode = 0o644;
  try {
    before = readFileSync(path, "utf8");
    mode = statSync(path).mode & 0o777;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw new Error(`cannot read ${path}: ${(error as Error).message}`);
  }
  let settings: unknown = {};
  if (before !== null && before.trim() !== "") {
    try {
      settings = parseStrictJson(before);
    } catch (error) {
      throw new Error(`${path} is not JSON (${(error as Error).message}); fix it or move it aside: it is left untouched`);
    }
  }
  if (!isObject(settings)) throw new Error(`${path} does not hold a JSON object; it is left untouched`);
  const after = JSON.stringify(withHooks(settings, agent, command, timeoutSeconds), null, 2) + "\n";
  if (after === before) return { changed: false };
  mkdirSync(dirname(path), { recursive: true });
  const temporary = join(dirname(path), `.${randomBytes(8).toString("hex")}.tmp`);
  try {
    writeFileSync(temporary, after, { mode, flag: "wx" });
    chmodSync(temporary, mode);
    renameSync(temporary, path);
  } catch (error) {
    rmSync(temporary, { force: true });
    throw new Error(`cannot write ${path}: ${(error as Error).message}`);
  }
  return { changed: true };
}
