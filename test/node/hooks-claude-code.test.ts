import { createHash } from "node:crypto";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { beforeAll, describe, expect, inject, it } from "vitest";
import { WardenClient, generateDeviceKey, type DecisionResponse } from "../../cli/client.ts";
import { claudeCode } from "../../cli/hooks/claude-code.ts";
import { parseHookInput } from "../../cli/hooks/protocol.ts";
import { preToolUse } from "../../cli/hooks/run.ts";
import { canonicalJson, type JsonValue } from "../../worker/log/canonical.ts";
import { HOOK_GROUP } from "./bundle.ts";
import { Device, decisionOf, fixture, warden, type Run } from "./cli.ts";
import { approve, enrolledReviewer, pendingHoldOf } from "./reviewer.ts";

const ctx = inject("warden");
const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");
const input = (name: string) => fixture("claude-code", name, ctx.workspace);

let device: Device;

beforeAll(async () => {
  device = await Device.register(ctx, { group: HOOK_GROUP });
});

function expectBlocked(run: Run, code: string): void {
  expect({ status: run.status, stdout: run.stdout }).toEqual({ status: 2, stdout: "" });
  expect(run.stderr).toMatch(new RegExp(`^warden hook: ${code}: .+\n$`));
}

describe("warden hook claude-code, PreToolUse", () => {
  // One fixture per row of the mapping table, each expected to be permitted by the suite's bundle.
  const permitted: Record<string, string> = {
    Bash: "pre-bash",
    Monitor: "pre-monitor",
    Read: "pre-read",
    Glob: "pre-glob",
    Grep: "pre-grep",
    Write: "pre-write",
    Edit: "pre-edit",
    MultiEdit: "pre-multiedit",
    NotebookEdit: "pre-notebookedit",
  };

  it("has a permitted fixture for every file and shell row of the table but PowerShell and the web tools (decided below)", () => {
    const rows = Object.keys(claudeCode.tools).filter((tool) => !["PowerShell", "WebFetch", "WebSearch"].includes(tool));
    expect(Object.keys(permitted).sort()).toEqual(rows.sort());
  });

  for (const [tool, name] of [...Object.entries(permitted), ["mcp", "pre-mcp"], ["TodoWrite", "pre-todowrite"]] as const) {
    it(`permit → allow, after redeeming the action token: ${tool}`, async () => {
      const run = await device.hook("claude-code", input(name));
      expect(run.stderr).toBe("");
      expect(run.status).toBe(0);
      expect(decisionOf(run)).toMatchObject({ permissionDecision: "allow", permissionDecisionReason: expect.stringMatching(/^Warden permitted; policies .+; decision [0-9a-f-]{36}$/) });
      const id = /decision ([0-9a-f-]{36})$/.exec(decisionOf(run)!.permissionDecisionReason)![1];
      const log = await device.log();
      const decided = log.find((entry) => entry.type === "decision" && entry.data["decision_id"] === id)!;
      expect(decided.data["decision"]).toBe("permit");
      expect(log.some((entry) => entry.type === "action.redeemed" && entry.data["decision_id"] === id)).toBe(true);
    });
  }

  it("sends what the table says: the Bash line with cwd, home and shell; Write bound to its content's hash", async () => {
    await device.hook("claude-code", input("pre-bash"));
    await device.hook("claude-code", input("pre-write"));
    const decisions = (await device.log()).filter((entry) => entry.type === "decision");
    const bash = decisions.findLast((entry) => (entry.data["action"] as { type: string }).type === "command.exec")!;
    expect((bash.data["action"] as { submitted: unknown[] }).submitted).toEqual([
      { kind: "command", value: "git status", cwd: ctx.workspace, home: device.home, shell: expect.stringMatching(/^(bash|zsh)$/) },
    ]);
    const write = decisions.findLast((entry) => (entry.data["action"] as { type: string }).type === "file.write")!;
    expect(write.data["action"]).toMatchObject({ inputs_sha256: sha256('export const hello = "world";\n'), submitted: [{ kind: "path", value: `${ctx.workspace}/src/hello.ts` }] });
    expect(write.data["context"]).toMatchObject({ tool: "Write", tool_use_id: "toolu_01WriteHello", session_id: "abc123", permission_mode: "default" });
  });

  for (const [name, reason] of [
    ["pre-read-env", /^Warden denied file\.read \(policy_forbid; policies hooks-dotenv; decision [0-9a-f-]{36}\)$/],
    ["pre-bash-denied", /^Warden denied command\.exec \(no_applicable_permit; decision [0-9a-f-]{36}\)$/],
    ["pre-mcp-denied", /^Warden denied mcp\.call \(no_applicable_permit; decision [0-9a-f-]{36}\)$/],
  ] as const) {
    it(`deny → deny with the reason code, policies and decision id: ${name}`, async () => {
      const run = await device.hook("claude-code", input(name));
      expect({ status: run.status, stderr: run.stderr }).toEqual({ status: 0, stderr: "" });
      expect(decisionOf(run)).toEqual({ hookEventName: "PreToolUse", permissionDecision: "deny", permissionDecisionReason: expect.stringMatching(reason) });
    });
  }

  it("a permitted command that leaves Claude Code's sandbox gets no allow: Claude Code's own prompt for it stays, Warden's permit is redeemed", async () => {
    for (const extra of ['"dangerouslyDisableSandbox": true', '"allowed_domains": ["example.com"]']) {
      const run = await device.hook("claude-code", input("pre-bash").replace('"run_in_background": false', `"run_in_background": false, ${extra}`));
      expect(run).toEqual({ status: 0, stdout: "", stderr: "" });
      const log = await device.log();
      const decided = log.findLast((entry) => entry.type === "decision")!;
      expect(decided.data["decision"]).toBe("permit");
      expect(log.some((entry) => entry.type === "action.redeemed" && entry.data["decision_id"] === decided.data["decision_id"])).toBe(true);
    }
  });

  it("review → waits silently, a reviewer approves with a passkey → allow", async () => {
    const waiting = await Device.register(ctx, { group: HOOK_GROUP });
    const hook = waiting.hook("claude-code", input("pre-webfetch"), ["--review-wait", "60"]);
    const id = await pendingHoldOf(ctx, waiting.id);
    await approve(ctx, await enrolledReviewer(ctx, `rita-${Date.now()}`), id);
    const run = await hook;
    expect({ status: run.status, stderr: run.stderr }).toEqual({ status: 0, stderr: "" });
    expect(decisionOf(run)).toEqual({ hookEventName: "PreToolUse", permissionDecision: "allow", permissionDecisionReason: expect.stringMatching(new RegExp(`^Warden approved in review ${id}; decision [0-9a-f-]{36}$`)) });
    const types = (await waiting.log()).map((entry) => entry.type);
    expect(types).toEqual(expect.arrayContaining(["decision", "review.approved", "review.released", "action.redeemed"]));
  });

  it("review approved, but its action token revoked before the hook could read it → deny saying so, never allow", async () => {
    const waiting = await Device.register(ctx, { group: HOOK_GROUP });
    const reviewer = await enrolledReviewer(ctx, `rosa-${Date.now()}`);
    // The hook's first read of the hold is held back until the hold is approved, then delivered
    // twice: the first delivery's answer (the token) is taken elsewhere and the token revoked; the
    // hook's own delivery is then a replayed proof, and its fresh read finds the approval without a token.
    let intercepted = false;
    const interfering = async (request: Request) => {
      const path = new URL(request.url).pathname;
      if (!intercepted && request.method === "GET" && path.startsWith("/v1/reviews/")) {
        intercepted = true;
        await approve(ctx, reviewer, decodeURIComponent(path.slice("/v1/reviews/".length)));
        const taken = (await (await fetch(request.clone())).json()) as { status: string; token?: string };
        expect(taken.status).toBe("approved");
        const { jti } = JSON.parse(Buffer.from(String(taken.token).split(".")[1] ?? "", "base64url").toString("utf8")) as { jti: string };
        const revoked = await fetch(`${ctx.api}/v1/actions/revoke`, {
          method: "POST",
          headers: { authorization: `Bearer ${ctx.adminToken}`, "content-type": "application/json" },
          body: JSON.stringify({ device: waiting.id, jti, reason: "taken by another reader" }),
        });
        expect(revoked.status).toBe(200);
      }
      return fetch(request);
    };
    const options = { mapping: claudeCode, url: ctx.api, device: waiting.id, keyPath: waiting.keyPath, stateRoot: waiting.stateDir, reviewWaitMs: 30_000, timeoutMs: 10_000, agentVersion: "test" };
    const answer = await preToolUse(parseHookInput(input("pre-webfetch")), { ...options, fetch: interfering });
    expect(intercepted).toBe(true);
    expect(JSON.parse(answer.stdout)).toEqual({
      hookSpecificOutput: {
        hookEventName: "PreToolUse",
        permissionDecision: "deny",
        permissionDecisionReason: expect.stringMatching(/^Warden: review \S+ was approved, but its action token was already used or has expired; retry the action \(decision \S+\)$/),
      },
    });
    expect((await waiting.log()).map((entry) => entry.type)).toEqual(expect.arrayContaining(["review.approved", "review.released", "action.revoked"]));
    expect((await waiting.log()).map((entry) => entry.type)).not.toContain("action.redeemed");
  });

  it("review that nobody decides within --review-wait → deny naming the hold and where to approve it", async () => {
    const run = await device.hook("claude-code", input("pre-websearch"), ["--review-wait", "1"]);
    expect({ status: run.status, stderr: run.stderr }).toEqual({ status: 0, stderr: "" });
    expect(decisionOf(run)).toEqual({
      hookEventName: "PreToolUse",
      permissionDecision: "deny",
      permissionDecisionReason: expect.stringMatching(new RegExp(`^Warden: review \\S+ \\(tier1\\) was not decided within 1 s; a reviewer can approve it at ${ctx.api.replace(/[.]/g, "\\.")}/review#hold-\\S+, then retry$`)),
    });
  });

  it("a token Warden refuses at redemption → deny naming the code, never allow", async () => {
    // The network delivers the redemption twice (the hook's own runner, a duplicating fetch):
    // the first spends the token, and Warden answers the second with replay_detected.
    const duplicating = async (request: Request) => {
      if (new URL(request.url).pathname === "/v1/actions/redeem") await (await fetch(request.clone())).body?.cancel();
      return fetch(request);
    };
    const options = { mapping: claudeCode, url: ctx.api, device: device.id, keyPath: device.keyPath, stateRoot: device.stateDir, reviewWaitMs: 1000, timeoutMs: 10_000, agentVersion: "test" };
    const answer = await preToolUse(parseHookInput(input("pre-read")), { ...options, fetch: duplicating });
    expect(JSON.parse(answer.stdout)).toEqual({
      hookSpecificOutput: { hookEventName: "PreToolUse", permissionDecision: "deny", permissionDecisionReason: expect.stringMatching(/^Warden: the action token of decision \S+ was refused at redemption \(replay_detected\); ask again$/) },
    });
  });

  it("an unknown tool gets what the example bundle decides for agent.tool", async () => {
    // What the example bundle (the active one, for devices outside the hooks group) says, asked directly.
    const probe = new WardenClient({ url: ctx.api, deviceId: `probe-${Date.now()}`, key: await generateDeviceKey() });
    expect((await probe.register(ctx.adminToken)).status).toBe(201);
    await probe.openSession();
    const toolInput = JSON.parse(input("pre-agent")).tool_input as JsonValue;
    const expected = await probe.decide({ agent: { id: "claude-code", version: "unknown" }, action: { type: "agent.tool", targets: [{ kind: "tool", value: "Agent" }], inputs_sha256: sha256(canonicalJson(toolInput)) } });
    const decided = (expected.body as DecisionResponse).decision;

    const outsider = await Device.register(ctx);
    const run = await outsider.hook("claude-code", input("pre-agent"), ["--review-wait", "1"]);
    expect(run.status).toBe(0);
    const answer = decisionOf(run)!;
    expect(answer.permissionDecision).toBe(decided === "permit" ? "allow" : "deny");
    if (decided === "review") expect(answer.permissionDecisionReason).toMatch(/was not decided within 1 s/);
  });
});

