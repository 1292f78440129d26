import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, inject, it } from "vitest";
import { TestFileSchema } from "../../cli/bundle-runner.ts";
import { EXIT } from "../../cli/exit.ts";
import commandCases from "../../policy-bundles/default/tests/commands.json";
import { warden } from "./cli.ts";

// The command bypasses through the reference shim as an endpoint runs it: the compiled
// `warden shim decide --command`, against `wrangler dev` with the example bundle active. Its exit
// status is what a script around it obeys (0 permit, 10 deny, 11 review).

const ctx = inject("warden");
const cases = TestFileSchema.parse(commandCases).cases.filter((testCase) => testCase.request.action.targets.every((target) => target.kind === "command"));

async function register(os: "linux" | "windows"): Promise<{ id: string; key: string }> {
  const id = `shim-${os}-${Date.now()}-${Math.random().toString(36).slice(2, 8)}`;
  const key = join(mkdtempSync(join(tmpdir(), "warden-shim-")), "device.jwk");
  const run = await warden(["shim", "register", "--url", ctx.api, "--admin-token", ctx.adminToken, "--device", id, "--os", os, "--key-out", key]);
  if (run.status !== 0) throw new Error(`register failed: ${run.stderr}`);
  return { id, key };
}

const devices = new Map<string, { id: string; key: string }>();
beforeAll(async () => {
  for (const os of ["linux", "windows"] as const) devices.set(os, await register(os));
});

describe("warden shim decide --command, for every command case of the example bundle", () => {
  it.each(cases.map((testCase) => [testCase.name, testCase] as const))("%s", async (_name, testCase) => {
    const device = devices.get(testCase.device.os)!;
    const target = testCase.request.action.targets[0]!;
    if (target.kind !== "command") throw new Error("command cases only");
    const args = ["shim", "decide", "--url", ctx.api, "--device", device.id, "--key", device.key, "--action", "command.exec", "--command", target.value];
    // The shim always places a command (its own directory by default); a case without one runs at the root.
    args.push("--cwd", target.cwd ?? "/", "--home", target.home ?? "/");
    if (target.shell) args.push("--shell", target.shell);
    args.push("--agent-id", testCase.request.agent.id, "--agent-version", testCase.request.agent.version);
    const run = await warden(args);
    const expected = { permit: EXIT.permit, deny: EXIT.deny, review: EXIT.review }[testCase.expect.decision];
    expect({ status: run.status, stderr: run.stderr }).toEqual({ status: expected, stderr: "" });
    const answer = JSON.parse(run.stdout) as { decision: string; reasons: string[] };
    expect(answer.decision).toBe(testCase.expect.decision);
    // A case without a directory is about what cannot be known without one: the shim always sends one, so only the decision is compared.
    if (testCase.expect.reasons && target.cwd !== undefined) expect([...answer.reasons].sort()).toEqual([...testCase.expect.reasons].sort());
  });
});
