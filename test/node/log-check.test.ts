import { readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, inject, it } from "vitest";
import { HOOK_GROUP } from "./bundle.ts";
import { Device, fixture, warden } from "./cli.ts";

const ctx = inject("warden");

let device: Device;
let stateDir: string;

beforeAll(async () => {
  device = await Device.register(ctx, { group: HOOK_GROUP, prefix: "logcheck" });
  expect((await device.hook("claude-code", fixture("claude-code", "pre-read", ctx.workspace))).status).toBe(0);
  stateDir = join(device.stateDir, "state", readdirSync(join(device.stateDir, "state"))[0]!);
});

async function logCheck() {
  const run = await warden(["shim", "log-check", ...device.hookArgs()]);
  return { status: run.status, report: run.stdout ? (JSON.parse(run.stdout) as { status: string; checked: string; kept: { seq: number }; head: { seq: number; hash: string }; detail: string }) : null, stderr: run.stderr };
}

const kept = () => JSON.parse(readFileSync(join(stateDir, "log.json"), "utf8")) as { seq: number; hash: string };

describe("warden shim log-check", () => {
  it("finds the position the hooks kept unchanged (exit 0) and moves it to the head", async () => {
    const before = kept();
    const { status, report } = await logCheck();
    expect(status).toBe(0);
    expect(report).toMatchObject({ status: "consistent", checked: "entry", kept: before });
    const head = (await device.log()).at(-1)!;
    expect(kept()).toEqual({ seq: head.seq, hash: head.hash });
  });

  it("detects a log cut back below a position Warden returned (exit 12, rolled_back)", async () => {
    const position = kept();
    // The endpoint remembers an entry the server no longer has: what a restored snapshot or a deleted tail looks like from here.
    writeFileSync(join(stateDir, "log.json"), JSON.stringify({ seq: position.seq + 50, hash: position.hash }));
    const { status, report } = await logCheck();
    expect(status).toBe(12);
    expect(report).toMatchObject({ status: "rolled_back", checked: "entry" });
    writeFileSync(join(stateDir, "log.json"), JSON.stringify(position));
  });

  it("detects a different entry at that position (exit 12, rewritten)", async () => {
    const position = kept();
    writeFileSync(join(stateDir, "log.json"), JSON.stringify({ seq: position.seq, hash: "0".repeat(64) }));
    const { status, report } = await logCheck();
    expect(status).toBe(12);
    expect(report).toMatchObject({ status: "rewritten", checked: "entry" });
    writeFileSync(join(stateDir, "log.json"), JSON.stringify(position));
  });

  it("detects a signed checkpoint that shrank or forked from the one seen before", async () => {
    expect((await logCheck()).status).toBe(0);
    const seen = JSON.parse(readFileSync(join(stateDir, "checkpoint.json"), "utf8")) as { size: number; root: string };
    writeFileSync(join(stateDir, "checkpoint.json"), JSON.stringify({ size: seen.size + 1000, root: seen.root }));
    expect((await logCheck()).report).toMatchObject({ status: "rolled_back", checked: "checkpoint" });
    writeFileSync(join(stateDir, "checkpoint.json"), JSON.stringify({ size: seen.size, root: "f".repeat(64) }));
    const forked = await logCheck();
    expect([forked.status, forked.report?.status]).toEqual([12, "rewritten"]);
  });

  it("cannot check without a kept position (exit 1)", async () => {
    const run = await warden(["shim", "log-check", "--url", ctx.api, "--device", device.id, "--key", device.keyPath, "--state-dir", join(device.home, "empty")]);
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/no log position kept/);
  });
});
