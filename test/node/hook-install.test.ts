import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, realpathSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, inject, it } from "vitest";
import { HOOK_GROUP } from "./bundle.ts";
import { Device, WARDEN_BIN, fixture, warden } from "./cli.ts";

const ctx = inject("warden");

let device: Device;
let dir: string;

beforeAll(async () => {
  device = await Device.register(ctx, { group: HOOK_GROUP, prefix: "install" });
  dir = realpathSync(mkdtempSync(join(tmpdir(), "warden-install-")));
});

type Handler = { type: string; command: string; timeout?: number };
type Settings = { hooks: Record<string, { matcher?: string; hooks: Handler[] }[]> } & Record<string, unknown>;

const read = (path: string) => JSON.parse(readFileSync(path, "utf8")) as Settings;

function install(agent: string, settings: string, extra: string[] = []) {
  return warden(["hook", "install", agent, "--settings", settings, "--url", ctx.api, "--device", device.id, "--key", device.keyPath, "--state-dir", device.stateDir, ...extra]);
}

describe("warden hook install", () => {
  it("claude-code: adds one handler per event for every tool, keeps every other hook and setting, and a second run changes nothing", async () => {
    const path = join(dir, "settings.json");
    const before = {
      permissions: { allow: ["Bash(npm test)"] },
      hooks: {
        PreToolUse: [{ matcher: "Bash", hooks: [{ type: "command", command: "/usr/local/bin/lint-bash.sh", timeout: 5 }] }],
        Stop: [{ hooks: [{ type: "command", command: "notify-send 'Claude is done'" }] }],
      },
      model: "opus",
    };
    writeFileSync(path, JSON.stringify(before, null, 2) + "\n");

    const first = await install("claude-code", path);
    expect(first).toEqual({ status: 0, stdout: `installed: ${path}\n`, stderr: "" });
    const installed = readFileSync(path, "utf8");
    const settings = JSON.parse(installed) as Settings;
    expect(Object.keys(settings)).toEqual(["permissions", "hooks", "model"]);
    expect(settings.permissions).toEqual(before.permissions);
    expect(settings.hooks["Stop"]).toEqual(before.hooks.Stop);
    expect(settings.hooks["PreToolUse"]![0]).toEqual(before.hooks.PreToolUse[0]);
    for (const event of ["PreToolUse", "PostToolUse", "PostToolUseFailure"]) {
      const ours = settings.hooks[event]!.filter((group) => group.hooks.some((handler) => handler.command.includes(" hook claude-code ")));
      expect(ours).toEqual([{ matcher: "*", hooks: [{ type: "command", command: expect.stringContaining(WARDEN_BIN), timeout: 180 }] }]);
    }

    const second = await install("claude-code", path);
    expect(second).toEqual({ status: 0, stdout: `already installed: ${path}\n`, stderr: "" });
    expect(readFileSync(path, "utf8")).toBe(installed);
  });

  it("a reinstall with other options replaces its handlers in place", async () => {
    const path = join(dir, "replace.json");
    await install("claude-code", path);
    await install("claude-code", path, ["--review-wait", "300"]);
    const pre = read(path).hooks["PreToolUse"]!;
    expect(pre).toHaveLength(1);
    expect(pre[0]!.hooks).toEqual([{ type: "command", command: expect.stringContaining("--review-wait 300"), timeout: 360 }]);
  });

  it("the command it writes runs the hook: allow for a permitted call", async () => {
    const path = join(dir, "runnable.json");
    await install("claude-code", path);
    const command = read(path).hooks["PreToolUse"]![0]!.hooks[0]!.command;
    // Claude Code runs shell-form hooks with sh -c.
    const run = spawnSync("sh", ["-c", command], { input: fixture("claude-code", "pre-read", ctx.workspace), encoding: "utf8", env: { ...process.env, HOME: device.home } });
    expect(run.stderr).toBe("");
    expect(run.status).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ hookSpecificOutput: { permissionDecision: "allow" } });
  });

  it("codex: PreToolUse and PostToolUse in hooks.json, matching every tool, idempotent", async () => {
    const path = join(dir, "hooks.json");
    writeFileSync(path, JSON.stringify({ hooks: { PreToolUse: [{ matcher: "Bash", hooks: [{ type: "command", command: "python3 ~/.codex/guard.py" }] }] } }));
    expect((await install("codex", path)).status).toBe(0);
    const installed = readFileSync(path, "utf8");
    const hooks = (JSON.parse(installed) as Settings).hooks;
    expect(Object.keys(hooks)).toEqual(["PreToolUse", "PostToolUse"]);
    expect(hooks["PreToolUse"]).toEqual([
      { matcher: "Bash", hooks: [{ type: "command", command: "python3 ~/.codex/guard.py" }] },
      { matcher: ".*", hooks: [{ type: "command", command: expect.stringContaining(" hook codex "), timeout: 180 }] },
    ]);
    expect((await install("codex", path)).stdout).toBe(`already installed: ${path}\n`);
    expect(readFileSync(path, "utf8")).toBe(installed);
  });

  it("user and project scope find the agents' own settings files", async () => {
    const home = realpathSync(mkdtempSync(join(tmpdir(), "warden-home-")));
    const args = ["--url", ctx.api, "--device", device.id, "--key", device.keyPath];
    expect((await warden(["hook", "install", "claude-code", ...args], { env: { HOME: home } })).stdout).toBe(`installed: ${join(home, ".claude/settings.json")}\n`);
    expect((await warden(["hook", "install", "codex", ...args], { env: { HOME: home, CODEX_HOME: "" } })).stdout).toBe(`installed: ${join(home, ".codex/hooks.json")}\n`);
    expect((await warden(["hook", "install", "claude-code", "--scope", "project", "--project-dir", dir, ...args])).stdout).toBe(`installed: ${join(dir, ".claude/settings.json")}\n`);
  });

  it("leaves a settings file that is not JSON untouched and says so (exit 1)", async () => {
    const path = join(dir, "broken.json");
    writeFileSync(path, "{ // a comment\n}");
    const run = await install("claude-code", path);
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/is not JSON .* left untouched/);
    expect(readFileSync(path, "utf8")).toBe("{ // a comment\n}");
  });
});
