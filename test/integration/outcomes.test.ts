import { env, runInDurableObject } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import type { ActionOutcome, DecisionResponse, WardenClient } from "../../cli/client.ts";
import { verifyChain, type LogEntry } from "../../worker/log/chain.ts";
import type { DeviceLog } from "../../durable-objects/DeviceLog.ts";
import { appendMany, configure, liveEntries, registeredDevice } from "../audit-helpers.ts";
import { activate, defaultSources, fileAction, logOf, readyDevice, uniqueId, workerFetch } from "../helpers.ts";

// A tenant of this file's own whose bundle permits everything: the outcome route is about the
// log, not about which actions a bundle allows, so these tests do not move with the default bundle.
const tenant = uniqueId("outcomes");
const fetch = workerFetch({ tenant });
const permitAll = { ...defaultSources, policies: '@id("permit-all")\npermit (principal, action, resource);\n' };

let device: WardenClient;

beforeAll(async () => {
  await activate(permitAll, tenant);
  device = await readyDevice({ fetch });
});

const sha = (char: string) => char.repeat(64);

/** A permitted, redeemed file.write and the outcome a hook would report for it. */
async function ranAction(client: WardenClient): Promise<{ decision: DecisionResponse; outcome: ActionOutcome }> {
  const request = fileAction("file.write", "/home/dev/workspace/src/app.ts");
  const decided = await client.decide(request);
  expect(decided.body.decision).toBe("permit");
  expect((await client.redeem(decided.body.token!, request.action)).status).toBe(200);
  return {
    decision: decided.body,
    outcome: {
      decision_id: decided.body.decision_id,
      decision_seq: decided.body.log!.seq,
      tool: { name: "Write", use_id: "toolu_01ABC" },
      succeeded: true,
      exit_status: null,
      result_hash: sha("a"),
      files: [{ path: "/home/dev/workspace/src/app.ts", file_hash: sha("b") }],
      duration_ms: 12,
      human_reviewed: false,
    },
  };
}

