import { env } from "cloudflare:test";
import { decodeJwt } from "jose";
import { beforeAll, describe, expect, it } from "vitest";
import type { DecisionResponse, WardenClient } from "../../cli/client.ts";
import { verifyExport } from "../../worker/log/export-verify.ts";
import { parseMacKey } from "../../worker/log/mac.ts";
import { deviceStub, publishedLogKeys } from "../audit-helpers.ts";
import { BASE_URL, action, activate, defaultSources, fileAction, logOf, readyDevice, uniqueId, workerFetch } from "../helpers.ts";
import { holdAsAdmin } from "../review-helpers.ts";

// A tenant of this file's own, whose bundle permits everything: what is under test is the
// device's standing, not which actions a bundle allows; its admin log holds only these tests' orders.
const tenant = uniqueId("respond");
const fetch = workerFetch({ tenant });
const permitAll = { ...defaultSources, policies: '@id("permit-all")\npermit (principal, action, resource);\n' };
const write = fileAction("file.write", "/home/dev/workspace/src/app.ts");

beforeAll(async () => {
  await activate(permitAll, tenant);
});

function asRole(token: string) {
  return async <T = Record<string, unknown>>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T; type: string | null }> => {
    const headers: Record<string, string> = { authorization: `Bearer ${token}` };
    if (body !== undefined) headers["content-type"] = "application/json";
    const response = await fetch(new Request(`${BASE_URL}${path}`, { method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) }));
    return { status: response.status, body: (await response.json()) as T, type: response.headers.get("content-type") };
  };
}
const admin = asRole(env.ADMIN_TOKEN);
const auditor = asRole(env.AUDITOR_TOKEN);

async function adminLog(): Promise<{ type: string; data: Record<string, unknown> }[]> {
  return (await admin<{ entries: { type: string; data: Record<string, unknown> }[] }>("GET", "/v1/bundles/log?limit=1000")).body.entries;
}

async function exportVerifies(deviceId: string): Promise<void> {
  const response = await fetch(new Request(`${BASE_URL}/v1/devices/${deviceId}/export`, { headers: { authorization: `Bearer ${env.AUDITOR_TOKEN}` } }));
  expect(response.status).toBe(200);
  const lines = new TextDecoder().decode(await response.arrayBuffer()).split("\n").filter((line) => line.length > 0);
  const report = await verifyExport(lines, { keys: (await publishedLogKeys()).keys, macKeys: [parseMacKey(env.LOG_HMAC_KEY!)] });
  expect(report.failure).toBeNull();
  expect(report.ok).toBe(true);
}

describe("quarantine", () => {
  let device: WardenClient;
  let tokenBefore: string;

  beforeAll(async () => {
    device = await readyDevice({ fetch });
    const permitted = await device.decide(write);
    expect(permitted.body.decision).toBe("permit");
    tokenBefore = permitted.body.token!;
    const quarantined = await admin("POST", `/v1/devices/${device.deviceId}/quarantine`, { reason: "EDR alert 4711: credential dumping" });
    expect(quarantined.status).toBe(200);
    expect(quarantined.body).toMatchObject({ changed: true, log: { seq: expect.any(Number) } });
  });

  it("denies the very next decision of a live session with a fresh proof, logged, with no token", async () => {
    const answer = await device.decide(write);
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({ decision: "deny", reason_code: "device_quarantined", reasons: [] });
    expect(answer.body.token).toBeUndefined();
    const logged = (await logOf(device)).find((entry) => entry.data["decision_id"] === answer.body.decision_id)!;
    expect(logged.data).toMatchObject({ decision: "deny", reason_code: "device_quarantined", token_jti: null });
  });

  it("denies every decision of a batch", async () => {
    const answer = await device.decideBatch([write, write]);
    expect(answer.status).toBe(200);
    expect(answer.body.decisions.map((d) => [d.decision, d.reason_code, d.token])).toEqual([
      ["deny", "device_quarantined", undefined],
      ["deny", "device_quarantined", undefined],
    ]);
  });

  it("makes an action token issued before it unusable", async () => {
    const redeemed = await device.redeem<{ code: string }>(tokenBefore, write.action);
    expect(redeemed.status).toBe(403);
    expect(redeemed.body.code).toBe("device_quarantined");
  });

  it("opens no new session, but still hands out nonces so the device learns why", async () => {
    const nonce = await device.nonce();
    const session = await device.requestSession(nonce.nonce);
    expect(session.status).toBe(403);
    expect((session.body as unknown as { code: string }).code).toBe("device_quarantined");
  });

  it("is shown with who ordered it and why", async () => {
    const read = await admin<{ status: string; history: { type: string; by: string; reason: string; seq: number }[] }>("GET", `/v1/devices/${device.deviceId}`);
    expect(read.status).toBe(200);
    expect(read.body.status).toBe("quarantined");
    expect(read.body.history).toEqual([expect.objectContaining({ type: "device.quarantined", by: "bootstrap-token:admin", reason: "EDR alert 4711: credential dumping" })]);
  });

  it("is refused to auditors and devices", async () => {
    expect((await auditor<{ code: string }>("POST", `/v1/devices/${device.deviceId}/quarantine`, { reason: "x" })).body.code).toBe("forbidden");
    const asDevice = await device.authorized<{ code: string }>("POST", `/v1/devices/${device.deviceId}/release`, { reason: "let me out" });
    expect(asDevice.status).toBe(403);
  });

  it("answers an unknown device or a missing reason with a problem", async () => {
    const unknown = await admin<{ code: string }>("POST", `/v1/devices/${uniqueId()}/quarantine`, { reason: "x" });
    expect([unknown.status, unknown.body.code, unknown.type]).toEqual([404, "not_found", "application/problem+json"]);
    const bare = await admin<{ code: string }>("POST", `/v1/devices/${device.deviceId}/quarantine`, {});
    expect([bare.status, bare.body.code]).toEqual([400, "malformed_request"]);
    const extra = await admin<{ code: string }>("POST", `/v1/devices/${device.deviceId}/quarantine`, { reason: "x", until: "never" });
    expect([extra.status, extra.body.code]).toEqual([400, "malformed_request"]);
  });
});

