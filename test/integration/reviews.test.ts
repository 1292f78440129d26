import { env, runInDurableObject } from "cloudflare:test";
import { verifyAuthenticationResponse } from "@simplewebauthn/server";
import { beforeAll, describe, expect, it } from "vitest";
import type { WardenClient } from "../../cli/client.ts";
import type { LogEntry } from "../../worker/log/chain.ts";
import { sha256Hex } from "../../worker/encoding.ts";
import { canonicalJson } from "../../worker/log/canonical.ts";
import { APPROVAL_RELEASE_MS, MAX_PENDING_HOLDS_PER_DEVICE, MAX_WAITS_PER_HOLD, type ReviewHolds } from "../../durable-objects/ReviewHolds.ts";
import { challengeFor, type ChallengeStatement } from "../../worker/review/record.ts";
import { webhookSignature } from "../../worker/review/webhook.ts";
import { action, activate, defaultSources, readyDevice, uniqueId, workerFetch } from "../helpers.ts";
import {
  REVIEW_RP_ID,
  admin,
  alarmOf,
  call,
  enroll,
  enrolledReviewer,
  giveVerdict,
  holdAsAdmin,
  holdsStub,
  holdsWith,
  outboxStub,
  outboxWith,
  sendVerdict,
  signIn,
  verdictOptions,
  waitOn,
  type Reviewer,
} from "../review-helpers.ts";
import { SoftwareAuthenticator, fromB64u } from "../software-authenticator.ts";

const MINUTE = 60_000;

/** A tenant of this file's own, its app with a clock the test moves. */
function world() {
  const tenant = uniqueId("rv");
  const clock = { now: Date.now() };
  const fetch = workerFetch({ tenant, deps: { now: () => clock.now } });
  const holds = () => holdsStub(tenant);
  const outbox = () => outboxStub(tenant);
  return { tenant, clock, fetch, holds, outbox };
}

/** A delete in .git: held for tier1 (4 h), then tier2 (1 h), by the default bundle. Unique per call. */
function heldAction() {
  return action("file.delete", [{ kind: "path", value: `/home/dev/workspace/.git/objects/${uniqueId("obj")}` }]);
}

async function deviceIn(w: ReturnType<typeof world>): Promise<WardenClient> {
  return readyDevice({ fetch: w.fetch, now: () => w.clock.now });
}

async function held(client: WardenClient, request = heldAction()) {
  const decided = await client.decide(request);
  expect(decided.status).toBe(200);
  expect(decided.body.decision).toBe("review");
  const review = decided.body.review as unknown as { id: string; tier: string; deadline: string };
  return { review, request, decision: decided.body };
}

/** Whether the tenant's holds still keep hold `id`'s raw scope (what a release would sign a token for). */
function scopeKept(tenant: string, id: string): Promise<boolean> {
  return runInDurableObject(holdsStub(tenant), (_holds: ReviewHolds, state) => state.storage.sql.exec<{ scope: string | null }>("SELECT scope FROM holds WHERE id = ?", id).one().scope !== null);
}

async function deviceLog(w: ReturnType<typeof world>, device: string): Promise<LogEntry[]> {
  const page = await call<{ entries: LogEntry[] }>(w.fetch, "GET", `/v1/devices/${device}/log?limit=100`, undefined, admin);
  return page.body.entries;
}