describe("POST /v1/actions/complete", () => {
  it("appends action.completed linked to the decision, in the same verified chain", async () => {
    const { decision, outcome } = await ranAction(device);
    const answer = await device.recordOutcome(outcome);
    expect(answer.status).toBe(201);
    expect(answer.body).toMatchObject({ recorded: true, decision_id: decision.decision_id, decision_checked: true });

    const entries = await logOf(device);
    const completed = entries.at(-1)!;
    expect(completed).toMatchObject({ seq: answer.body.log.seq, hash: answer.body.log.hash, type: "action.completed" });
    expect(completed.data).toMatchObject({
      decision_id: decision.decision_id,
      decision_seq: decision.log!.seq,
      tool: { name: "Write", use_id: "toolu_01ABC" },
      succeeded: true,
      exit_status: null,
      result_hash: sha("a"),
      files: [{ path: "/home/dev/workspace/src/app.ts", file_hash: sha("b") }],
      duration_ms: 12,
      human_reviewed: false,
      review_id: null,
      decision_checked: true,
    });
    expect(typeof completed.data["session"]).toBe("string");
    expect(verifyChain(entries as LogEntry[], device.deviceId)).toBeNull();
  });

  it("refuses a decision that is not this device's as unknown_decision, and logs nothing", async () => {
    const { decision, outcome } = await ranAction(device);
    const other = await readyDevice({ fetch });
    const before = (await logOf(device)).length;
    const cases: [string, Partial<ActionOutcome>][] = [
      ["an id no decision has", { decision_id: crypto.randomUUID() }],
      ["the right id at another position", { decision_seq: decision.log!.seq - 1 }],
      ["a position past the head", { decision_seq: decision.log!.seq + 1000 }],
      ["the registration entry", { decision_seq: 1 }],
    ];
    for (const [name, change] of cases) {
      const answer = await device.recordOutcome<{ code: string }>({ ...outcome, ...change });
      expect([name, answer.status, answer.body.code]).toEqual([name, 404, "unknown_decision"]);
    }
    // Another device presenting this device's decision: its own log has no such entry.
    const stolen = await other.recordOutcome<{ code: string }>(outcome);
    expect([stolen.status, stolen.body.code]).toEqual([404, "unknown_decision"]);
    expect((await logOf(device)).length).toBe(before);
  });

  it("spends the DPoP proof with the append: a replayed request is replay_detected", async () => {
    const { outcome } = await ranAction(device);
    const dpop = await device.proof("POST", "/v1/actions/complete", { accessToken: device.sessionToken! });
    const send = () => device.request<{ code?: string }>("POST", "/v1/actions/complete", outcome, { authorization: `DPoP ${device.sessionToken}`, dpop });
    expect((await send()).status).toBe(201);
    const replayed = await send();
    expect([replayed.status, replayed.body.code]).toEqual([401, "replay_detected"]);
  });

  it("refuses malformed outcomes before touching the log", async () => {
    const { outcome } = await ranAction(device);
    const bad: [string, unknown][] = [
      ["an upper-case hash", { ...outcome, result_hash: "A".repeat(64) }],
      ["a file hash that is not hex", { ...outcome, files: [{ path: "/x", file_hash: "zz" }] }],
      ["a negative duration", { ...outcome, duration_ms: -1 }],
      ["an unknown field", { ...outcome, extra: true }],
      ["no decision", { ...outcome, decision_id: undefined }],
    ];
    for (const [name, body] of bad) {
      const answer = await device.authorized<{ code: string }>("POST", "/v1/actions/complete", body);
      expect([name, answer.status, answer.body.code]).toEqual([name, 400, "malformed_request"]);
    }
  });

  it("is a device route: an admin bearer token is refused", async () => {
    const { outcome } = await ranAction(device);
    const answer = await device.request<{ code: string }>("POST", "/v1/actions/complete", outcome, { authorization: `Bearer ${env.ADMIN_TOKEN}` });
    expect([answer.status, answer.body.code]).toEqual([403, "forbidden"]);
  });

  it("is in the OpenAPI document", async () => {
    const doc = (await (await fetch(new Request("https://warden.test/openapi.json"))).json()) as { paths: Record<string, unknown>; components: { schemas: Record<string, unknown> } };
    expect(doc.paths["/v1/actions/complete"]).toBeDefined();
    expect(doc.components.schemas["ActionOutcome"]).toBeDefined();
    expect(doc.components.schemas["RecordedOutcome"]).toBeDefined();
  });

  it("links to a decision already archived without reading it, and says so (decision_checked: false)", async () => {
    const { stub } = await registeredDevice();
    const now = Date.now();
    const single = () => ({ jti: crypto.randomUUID(), expiresAt: now + 60_000 });
    // The object honours only sessions it opened.
    const session = { id: "s-1" };
    const opened = await stub.openSession({ nonce: { value: "n-1", expiresAt: now + 60_000 }, proof: single(), now, session: { ...session, expiresAt: now + 900_000, data: { session_id: session.id } } });
    if (!opened.ok) throw new Error(opened.code);
    const decided = await stub.recordDecisions({ proof: single(), session, now, decisions: [{ decision_id: "d-archived", decision: "permit" }] });
    if (!decided.ok) throw new Error(decided.code);
    const seq = decided.logs[0]!.seq;
    await configure(stub, { tuning: { checkpointEntries: 5, checkpointSeconds: 3600, segmentEntries: 10, segmentMinutes: 600, retrySeconds: 30 } });
    await appendMany(stub, 25);
    await runInDurableObject(stub, async (instance: DeviceLog) => {
      for (let run = 0; run < 4; run += 1) await instance.alarm();
    });
    expect((await liveEntries(stub)).some((entry) => entry.seq === seq)).toBe(false);

    const recorded = await stub.recordOutcome({ proof: single(), session, now, decision: { id: "d-archived", seq }, data: { decision_id: "d-archived" } });
    expect(recorded).toMatchObject({ ok: true, checked: false });
    const last = (await liveEntries(stub)).at(-1)!;
    expect(last).toMatchObject({ type: "action.completed", data: { decision_id: "d-archived", decision_checked: false } });
    // Past the head is never taken on trust.
    expect(await stub.recordOutcome({ proof: single(), session, now, decision: { id: "d-archived", seq: last.seq + 1 }, data: {} })).toEqual({ ok: false, code: "unknown_decision" });
  });
});