describe("release", () => {
  it("restores decisions and sessions, and both orders verify in the exported log and sit in the admin log", async () => {
    const device = await readyDevice({ fetch });
    await admin("POST", `/v1/devices/${device.deviceId}/quarantine`, { reason: "suspicious egress" });
    const again = await admin("POST", `/v1/devices/${device.deviceId}/quarantine`, { reason: "second alert" });
    expect(again.body).toMatchObject({ changed: false });
    const released = await admin("POST", `/v1/devices/${device.deviceId}/release`, { reason: "reimaged, ticket SEC-12" });
    expect(released.body).toMatchObject({ changed: true });

    expect((await device.decide(write)).body).toMatchObject({ decision: "permit", token: expect.any(String) });
    await device.openSession();
    const fresh = await device.decide<DecisionResponse>(write);
    expect(fresh.body.decision).toBe("permit");
    expect((await device.redeem(fresh.body.token!, write.action)).status).toBe(200);

    const entries = await logOf(device);
    const orders = entries.filter((entry) => entry.type === "device.quarantined" || entry.type === "device.released").map((entry) => [entry.type, entry.data]);
    expect(orders).toEqual([
      ["device.quarantined", { by: "bootstrap-token:admin", reason: "suspicious egress", changed: true }],
      ["device.quarantined", { by: "bootstrap-token:admin", reason: "second alert", changed: false }],
      ["device.released", { by: "bootstrap-token:admin", reason: "reimaged, ticket SEC-12", changed: true }],
    ]);
    await exportVerifies(device.deviceId);

    const recorded = (await adminLog()).filter((entry) => entry.data["device"] === device.deviceId);
    expect(recorded.map((entry) => [entry.type, entry.data["reason"]])).toEqual([
      ["admin.device_quarantined", "suspicious egress"],
      ["admin.device_quarantined", "second alert"],
      ["admin.device_released", "reimaged, ticket SEC-12"],
    ]);
    const releasedEntry = entries.find((entry) => entry.type === "device.released")!;
    expect(recorded.at(-1)!.data["device_log"]).toEqual({ seq: releasedEntry.seq, hash: releasedEntry.hash });
  });
});