describe("holds", () => {
  const w = world();
  let client: WardenClient;
  let reviewer: Reviewer;

  beforeAll(async () => {
    await activate(defaultSources, w.tenant);
    client = await deviceIn(w);
    reviewer = await enrolledReviewer(w.fetch, uniqueId("alice"));
  });

  it("a review decision is held with its tier and deadline; the identical action joins it", async () => {
    const request = heldAction();
    const { review, decision } = await held(client, request);
    expect(review.tier).toBe("tier1");
    expect(review.deadline).toBe(new Date(w.clock.now + 240 * MINUTE).toISOString());
    const again = await held(client, request);
    expect(again.review.id).toBe(review.id);
    expect(again.decision.decision_id).not.toBe(decision.decision_id);

    const waiting = await waitOn(client, review.id);
    expect(waiting.status).toBe(200);
    expect(waiting.body).toMatchObject({ status: "pending", decision: null, tier: "tier1", approvers_required: 1, released: false });
    expect(waiting.body.token).toBeUndefined();
    // The record holds canonical targets and hashes, never the caller's context.
    expect(waiting.body.record).toMatchObject({ decision_id: decision.decision_id, requester: { device: client.deviceId, agent: "claude-code" } });
    expect(JSON.stringify(waiting.body.record)).not.toContain("JIRA");
  });

  it("sensitive context is reduced to a hash of the context as logged, after the bundle's masking, never of the raw one", async () => {
    const context = { ticket: "JIRA-SECRET-42", email: "ana.secret@example.com" };
    const request = { ...heldAction(), context };
    const { review, decision } = await held(client, request);
    const hold = await holdAsAdmin(w.fetch, review.id);
    expect(JSON.stringify(hold)).not.toContain("JIRA-SECRET-42");
    const entry = (await deviceLog(w, client.deviceId)).find((logged) => logged.data["decision_id"] === decision.decision_id);
    const logged = entry?.data["context"] as { ticket: string; email: { hmac: string } };
    // The default bundle hashes `email` under the tenant's key: the log has no address to guess against.
    expect(logged).toMatchObject({ ticket: "JIRA-SECRET-42", email: { hmac: expect.any(String) } });
    const { context_sha256: hash } = hold.record as unknown as { context_sha256: string };
    expect(hash).toBe(sha256Hex(canonicalJson(logged)));
    expect(hash).not.toBe(sha256Hex(canonicalJson(context)));
  });

  it(`a device with ${MAX_PENDING_HOLDS_PER_DEVICE} holds pending gets no more: its next review denies (review_unavailable), an identical action still joins its hold`, async () => {
    const busy = await deviceIn(w);
    const requests = Array.from({ length: MAX_PENDING_HOLDS_PER_DEVICE }, () => heldAction());
    for (const request of requests) await held(busy, request);
    const over = await busy.decide(heldAction());
    expect(over.body).toMatchObject({ decision: "deny", reason_code: "review_unavailable" });
    const again = await busy.decide(requests[0]!);
    expect(again.body).toMatchObject({ decision: "review" });
    // Another device is not held back by this one.
    await held(await deviceIn(w));
  });

  it("a hold that cannot be queued denies (review_unavailable), fail closed", async () => {
    const broken = workerFetch({
      tenant: w.tenant,
      deps: {
        now: () => w.clock.now,
        reviewHolds: () => {
          throw new Error("review holds unavailable");
        },
      },
    });
    const device = await readyDevice({ fetch: broken, now: () => w.clock.now });
    const decided = await device.decide(heldAction());
    expect(decided.body).toMatchObject({ decision: "deny", reason_code: "review_unavailable" });
    expect(decided.body.review).toBeUndefined();
    expect(decided.body.log?.hash).toMatch(/^[0-9a-f]{64}$/);
  });

  it("another device cannot see a hold (404)", async () => {
    const { review } = await held(client);
    const other = await deviceIn(w);
    expect((await waitOn(other, review.id)).body.code).toBe("not_found");
  });

  it("approval releases one action token to the waiting device, logged with the raw assertion", async () => {
    const { review, request } = await held(client);
    const approved = await giveVerdict(w.fetch, reviewer, review.id, "approve");
    expect(approved.status).toBe(200);
    expect(approved.body).toMatchObject({ status: "approved", decision: "permit" });

    const released = await waitOn(client, review.id);
    expect(released.body).toMatchObject({ status: "approved", decision: "permit", released: true });
    expect(released.body.token).toEqual(expect.any(String));
    expect((await client.redeem(released.body.token!, request.action)).status).toBe(200);
    const later = await waitOn(client, review.id);
    expect(later.body.released).toBe(true);
    expect(later.body.token).toBeUndefined();

    const entries = await deviceLog(w, client.deviceId);
    const evidence = entries.find((entry) => entry.type === "review.approved" && entry.data["review_id"] === review.id)!;
    expect(evidence).toBeDefined();
    expect(entries.find((entry) => entry.type === "review.released" && entry.data["review_id"] === review.id)?.seq).toBeGreaterThan(evidence.seq);
    const data = evidence.data as unknown as {
      statement: ChallengeStatement;
      challenge: string;
      credential_id: string;
      credential_public_key: string;
      assertion: { id: string; clientDataJSON: string; authenticatorData: string; signature: string; userHandle: string | null };
    };
    // An auditor re-verifies offline: the challenge is the statement's digest, and the assertion verifies under the logged key.
    expect(challengeFor(data.statement)).toBe(data.challenge);
    expect(data.statement).toMatchObject({ review_id: review.id, verdict: "approve", reviewer: reviewer.id, requester: { device: client.deviceId } });
    const offline = await verifyAuthenticationResponse({
      response: { id: data.assertion.id, rawId: data.assertion.id, type: "public-key", clientExtensionResults: {}, response: { ...data.assertion, userHandle: data.assertion.userHandle ?? undefined } },
      expectedChallenge: data.challenge,
      expectedOrigin: env.REVIEW_ORIGIN!,
      expectedRPID: REVIEW_RP_ID,
      credential: { id: data.credential_id, publicKey: fromB64u(data.credential_public_key) as Uint8Array<ArrayBuffer>, counter: 0 },
      requireUserVerification: true,
    });
    expect(offline.verified).toBe(true);
  });

  it("hands the same token again until it is redeemed, with one release logged; past its expiry, none", async () => {
    const { review, request } = await held(client);
    await giveVerdict(w.fetch, reviewer, review.id, "approve");
    const first = await waitOn(client, review.id);
    expect(first.body.token).toEqual(expect.any(String));
    w.clock.now += 1000;
    const again = await waitOn(client, review.id);
    expect(again.body).toMatchObject({ status: "approved", released: true, token: first.body.token, token_expires_at: first.body.token_expires_at });
    expect((await deviceLog(w, client.deviceId)).filter((entry) => entry.type === "review.released" && entry.data["review_id"] === review.id)).toHaveLength(1);
    expect((await client.redeem(again.body.token!, request.action)).status).toBe(200);
    expect((await waitOn(client, review.id)).body.token).toBeUndefined();

    const unredeemed = await held(client);
    await giveVerdict(w.fetch, reviewer, unredeemed.review.id, "approve");
    const handed = await waitOn(client, unredeemed.review.id);
    const before = w.clock.now;
    w.clock.now = Date.parse(handed.body.token_expires_at!);
    try {
      const late = await waitOn(client, unredeemed.review.id);
      expect(late.body).toMatchObject({ status: "approved", released: true });
      expect(late.body.token).toBeUndefined();
    } finally {
      w.clock.now = before;
    }
  });

  it("an answer lost on the way: the second delivery of the same read is a replay, and the client's next read gets the token", async () => {
    // The transport delivers the first read of a hold twice and loses the first answer, as a retried request would.
    let deliverTwice = false;
    const device = await readyDevice({
      fetch: async (request) => {
        if (deliverTwice && request.method === "GET" && new URL(request.url).pathname.startsWith("/v1/reviews/")) {
          deliverTwice = false;
          await (await w.fetch(request.clone())).arrayBuffer();
        }
        return w.fetch(request);
      },
      now: () => w.clock.now,
    });
    const { review, request } = await held(device);
    await giveVerdict(w.fetch, reviewer, review.id, "approve");
    deliverTwice = true;
    const answer = await device.waitForReview(review.id, { timeoutMs: 5_000, waitSeconds: 0 });
    expect(deliverTwice).toBe(false);
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({ status: "approved", released: true });
    expect((await device.redeem(answer.body.token!, request.action)).status).toBe(200);
  });

  it("rejection denies", async () => {
    const { review } = await held(client);
    expect((await giveVerdict(w.fetch, reviewer, review.id, "reject")).body).toMatchObject({ status: "rejected", decision: "deny" });
    const seen = await waitOn(client, review.id);
    expect(seen.body).toMatchObject({ status: "rejected", decision: "deny" });
    expect(seen.body.token).toBeUndefined();
    expect((await deviceLog(w, client.deviceId)).some((entry) => entry.type === "review.rejected" && entry.data["review_id"] === review.id)).toBe(true);
  });

  it("the reviewer page renders the stored record, escaped, behind a passkey sign-in", async () => {
    const { review } = await held(client, action("file.delete", [{ kind: "path", value: `/home/dev/workspace/.git/<img src=x onerror=alert(1)>-${uniqueId()}` }]));
    const anonymous = await call(w.fetch, "GET", "/review");
    expect(anonymous.status).toBe(200);
    expect((anonymous.body as { text: string }).text).toContain("Sign in with passkey");
    expect((anonymous.body as { text: string }).text).not.toContain(review.id);

    const page = await call(w.fetch, "GET", "/review?review_id=forged&target=/etc/passwd", undefined, { cookie: reviewer.cookie });
    const html = (page.body as { text: string }).text;
    expect(page.headers.get("content-security-policy")).toContain("frame-ancestors 'none'");
    expect(html).toContain(`data-review-id="${review.id}"`);
    expect(html).toContain("&lt;img src=x onerror=alert(1)&gt;");
    expect(html).not.toContain("<img src=x");
    expect(html).not.toContain("forged");
    expect(html).toMatch(/<button type="button" class="approve"[^>]*>Approve<\/button>/);
  });
});

