import { env, runInDurableObject } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import type { WardenClient } from "../../cli/client.ts";
import type { DeviceLog } from "../../durable-objects/DeviceLog.ts";
import { ReviewHolds, holdsIo } from "../../durable-objects/ReviewHolds.ts";
import { runtimeDeps } from "../../worker/context.ts";
import type { LogEntry } from "../../worker/log/chain.ts";
import { segmentKeys } from "../../worker/log/export.ts";
import type { EvidenceItem } from "../../worker/review/types.ts";
import { appendMany, configure, deviceStub, liveEntries, registeredDevice, runAlarms } from "../audit-helpers.ts";
import { action, activate, defaultSources, readyDevice, uniqueId, workerFetch } from "../helpers.ts";
import {
  admin,
  call,
  enrolledReviewer,
  faulty,
  giveVerdict,
  holdAsAdmin,
  holdsStub,
  holdsWith,
  interleaved,
  outboxStub,
  outboxWith,
  registryStub,
  sendVerdict,
  verdictOptions,
  waitOn,
  type Reviewer,
} from "../review-helpers.ts";

/**
 * The review objects across their boundaries: the order of the counter check-and-set and
 * the verdict, the hand-off from the holds to the outbox, and the outbox's appends to device
 * logs — each with a failure injected between two steps through the objects' I/O seam or a
 * stub that fails once. Nothing may be approved twice, lost, or appended twice.
 */

type Fetch = (request: Request) => Promise<Response>;

/** A tenant of this file's own; the device's requests go through `via`, which a test may reroute. */
function world() {
  const tenant = uniqueId("ro");
  const clock = { now: Date.now() };
  const normal = workerFetch({ tenant, deps: { now: () => clock.now } });
  const via = { fetch: normal };
  /** The app with the tenant's holds replaced (their I/O injected, or failing). */
  const withHolds = (holds: () => DurableObjectStub<ReviewHolds>): Fetch => workerFetch({ tenant, deps: { now: () => clock.now, reviewHolds: holds } });
  return { tenant, clock, fetch: normal, via, withHolds };
}

function heldAction() {
  return action("file.delete", [{ kind: "path", value: `/home/dev/workspace/.git/objects/${uniqueId("obj")}` }]);
}

async function held(client: WardenClient): Promise<string> {
  const decided = await client.decide(heldAction());
  expect(decided.body.decision).toBe("review");
  return (decided.body.review as unknown as { id: string }).id;
}

/** The review's entries in the device log: type and evidence id, in log order. */
async function evidence(w: ReturnType<typeof world>, device: string, review: string): Promise<[string, unknown][]> {
  const page = await call<{ entries: LogEntry[] }>(w.fetch, "GET", `/v1/devices/${device}/log?limit=500`, undefined, admin);
  return page.body.entries.filter((entry) => entry.data["review_id"] === review).map((entry) => [entry.type, entry.data["evidence_id"]]);
}

function deviceLogOf(tenant: string, device: string): DurableObjectStub<DeviceLog> {
  return env.DEVICES.get(env.DEVICES.idFromName(`${tenant}/${device}`));
}

function handoffRows(tenant: string): Promise<number> {
  return runInDurableObject(holdsStub(tenant), (_running: ReviewHolds, state) => state.storage.sql.exec<{ n: number }>("SELECT count(*) AS n FROM handoff").one().n);
}

function jtiOf(token: string): string {
  const payload = token.split(".")[1]!;
  return (JSON.parse(atob(payload.replace(/-/g, "+").replace(/_/g, "/"))) as { jti: string }).jti;
}

