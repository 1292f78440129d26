import { createExecutionContext, env } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import type { WardenClient } from "../../cli/client.ts";
import { runtimeDeps, type ServiceContext } from "../../worker/context.ts";
import type { LogEntry } from "../../worker/log/chain.ts";
import { verifyExport } from "../../worker/log/export-verify.ts";
import { parseMacKey } from "../../worker/log/mac.ts";
import { cancelDeviceHolds } from "../../worker/review/holds.ts";
import { publishedLogKeys, withMethod } from "../audit-helpers.ts";
import { action, activate, defaultSources, readyDevice, uniqueId, workerFetch } from "../helpers.ts";
import { admin, call, enrolledReviewer, giveVerdict, holdAsAdmin, holdsStub, outboxStub, verdictOptions, sendVerdict, waitOn, type Reviewer } from "../review-helpers.ts";

/**
 * Cancelling a device's holds, as the quarantine flow does (`cancelDeviceHolds`): every hold of
 * the device that could still hand it a token ends `cancelled` with outcome deny, no token is
 * ever released for it, and `review.cancelled` is in the device log, which still verifies.
 */

const tenant = uniqueId("qc");
const clock = { now: Date.now() };
const fetch = workerFetch({ tenant, deps: { now: () => clock.now } });
const ctx: ServiceContext = {
  env: { ...env, TENANT: tenant },
  deps: { ...runtimeDeps, now: () => clock.now },
  waitUntil: (promise) => createExecutionContext().waitUntil(promise),
};

function heldAction() {
  return action("file.delete", [{ kind: "path", value: `/home/dev/workspace/.git/objects/${uniqueId("obj")}` }]);
}

async function held(client: WardenClient): Promise<string> {
  const decided = await client.decide(heldAction());
  expect(decided.body.decision).toBe("review");
  return (decided.body.review as unknown as { id: string }).id;
}

async function sink(review: string): Promise<{ body: string }[]> {
  const response = await (env as unknown as { WEBHOOK_SINK: Fetcher }).WEBHOOK_SINK.fetch(`http://sink/?review=${review}`);
  return (await response.json()) as { body: string }[];
}