describe("warden hook claude-code, PostToolUse", () => {
  it("records action.completed for the decision: the written file's hash, the output's hash, the duration", async () => {
    const pre = await device.hook("claude-code", input("pre-write"));
    expect(decisionOf(pre)?.permissionDecision).toBe("allow");
    const decisionId = /decision ([0-9a-f-]{36})$/.exec(decisionOf(pre)!.permissionDecisionReason)![1];
    // The tool runs: Claude Code writes the file between the two hooks.
    const path = join(ctx.workspace, "src/hello.ts");
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, 'export const hello = "world";\n');
    const post = await device.hook("claude-code", input("post-write"));
    expect(post).toEqual({ status: 0, stdout: "", stderr: "" });

    const log = await device.log();
    const decision = log.find((entry) => entry.type === "decision" && entry.data["decision_id"] === decisionId)!;
    const completed = log.at(-1)!;
    const toolResponse = JSON.parse(input("post-write")).tool_response as JsonValue;
    expect(completed).toMatchObject({
      type: "action.completed",
      data: {
        decision_id: decisionId,
        decision_seq: decision.seq,
        decision_checked: true,
        tool: { name: "Write", use_id: "toolu_01WriteHello" },
        succeeded: true,
        exit_status: null,
        result_hash: sha256(canonicalJson(toolResponse)),
        files: [{ path, file_hash: sha256('export const hello = "world";\n') }],
        duration_ms: 12,
        human_reviewed: false,
      },
    });
    // A Write's inputs_sha256 is the hash of what the file holds afterwards.
    expect((decision.data["action"] as { inputs_sha256: string }).inputs_sha256).toBe((completed.data["files"] as { file_hash: string }[])[0]!.file_hash);
  });

  it("records a failed command with its exit status (PostToolUseFailure)", async () => {
    expect(decisionOf(await device.hook("claude-code", input("pre-bash-npm-test")))?.permissionDecision).toBe("allow");
    const post = await device.hook("claude-code", input("post-bash-failure"));
    expect(post).toEqual({ status: 0, stdout: "", stderr: "" });
    const completed = (await device.log()).at(-1)!;
    expect(completed.data).toMatchObject({ succeeded: false, exit_status: 1, duration_ms: 4187, result_hash: sha256(canonicalJson("Exit code 1\nError: Cannot find module 'express'")) });
  });

  it("records a successful command with exit status 0", async () => {
    expect(decisionOf(await device.hook("claude-code", input("pre-bash")))?.permissionDecision).toBe("allow");
    expect(await device.hook("claude-code", input("post-bash"))).toEqual({ status: 0, stdout: "", stderr: "" });
    expect((await device.log()).at(-1)!.data).toMatchObject({ tool: { name: "Bash" }, succeeded: true, exit_status: 0 });
  });

  it("a command run in the background is recorded when it started: its exit status is not known yet (null), never a 0 it did not have", async () => {
    const background = (text: string) => text.replace('"run_in_background": false', '"run_in_background": true').replace("toolu_01BashGitStatus", "toolu_01BashBackground");
    expect(decisionOf(await device.hook("claude-code", background(input("pre-bash"))))?.permissionDecision).toBe("allow");
    const post = background(input("post-bash")).replace(/"tool_response": \{[^}]*\}/, '"tool_response": { "backgroundTaskId": "bash_1" }');
    expect(await device.hook("claude-code", post)).toEqual({ status: 0, stdout: "", stderr: "" });
    expect((await device.log()).at(-1)!.data).toMatchObject({ tool: { name: "Bash", use_id: "toolu_01BashBackground" }, succeeded: true, exit_status: null });
  });

  it("the log with its outcomes verifies with warden audit verify", async () => {
    const response = await fetch(`${ctx.api}/v1/devices/${device.id}/export`, { headers: { authorization: `Bearer ${ctx.adminToken}` } });
    expect(response.status).toBe(200);
    const file = join(mkdtempSync(join(tmpdir(), "warden-export-")), "export.jsonl");
    writeFileSync(file, await response.text());
    const verified = await warden(["audit", "verify", file, "--keys", `${ctx.api}/.well-known/warden-log-keys.json`, "--json", "--quiet"]);
    expect(verified.stderr).toBe("");
    expect(verified.status).toBe(0);
    const entries = readFileSync(file, "utf8").split("\n").filter((line) => line.includes('"action.completed"'));
    expect(entries.length).toBeGreaterThanOrEqual(3);
  });

  it("a PostToolUse with no decision behind it is reported (exit 2), not dropped", async () => {
    const stray = input("post-bash").replace("toolu_01BashGitStatus", "toolu_01NeverDecided");
    expectBlocked(await device.hook("claude-code", stray), "no_pending_decision");
  });
});

