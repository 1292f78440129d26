import { createHash } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, inject, it } from "vitest";
import { HOOK_GROUP } from "./bundle.ts";
import { Device, decisionOf, fixture } from "./cli.ts";

const ctx = inject("warden");
const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");
const input = (name: string) => fixture("codex", name, ctx.workspace);

let device: Device;

beforeAll(async () => {
  device = await Device.register(ctx, { group: HOOK_GROUP, prefix: "codex" });
});

async function lastDecision() {
  return (await device.log()).findLast((entry) => entry.type === "decision")!;
}

describe("warden hook codex, PreToolUse", () => {
  it("a permitted command: redeemed, and Codex is told nothing, so its own approval flow goes on", async () => {
    const run = await device.hook("codex", input("pre-bash"), []);
    expect(run).toEqual({ status: 0, stdout: "", stderr: "" });
    const decision = await lastDecision();
    expect(decision.data).toMatchObject({ decision: "permit", agent: { id: "codex" } });
    // The argv tool's `bash -lc '…'` is unwrapped: policy sees the script, in bash.
    expect((decision.data["action"] as { submitted: unknown[] }).submitted).toEqual([{ kind: "command", value: "git status --short", cwd: ctx.workspace, home: device.home, shell: "bash" }]);
    expect((await device.log()).at(-1)!.type).toBe("action.redeemed");
  });

  it("a command string runs in the user's shell", async () => {
    const run = await device.hook("codex", input("pre-bash-script"));
    expect(run).toEqual({ status: 0, stdout: "", stderr: "" });
    const submitted = ((await lastDecision()).data["action"] as { submitted: { value: string; shell: string }[] }).submitted[0]!;
    expect(submitted.value).toBe("git log --oneline -5");
    expect(["bash", "zsh", "sh"]).toContain(submitted.shell);
  });

  it("deny → permissionDecision deny, which Codex honours", async () => {
    const run = await device.hook("codex", input("pre-bash-denied"));
    expect({ status: run.status, stderr: run.stderr }).toEqual({ status: 0, stderr: "" });
    expect(decisionOf(run)).toEqual({ hookEventName: "PreToolUse", permissionDecision: "deny", permissionDecisionReason: expect.stringMatching(/^Warden denied command\.exec \(no_applicable_permit; decision \S+\)$/) });
  });

  it("apply_patch: one file.write of every file it adds or updates, bound to the patch", async () => {
    const run = await device.hook("codex", input("pre-apply-patch"));
    expect(run).toEqual({ status: 0, stdout: "", stderr: "" });
    const patch = (JSON.parse(input("pre-apply-patch")) as { tool_input: { command: string } }).tool_input.command;
    expect((await lastDecision()).data["action"]).toMatchObject({
      type: "file.write",
      inputs_sha256: sha256(patch),
      submitted: [
        { kind: "path", value: `${ctx.workspace}/src/codex.ts` },
        { kind: "path", value: `${ctx.workspace}/src/hello.ts` },
      ],
    });
  });

  it("apply_patch that writes and deletes: both actions decided together, both redeemed", async () => {
    const patch = "*** Begin Patch\n*** Add File: src/new.ts\n+export {};\n*** Delete File: src/old.ts\n*** End Patch\n";
    const both = JSON.stringify({ ...JSON.parse(input("pre-apply-patch")), tool_input: { command: patch }, tool_use_id: "call_both" });
    expect(await device.hook("codex", both)).toEqual({ status: 0, stdout: "", stderr: "" });
    const log = await device.log();
    const decisions = log.filter((entry) => entry.type === "decision").slice(-2);
    expect(decisions.map((entry) => (entry.data["action"] as { type: string }).type)).toEqual(["file.write", "file.delete"]);
    expect(log.slice(-2).map((entry) => entry.type)).toEqual(["action.redeemed", "action.redeemed"]);
  });

  it("apply_patch touching a denied file → deny", async () => {
    const run = await device.hook("codex", input("pre-apply-patch-env"));
    expect(decisionOf(run)).toMatchObject({ permissionDecision: "deny", permissionDecisionReason: expect.stringMatching(/hooks-dotenv/) });
  });

  it("an MCP tool → mcp.call", async () => {
    expect(await device.hook("codex", input("pre-mcp"))).toEqual({ status: 0, stdout: "", stderr: "" });
    expect((await lastDecision()).data["action"]).toMatchObject({ type: "mcp.call", submitted: [{ kind: "tool", value: "mcp__github__create_issue" }] });
  });

  it("a malformed patch is an unknown tool shape: exit 2", async () => {
    const broken = JSON.stringify({ ...JSON.parse(input("pre-apply-patch")), tool_input: { command: "*** Begin Patch\n*** Frobnicate File: x\n*** End Patch" } });
    const run = await device.hook("codex", broken);
    expect({ status: run.status, stdout: run.stdout }).toEqual({ status: 2, stdout: "" });
    expect(run.stderr).toMatch(/^warden hook: unknown_tool_shape: /);
  });
});

describe("warden hook codex, PostToolUse", () => {
  it("records the patch's files and the command's exit status", async () => {
    expect((await device.hook("codex", input("pre-apply-patch"))).status).toBe(0);
    mkdirSync(join(ctx.workspace, "src"), { recursive: true });
    writeFileSync(join(ctx.workspace, "src/codex.ts"), "export const codex = true;\n");
    writeFileSync(join(ctx.workspace, "src/hello.ts"), 'export const hello = "codex";\n');
    expect(await device.hook("codex", input("post-apply-patch"))).toEqual({ status: 0, stdout: "", stderr: "" });
    expect((await device.log()).at(-1)!.data).toMatchObject({
      tool: { name: "apply_patch" },
      succeeded: true,
      exit_status: null,
      files: [
        { path: join(ctx.workspace, "src/codex.ts"), file_hash: sha256("export const codex = true;\n") },
        { path: join(ctx.workspace, "src/hello.ts"), file_hash: sha256('export const hello = "codex";\n') },
      ],
    });

    expect((await device.hook("codex", input("pre-bash"))).status).toBe(0);
    expect(await device.hook("codex", input("post-bash"))).toEqual({ status: 0, stdout: "", stderr: "" });
    expect((await device.log()).at(-1)!.data).toMatchObject({ tool: { name: "Bash" }, exit_status: 0 });
  });
});