describe("a verdict across the registry and the holds", () => {
  const w = world();
  let client: WardenClient;
  let reviewer: Reviewer;

  beforeAll(async () => {
    await activate(defaultSources, w.tenant);
    client = await readyDevice({ fetch: (request) => w.via.fetch(request), now: () => w.clock.now });
    reviewer = await enrolledReviewer(w.fetch, uniqueId("ada"));
  });

  it("the counter moves first: a commit that never reached the holds approves nothing, and signing again approves once", async () => {
    const review = await held(client);
    const options = await verdictOptions(w.fetch, reviewer, review, "approve");
    const assertion = await reviewer.authenticator.assert(options.body.options);
    const holds = faulty(() => holdsStub(w.tenant), "commitVerdict", "before");
    const lost = await sendVerdict(w.withHolds(holds.stub), review, assertion);
    expect(lost.status).toBe(500);
    expect(lost.body.code).toBe("internal_error");
    expect(holds.failures).toBe(1);

    // The registry took the counter; the hold did not move.
    expect((await registryStub(w.tenant).credential(assertion.id))?.counter).toBe(reviewer.authenticator.counter);
    expect(await holdAsAdmin(w.fetch, review)).toMatchObject({ status: "pending", approvals: [] });
    // The same assertion again: its challenge is spent (and its counter is no longer ahead).
    expect((await sendVerdict(w.fetch, review, assertion)).body.code).toBe("replay_detected");
    expect(await evidence(w, client.deviceId, review)).toEqual([]);

    const approved = await giveVerdict(w.fetch, reviewer, review, "approve");
    expect(approved.body).toMatchObject({ status: "approved", approvals: [{ reviewer: reviewer.id }] });
    expect(await evidence(w, client.deviceId, review)).toEqual([["review.approved", `${review}#2`]]);
  });

  it("a commit whose answer was lost was applied once: the resent assertion and a repeated commit are replays", async () => {
    const review = await held(client);
    const options = await verdictOptions(w.fetch, reviewer, review, "approve");
    const assertion = await reviewer.authenticator.assert(options.body.options);
    const holds = faulty(() => holdsStub(w.tenant), "commitVerdict", "after");
    expect((await sendVerdict(w.withHolds(holds.stub), review, assertion)).body.code).toBe("internal_error");
    expect(holds.failures).toBe(1);
    expect(await holdAsAdmin(w.fetch, review)).toMatchObject({ status: "approved", approvals: [{ reviewer: reviewer.id }] });

    expect((await sendVerdict(w.fetch, review, assertion)).body.code).toBe("replay_detected");
    const record = (await registryStub(w.tenant).reviewer(reviewer.id))!;
    const again = await holdsStub(w.tenant).commitVerdict({
      challenge: options.body.options.challenge,
      reviewer: record,
      evidence: {
        credential_id: assertion.id,
        credential_public_key: "",
        assertion: { id: assertion.id, clientDataJSON: assertion.response.clientDataJSON, authenticatorData: assertion.response.authenticatorData, signature: assertion.response.signature, userHandle: null },
      },
      now: w.clock.now,
    });
    expect(again).toEqual({ ok: false, code: "replay_detected" });
    expect(await evidence(w, client.deviceId, review)).toEqual([["review.approved", `${review}#2`]]);
  });

  it("the holds apply only a challenge that was taken, and only for the reviewer it was issued to", async () => {
    const review = await held(client);
    const options = await verdictOptions(w.fetch, reviewer, review, "approve");
    const record = (await registryStub(w.tenant).reviewer(reviewer.id))!;
    const commit = (who: typeof record) =>
      holdsStub(w.tenant).commitVerdict({
        challenge: options.body.options.challenge,
        reviewer: who,
        evidence: { credential_id: "x", credential_public_key: "", assertion: { id: "x", clientDataJSON: "", authenticatorData: "", signature: "", userHandle: null } },
        now: w.clock.now,
      });
    // Never taken: no assertion was checked against it.
    expect(await commit(record)).toEqual({ ok: false, code: "challenge_invalid" });
    expect((await holdsStub(w.tenant).takeChallenge(options.body.options.challenge, w.clock.now)).ok).toBe(true);
    expect(await commit({ ...record, id: "someone-else" })).toEqual({ ok: false, code: "challenge_invalid" });
    expect(await holdAsAdmin(w.fetch, review)).toMatchObject({ status: "pending", approvals: [] });
  });

  it("a verdict whose passkey was revoked between its counter check and its commit is refused (passkey_revoked)", async () => {
    const revokedOne = await enrolledReviewer(w.fetch, uniqueId("ian"));
    const review = await held(client);
    const options = await verdictOptions(w.fetch, revokedOne, review, "approve");
    const assertion = await revokedOne.authenticator.assert(options.body.options);
    // The admin's revocation lands after the registry verified the assertion and moved its counter (steps 1-3), before the holds commit (step 4).
    const registry = interleaved(() => registryStub(w.tenant), "useCredential", async () => {
      const revoked = await call(w.fetch, "DELETE", `/v1/reviewers/${revokedOne.id}/passkeys/${revokedOne.authenticator.id}`, { reason: "passkey stolen" }, admin);
      expect(revoked.status).toBe(200);
    });
    const refused = await sendVerdict(workerFetch({ tenant: w.tenant, deps: { now: () => w.clock.now, reviewerRegistry: () => registry.stub() } }), review, assertion);
    expect(registry.ran).toBe(true);
    expect(refused.status).toBe(401);
    expect(refused.body.code).toBe("passkey_revoked");
    // The assertion was real and passed the registry: its counter was taken, so the refusal is the commit's.
    expect((await registryStub(w.tenant).credential(assertion.id))?.counter).toBe(revokedOne.authenticator.counter);
    expect(await holdAsAdmin(w.fetch, review)).toMatchObject({ status: "pending", approvals: [] });
    expect(await evidence(w, client.deviceId, review)).toEqual([]);
  });

  it("the registry moves a counter only for the reviewer the challenge named", async () => {
    const other = await enrolledReviewer(w.fetch, uniqueId("bo"));
    const [credential] = await registryStub(w.tenant).credentialIds(other.id);
    const refused = await registryStub(w.tenant).useCredential({ id: credential!, reviewer: reviewer.id, newCounter: 1_000, now: w.clock.now });
    expect(refused).toEqual({ ok: false, code: "not_found" });
    expect((await registryStub(w.tenant).credential(credential!))?.counter).toBe(other.authenticator.counter);
  });

  it("a hold needs a tier: the holds refuse an empty ladder (configuration_error)", async () => {
    await runInDurableObject(holdsStub(w.tenant), async (_running: ReviewHolds, state) => {
      const holds = new ReviewHolds(state, env, holdsIo(env));
      const record = { review_id: "r", action_hash: "h" } as Parameters<ReviewHolds["hold"]>[0]["record"];
      await expect(holds.hold({ record, scope: { action: "file.delete", targets: [] }, ladder: [], tokenTtl: 60 }, w.clock.now)).rejects.toMatchObject({ code: "configuration_error" });
    });
  });
});