describe("cancelling a device's holds", () => {
  let quarantined: WardenClient;
  let bystander: WardenClient;
  let reviewer: Reviewer;

  beforeAll(async () => {
    await activate(defaultSources, tenant);
    quarantined = await readyDevice({ fetch, now: () => clock.now });
    bystander = await readyDevice({ fetch, now: () => clock.now });
    reviewer = await enrolledReviewer(fetch, uniqueId("rita"));
  });

  it("ends pending and approved-but-unreleased holds with deny, releases no token for them, and logs review.cancelled", async () => {
    const pending = await held(quarantined);
    const approved = await held(quarantined);
    expect((await giveVerdict(fetch, reviewer, approved, "approve")).body.status).toBe("approved");
    const released = await held(quarantined);
    expect((await giveVerdict(fetch, reviewer, released, "approve")).body.status).toBe("approved");
    expect((await waitOn(quarantined, released)).body.token).toEqual(expect.any(String));
    const rejected = await held(quarantined);
    await giveVerdict(fetch, reviewer, rejected, "reject");
    const other = await held(bystander);
    // A reviewer looking at the pending hold when the quarantine comes.
    const options = await verdictOptions(fetch, reviewer, pending, "approve");

    const result = await cancelDeviceHolds(ctx, quarantined.deviceId, { reason: "EDR alert 4711", by: "admin", quarantineSeq: null });
    expect(result).toEqual({
      cancelled: [
        { id: pending, previous: "pending" },
        { id: approved, previous: "approved" },
      ],
      logged: true,
    });

    for (const id of [pending, approved]) {
      expect(await holdAsAdmin(fetch, id)).toMatchObject({ status: "cancelled", decision: "deny", released: false });
      const seen = await waitOn(quarantined, id);
      expect(seen.body).toMatchObject({ status: "cancelled", decision: "deny", released: false });
      expect(seen.body.token).toBeUndefined();
    }
    // Decided and released holds stay as they were; another device's hold is untouched.
    expect(await holdAsAdmin(fetch, released)).toMatchObject({ status: "approved", released: true });
    expect(await holdAsAdmin(fetch, rejected)).toMatchObject({ status: "rejected" });
    expect(await holdAsAdmin(fetch, other)).toMatchObject({ status: "pending" });
    // The verdict the reviewer was about to give lands on a hold that is no longer pending.
    const late = await sendVerdict(fetch, pending, await reviewer.authenticator.assert(options.body.options));
    expect(late.body.code).toBe("review_not_pending");

    const entries = (await call<{ entries: LogEntry[] }>(fetch, "GET", `/v1/devices/${quarantined.deviceId}/log?limit=500`, undefined, admin)).body.entries;
    const cancelled = entries.filter((entry) => entry.type === "review.cancelled");
    expect(cancelled.map((entry) => entry.data)).toEqual([
      expect.objectContaining({ review_id: pending, previous: "pending", outcome: "deny", by: "admin", reason: "EDR alert 4711" }),
      expect.objectContaining({ review_id: approved, previous: "approved", outcome: "deny", by: "admin", reason: "EDR alert 4711" }),
    ]);
    expect(entries.some((entry) => entry.type === "review.released" && entry.data["review_id"] === approved)).toBe(false);

    // The tier's channel hears of it, signed like every review notification.
    await outboxStub(tenant).tick(clock.now);
    expect((await sink(pending)).map((delivery) => JSON.parse(delivery.body) as { type: string; outcome: string | null; by: string }).find((event) => event.type === "review.cancelled")).toMatchObject({
      outcome: "deny",
      by: "admin",
    });

    // The device's log, cancellations included, verifies as `warden audit verify` checks it.
    const response = await fetch(new Request(`https://warden.test/v1/devices/${quarantined.deviceId}/export`, { headers: { authorization: `Bearer ${env.AUDITOR_TOKEN}` } }));
    expect(response.status).toBe(200);
    const lines = (await response.text()).split("\n").filter((line) => line.length > 0);
    const report = await verifyExport(lines, { keys: (await publishedLogKeys()).keys, macKeys: [parseMacKey(env.LOG_HMAC_KEY!)] });
    expect(report.failure).toBeNull();
    expect(report).toMatchObject({ ok: true, device: quarantined.deviceId, entries: entries.length });
    expect(report.hmac.checked).toBe(entries.length);
  });

  it("ends the device's open wait on a hold at once: it reads the hold cancelled", async () => {
    const device = await readyDevice({ fetch, now: () => clock.now });
    const id = await held(device);
    const started = Date.now();
    const waiting = waitOn(device, id, 20);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect((await cancelDeviceHolds(ctx, device.deviceId, { reason: "EDR alert 4712", by: "admin", quarantineSeq: null })).cancelled).toEqual([{ id, previous: "pending" }]);
    const seen = await waiting;
    expect(seen.body).toMatchObject({ status: "cancelled", decision: "deny" });
    expect(seen.body.token).toBeUndefined();
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it("cancels nothing twice, and nothing for a device without holds", async () => {
    expect(await cancelDeviceHolds(ctx, quarantined.deviceId, { reason: "again", by: "admin", quarantineSeq: null })).toEqual({ cancelled: [], logged: true });
    expect(await cancelDeviceHolds(ctx, "no-such-device", { reason: "x", by: "admin", quarantineSeq: null })).toEqual({ cancelled: [], logged: true });
  });
});

describe("an admin's quarantine racing a review", () => {
  it("a hold asked for after the quarantine's cancellation, for a review logged before the quarantine, is refused: the decision denies", async () => {
    const raceTenant = uniqueId("qr");
    await activate(defaultSources, raceTenant);
    const plain = workerFetch({ tenant: raceTenant });
    let deviceId = "";
    let quarantine = null as Promise<{ status: number }> | null;
    // The tenant's holds, except that the admin quarantines the device after its review is logged and before its hold arrives.
    const racing = workerFetch({
      tenant: raceTenant,
      deps: {
        reviewHolds: (_bindings, name) => {
          const holds = holdsStub(name);
          return withMethod(holds, "hold", async (...args: Parameters<typeof holds.hold>) => {
            quarantine ??= call(plain, "POST", `/v1/devices/${deviceId}/quarantine`, { reason: "EDR alert 4713" }, admin);
            await quarantine;
            return holds.hold(...args);
          });
        },
      },
    });
    const device = await readyDevice({ fetch: racing });
    deviceId = device.deviceId;
    const decided = await device.decide(heldAction());
    // The quarantine landed between the review's append and its hold.
    expect((await quarantine)?.status).toBe(200);
    expect(decided.body).toMatchObject({ decision: "deny", reason_code: "review_unavailable" });
    const pending = await call<{ reviews: { requester: { device: string } }[] }>(plain, "GET", "/v1/reviews?status=pending", undefined, admin);
    expect(pending.body.reviews.filter((review) => review.requester.device === deviceId)).toEqual([]);
  });
});