describe("warden hook claude-code blocks (exit 2, reason on stderr, nothing on stdout) on", () => {
  it("malformed stdin", async () => {
    expectBlocked(await device.hook("claude-code", "{ not json"), "malformed_input");
    expectBlocked(await device.hook("claude-code", "[]"), "malformed_input");
    expectBlocked(await device.hook("claude-code", input("pre-bash").replace(`"cwd": "${ctx.workspace}"`, '"cwd": "relative/dir"')), "malformed_input");
  });

  it("an event it does not handle", async () => {
    expectBlocked(await device.hook("claude-code", input("pre-bash").replace('"PreToolUse"', '"Stop"')), "unsupported_event");
  });

  it("a known tool with an unknown shape", async () => {
    const shapeless = JSON.stringify({ ...JSON.parse(input("pre-read")), tool_input: { path: "/etc/hosts" } });
    expectBlocked(await device.hook("claude-code", shapeless), "unknown_tool_shape");
  });

  it("Warden unreachable: nothing listening, or nothing answering within --timeout", async () => {
    const run = await warden(["hook", "claude-code", "--url", "http://127.0.0.1:9", "--device", device.id, "--key", device.keyPath, "--state-dir", join(device.home, "elsewhere")], { stdin: input("pre-read") });
    expectBlocked(run, "warden_unreachable");
    const silent = createServer(() => undefined);
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    try {
      const url = `http://127.0.0.1:${(silent.address() as AddressInfo).port}`;
      const hung = await warden(["hook", "claude-code", "--url", url, "--device", device.id, "--key", device.keyPath, "--timeout", "1", "--state-dir", join(device.home, "silent")], { stdin: input("pre-read") });
      expectBlocked(hung, "warden_unreachable");
    } finally {
      silent.closeAllConnections();
      silent.close();
    }
  });

  it("Warden refusing the device", async () => {
    const run = await warden(["hook", "claude-code", "--url", ctx.api, "--device", `never-registered-${Date.now()}`, "--key", device.keyPath, "--state-dir", join(device.home, "refused")], { stdin: input("pre-read") });
    expectBlocked(run, "warden_refused");
    expect(run.stderr).toMatch(/HTTP 404 not_found/);
  });

  it("an answer that is not Warden's JSON", async () => {
    const impostor = createServer((_request, response) => response.writeHead(200, { "content-type": "text/html" }).end("<html>captive portal</html>"));
    await new Promise<void>((resolve) => impostor.listen(0, "127.0.0.1", resolve));
    try {
      const url = `http://127.0.0.1:${(impostor.address() as AddressInfo).port}`;
      const run = await warden(["hook", "claude-code", "--url", url, "--device", device.id, "--key", device.keyPath, "--state-dir", join(device.home, "impostor")], { stdin: input("pre-read") });
      expectBlocked(run, "malformed_response");
    } finally {
      impostor.close();
    }
  });

  it("an outcome Warden refuses", async () => {
    const other = await Device.register(ctx, { group: HOOK_GROUP });
    expect(decisionOf(await other.hook("claude-code", input("pre-bash-npm-test")))?.permissionDecision).toBe("allow");
    const pendingDir = join(other.stateDir, "state", readdirSync(join(other.stateDir, "state"))[0]!, "pending");
    for (const name of readdirSync(pendingDir)) {
      const pending = JSON.parse(readFileSync(join(pendingDir, name), "utf8")) as { decisions: { id: string }[] };
      pending.decisions[0]!.id = crypto.randomUUID();
      writeFileSync(join(pendingDir, name), JSON.stringify(pending));
    }
    const run = await other.hook("claude-code", input("post-bash-failure"));
    expectBlocked(run, "outcome_not_recorded");
    expect(run.stderr).toMatch(/HTTP 404 unknown_decision/);
  });

  it("a state directory it cannot create", async () => {
    const file = join(device.home, "not-a-directory");
    writeFileSync(file, "");
    expectBlocked(await device.hook("claude-code", input("pre-read"), ["--state-dir", file]), "state_unavailable");
  });

  it("missing or unusable configuration", async () => {
    expectBlocked(await warden(["hook", "claude-code", "--url", ctx.api, "--device", device.id], { stdin: input("pre-read"), env: { WARDEN_KEY: "" } }), "configuration_error");
    const badKey = join(device.home, "bad.jwk");
    writeFileSync(badKey, "{}");
    expectBlocked(await device.hook("claude-code", input("pre-read"), ["--key", badKey]), "configuration_error");
    expectBlocked(await warden(["hook", "claude-cod"], { stdin: input("pre-read") }), "configuration_error");
  });
});

