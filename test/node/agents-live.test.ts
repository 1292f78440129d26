import { createHash } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { freePort } from "../free-port.ts";
import { anthropicModel, openaiModel, type ModelServer, type ScriptedCall } from "./agent-models.ts";
import { HOOK_GROUP } from "./bundle.ts";
import { Device, node, warden, type Run } from "./cli.ts";
import { canonicalJson } from "../../worker/log/canonical.ts";

/**
 * The real agents, not their documented payloads: Claude Code and Codex, as their vendors ship
 * them on npm (pinned in test/agents/package-lock.json, installed by scripts/install-test-deps.sh),
 * each driven by a scripted model server through its own agent loop, with Warden's hook installed
 * by `warden hook install`. What is asserted is what happened on disk and what the agent told its
 * model — whether the tool ran — not what the hook printed.
 */

const ctx = inject("warden");
const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");
const AGENTS = fileURLToPath(new URL("../agents/node_modules/", import.meta.url));
// The vendors' own launchers, each finding the native binary of this platform's package.
const CLAUDE = join(AGENTS, "@anthropic-ai/claude-code/cli-wrapper.cjs");
const CODEX = join(AGENTS, "@openai/codex/bin/codex.js");

function run(args: string[], options: { cwd: string; env: Record<string, string> }): Promise<Run> {
  return node(args, { cwd: options.cwd, env: { PATH: process.env["PATH"] ?? "/usr/bin:/bin", ...options.env } });
}

/** A project directory inside the suite's workspace (which the hook bundle lets agents write). */
function project(name: string): string {
  const dir = mkdtempSync(join(ctx.workspace, `${name}-`));
  return dir;
}

async function install(agent: "claude-code" | "codex", settings: string, device: Device, url = ctx.api): Promise<void> {
  const installed = await warden(["hook", "install", agent, "--settings", settings, "--url", url, "--device", device.id, "--key", device.keyPath, "--state-dir", device.stateDir]);
  expect(installed.stderr).toBe("");
  expect(installed.status).toBe(0);
}

type LogEntry = Awaited<ReturnType<Device["log"]>>[number];
const decisions = (log: LogEntry[], type: string) => log.filter((entry) => entry.type === "decision" && (entry.data["action"] as { type: string }).type === type);