describe("session revocation", () => {
  it("refuses a revoked session's next request with session_revoked while the device's other session goes on", async () => {
    const device = await readyDevice({ fetch });
    const first = device.sessionToken!;
    const second = await device.openSession();
    // Used first, so the device's object knows the session as live when the revocation comes.
    expect((await device.authorized<DecisionResponse>("POST", "/v1/decisions", write, first)).body.decision).toBe("permit");
    const revoked = await admin("POST", `/v1/devices/${device.deviceId}/sessions/revoke`, { reason: "token seen in a crash dump", jti: decodeJwt(first).jti });
    expect(revoked.status).toBe(200);
    expect(revoked.body).toMatchObject({ revoked: 1 });

    const refused = await device.authorized<{ code: string }>("POST", "/v1/decisions", write, first);
    expect([refused.status, refused.body.code]).toEqual([401, "session_revoked"]);
    const read = await device.authorized<{ code: string }>("GET", `/v1/devices/${device.deviceId}`, undefined, first);
    expect([read.status, read.body.code]).toEqual([401, "session_revoked"]);
    expect((await device.authorized<DecisionResponse>("POST", "/v1/decisions", write, second)).body.decision).toBe("permit");
  });

  it("revokes every live session at once; the device opens a new one", async () => {
    const device = await readyDevice({ fetch });
    const first = device.sessionToken!;
    const second = await device.openSession();
    for (const token of [first, second]) expect((await device.authorized<DecisionResponse>("POST", "/v1/decisions", write, token)).body.decision).toBe("permit");
    const revoked = await admin("POST", `/v1/devices/${device.deviceId}/sessions/revoke`, { reason: "laptop reported stolen" });
    expect(revoked.body).toMatchObject({ revoked: 2 });
    for (const token of [first, second]) {
      const refused = await device.authorized<{ code: string }>("POST", "/v1/decisions", write, token);
      expect([refused.status, refused.body.code]).toEqual([401, "session_revoked"]);
    }
    await device.openSession();
    expect((await device.decide(write)).body.decision).toBe("permit");
    const entry = (await logOf(device)).find((e) => e.type === "session.revoked")!;
    expect(entry.data).toEqual({ session: null, all: true, revoked: 2, by: "bootstrap-token:admin", reason: "laptop reported stolen" });
    await exportVerifies(device.deviceId);
  });

  it("the device's object refuses a session past its expiry, also one it saw live", async () => {
    const device = await readyDevice({ fetch });
    const { jti, exp } = decodeJwt(device.sessionToken!);
    const stub = deviceStub(device.deviceId, tenant);
    const call = (now: number) => stub.spendProof({ proof: { jti: crypto.randomUUID(), expiresAt: now + 60_000 }, session: { id: jti! } }, now);
    const now = Date.now();
    expect(await call(now)).toEqual({ ok: true });
    // The row outlives the token by under a second (`exp` is rounded down); a second after `exp` both have ended.
    expect(await call((exp! + 1) * 1000)).toEqual({ ok: false, code: "session_revoked" });
  });

  it("refuses a jti that is not a live session of the device, and logs nothing", async () => {
    const device = await readyDevice({ fetch });
    const other = await readyDevice({ fetch });
    const before = (await logOf(device)).length;
    for (const jti of [crypto.randomUUID(), decodeJwt(other.sessionToken!).jti]) {
      const refused = await admin<{ code: string }>("POST", `/v1/devices/${device.deviceId}/sessions/revoke`, { reason: "x", jti });
      expect([refused.status, refused.body.code]).toEqual([404, "unknown_session"]);
    }
    expect(await logOf(device)).toHaveLength(before);
    expect((await other.decide(write)).body.decision).toBe("permit");
  });
});

describe("action token revocation", () => {
  it("refuses the revoked token's redemption with token_revoked, logged in both logs", async () => {
    const device = await readyDevice({ fetch });
    const decided = await device.decide(write);
    const jti = decodeJwt(decided.body.token!).jti!;
    const revoked = await admin("POST", "/v1/actions/revoke", { device: device.deviceId, jti, reason: "the reviewer approved by mistake" });
    expect(revoked.status).toBe(200);

    const refused = await device.redeem<{ code: string }>(decided.body.token!, write.action);
    expect([refused.status, refused.body.code]).toEqual([401, "token_revoked"]);
    const other = await device.decide(write);
    expect((await device.redeem(other.body.token!, write.action)).status).toBe(200);

    const entries = await logOf(device);
    expect(entries.find((entry) => entry.type === "action.revoked")!.data).toEqual({ token_jti: jti, by: "bootstrap-token:admin", reason: "the reviewer approved by mistake" });
    expect(entries.filter((entry) => entry.type === "action.redeemed")).toHaveLength(1);
    expect((await adminLog()).some((entry) => entry.type === "admin.action_token_revoked" && entry.data["jti"] === jti)).toBe(true);
    await exportVerifies(device.deviceId);
  });

  it("a token already redeemed stays redeemed: revoking it later only adds the record", async () => {
    const device = await readyDevice({ fetch });
    const decided = await device.decide(write);
    expect((await device.redeem(decided.body.token!, write.action)).status).toBe(200);
    const jti = decodeJwt(decided.body.token!).jti!;
    expect((await admin("POST", "/v1/actions/revoke", { device: device.deviceId, jti, reason: "late" })).status).toBe(200);
    const replay = await device.redeem<{ code: string }>(decided.body.token!, write.action);
    expect([replay.status, replay.body.code]).toEqual([401, "replay_detected"]);
  });
});

describe("quarantine ends the device's holds", () => {
  it("cancels a pending hold, says which in the answer, and the device cannot wait on it", async () => {
    const reviewTenant = uniqueId("respond-holds");
    const reviewFetch = workerFetch({ tenant: reviewTenant });
    await activate(defaultSources, reviewTenant);
    const device = await readyDevice({ fetch: reviewFetch });
    const held = await device.decide(action("file.delete", [{ kind: "path", value: `/home/dev/workspace/.git/objects/${uniqueId("obj")}` }]));
    expect(held.body.decision).toBe("review");
    const id = held.body.review!.id;
    const response = await reviewFetch(
      new Request(`${BASE_URL}/v1/devices/${device.deviceId}/quarantine`, {
        method: "POST",
        headers: { authorization: `Bearer ${env.ADMIN_TOKEN}`, "content-type": "application/json" },
        body: JSON.stringify({ reason: "exfiltration suspected" }),
      }),
    );
    expect(response.status).toBe(200);
    expect(((await response.json()) as { cancelled_holds: string[] }).cancelled_holds).toEqual([id]);
    expect((await holdAsAdmin(reviewFetch, id)).status).toBe("cancelled");
    const waited = await device.authorized<{ code: string }>("GET", `/v1/reviews/${id}`);
    expect([waited.status, waited.body.code]).toEqual([403, "device_quarantined"]);
  });
});