describe("an approval's release window", () => {
  const w = world();
  let client: WardenClient;

  beforeAll(async () => {
    await activate(defaultSources, w.tenant);
    client = await deviceIn(w);
  });

  /** An approval of a held action by a reviewer enrolled now (each test moves the clock past a sign-in's life). */
  async function approved(): Promise<Awaited<ReturnType<typeof held>>> {
    const reviewer = await enrolledReviewer(w.fetch, uniqueId("alice"));
    const hold = await held(client);
    expect((await giveVerdict(w.fetch, reviewer, hold.review.id, "approve")).body).toMatchObject({ status: "approved" });
    return hold;
  }

  /** Moves the clock by `ms`; the device opens a new session, as a device that comes back later does. */
  async function later(ms: number): Promise<void> {
    w.clock.now += ms;
    await client.openSession();
  }

  it("an approval given after the device stopped waiting is collected by a retry of the identical action, within its window", async () => {
    const { review, request } = await approved();
    await later(APPROVAL_RELEASE_MS - MINUTE);
    const retried = await held(client, request);
    expect(retried.review.id).toBe(review.id);
    const released = await waitOn(client, review.id);
    expect(released.body).toMatchObject({ status: "approved", released: true, token: expect.any(String) });
    expect((await client.redeem(released.body.token!, request.action)).status).toBe(200);
    // Collected once: the next identical request is a new question.
    expect((await held(client, request)).review.id).not.toBe(review.id);
  });

  it("past its window an approval releases nothing and keeps no raw scope; the identical action is asked again", async () => {
    const { review, request } = await approved();
    await later(APPROVAL_RELEASE_MS);
    const late = await waitOn(client, review.id);
    expect(late.body).toMatchObject({ status: "approved", released: false });
    expect(late.body.token).toBeUndefined();
    expect(await scopeKept(w.tenant, review.id)).toBe(false);
    const again = await held(client, request);
    expect(again.review.id).not.toBe(review.id);
    expect((await waitOn(client, again.review.id)).body).toMatchObject({ status: "pending" });
  });

  it("an approval never read again loses its raw scope when its window ends", async () => {
    const { review } = await approved();
    expect(await scopeKept(w.tenant, review.id)).toBe(true);
    await later(APPROVAL_RELEASE_MS + MINUTE);
    // Any call of the tenant's holds runs the sweep.
    await held(client);
    expect(await scopeKept(w.tenant, review.id)).toBe(false);
  });

  it("an approval at a lower tier than the one now asked for is not collected (the action hash leaves out the context a tier can depend on)", async () => {
    const { review } = await approved();
    // The identical action (same hash, record, scope, bundle) asked again, as policy would ask it after the device's
    // history moved it to a higher tier: only the ladder differs.
    const stored = await runInDurableObject(holdsStub(w.tenant), (_holds: ReviewHolds, state) =>
      state.storage.sql.exec<{ record: string; scope: string; ladder: string; token_ttl: number }>("SELECT record, scope, ladder, token_ttl FROM holds WHERE id = ?", review.id).one(),
    );
    const ladder = JSON.parse(stored.ladder) as { name: string; sla_minutes: number; on_timeout: "permit" | "deny"; approvers: number }[];
    const asked = (steps: typeof ladder) =>
      holdsStub(w.tenant).hold({ record: { ...JSON.parse(stored.record), review_id: uniqueId("rv") }, scope: JSON.parse(stored.scope), ladder: steps, tokenTtl: stored.token_ttl }, w.clock.now);
    expect(await asked(ladder)).toMatchObject({ created: false, hold: { id: review.id } });
    const higher = await asked(ladder.slice(1));
    expect(higher).toMatchObject({ created: true });
    expect((higher as { hold: { id: string } }).hold.id).not.toBe(review.id);
  });

  it("an identical action asked at other tiers than its pending hold's: above it, the hold climbs; at or below it, it is joined as it stands; other tiers, refused", async () => {
    const { review } = await held(client);
    const stored = await runInDurableObject(holdsStub(w.tenant), (_holds: ReviewHolds, state) =>
      state.storage.sql.exec<{ record: string; scope: string; ladder: string; token_ttl: number }>("SELECT record, scope, ladder, token_ttl FROM holds WHERE id = ?", review.id).one(),
    );
    const ladder = JSON.parse(stored.ladder) as { name: string; sla_minutes: number; on_timeout: "permit" | "deny"; approvers: number }[];
    const asked = (steps: typeof ladder) =>
      holdsStub(w.tenant).hold({ record: { ...JSON.parse(stored.record), review_id: uniqueId("rv") }, scope: JSON.parse(stored.scope), ladder: steps, tokenTtl: stored.token_ttl }, w.clock.now);
    // Tiers of another list (another bundle's): no tier in common to compare.
    expect(await asked([{ ...ladder[0]!, sla_minutes: 7 }])).toEqual({ refused: "review_tier_changed" });
    expect(await asked(ladder)).toMatchObject({ created: false, hold: { id: review.id, status: "pending", shown: { tier: "tier1" } } });
    expect(await asked(ladder.slice(1))).toMatchObject({ created: false, hold: { id: review.id, status: "pending", shown: { tier: "tier2", deadline: new Date(w.clock.now + 60 * MINUTE).toISOString() } } });
    // Asked at tier1 again, or at tier2 again: joined where it stands, no second climb.
    expect(await asked(ladder)).toMatchObject({ created: false, hold: { id: review.id, shown: { tier: "tier2" } } });
    expect(await asked(ladder.slice(1))).toMatchObject({ created: false, hold: { id: review.id, shown: { tier: "tier2" } } });
    const climbs = (await deviceLog(w, client.deviceId)).filter((entry) => entry.type === "review.escalated" && entry.data["review_id"] === review.id);
    expect(climbs.map((entry) => entry.data)).toEqual([expect.objectContaining({ by: "policy", from: "tier1", to: "tier2" })]);
  });

  it("an approval under another bundle is not collected: its token would name a bundle no longer active", async () => {
    const { review, request } = await approved();
    await activate({ ...defaultSources, policies: `${defaultSources.policies}\n// another bundle\n` }, w.tenant);
    try {
      const retried = await held(client, request);
      expect(retried.review.id).not.toBe(review.id);
    } finally {
      await activate(defaultSources, w.tenant);
    }
  });
});