describe("holds kept from before the requester's user was", () => {
  it("get the column at the object's next start, empty", async () => {
    const tenant = uniqueId("mig");
    const columns = (state: DurableObjectState) => state.storage.sql.exec<{ sql: string }>("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'holds'").one().sql;
    const inHolds = <T>(body: (state: DurableObjectState) => T) => runInDurableObject(holdsStub(tenant), (_running: ReviewHolds, state) => body(state));
    // The table as an earlier version created it, with a hold in it.
    await inHolds((state) => {
      state.storage.sql.exec("ALTER TABLE holds DROP COLUMN requester_user");
      state.storage.sql.exec("INSERT INTO holds (id, action_hash, status, tier_index, deadline, record, ladder, token_ttl, created_at) VALUES ('old', 'h', 'pending', 0, 0, '{}', '[]', 60, 0)");
    });
    expect(await inHolds(columns)).not.toContain("requester_user");
    // The object starts again over that storage; a second start changes nothing.
    await inHolds((state) => void new ReviewHolds(state, env, holdsIo(env)));
    await inHolds((state) => void new ReviewHolds(state, env, holdsIo(env)));
    expect((await inHolds(columns)).match(/requester_user/g)).toHaveLength(1);
    expect(await inHolds((state) => state.storage.sql.exec("SELECT id, requester_user FROM holds").toArray())).toEqual([{ id: "old", requester_user: null }]);
  });

  it("a real hold from before: its device's registered user and a reviewer listing the device are refused (self_approval); with the registration unreadable everyone is, to approve and escalate; another reviewer's approval is accepted and redeemed", async () => {
    const w = world();
    await activate(defaultSources, w.tenant);
    const user = `${uniqueId("fay")}@example.com`;
    const laptop = await readyDevice({ fetch: w.fetch, now: () => w.clock.now, user });
    const own = await enrolledReviewer(w.fetch, uniqueId("gus"), [laptop.deviceId]);
    const person = await enrolledReviewer(w.fetch, user, []);
    const other = await enrolledReviewer(w.fetch, uniqueId("hal"));
    const request = heldAction();
    const decided = await laptop.decide(request);
    expect(decided.body.decision).toBe("review");
    const old = (decided.body.review as unknown as { id: string }).id;

    // The table as an earlier version kept it (no requester_user, so the hold does not say whose device it is), then the object's next start.
    await runInDurableObject(holdsStub(w.tenant), (_running: ReviewHolds, state) => {
      state.storage.sql.exec("ALTER TABLE holds DROP COLUMN requester_user");
      void new ReviewHolds(state, env, holdsIo(env));
    });
    expect(await runInDurableObject(holdsStub(w.tenant), (_running: ReviewHolds, state) => state.storage.sql.exec("SELECT id, requester_user FROM holds").toArray())).toEqual([{ id: old, requester_user: null }]);

    // The reviewer's devices still separate duties on it, and the device's registration names its user: refused too.
    for (const reviewer of [own, person]) {
      for (const verdict of ["approve", "escalate"] as const) {
        const self = await verdictOptions(w.fetch, reviewer, old, verdict);
        expect([reviewer.id, verdict, self.status, self.body.code]).toEqual([reviewer.id, verdict, 403, "self_approval"]);
      }
    }
    // Rejecting their own request stays theirs to do.
    expect((await verdictOptions(w.fetch, person, old, "reject")).status).toBe(200);

    // The registration unreadable (the device's object failing): no one may approve or escalate, a rejection is still offered.
    const unreadable = workerFetch({
      tenant: w.tenant,
      deps: { now: () => w.clock.now, deviceStore: (env, tenant, device) => faulty(() => runtimeDeps.deviceStore(env, tenant, device), "device", "before", Infinity).stub() },
    });
    for (const verdict of ["approve", "escalate"] as const) expect((await verdictOptions(unreadable, other, old, verdict)).body.code).toBe("self_approval");
    expect((await verdictOptions(unreadable, other, old, "reject")).status).toBe(200);
    // Nor is an approval whose challenge was issued while it was readable applied while it is not: the commit reads it again.
    const options = await verdictOptions(w.fetch, other, old, "approve");
    expect(options.status).toBe(200);
    const refused = await sendVerdict(unreadable, old, await other.authenticator.assert(options.body.options));
    expect([refused.status, refused.body.code]).toEqual([403, "self_approval"]);
    expect(await holdAsAdmin(w.fetch, old)).toMatchObject({ status: "pending", approvals: [] });

    // Another reviewer's approval is accepted, and the device gets its token.
    expect((await giveVerdict(w.fetch, other, old, "approve")).body).toMatchObject({ status: "approved", approvals: [{ reviewer: other.id }] });
    const read = await waitOn(laptop, old);
    expect((await laptop.redeem(read.body.token!, request.action)).status).toBe(200);

    // A hold made after the migration keeps its user, and refuses them.
    const fresh = await held(laptop);
    const refusedFresh = await verdictOptions(w.fetch, person, fresh, "approve");
    expect(refusedFresh.status).toBe(403);
    expect(refusedFresh.body.code).toBe("self_approval");
  });
});

