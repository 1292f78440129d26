/**
 * E. One `warden hook claude-code` call, wall time from spawn to exit, as an agent pays it:
 * Node start, the compiled CLI (dist/), the device key, the decision, the redemption.
 * Warm: the session saved by the previous call is reused. Cold: the state is removed first,
 * so the call also fetches a nonce and opens a session. Both beside `node -e 0` measured in
 * the same run, interleaved, so machine load moves all three alike.
 */
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { WardenClient, exportDeviceKey, generateDeviceKey } from "../cli/client.ts";

const root = resolve(fileURLToPath(new URL("..", import.meta.url)));

export interface HookBench {
  runs: number;
  nodeMs: { median: number; min: number };
  warmMs: { median: number; min: number };
  coldMs: { median: number; min: number };
  /** `warden hook codex`, warm, on a Bash line: it also loads the command analysis and reads the line in each shell Codex may use. */
  codexMs: { median: number; min: number };
  warmRatio: number;
  coldRatio: number;
  codexRatio: number;
}

/** Wall milliseconds of one process run to exit, with `stdin`. */
function timed(args: string[], stdin: string, env: NodeJS.ProcessEnv): Promise<{ ms: number; status: number | null; stdout: string; stderr: string }> {
  return new Promise((done, fail) => {
    const started = performance.now();
    const child = spawn(process.execPath, args, { env, stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk) => (stdout += chunk));
    child.stderr.on("data", (chunk) => (stderr += chunk));
    child.on("error", fail);
    child.on("close", (status) => done({ ms: performance.now() - started, status, stdout, stderr }));
    child.stdin.end(stdin);
  });
}

function stats(values: number[]): { median: number; min: number } {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return { median: sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2, min: sorted[0]! };
}

export async function runHook(url: string, adminToken: string, options: { runs: number }, log: (line: string) => void): Promise<HookBench> {
  const built = spawnSync(process.execPath, [join(root, "scripts/build.mjs"), "--if-stale"], { cwd: root, stdio: "inherit" });
  if (built.status !== 0) throw new Error("building the CLI failed");

  const dir = mkdtempSync(join(tmpdir(), "warden-bench-hook-"));
  try {
    const key = await generateDeviceKey("EdDSA", true);
    const client = new WardenClient({ url, deviceId: `bench-hook-${Date.now()}`, key });
    const registered = await client.register(adminToken, "linux");
    if (registered.status !== 201) throw new Error(`registration failed: ${registered.status} ${JSON.stringify(registered.body)}`);
    const keyPath = join(dir, "device.jwk");
    writeFileSync(keyPath, JSON.stringify(await exportDeviceKey(key)), { mode: 0o600 });
    const stateDir = join(dir, "state");
    // A workspace read, which the example bundle permits: the whole permit path, token redeemed.
    const input = JSON.stringify({
      session_id: "bench",
      transcript_path: join(dir, "transcript.jsonl"),
      cwd: "/home/dev/workspace",
      permission_mode: "default",
      hook_event_name: "PreToolUse",
      tool_name: "Read",
      tool_input: { file_path: "/home/dev/workspace/src/app.ts" },
      tool_use_id: "toolu_bench",
    });
    const argsOf = (agent: "claude-code" | "codex") => [join(root, "bin/warden.js"), "hook", agent, "--url", url, "--device", client.deviceId, "--key", keyPath, "--state-dir", stateDir];
    // A Codex command the example bundle permits: Codex's permit is silence and exit 0.
    const codexInput = JSON.stringify({
      session_id: "bench",
      turn_id: "bench-turn",
      transcript_path: join(dir, "rollout.jsonl"),
      cwd: "/home/dev/workspace",
      hook_event_name: "PreToolUse",
      model: "gpt-5.5",
      permission_mode: "default",
      tool_name: "Bash",
      tool_input: { command: "git status" },
      tool_use_id: "call_bench",
    });
    const env = { ...process.env, HOME: dir };
    /** One timed hook call, which must have answered as a permit (`permitted` reads its stdout). */
    const call = async (args: string[], stdin: string, permitted: (stdout: string) => boolean) => {
      const run = await timed(args, stdin, env);
      if (run.status !== 0 || !permitted(run.stdout)) throw new Error(`the hook did not permit: exit ${run.status} ${run.stdout} ${run.stderr}`);
      return run.ms;
    };
    const hook = () => call(argsOf("claude-code"), input, (stdout) => stdout.includes('"allow"'));

    const codex = () => call(argsOf("codex"), codexInput, (stdout) => stdout === "");

    // Warm-up: the page cache, the isolate, the device's Durable Object.
    for (let index = 0; index < 3; index += 1) {
      await timed(["-e", "0"], "", env);
      await hook();
      await codex();
    }
    const node: number[] = [];
    const warm: number[] = [];
    const cold: number[] = [];
    const codexWarm: number[] = [];
    for (let index = 0; index < options.runs; index += 1) {
      node.push((await timed(["-e", "0"], "", env)).ms);
      warm.push(await hook());
      codexWarm.push(await codex());
      rmSync(stateDir, { recursive: true, force: true });
      cold.push(await hook());
    }
    const result = { runs: options.runs, nodeMs: stats(node), warmMs: stats(warm), coldMs: stats(cold), codexMs: stats(codexWarm), warmRatio: 0, coldRatio: 0, codexRatio: 0 };
    result.warmRatio = result.warmMs.median / result.nodeMs.median;
    result.coldRatio = result.coldMs.median / result.nodeMs.median;
    result.codexRatio = result.codexMs.median / result.nodeMs.median;
    log(`  ${options.runs} interleaved runs each of node -e 0, a warm and a cold Claude Code hook call and a warm Codex one`);
    return result;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