describe("a tier that rises while the hold waits", () => {
  const w = world();
  let client: WardenClient;
  let reviewer: Reviewer;
  // History moves the tier of an identical action: a delete after a permitted delete is tier2's to decide.
  const risingTier = `${defaultSources.policies}
@id("delete-after-delete")
@review("tier2")
forbid (principal, action == Action::"file.delete", resource)
when { context.history.deletes_60s > 0 };
`;

  beforeAll(async () => {
    await activate({ ...defaultSources, policies: risingTier }, w.tenant);
    client = await deviceIn(w);
    reviewer = await enrolledReviewer(w.fetch, uniqueId("alice"));
  });

  it("the identical action asked again at tier2 moves its pending tier1 hold to tier2: a tier1 verdict prepared before no longer applies", async () => {
    const { review, request } = await held(client);
    expect(review.tier).toBe("tier1");
    const prepared = await verdictOptions(w.fetch, reviewer, review.id, "approve");
    expect(prepared.status).toBe(200);
    const deleted = await client.decide(action("file.delete", [{ kind: "path", value: `/home/dev/workspace/${uniqueId("tmp")}.txt` }]));
    expect(deleted.body.decision).toBe("permit");

    const again = await held(client, request);
    expect(again.review).toEqual({ id: review.id, tier: "tier2", deadline: new Date(w.clock.now + 60 * MINUTE).toISOString() });
    expect((await waitOn(client, review.id)).body).toMatchObject({ status: "pending", tier: "tier2" });
    const climb = (await deviceLog(w, client.deviceId)).find((entry) => entry.type === "review.escalated" && entry.data["review_id"] === review.id);
    expect(climb?.data).toMatchObject({ by: "policy", from: "tier1", to: "tier2", asked_by: again.decision.decision_id, decision_id: (await holdAsAdmin(w.fetch, review.id)).record.decision_id });

    // The assertion over the tier1 statement: the hold it was made for is not the hold now.
    const stale = await sendVerdict(w.fetch, review.id, await reviewer.authenticator.assert(prepared.body.options));
    expect(stale.body).toMatchObject({ code: "review_record_changed" });
    expect((await giveVerdict(w.fetch, reviewer, review.id, "approve")).body).toMatchObject({ status: "approved", tier: "tier2" });
    // The hold's ladder is now the one policy asks: a retry at tier2 collects the approval, and its token.
    const retried = await held(client, request);
    expect(retried.review.id).toBe(review.id);
    expect((await waitOn(client, review.id)).body).toMatchObject({ status: "approved", released: true, token: expect.any(String) });
  });
});

describe("long polls", () => {
  const w = world();
  /** Calls the worker made to the tenant's holds object, by method. */
  const calls = new Map<string, number>();
  const countedHolds = () =>
    new Proxy(w.holds(), {
      get(stub, property) {
        const value = Reflect.get(stub, property) as unknown;
        if (typeof property !== "string" || typeof value !== "function") return value;
        return (...args: unknown[]) => {
          calls.set(property, (calls.get(property) ?? 0) + 1);
          return Reflect.apply(value, stub, args) as unknown;
        };
      },
    });
  const counted = workerFetch({ tenant: w.tenant, deps: { now: () => w.clock.now, reviewHolds: countedHolds } });
  let client: WardenClient;
  let reviewer: Reviewer;
  const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

  beforeAll(async () => {
    await activate(defaultSources, w.tenant);
    client = await readyDevice({ fetch: counted, now: () => w.clock.now });
    reviewer = await enrolledReviewer(w.fetch, uniqueId("pat"));
  });

  /** A new hold, the device's wait on it begun, and the time since. */
  async function waitingOnNewHold(seconds: number) {
    const { review } = await held(client);
    calls.clear();
    const started = Date.now();
    return { id: review.id, answer: waitOn(client, review.id, seconds), elapsed: () => Date.now() - started };
  }

  it("answers as soon as the hold is decided, with its token, in three calls to the holds object however long it waited", async () => {
    const { id, answer, elapsed } = await waitingOnNewHold(20);
    await pause(1500);
    expect((await giveVerdict(w.fetch, reviewer, id, "approve")).body).toMatchObject({ status: "approved" });
    const released = await answer;
    expect(released.body).toMatchObject({ status: "approved", released: true });
    expect(released.body.token).toEqual(expect.any(String));
    expect(elapsed()).toBeLessThan(5000);
    // Read, wait, read again; then the release. A poll every second would have read it twice more by now.
    expect(Object.fromEntries(calls)).toEqual({ state: 2, waitDecided: 1, release: 1 });
  });

  it("a wait nobody answers ends after its seconds, pending", async () => {
    const { answer, elapsed } = await waitingOnNewHold(1);
    expect((await answer).body).toMatchObject({ status: "pending", decision: null });
    expect(elapsed()).toBeGreaterThanOrEqual(1000);
    expect(elapsed()).toBeLessThan(5000);
  });

  it("two waits on one hold (two agents asking for the identical action) both get the verdict", async () => {
    const { id, answer: first, elapsed } = await waitingOnNewHold(20);
    await pause(300);
    const second = waitOn(client, id, 20);
    await pause(500);
    await giveVerdict(w.fetch, reviewer, id, "reject");
    const answers = await Promise.all([first, second]);
    expect(answers.map((answer) => answer.body.status)).toEqual(["rejected", "rejected"]);
    expect(elapsed()).toBeLessThan(5000);
  });

  it(`a hold keeps ${MAX_WAITS_PER_HOLD} waits of its device: one more ends the oldest, which reads it pending`, async () => {
    const { id, answer: oldest, elapsed } = await waitingOnNewHold(20);
    await pause(300);
    const others = [];
    for (let i = 0; i < MAX_WAITS_PER_HOLD - 1; i += 1) others.push(waitOn(client, id, 20));
    await pause(500);
    let ended = false;
    void oldest.then(() => (ended = true));
    await pause(300);
    expect(ended).toBe(false);
    const newest = waitOn(client, id, 20);
    expect((await oldest).body).toMatchObject({ status: "pending" });
    expect(elapsed()).toBeLessThan(5000);
    await giveVerdict(w.fetch, reviewer, id, "approve");
    const answers = await Promise.all([...others, newest]);
    expect(answers.map((answer) => answer.body.status)).toEqual(Array(MAX_WAITS_PER_HOLD).fill("approved"));
    expect(elapsed()).toBeLessThan(8000);
  });

  it("a client waiting on one hold more often than the hold keeps asks again a second after a wait is ended, not at once", async () => {
    // A clock that moves, so the client's deadline comes.
    const device = await readyDevice({ fetch: workerFetch({ tenant: w.tenant, deps: { reviewHolds: countedHolds } }) });
    const { review } = await held(device);
    calls.clear();
    const answers = await Promise.all(Array.from({ length: MAX_WAITS_PER_HOLD + 1 }, () => device.waitForReview(review.id, { timeoutMs: 4000, waitSeconds: 10 })));
    expect(answers.map((answer) => answer.body.status)).toEqual(Array(MAX_WAITS_PER_HOLD + 1).fill("pending"));
    // Each wait ended early costs its client a second: about one wait a second each, where asking again at once ends another wait every round trip.
    expect(calls.get("waitDecided")).toBeGreaterThan(MAX_WAITS_PER_HOLD + 1);
    expect(calls.get("waitDecided")).toBeLessThanOrEqual((MAX_WAITS_PER_HOLD + 1) * 6);
  });

  it("a deadline passing ends the wait: the hold reads expired", async () => {
    const { answer, elapsed } = await waitingOnNewHold(20);
    await pause(500);
    // What the alarm runs, on the instance the wait is in, past the last tier's deadline (4 h, then 1 h): the timeout rule denies.
    await w.holds().tick(w.clock.now + 301 * MINUTE);
    expect((await answer).body).toMatchObject({ status: "expired", decision: "deny" });
    expect(elapsed()).toBeLessThan(5000);
  });

  it("a staff read waits apart from the device: with the device's waits at their bound, a staff wait ends none of them", async () => {
    const { id, answer: first, elapsed } = await waitingOnNewHold(20);
    const device = [first];
    for (let i = 1; i < MAX_WAITS_PER_HOLD; i += 1) device.push(waitOn(client, id, 20));
    await pause(300);
    let ended = 0;
    for (const wait of device) void wait.then(() => (ended += 1));
    const staff = call<{ status: string }>(counted, "GET", `/v1/reviews/${id}?wait=20`, undefined, admin);
    await pause(700);
    expect(ended).toBe(0);
    await giveVerdict(w.fetch, reviewer, id, "reject");
    const seen = await Promise.all([...device, staff]);
    expect(seen.map((answer) => answer.body.status)).toEqual(Array(MAX_WAITS_PER_HOLD + 1).fill("rejected"));
    expect(elapsed()).toBeLessThan(5000);
  });
});