describe("Claude Code, through its hooks", () => {
  let device: Device;
  let model: ModelServer;
  let dir: string;

  beforeAll(async () => {
    device = await Device.register(ctx, { group: HOOK_GROUP, prefix: "claude-live" });
    model = await anthropicModel();
    dir = project("claude-live");
    await install("claude-code", join(dir, ".claude/settings.json"), device);
  });
  afterAll(() => model.close());

  async function claude(calls: ScriptedCall[], cwd = dir, extra: string[] = []): Promise<(string | undefined)[]> {
    model.script(calls);
    const done = await run([CLAUDE, "-p", "Carry out the task.", "--output-format", "json", ...extra], {
      cwd,
      env: {
        HOME: device.home,
        SHELL: "/bin/bash",
        ANTHROPIC_BASE_URL: model.url,
        ANTHROPIC_API_KEY: "sk-ant-test-key",
        CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: "1",
        DISABLE_AUTOUPDATER: "1",
      },
    });
    expect(done.stderr).toBe("");
    expect(done.status).toBe(0);
    expect(JSON.parse(done.stdout)).toMatchObject({ type: "result", subtype: "success", result: "Done." });
    return model.outputs();
  }

  it("runs a permitted Write — Warden's allow stands in for Claude Code's own permission prompt — and logs its decision, redemption and outcome", async () => {
    const path = join(dir, "hello.ts");
    const [output] = await claude([{ kind: "function", name: "Write", arguments: { file_path: path, content: "export const hello = 1;\n" } }]);
    expect(output).toMatch(/^File created successfully at: /);
    expect(readFileSync(path, "utf8")).toBe("export const hello = 1;\n");
    const log = await device.log();
    const decided = decisions(log, "file.write").find((entry) => (entry.data["action"] as { submitted: { value: string }[] }).submitted[0]!.value === path)!;
    expect(decided.data["decision"]).toBe("permit");
    const id = decided.data["decision_id"];
    expect(log.some((entry) => entry.type === "action.redeemed" && entry.data["decision_id"] === id)).toBe(true);
    expect(log.some((entry) => entry.type === "action.completed" && entry.data["decision_id"] === id)).toBe(true);
  });

  it("reads and edits a file, the edit's decision bound to the edit itself, and never reads .env", async () => {
    const path = join(dir, "edit-me.ts");
    writeFileSync(path, 'export const name = "world";\n');
    writeFileSync(join(dir, ".env"), "TOKEN=never-shown\n");
    const [read, edited, secret] = await claude([
      { kind: "function", name: "Read", arguments: { file_path: path } },
      { kind: "function", name: "Edit", arguments: { file_path: path, old_string: "world", new_string: "warden", replace_all: false } },
      { kind: "function", name: "Read", arguments: { file_path: join(dir, ".env") } },
    ]);
    expect(read).toContain('export const name = "world";');
    expect(edited).toMatch(/has been updated/);
    expect(readFileSync(path, "utf8")).toBe('export const name = "warden";\n');
    expect(secret).toMatch(/Warden denied file\.read \(policy_forbid; policies hooks-dotenv; decision [0-9a-f-]{36}\)/);
    expect(secret).not.toContain("never-shown");
    const edit = decisions(await device.log(), "file.write").find((entry) => (entry.data["action"] as { submitted: { value: string }[] }).submitted[0]!.value === path)!;
    expect((edit.data["action"] as { inputs_sha256: string }).inputs_sha256).toBe(sha256(canonicalJson([{ new_string: "warden", old_string: "world", replace_all: false }])));
  });

  it("never reads a file outside the project through a link inside it: Read and ls both denied, naming the file the link leads to", async () => {
    const outside = mkdtempSync(join(tmpdir(), "claude-outside-"));
    writeFileSync(join(outside, "id_rsa"), "PRIVATE-KEY-never-shown\n");
    // As a checked-out repository can carry one.
    symlinkSync(outside, join(dir, "keys"));
    const [read, listed] = await claude([
      { kind: "function", name: "Read", arguments: { file_path: join(dir, "keys", "id_rsa") } },
      { kind: "function", name: "Bash", arguments: { command: "ls -l keys/", description: "List the keys" } },
    ]);
    const reached = (path: string) => new RegExp(`Warden denied file\\.read of ${realpathSync(path)}, where ${join(dir, "keys")}[^ ]* leads through a symbolic link \\(no_applicable_permit; decision [0-9a-f-]{36}\\)`);
    expect(read).toMatch(reached(join(outside, "id_rsa")));
    expect(read).not.toContain("never-shown");
    expect(listed).toMatch(reached(outside));
    expect(listed).not.toContain("id_rsa");
  });

  it("never searches the home directory for a Grep whose path is ~: Claude Code would expand it, the hook refuses it", async () => {
    writeFileSync(join(device.home, "notes.txt"), "PRIVATE-home-value\n");
    // The native build offers Grep only when the launch names it.
    const [output] = await claude([{ kind: "function", name: "Grep", arguments: { pattern: "PRIVATE", path: "~", output_mode: "content" } }], dir, ["--tools", "Grep"]);
    expect(output).toMatch(/warden hook: unknown_tool_shape: Grep: tool_input\.path starts with ~ or has blanks around it/);
    expect(output).not.toContain("PRIVATE-home-value");
  });

  it("records a permitted command that failed with its exit status (PostToolUseFailure)", async () => {
    const [output] = await claude([{ kind: "function", name: "Bash", arguments: { command: "ls does-not-exist", description: "List a missing file" } }]);
    expect(output).toMatch(/No such file or directory/);
    const log = await device.log();
    const decided = decisions(log, "command.exec").find((entry) => (entry.data["action"] as { submitted: { value: string }[] }).submitted[0]!.value === "ls does-not-exist")!;
    expect(decided.data["decision"]).toBe("permit");
    const completed = log.find((entry) => entry.type === "action.completed" && entry.data["decision_id"] === decided.data["decision_id"])!;
    expect(completed.data).toMatchObject({ succeeded: false, exit_status: 2 });
  });

  it("never runs a denied command, and Claude Code hands the model Warden's reason", async () => {
    const [output] = await claude([{ kind: "function", name: "Bash", arguments: { command: "touch pwned", description: "Create a file" } }]);
    expect(output).toMatch(/Warden denied command\.exec \(no_applicable_permit; decision [0-9a-f-]{36}\)/);
    expect(existsSync(join(dir, "pwned"))).toBe(false);
  });

  it("runs nothing when Warden cannot be reached: the hook's exit 2 blocks the call", async () => {
    const offline = project("claude-offline");
    await install("claude-code", join(offline, ".claude/settings.json"), device, `http://127.0.0.1:${await freePort()}`);
    const path = join(offline, "never.txt");
    const [output] = await claude([{ kind: "function", name: "Write", arguments: { file_path: path, content: "x\n" } }], offline);
    expect(output).toMatch(/warden hook: warden_unreachable: /);
    expect(existsSync(path)).toBe(false);
  });
});

