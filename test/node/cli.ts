import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { NodeSuiteContext } from "./setup.ts";

/** Drives the compiled CLI (bin/warden.js → dist/) as a subprocess, as an agent does. */

const root = fileURLToPath(new URL("../..", import.meta.url));
export const WARDEN_BIN = join(root, "bin/warden.js");

export interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

export function warden(args: string[], options: { stdin?: string; env?: Record<string, string> } = {}): Promise<Run> {
  return node([WARDEN_BIN, ...args], { cwd: root, env: { ...process.env, ...options.env }, ...(options.stdin !== undefined ? { stdin: options.stdin } : {}) });
}

/** Runs a Node script as a subprocess with `stdin` (default empty) and collects its exit status and output. */
export function node(args: string[], options: { cwd: string; env: NodeJS.ProcessEnv; stdin?: string }): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: options.cwd, env: options.env, stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk) => (stdout += chunk));
    child.stderr.on("data", (chunk) => (stderr += chunk));
    child.on("error", reject);
    child.on("close", (status) => resolve({ status, stdout, stderr }));
    child.stdin.end(options.stdin ?? "");
  });
}

/** A hook input from test/fixtures/hooks, its project moved to the test's workspace. */
export function fixture(agent: "claude-code" | "codex", name: string, workspace: string): string {
  const text = readFileSync(join(root, "test/fixtures/hooks", agent, `${name}.json`), "utf8");
  return text.replaceAll("/home/dev/workspace", workspace);
}

/** `warden hook <agent>`'s PreToolUse answer on stdout, parsed. */
export function decisionOf(run: Run): { hookEventName: string; permissionDecision: string; permissionDecisionReason: string } | null {
  if (run.stdout.trim() === "") return null;
  return (JSON.parse(run.stdout) as { hookSpecificOutput: { hookEventName: string; permissionDecision: string; permissionDecisionReason: string } }).hookSpecificOutput;
}

/** A device registered through `warden shim register`, with its own key file, state directory and home. */
export class Device {
  private constructor(
    readonly ctx: NodeSuiteContext,
    readonly id: string,
    readonly keyPath: string,
    readonly stateDir: string,
    readonly home: string,
  ) {}

  static async register(ctx: NodeSuiteContext, options: { group?: string; prefix?: string } = {}): Promise<Device> {
    const dir = mkdtempSync(join(tmpdir(), "warden-device-"));
    const id = `${options.prefix ?? "hooks"}-${Date.now()}-${Math.random().toString(36).slice(2, 8)}`;
    const keyPath = join(dir, "device.jwk");
    const args = ["shim", "register", "--url", ctx.api, "--admin-token", ctx.adminToken, "--device", id, "--key-out", keyPath];
    if (options.group) args.push("--group", options.group);
    const registered = await warden(args);
    if (registered.status !== 0) throw new Error(`register failed: ${registered.stderr}`);
    return new Device(ctx, id, keyPath, join(dir, "state"), dir);
  }

  /** The arguments every hook call of this device passes. */
  hookArgs(extra: string[] = []): string[] {
    return ["--url", this.ctx.api, "--device", this.id, "--key", this.keyPath, "--state-dir", this.stateDir, ...extra];
  }

  /** One hook call with `input` on stdin, HOME pointing at this device's home. */
  hook(agent: "claude-code" | "codex", input: string, extra: string[] = []): Promise<Run> {
    return warden(["hook", agent, ...this.hookArgs(extra)], { stdin: input, env: { HOME: this.home } });
  }

  /** The device's whole log, read as an admin. */
  async log(): Promise<{ seq: number; type: string; hash: string; data: Record<string, unknown> }[]> {
    const response = await fetch(`${this.ctx.api}/v1/devices/${this.id}/log?limit=1000`, { headers: { authorization: `Bearer ${this.ctx.adminToken}` } });
    if (response.status !== 200) throw new Error(`log: ${response.status} ${await response.text()}`);
    return ((await response.json()) as { entries: { seq: number; type: string; hash: string; data: Record<string, unknown> }[] }).entries;
  }
}