describe("passkeys", () => {
  const w = world();

  beforeAll(async () => {
    await activate(defaultSources, w.tenant);
  });

  it("an enrollment link registers one passkey, once", async () => {
    const id = uniqueId("bob");
    const created = await call<{ enrollment: { token: string; url: string } }>(w.fetch, "POST", "/v1/reviewers", { id, display_name: "Bob" }, admin);
    expect(created.status).toBe(201);
    expect(created.body.enrollment.url).toBe(`${env.REVIEW_ORIGIN}/review/enroll#${created.body.enrollment.token}`);
    const key = await SoftwareAuthenticator.create(env.REVIEW_ORIGIN!, REVIEW_RP_ID);
    await enroll(w.fetch, created.body.enrollment.token, key);
    const second = await enroll(w.fetch, created.body.enrollment.token, await SoftwareAuthenticator.create(env.REVIEW_ORIGIN!, REVIEW_RP_ID));
    expect(second.body.code).toBe("enrollment_invalid");
    expect((await call(w.fetch, "POST", "/v1/reviewers", { id, display_name: "Bob" }, admin)).body.code).toBe("already_exists");
    expect(await signIn(w.fetch, key)).toMatch(/^warden_reviewer=/);
  });

  it("registration without user verification or from another origin is refused", async () => {
    const created = await call<{ enrollment: { token: string } }>(w.fetch, "POST", "/v1/reviewers", { id: uniqueId("eve"), display_name: "Eve" }, admin);
    const token = created.body.enrollment.token;
    const key = await SoftwareAuthenticator.create(env.REVIEW_ORIGIN!, REVIEW_RP_ID);
    const attempt = async (overrides: Parameters<SoftwareAuthenticator["register"]>[1]) => {
      const options = await call<{ options: { challenge: string; user: { id: string } } }>(w.fetch, "POST", "/v1/reviewers/enroll/options", { token });
      return call(w.fetch, "POST", "/v1/reviewers/enroll", { token, response: await key.register(options.body.options, overrides) });
    };
    expect((await attempt({ userVerified: false })).body.code).toBe("webauthn_invalid");
    expect((await attempt({ origin: "https://evil.test" })).body.code).toBe("webauthn_origin_mismatch");
    expect((await attempt({ rpId: "evil.test" })).body.code).toBe("webauthn_invalid");
    // The link is still good: failures spent only their challenges.
    expect((await attempt({})).status).toBe(201);
  });

  it("an admin issues another link for a lost passkey; a stale counter cannot sign in → counter_regression", async () => {
    const reviewer = await enrolledReviewer(w.fetch, uniqueId("gail"));
    const link = await call<{ token: string }>(w.fetch, "POST", `/v1/reviewers/${reviewer.id}/enrollments`, {}, admin);
    expect(link.status).toBe(201);
    const spare = await SoftwareAuthenticator.create(env.REVIEW_ORIGIN!, REVIEW_RP_ID);
    expect((await enroll(w.fetch, link.body.token, spare)).status).toBe(201);
    expect(await signIn(w.fetch, spare)).toMatch(/^warden_reviewer=/);
    expect((await call(w.fetch, "POST", "/v1/reviewers/nobody/enrollments", {}, admin)).body.code).toBe("not_found");

    const options = await call<{ options: { challenge: string } }>(w.fetch, "POST", "/v1/reviewers/login/options", {});
    const cloned = await call(w.fetch, "POST", "/v1/reviewers/login", { response: await reviewer.authenticator.assert(options.body.options, { counter: 1 }) });
    expect(cloned.status).toBe(401);
    expect(cloned.body.code).toBe("counter_regression");
    expect(cloned.headers.get("set-cookie")).toBeNull();
  });

  it("an admin-only registration; the page and options need a signed-in reviewer", async () => {
    expect((await call(w.fetch, "POST", "/v1/reviewers", { id: "x", display_name: "X" })).body.code).toBe("unauthenticated");
    expect((await call(w.fetch, "POST", "/v1/reviews/nope/options", { verdict: "approve", hold_sha256: "0".repeat(64) })).body.code).toBe("unauthenticated");
    expect((await call(w.fetch, "POST", "/v1/reviews/nope/options", { verdict: "approve", hold_sha256: "0".repeat(64) }, admin)).body.code).toBe("forbidden");
  });
});