describe("Codex, through its hooks", () => {
  let device: Device;
  let model: ModelServer;
  let dir: string;
  let codexHome: string;

  beforeAll(async () => {
    device = await Device.register(ctx, { group: HOOK_GROUP, prefix: "codex-live" });
    model = await openaiModel();
    dir = project("codex-live");
    codexHome = join(device.home, ".codex");
    mkdirSync(codexHome, { recursive: true });
    // The scripted model as Codex's provider; a model Codex knows, so that it offers apply_patch.
    writeFileSync(
      join(codexHome, "config.toml"),
      `model = "gpt-5.5"\nmodel_provider = "scripted"\n\n[model_providers.scripted]\nname = "scripted"\nbase_url = "${model.url}/v1"\nwire_api = "responses"\nenv_key = "SCRIPTED_MODEL_KEY"\n`,
    );
    await install("codex", join(codexHome, "hooks.json"), device);
  });
  afterAll(() => model.close());

  async function codex(calls: ScriptedCall[], env: Record<string, string> = {}): Promise<(string | undefined)[]> {
    model.script(calls);
    // The sandbox is off and approvals never asked, so Warden is the only gate; hook trust is
    // bypassed because a test cannot answer Codex's review of new hooks (/hooks in its TUI).
    const done = await run([CODEX, "exec", "--dangerously-bypass-hook-trust", "--skip-git-repo-check", "-s", "danger-full-access", "Carry out the task."], {
      cwd: dir,
      env: { HOME: device.home, CODEX_HOME: codexHome, SHELL: "/bin/bash", SCRIPTED_MODEL_KEY: "test-key", ...env },
    });
    expect(done.status, done.stderr).toBe(0);
    return model.outputs();
  }

  const exec = (args: Record<string, unknown>): ScriptedCall => ({ kind: "function", name: "exec_command", arguments: args });
  const patch = (body: string): string => `*** Begin Patch\n${body}*** End Patch\n`;

  it("runs a permitted command and never a denied one, whose reason reaches the model", async () => {
    const [listed, denied] = await codex([exec({ cmd: "ls -a > listing.txt" }), exec({ cmd: "touch pwned" })]);
    expect(listed).toMatch(/Process exited with code 0/);
    expect(readFileSync(join(dir, "listing.txt"), "utf8")).toContain("listing.txt");
    expect(denied).toMatch(/Warden denied command\.exec \(no_applicable_permit; decision [0-9a-f-]{36}\)/);
    expect(existsSync(join(dir, "pwned"))).toBe(false);
    const log = await device.log();
    const listing = decisions(log, "command.exec").find((entry) => (entry.data["action"] as { submitted: { value: string }[] }).submitted[0]!.value === "ls -a > listing.txt")!;
    expect(log.find((entry) => entry.type === "action.completed" && entry.data["decision_id"] === listing.data["decision_id"])?.data).toMatchObject({ succeeded: true });
  });

  it("applies a permitted apply_patch and refuses one that writes a file policy forbids", async () => {
    const [added, refused] = await codex([
      { kind: "custom", name: "apply_patch", input: patch("*** Add File: notes.md\n+# Notes\n") },
      { kind: "custom", name: "apply_patch", input: patch("*** Add File: src/ok.ts\n+ok\n*** Add File: .env\n+TOKEN=1\n") },
    ]);
    expect(added).toMatch(/Success\. Updated the following files:\nA notes\.md/);
    expect(readFileSync(join(dir, "notes.md"), "utf8")).toBe("# Notes\n");
    expect(refused).toMatch(/Warden denied file\.write \(policy_forbid; policies hooks-dotenv; decision [0-9a-f-]{36}\)/);
    expect(existsSync(join(dir, ".env"))).toBe(false);
    expect(existsSync(join(dir, "src/ok.ts"))).toBe(false);
  });

  it("never writes through a link in the project to a file outside it: the patch is denied naming the file it leads to", async () => {
    const outside = mkdtempSync(join(tmpdir(), "codex-outside-"));
    symlinkSync(outside, join(dir, "dotssh"));
    const [refused] = await codex([{ kind: "custom", name: "apply_patch", input: patch("*** Add File: dotssh/authorized_keys\n+ssh-ed25519 AAAA attacker\n") }]);
    expect(refused).toMatch(new RegExp(`Warden denied file\\.write of ${join(realpathSync(outside), "authorized_keys")}, where ${join(dir, "dotssh", "authorized_keys")} leads through a symbolic link \\(no_applicable_permit; decision [0-9a-f-]{36}\\)`));
    expect(existsSync(join(outside, "authorized_keys"))).toBe(false);
  });

  it("judges view_image as a read of its file: an image in the project is shown, .env is not", async () => {
    // The smallest PNG: one transparent pixel.
    writeFileSync(join(dir, "pixel.png"), Buffer.from("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=", "base64"));
    mkdirSync(join(dir, "conf"));
    writeFileSync(join(dir, "conf/.env"), "TOKEN=never-shown\n");
    const [shown, refused] = await codex([
      { kind: "function", name: "view_image", arguments: { path: "pixel.png" } },
      { kind: "function", name: "view_image", arguments: { path: "conf/.env" } },
    ]);
    expect(shown).not.toMatch(/Warden denied|blocked/);
    expect(refused).toMatch(/Warden denied file\.read \(policy_forbid; policies hooks-dotenv; decision [0-9a-f-]{36}\)/);
    const reads = decisions(await device.log(), "file.read").map((entry) => [(entry.data["action"] as { submitted: { value: string }[] }).submitted[0]!.value, entry.data["decision"]]);
    expect(reads).toEqual(expect.arrayContaining([[join(dir, "pixel.png"), "permit"], [join(dir, "conf/.env"), "deny"]]));
  });

  it("judges the files of a patch Codex applies itself from a shell call, not a command named apply_patch", async () => {
    const heredoc = (body: string) => `apply_patch <<'EOF'\n${patch(body)}EOF\n`;
    const [applied, refused] = await codex([exec({ cmd: heredoc("*** Add File: from-shell.txt\n+hi\n") }), exec({ cmd: heredoc("*** Add File: .env\n+TOKEN=1\n") })]);
    expect(applied).not.toMatch(/Warden denied/);
    expect(readFileSync(join(dir, "from-shell.txt"), "utf8")).toBe("hi\n");
    expect(refused).toMatch(/Warden denied file\.write \(policy_forbid; policies hooks-dotenv; decision [0-9a-f-]{36}\)/);
    expect(existsSync(join(dir, ".env"))).toBe(false);
  });

  it("judges a line in every shell the model may ask Codex to run it in: zsh's =name is the program's path, not a file here", async () => {
    // The model names the shell in exec_command's `shell` argument, which Codex does not pass to
    // the hook. Read by bash, `ls > =victim` writes ./=victim; zsh writes the `victim` on PATH.
    const bin = mkdtempSync(join(tmpdir(), "warden-codex-path-"));
    try {
      const victim = join(bin, "victim");
      writeFileSync(victim, "#!/bin/sh\necho untouched\n");
      chmodSync(victim, 0o755);
      const [output] = await codex([exec({ cmd: "ls > =victim", shell: "zsh", login: false })], { PATH: `${bin}:${process.env["PATH"]}` });
      expect(output).toMatch(/Warden denied command\.exec as zsh reads it \(target_not_canonical; paths refused as expansion; decision [0-9a-f-]{36}\)/);
      expect(readFileSync(victim, "utf8")).toBe("#!/bin/sh\necho untouched\n");
      expect(existsSync(join(dir, "=victim"))).toBe(false);
    } finally {
      rmSync(bin, { recursive: true, force: true });
    }
  });

  it("runs the system's shell for a `shell` that names a file with a shell's name, never that file (what the readings rely on)", async () => {
    const bin = mkdtempSync(join(tmpdir(), "warden-codex-shell-"));
    try {
      const marker = join(bin, "ran");
      writeFileSync(join(bin, "bash"), `#!/bin/sh\ntouch ${marker}\n`);
      chmodSync(join(bin, "bash"), 0o755);
      const [output] = await codex([exec({ cmd: "ls -a > by-named-shell.txt", shell: join(bin, "bash") })]);
      expect(output).toMatch(/Process exited with code 0/);
      expect(readFileSync(join(dir, "by-named-shell.txt"), "utf8")).toContain("by-named-shell.txt");
      expect(existsSync(marker)).toBe(false);
    } finally {
      rmSync(bin, { recursive: true, force: true });
    }
  });
});