describe("evidence from the holds to the device log", () => {
  const w = world();
  let client: WardenClient;
  let reviewer: Reviewer;

  beforeAll(async () => {
    await activate(defaultSources, w.tenant);
    client = await readyDevice({ fetch: (request) => w.via.fetch(request), now: () => w.clock.now });
    reviewer = await enrolledReviewer(w.fetch, uniqueId("cy"));
  });

  /** The tenant's holds whose outbox reaches the device's log through `log`. */
  function holdsReaching(log: () => DurableObjectStub<DeviceLog>): () => DurableObjectStub<ReviewHolds> {
    return () =>
      holdsWith(holdsStub(w.tenant), {
        outbox: (tenant) => outboxWith(outboxStub(tenant), { deviceLog: (t, device) => (device === client.deviceId ? log() : deviceLogOf(t, device)) }),
      });
  }

  it("an append that landed but whose answer was lost is found in the log, not appended again", async () => {
    const review = await held(client);
    const losing = faulty(() => deviceLogOf(w.tenant, client.deviceId), "append", "after");
    const approved = await giveVerdict(w.withHolds(holdsReaching(losing.stub)), reviewer, review, "approve");
    expect(approved.body.status).toBe("approved");
    expect(losing.failures).toBe(1);
    // In the log once, though the outbox does not know it yet.
    expect(await evidence(w, client.deviceId, review)).toEqual([["review.approved", `${review}#2`]]);
    expect(await outboxStub(w.tenant).waiting(review)).toBe(1);

    const released = await waitOn(client, review);
    expect(released.body.token).toEqual(expect.any(String));
    expect(await outboxStub(w.tenant).waiting(review)).toBe(0);
    expect(await evidence(w, client.deviceId, review)).toEqual([
      ["review.approved", `${review}#2`],
      ["review.released", `${review}#3`],
    ]);
  });

  it("an append that never reached the log withholds the token (review_evidence_pending) until it is there, once", async () => {
    const review = await held(client);
    const refusing = faulty(() => deviceLogOf(w.tenant, client.deviceId), "append", "before", 2);
    const broken = w.withHolds(holdsReaching(refusing.stub));
    expect((await giveVerdict(broken, reviewer, review, "approve")).body.status).toBe("approved");
    expect(await evidence(w, client.deviceId, review)).toEqual([]);

    w.via.fetch = broken;
    try {
      const withheld = await waitOn(client, review);
      expect(withheld.status).toBe(503);
      expect(withheld.body.code).toBe("review_evidence_pending");
      expect(withheld.body.token).toBeUndefined();
    } finally {
      w.via.fetch = w.fetch;
    }
    expect(refusing.failures).toBe(2);
    expect(await holdAsAdmin(w.fetch, review)).toMatchObject({ status: "approved", released: false });

    const released = await waitOn(client, review);
    expect(released.body.released).toBe(true);
    const entries = await call<{ entries: LogEntry[] }>(w.fetch, "GET", `/v1/devices/${client.deviceId}/log?limit=500`, undefined, admin);
    const mine = entries.body.entries.filter((entry) => entry.data["review_id"] === review);
    expect(mine.map((entry) => [entry.type, entry.data["evidence_id"]])).toEqual([
      ["review.approved", `${review}#2`],
      ["review.released", `${review}#3`],
    ]);
    // The release that stopped half way kept its jti: the token carries the one the log names.
    expect(jtiOf(released.body.token!)).toBe(mine[1]!.data["token_jti"]);
  });

  it("the client's wait asks again while the evidence is on its way, and gets the token once it is logged", async () => {
    const review = await held(client);
    const refusing = faulty(() => deviceLogOf(w.tenant, client.deviceId), "append", "before", 3);
    const broken = w.withHolds(holdsReaching(refusing.stub));
    expect((await giveVerdict(broken, reviewer, review, "approve")).body.status).toBe("approved");
    w.via.fetch = broken;
    try {
      const answer = await client.waitForReview(review, { timeoutMs: 20_000, waitSeconds: 5 });
      expect(answer.status).toBe(200);
      expect(answer.body).toMatchObject({ status: "approved", released: true });
      expect(answer.body.token).toEqual(expect.any(String));
    } finally {
      w.via.fetch = w.fetch;
    }
    expect(refusing.failures).toBe(3);
  });

  it("the client's wait goes on after a wait the holds object dropped (a restart), and gets the verdict", async () => {
    const review = await held(client);
    const dropping = faulty(() => holdsStub(w.tenant), "waitDecided", "before");
    w.via.fetch = w.withHolds(dropping.stub);
    try {
      const waiting = client.waitForReview(review, { timeoutMs: 20_000, waitSeconds: 5 });
      await new Promise((resolve) => setTimeout(resolve, 1500));
      expect(dropping.failures).toBe(1);
      expect((await giveVerdict(w.fetch, reviewer, review, "approve")).body.status).toBe("approved");
      const answer = await waiting;
      expect(answer.status).toBe(200);
      expect(answer.body).toMatchObject({ status: "approved", released: true });
      expect(answer.body.token).toEqual(expect.any(String));
    } finally {
      w.via.fetch = w.fetch;
    }
  });

  it("a release stopped half way, then the device's holds cancelled: the reserved token is never signed", async () => {
    const review = await held(client);
    expect((await giveVerdict(w.fetch, reviewer, review, "approve")).body.status).toBe("approved");
    const refusing = faulty(() => deviceLogOf(w.tenant, client.deviceId), "append", "before");
    w.via.fetch = w.withHolds(holdsReaching(refusing.stub));
    try {
      expect((await waitOn(client, review)).body.code).toBe("review_evidence_pending");
    } finally {
      w.via.fetch = w.fetch;
    }
    // review.released (naming the reserved jti) is queued; the quarantine comes before the device asks again.
    const cancelled = await holdsStub(w.tenant).cancelForDevice({ device: client.deviceId, reason: "quarantine", by: "admin", now: w.clock.now });
    expect(cancelled).toEqual({ cancelled: [{ id: review, previous: "approved" }], logged: true });
    const after = await waitOn(client, review);
    expect(after.body).toMatchObject({ status: "cancelled", decision: "deny", released: false });
    expect(after.body.token).toBeUndefined();
    expect(await evidence(w, client.deviceId, review)).toEqual([
      ["review.approved", `${review}#2`],
      ["review.released", `${review}#3`],
      ["review.cancelled", `${review}#4`],
    ]);
  });

  it("a cancellation that lands while a release waits for its evidence: the release is refused, no token is signed", async () => {
    const review = await held(client);
    expect((await giveVerdict(w.fetch, reviewer, review, "approve")).body.status).toBe("approved");
    let raced = false;
    // The outbox the release hands review.released to lets the quarantine's cancellation in first.
    const racing = () =>
      holdsWith(holdsStub(w.tenant), {
        outbox: (tenant) => {
          const real = outboxStub(tenant);
          return new Proxy(real, {
            get(target, property) {
              if (property !== "accept") return Reflect.get(target, property);
              return async (...args: Parameters<typeof real.accept>) => {
                if (!raced) {
                  raced = true;
                  await holdsStub(w.tenant).cancelForDevice({ device: client.deviceId, reason: "quarantine", by: "admin", now: w.clock.now });
                }
                return real.accept(...args);
              };
            },
          });
        },
      });
    w.via.fetch = w.withHolds(racing);
    try {
      const answer = await waitOn(client, review);
      expect(raced).toBe(true);
      expect(answer.body).toMatchObject({ status: "cancelled", decision: "deny", released: false });
      expect(answer.body.token).toBeUndefined();
    } finally {
      w.via.fetch = w.fetch;
    }
    expect(await holdAsAdmin(w.fetch, review)).toMatchObject({ status: "cancelled", released: false });
  });

  it("a hand-off whose answer was lost is offered again and taken once", async () => {
    const review = await held(client);
    const outbox = faulty(() => outboxStub(w.tenant), "accept", "after");
    const holds = () => holdsWith(holdsStub(w.tenant), { outbox: outbox.stub });
    expect((await giveVerdict(w.withHolds(holds), reviewer, review, "approve")).body.status).toBe("approved");
    expect(outbox.failures).toBe(1);
    expect(await handoffRows(w.tenant)).toBe(1);
    expect(await evidence(w, client.deviceId, review)).toEqual([["review.approved", `${review}#2`]]);

    expect((await waitOn(client, review)).body.token).toEqual(expect.any(String));
    expect(await handoffRows(w.tenant)).toBe(0);
    expect(await evidence(w, client.deviceId, review)).toEqual([
      ["review.approved", `${review}#2`],
      ["review.released", `${review}#3`],
    ]);
  });

  it("deadlines hand their entries and notifications over even when the outbox was away", async () => {
    const start = w.clock.now;
    const review = await held(client);
    const away = faulty(() => outboxStub(w.tenant), "accept", "before");
    await holdsWith(holdsStub(w.tenant), { clock: () => start + 241 * 60_000, outbox: away.stub }).alarm();
    expect(away.failures).toBe(1);
    expect(await handoffRows(w.tenant)).toBe(2);
    // The alarm comes back for them 30 s later.
    expect(await runInDurableObject(holdsStub(w.tenant), (_running: ReviewHolds, state) => state.storage.getAlarm())).toBe(start + 241 * 60_000 + 30_000);
    await holdsWith(holdsStub(w.tenant), { clock: () => start + 241 * 60_000 + 30_000 }).alarm();
    expect(await handoffRows(w.tenant)).toBe(0);
    expect(await evidence(w, client.deviceId, review)).toEqual([["review.escalated", `${review}#2`]]);
    expect((await outboxStub(w.tenant).deliveries(review)).map((event) => [event.key, event.type])).toEqual([
      [`${review}#1`, "review.created"],
      [`${review}#3`, "review.escalated"],
    ]);
  });
});