describe("refusals", () => {
  const w = world();
  let client: WardenClient;
  let reviewer: Reviewer;

  beforeAll(async () => {
    await activate(defaultSources, w.tenant);
    client = await deviceIn(w);
    reviewer = await enrolledReviewer(w.fetch, uniqueId("carol"));
  });

  it("self-approval: the reviewer who uses the requesting device → self_approval, to approve and to escalate; rejecting stays theirs", async () => {
    const own = await enrolledReviewer(w.fetch, uniqueId("dave"), [client.deviceId]);
    const { review } = await held(client);
    expect((await verdictOptions(w.fetch, own, review.id, "approve")).body.code).toBe("self_approval");
    expect((await verdictOptions(w.fetch, own, review.id, "approve")).status).toBe(403);
    // Nor may they send it to another tier's approvers.
    expect((await verdictOptions(w.fetch, own, review.id, "escalate")).body.code).toBe("self_approval");
    // Even with a challenge obtained for another verdict, an approval cannot be assembled from it.
    const reject = await verdictOptions(w.fetch, own, review.id, "reject");
    expect(reject.status).toBe(200);
  });

  it("self-approval: the reviewer the requesting device is registered to, though not in their devices → self_approval; another reviewer approves", async () => {
    const email = `${uniqueId("erin")}@example.com`;
    const own = await enrolledReviewer(w.fetch, email, []);
    // Registered with the e-mail as typed; the registration names the person as every record does (lower-cased).
    const laptop = await readyDevice({ fetch: w.fetch, now: () => w.clock.now, user: email.replace(/^e/, "E").replace("example", "Example") });
    const { review, request } = await held(laptop);
    const self = await verdictOptions(w.fetch, own, review.id, "approve");
    expect(self.status).toBe(403);
    expect(self.body.code).toBe("self_approval");
    expect((await verdictOptions(w.fetch, own, review.id, "escalate")).body.code).toBe("self_approval");
    expect((await holdAsAdmin(w.fetch, review.id)).status).toBe("pending");
    // Another reviewer's approval is accepted, and the device gets its token.
    expect((await giveVerdict(w.fetch, reviewer, review.id, "approve")).body).toMatchObject({ status: "approved", approvals: [{ reviewer: reviewer.id }] });
    const read = await waitOn(laptop, review.id);
    expect((await laptop.redeem(read.body.token!, request.action)).status).toBe(200);
  });

  it("a replayed assertion → replay_detected", async () => {
    const { review } = await held(client);
    const options = await verdictOptions(w.fetch, reviewer, review.id, "approve");
    const assertion = await reviewer.authenticator.assert(options.body.options);
    expect((await sendVerdict(w.fetch, review.id, assertion)).status).toBe(200);
    const replay = await sendVerdict(w.fetch, review.id, assertion);
    expect(replay.status).toBe(401);
    expect(replay.body.code).toBe("replay_detected");
  });

  it("another origin → webauthn_origin_mismatch, and the challenge is spent", async () => {
    const { review } = await held(client);
    const options = await verdictOptions(w.fetch, reviewer, review.id, "approve");
    const wrong = await sendVerdict(w.fetch, review.id, await reviewer.authenticator.assert(options.body.options, { origin: "https://warden.test.evil.example" }));
    expect(wrong.status).toBe(401);
    expect(wrong.body.code).toBe("webauthn_origin_mismatch");
    const retry = await sendVerdict(w.fetch, review.id, await reviewer.authenticator.assert(options.body.options));
    expect(retry.body.code).toBe("replay_detected");
    expect((await holdAsAdmin(w.fetch, review.id)).status).toBe("pending");
  });

  it("an assertion scoped to another RP ID → webauthn_origin_mismatch", async () => {
    const { review } = await held(client);
    const options = await verdictOptions(w.fetch, reviewer, review.id, "approve");
    const wrong = await sendVerdict(w.fetch, review.id, await reviewer.authenticator.assert(options.body.options, { rpId: "evil.test" }));
    expect(wrong.body.code).toBe("webauthn_origin_mismatch");
  });

  it("a swapped review id → review_mismatch", async () => {
    const a = await held(client);
    const b = await held(client);
    const options = await verdictOptions(w.fetch, reviewer, a.review.id, "approve");
    const swapped = await sendVerdict(w.fetch, b.review.id, await reviewer.authenticator.assert(options.body.options));
    expect(swapped.status).toBe(403);
    expect(swapped.body.code).toBe("review_mismatch");
    expect((await holdAsAdmin(w.fetch, a.review.id)).status).toBe("pending");
    expect((await holdAsAdmin(w.fetch, b.review.id)).status).toBe("pending");
  });

  it("an approval for a record that changed since it was shown → review_record_changed", async () => {
    const { review } = await held(client);
    const shown = await holdAsAdmin(w.fetch, review.id);
    const options = await verdictOptions(w.fetch, reviewer, review.id, "approve", shown.hold_sha256);
    expect(options.status).toBe(200);
    // While this reviewer looks, another escalates it: tier and deadline change.
    const other = await enrolledReviewer(w.fetch, uniqueId("frank"));
    expect((await giveVerdict(w.fetch, other, review.id, "escalate")).body.tier).toBe("tier2");
    const changed = await sendVerdict(w.fetch, review.id, await reviewer.authenticator.assert(options.body.options));
    expect(changed.status).toBe(409);
    expect(changed.body.code).toBe("review_record_changed");
    // A page still showing the old record cannot even get a challenge.
    const stale = await verdictOptions(w.fetch, reviewer, review.id, "approve", shown.hold_sha256);
    expect(stale.body.code).toBe("review_record_changed");
    expect((await holdAsAdmin(w.fetch, review.id)).approvals).toEqual([]);
  });

  it("a challenge past its time → challenge_invalid", async () => {
    const { review } = await held(client);
    const options = await verdictOptions(w.fetch, reviewer, review.id, "approve");
    w.clock.now += 5 * MINUTE + 1;
    try {
      const late = await sendVerdict(w.fetch, review.id, await reviewer.authenticator.assert(options.body.options));
      expect(late.body.code).toBe("challenge_invalid");
    } finally {
      w.clock.now -= 5 * MINUTE + 1;
    }
  });

  it("a signature counter that goes backwards → counter_regression", async () => {
    const { review } = await held(client);
    const options = await verdictOptions(w.fetch, reviewer, review.id, "approve");
    const stale = await sendVerdict(w.fetch, review.id, await reviewer.authenticator.assert(options.body.options, { counter: 1 }));
    expect(stale.status).toBe(401);
    expect(stale.body.code).toBe("counter_regression");
  });

  it("no user verification → user_verification_required; an unknown challenge → challenge_invalid; a forged signature → webauthn_invalid", async () => {
    const { review } = await held(client);
    const first = await verdictOptions(w.fetch, reviewer, review.id, "approve");
    expect((await sendVerdict(w.fetch, review.id, await reviewer.authenticator.assert(first.body.options, { userVerified: false }))).body.code).toBe("user_verification_required");
    const unknown = await sendVerdict(w.fetch, review.id, await reviewer.authenticator.assert({ challenge: "A".repeat(43) }));
    expect(unknown.body.code).toBe("challenge_invalid");
    const second = await verdictOptions(w.fetch, reviewer, review.id, "approve");
    const forged = await reviewer.authenticator.assert(second.body.options);
    const signature = fromB64u(forged.response.signature);
    signature[signature.length - 1]! ^= 1;
    forged.response.signature = btoa(String.fromCharCode(...signature)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
    expect((await sendVerdict(w.fetch, review.id, forged)).body.code).toBe("webauthn_invalid");
  });

  it("another reviewer's passkey cannot answer a challenge issued to this one", async () => {
    const { review } = await held(client);
    const other = await enrolledReviewer(w.fetch, uniqueId("mallory"));
    const options = await verdictOptions(w.fetch, reviewer, review.id, "approve");
    expect((await sendVerdict(w.fetch, review.id, await other.authenticator.assert(options.body.options))).body.code).toBe("webauthn_invalid");
  });

  it("a decided hold takes no more verdicts → review_not_pending", async () => {
    const { review } = await held(client);
    await giveVerdict(w.fetch, reviewer, review.id, "reject");
    expect((await verdictOptions(w.fetch, reviewer, review.id, "approve")).body.code).toBe("review_not_pending");
  });
});

describe("tiers needing several approvers", () => {
  const w = world();
  let client: WardenClient;

  beforeAll(async () => {
    const manifest = structuredClone(defaultSources.manifest) as { review_tiers: { name: string; approvers?: number }[] };
    manifest.review_tiers[0]!.approvers = 2;
    await activate({ ...defaultSources, manifest }, w.tenant);
    client = await deviceIn(w);
  });

  it("needs N distinct approvers; the same one twice → duplicate_approver", async () => {
    const [a, b] = [await enrolledReviewer(w.fetch, uniqueId("ann")), await enrolledReviewer(w.fetch, uniqueId("ben"))];
    const { review } = await held(client);
    expect((await giveVerdict(w.fetch, a, review.id, "approve")).body).toMatchObject({ status: "pending", approvers_required: 2 });
    expect((await waitOn(client, review.id)).body.token).toBeUndefined();
    const again = await verdictOptions(w.fetch, a, review.id, "approve");
    expect(again.status).toBe(409);
    expect(again.body.code).toBe("duplicate_approver");
    expect((await giveVerdict(w.fetch, b, review.id, "approve")).body).toMatchObject({ status: "approved", decision: "permit" });
    expect((await waitOn(client, review.id)).body.token).toEqual(expect.any(String));
  });
});

describe("escalation", () => {
  const w = world();
  let client: WardenClient;
  let reviewer: Reviewer;

  beforeAll(async () => {
    await activate(defaultSources, w.tenant);
    client = await deviceIn(w);
    reviewer = await enrolledReviewer(w.fetch, uniqueId("erin"));
  });

  async function sink(review: string) {
    const response = await (env as unknown as { WEBHOOK_SINK: Fetcher }).WEBHOOK_SINK.fetch(`http://sink/?review=${review}`);
    return (await response.json()) as { headers: Record<string, string>; body: string; status: number }[];
  }

  async function signedCorrectly(delivery: { headers: Record<string, string>; body: string }) {
    const match = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(delivery.headers["warden-signature"] ?? "");
    return match !== null && match[2] === (await webhookSignature(env.REVIEW_WEBHOOK_SECRET!, Number(match[1]), delivery.body));
  }

  /** A hold whose `review.created` notification went out (on the outbox's own alarm, or this tick), so later ones are alone. */
  async function announced(device: WardenClient) {
    const hold = await held(device);
    await w.outbox().tick(w.clock.now);
    return hold;
  }

  function ofType<T extends { body: string }>(deliveries: T[], type: string): T[] {
    return deliveries.filter((delivery) => (JSON.parse(delivery.body) as { type: string }).type === type);
  }

  it("a new hold notifies its tier at once: signed review.created with the review link and the proof", async () => {
    const { review, decision } = await announced(client);
    const [created] = ofType(await sink(review.id), "review.created");
    expect(created).toBeDefined();
    expect(await signedCorrectly(created!)).toBe(true);
    expect(created!.headers["warden-event-id"]).toBe(`${review.id}#1`);
    const hold = await holdAsAdmin(w.fetch, review.id);
    expect(JSON.parse(created!.body)).toEqual({
      type: "review.created",
      review_id: review.id,
      tenant: w.tenant,
      tier: "tier1",
      previous_tier: null,
      deadline: review.deadline,
      outcome: null,
      by: "policy",
      action: { type: "file.delete", targets: 1 },
      requester: { device: client.deviceId, agent: "claude-code" },
      link: `${env.REVIEW_ORIGIN}/review#hold-${review.id}`,
      proof: { record_sha256: sha256Hex(canonicalJson(hold.record as never)), decision_log: decision.log },
      at: new Date(w.clock.now).toISOString(),
    });
    // The record a reviewer approves names the logged decision too.
    expect((hold.record as unknown as { decision_log: unknown }).decision_log).toEqual(decision.log);
  });

  it("an alarm moves an unreviewed hold up a tier when its SLA passes, notifies, and the timeout rule decides after the last", async () => {
    const start = w.clock.now;
    const { review } = await announced(client);
    // The alarm is set for the tier1 deadline; it runs with the clock injected just past it.
    expect(await alarmOf(w.holds())).toBe(start + 240 * MINUTE);
    await holdsWith(w.holds(), { clock: () => start + 241 * MINUTE }).alarm();
    w.clock.now = start + 241 * MINUTE;
    const escalated = await holdAsAdmin(w.fetch, review.id);
    expect(escalated).toMatchObject({ status: "pending", tier: "tier2", deadline: new Date(start + 300 * MINUTE).toISOString() });
    expect(await alarmOf(w.holds())).toBe(start + 300 * MINUTE);

    // The notification is the outbox's to send, on its own alarm (due at the escalation's time).
    expect(await alarmOf(w.outbox())).toBe(start + 241 * MINUTE);
    await outboxWith(w.outbox(), { clock: () => start + 241 * MINUTE }).alarm();
    const delivered = ofType(await sink(review.id), "review.escalated");
    expect(delivered).toHaveLength(1);
    expect(JSON.parse(delivered[0]!.body)).toMatchObject({ type: "review.escalated", review_id: review.id, tier: "tier2", previous_tier: "tier1", by: "sla" });
    expect(await signedCorrectly(delivered[0]!)).toBe(true);
    expect(delivered[0]!.headers["warden-delivery-attempt"]).toBe("1");
    expect(delivered[0]!.headers["warden-event-id"]).toBe(`${review.id}#3`);

    await holdsWith(w.holds(), { clock: () => start + 301 * MINUTE }).alarm();
    await outboxWith(w.outbox(), { clock: () => start + 301 * MINUTE }).alarm();
    w.clock.now = start + 301 * MINUTE;
    await client.openSession();
    const expired = await waitOn(client, review.id);
    expect(expired.body).toMatchObject({ status: "expired", decision: "deny" });
    expect(expired.body.token).toBeUndefined();
    expect((await sink(review.id)).map((delivery) => JSON.parse(delivery.body).type)).toEqual(["review.created", "review.escalated", "review.expired"]);

    const types = (await deviceLog(w, client.deviceId)).filter((entry) => entry.data["review_id"] === review.id).map((entry) => [entry.type, entry.data["by"], entry.data["evidence_id"]]);
    expect(types).toEqual([
      ["review.escalated", "sla", `${review.id}#2`],
      ["review.expired", "sla", `${review.id}#4`],
    ]);
    w.clock.now = start;
    await client.openSession();
  });

  it("a webhook that fails is retried with backoff, every attempt recorded", async () => {
    const start = w.clock.now;
    const { review } = await announced(client);
    await (env as unknown as { WEBHOOK_SINK: Fetcher }).WEBHOOK_SINK.fetch("http://sink/fail", { method: "POST", body: JSON.stringify({ review_id: review.id, type: "review.escalated", times: 2 }) });
    const outbox = w.outbox();
    const due = start + 240 * MINUTE;
    await w.holds().tick(due + 1);
    await outbox.tick(due + 1);
    await outbox.tick(due + 1 + 29_000); // before the first backoff (30 s): nothing
    await outbox.tick(due + 1 + 30_000); // second attempt, fails again
    await outbox.tick(due + 1 + 30_000 + 120_000); // third attempt after 2 min, delivered
    const [event] = (await outbox.deliveries(review.id)).filter((delivery) => delivery.type === "review.escalated");
    expect(event!.state).toBe("delivered");
    expect(event!.attempts.map((attempt) => [attempt.attempt, attempt.at - due, attempt.status])).toEqual([
      [1, 1, 503],
      [2, 30_001, 503],
      [3, 150_001, 204],
    ]);
    const received = ofType(await sink(review.id), "review.escalated");
    expect(received.map((delivery) => [delivery.headers["warden-delivery-attempt"], delivery.status])).toEqual([
      ["1", 503],
      ["2", 503],
      ["3", 204],
    ]);
    for (const delivery of received) expect(await signedCorrectly(delivery)).toBe(true);
  });

  it("webhooks go out through the injected fetch: a receiver that cannot be reached is an attempt with its error", async () => {
    const start = w.clock.now;
    const { review } = await announced(client);
    const due = start + 240 * MINUTE;
    await w.holds().tick(due + 1);
    const unreachable = outboxWith(w.outbox(), {
      fetch: () => Promise.reject(new TypeError("Network connection lost.")),
    });
    await unreachable.tick(due + 1);
    const sent: Request[] = [];
    const recording = outboxWith(w.outbox(), {
      fetch: (request) => {
        sent.push(request.clone());
        return fetch(request);
      },
    });
    await recording.tick(due + 1 + 30_000);
    const [event] = (await w.outbox().deliveries(review.id)).filter((delivery) => delivery.type === "review.escalated");
    expect(event!.state).toBe("delivered");
    expect(event!.attempts.map((attempt) => [attempt.attempt, attempt.status, attempt.error])).toEqual([
      [1, null, expect.stringContaining("Network connection lost")],
      [2, 204, null],
    ]);
    expect(sent).toHaveLength(1);
    expect(sent[0]!.headers.get("warden-event-id")).toBe(event!.key);
    expect(sent[0]!.headers.get("warden-delivery-attempt")).toBe("2");
    expect(ofType(await sink(review.id), "review.escalated").map((delivery) => delivery.headers["warden-delivery-attempt"])).toEqual(["2"]);
  });

  it("a reviewer escalates with a passkey; at the last tier → review_at_last_tier", async () => {
    const { review } = await held(client);
    const escalated = await giveVerdict(w.fetch, reviewer, review.id, "escalate");
    expect(escalated.body).toMatchObject({ status: "pending", tier: "tier2", deadline: new Date(w.clock.now + 60 * MINUTE).toISOString() });
    expect((await verdictOptions(w.fetch, reviewer, review.id, "escalate")).body.code).toBe("review_at_last_tier");
    const entry = (await deviceLog(w, client.deviceId)).find((item) => item.type === "review.escalated" && item.data["review_id"] === review.id)!;
    expect(entry.data).toMatchObject({ by: reviewer.id, from: "tier1", to: "tier2", verdict: "escalate" });
    expect((entry.data["assertion"] as { signature: string }).signature).toEqual(expect.any(String));
  });

  it("a timeout rule of permit releases a token after the last deadline", async () => {
    const t = world();
    const manifest = structuredClone(defaultSources.manifest) as { review_tiers: { on_timeout: string }[] };
    for (const tier of manifest.review_tiers) tier.on_timeout = "permit";
    await activate({ ...defaultSources, manifest }, t.tenant);
    const device = await deviceIn(t);
    const { review } = await held(device);
    t.clock.now += 301 * MINUTE;
    await device.openSession();
    const answer = await waitOn(device, review.id);
    expect(answer.body).toMatchObject({ status: "expired", decision: "permit" });
    expect(answer.body.token).toEqual(expect.any(String));

    // Applied longer than a release window after the last deadline (nothing ran the hold's alarm till then):
    // the window counts from when the rule was applied, so the permit it gave can still be handed over.
    const { review: late } = await held(device);
    t.clock.now += 300 * MINUTE + APPROVAL_RELEASE_MS + MINUTE;
    await device.openSession();
    const lateAnswer = await waitOn(device, late.id);
    expect(lateAnswer.body).toMatchObject({ status: "expired", decision: "permit", released: true });
    expect(lateAnswer.body.token).toEqual(expect.any(String));
  });
});