describe("the hook's state", () => {
  it("reuses one session across calls, in 0600 files, and opens a new one before the saved one expires", async () => {
    const fresh = await Device.register(ctx, { group: HOOK_GROUP });
    for (let call = 0; call < 3; call += 1) expect(decisionOf(await fresh.hook("claude-code", input("pre-read")))?.permissionDecision).toBe("allow");
    const sessions = async () => (await fresh.log()).filter((entry) => entry.type === "session.opened").length;
    expect(await sessions()).toBe(1);
    const [stateDir] = readdirSync(join(fresh.stateDir, "state"));
    const sessionFile = join(fresh.stateDir, "state", stateDir!, "session.json");
    expect(statSync(sessionFile).mode & 0o777).toBe(0o600);
    expect(statSync(join(fresh.stateDir, "state", stateDir!)).mode & 0o777).toBe(0o700);

    // A session about to expire is replaced before it is used.
    const saved = JSON.parse(readFileSync(sessionFile, "utf8")) as { token: string; expiresAt: number };
    writeFileSync(sessionFile, JSON.stringify({ ...saved, expiresAt: Date.now() + 30_000 }));
    expect(decisionOf(await fresh.hook("claude-code", input("pre-read")))?.permissionDecision).toBe("allow");
    expect(await sessions()).toBe(2);

    // A token Warden no longer honours is replaced once, and the call still goes through.
    writeFileSync(sessionFile, JSON.stringify({ token: `${saved.token}x`, expiresAt: Date.now() + 3_600_000 }));
    expect(decisionOf(await fresh.hook("claude-code", input("pre-read")))?.permissionDecision).toBe("allow");
    expect(await sessions()).toBe(3);
  });
});