describe("an append found after its segment went to the archive", () => {
  /** Small segments and eager checkpoints, so a few dozen entries seal two segments. */
  const SMALL = { checkpointEntries: 5, checkpointSeconds: 3600, segmentEntries: 10, segmentMinutes: 600, retrySeconds: 30 };

  async function allEntries(id: string, stub: DurableObjectStub<DeviceLog>): Promise<LogEntry[]> {
    const listing = await env.ARCHIVE.list({ prefix: `${env.TENANT}/devices/${id}/segments/` });
    const archived: LogEntry[] = [];
    for (const object of listing.objects.filter((item) => item.key.endsWith(".jsonl"))) {
      archived.push(...(await (await env.ARCHIVE.get(object.key))!.text()).trimEnd().split("\n").map((line) => JSON.parse(line) as LogEntry));
    }
    return [...archived, ...(await liveEntries(stub))];
  }

  it.each([
    ["landed, its answer lost", "after" as const],
    ["never landed", "before" as const],
  ])("an entry that %s is in the log exactly once after the retry searched R2 and the live log", async (_name, when) => {
    const { id, stub } = await registeredDevice();
    await configure(stub, { tuning: SMALL });
    const review = uniqueId("rv");
    const key = `${review}#1`;
    const now = Date.now();
    const item: EvidenceItem = { kind: "evidence", key, review_id: review, tenant: env.TENANT, device: id, type: "review.approved", data: { review_id: review, evidence_id: key }, at: now };
    const outbox = outboxStub(uniqueId("ob"));
    const flaky = faulty(() => deviceStub(id), "append", when);
    expect((await outboxWith(outbox, { deviceLog: flaky.stub }).accept([item], now, review)).undelivered).toBe(1);
    expect(flaky.failures).toBe(1);

    // The log moves on and seals entries 1-20 to R2 before the outbox tries again.
    await appendMany(stub, 25);
    await runAlarms(stub);
    expect((await liveEntries(stub))[0]!.seq).toBe(21);

    // A segment the log names but the archive lacks stops the search; nothing is guessed.
    const sealed = segmentKeys(env.TENANT, id, 1, 10).entries;
    const bytes = await (await env.ARCHIVE.get(sealed))!.text();
    if (when === "after") {
      await env.ARCHIVE.delete(sealed);
      await outbox.tick(now);
      expect(await outbox.waiting(review)).toBe(1);
      const lastError = await runInDurableObject(outbox, (_running, state) => state.storage.sql.exec<{ last_error: string }>("SELECT last_error FROM evidence WHERE key = ?", key).one().last_error);
      expect(lastError).toMatch(/^internal_error: /);
      await env.ARCHIVE.put(sealed, bytes);
    }

    await outbox.tick(now);
    expect(await outbox.waiting(review)).toBe(0);
    const found = (await allEntries(id, stub)).filter((entry) => entry.data["evidence_id"] === key);
    expect(found).toHaveLength(1);
    expect(found[0]!.seq).toBe(when === "after" ? 2 : 27);
  });
});
