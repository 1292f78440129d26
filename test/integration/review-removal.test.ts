import { beforeAll, describe, expect, it } from "vitest";
import type { WardenClient } from "../../cli/client.ts";
import type { LogEntry } from "../../worker/log/chain.ts";
import { action, activate, defaultSources, readyDevice, uniqueId, workerFetch } from "../helpers.ts";
import { admin, call, enroll, enrolledReviewer, giveVerdict, holdAsAdmin, sendVerdict, signIn, verdictOptions, type Reviewer } from "../review-helpers.ts";
import { SoftwareAuthenticator } from "../software-authenticator.ts";
import { env } from "cloudflare:test";

/**
 * An admin removes a reviewer or revokes one of their passkeys: the next sign-in, the next
 * request of a session already open and the next verdict are refused with their codes, and the
 * admin log records who and why.
 */

function world() {
  const tenant = uniqueId("rm");
  const clock = { now: Date.now() };
  const fetch = workerFetch({ tenant, deps: { now: () => clock.now } });
  return { tenant, clock, fetch };
}

function heldAction() {
  return action("file.delete", [{ kind: "path", value: `/home/dev/workspace/.git/objects/${uniqueId("obj")}` }]);
}

async function held(client: WardenClient): Promise<string> {
  const decided = await client.decide(heldAction());
  expect(decided.body.decision).toBe("review");
  return (decided.body.review as unknown as { id: string }).id;
}

async function adminLog(fetch: (request: Request) => Promise<Response>): Promise<LogEntry[]> {
  return (await call<{ entries: LogEntry[] }>(fetch, "GET", "/v1/bundles/log?limit=1000", undefined, admin)).body.entries;
}

/** A sign-in attempt with this passkey: the answer, without failing on a refusal. */
async function tryToSignIn(fetch: (request: Request) => Promise<Response>, authenticator: SoftwareAuthenticator) {
  const options = await call<{ options: { challenge: string } }>(fetch, "POST", "/v1/reviewers/login/options", {});
  return call(fetch, "POST", "/v1/reviewers/login", { response: await authenticator.assert(options.body.options) });
}

describe("removing a reviewer", () => {
  const w = world();
  let client: WardenClient;
  let alice: Reviewer;
  let bob: Reviewer;

  beforeAll(async () => {
    // Two approvers per hold, so one approval can be standing when its reviewer is removed.
    const manifest = structuredClone(defaultSources.manifest) as { review_tiers: { approvers?: number }[] };
    manifest.review_tiers[0]!.approvers = 2;
    await activate({ ...defaultSources, manifest }, w.tenant);
    client = await readyDevice({ fetch: w.fetch, now: () => w.clock.now });
    alice = await enrolledReviewer(w.fetch, uniqueId("alice"));
    bob = await enrolledReviewer(w.fetch, uniqueId("bob"));
  });

  it("refuses their next sign-in, their open session and their outstanding verdict challenge, and withdraws their standing approvals", async () => {
    const approved = await held(client);
    expect((await giveVerdict(w.fetch, alice, approved, "approve")).body).toMatchObject({ status: "pending", approvals: [{ reviewer: alice.id }] });
    const waiting = await held(client);
    const options = await verdictOptions(w.fetch, alice, waiting, "approve");
    expect(options.status).toBe(200);
    const before = (await adminLog(w.fetch)).length;

    const removed = await call<{ removed: { by: string; reason: string; log: { seq: number; hash: string } }; passkeys: string[]; voided_challenges: number; withdrawn_approvals: string[] }>(
      w.fetch,
      "DELETE",
      `/v1/reviewers/${alice.id}`,
      { reason: "left the security team" },
      admin,
    );
    expect(removed.status).toBe(200);
    expect(removed.body).toMatchObject({
      reviewer: alice.id,
      removed: { by: "admin", reason: "left the security team", log: { seq: before + 1, hash: expect.stringMatching(/^[0-9a-f]{64}$/) } },
      passkeys: [alice.authenticator.id],
      voided_challenges: 1,
      withdrawn_approvals: [approved],
    });

    // The session already open: refused at its very next request, API and page alike.
    const list = await call(w.fetch, "GET", "/v1/reviews", undefined, { cookie: alice.cookie });
    expect(list.status).toBe(403);
    expect(list.body.code).toBe("reviewer_removed");
    expect(((await call(w.fetch, "GET", "/review", undefined, { cookie: alice.cookie })).body as { text: string }).text).toContain("Sign in with passkey");
    // The next sign-in, with a passkey that still verifies.
    const again = await tryToSignIn(w.fetch, alice.authenticator);
    expect(again.status).toBe(403);
    expect(again.body.code).toBe("reviewer_removed");
    expect(again.headers.get("set-cookie")).toBeNull();
    // The challenge issued before the removal is void.
    const late = await sendVerdict(w.fetch, waiting, await alice.authenticator.assert(options.body.options));
    expect(late.status).toBe(403);
    expect(late.body.code).toBe("reviewer_removed");
    expect((await holdAsAdmin(w.fetch, waiting)).approvals).toEqual([]);

    // Their approval no longer counts: one more approval does not release the hold, and the log says why.
    expect((await holdAsAdmin(w.fetch, approved)).approvals).toEqual([]);
    expect((await giveVerdict(w.fetch, bob, approved, "approve")).body).toMatchObject({ status: "pending", approvals: [{ reviewer: bob.id }] });
    const entries = (await call<{ entries: LogEntry[] }>(w.fetch, "GET", `/v1/devices/${client.deviceId}/log?limit=500`, undefined, admin)).body.entries;
    expect(entries.find((entry) => entry.type === "review.approval_withdrawn" && entry.data["review_id"] === approved)?.data).toMatchObject({
      reviewer: alice.id,
      approvals: 0,
      approvers_required: 2,
      by: "admin",
      reason: "left the security team",
    });

    // Who and why, once, in the tenant's admin log.
    const log = await adminLog(w.fetch);
    expect(log.filter((entry) => entry.type === "admin.reviewer_removed")).toEqual([
      expect.objectContaining({ seq: before + 1, data: { reviewer: alice.id, passkeys: [alice.authenticator.id], by: "admin", reason: "left the security team", at: expect.any(String) } }),
    ]);
  });

  it("a repeated removal answers with the first and records nothing more; the id stays taken and gets no new links", async () => {
    const first = await call<{ removed: { reason: string; log: { seq: number } } }>(w.fetch, "DELETE", `/v1/reviewers/${alice.id}`, { reason: "again" }, admin);
    expect(first.status).toBe(200);
    expect(first.body.removed).toMatchObject({ reason: "left the security team" });
    expect((await adminLog(w.fetch)).filter((entry) => entry.type === "admin.reviewer_removed")).toHaveLength(1);
    expect((await call(w.fetch, "POST", `/v1/reviewers/${alice.id}/enrollments`, {}, admin)).body.code).toBe("reviewer_removed");
    expect((await call(w.fetch, "POST", "/v1/reviewers", { id: alice.id, display_name: "Someone else" }, admin)).body.code).toBe("already_exists");
    const shown = await call<{ removed: { reason: string } | null; reviewer: { credentials: number } }>(w.fetch, "GET", `/v1/reviewers/${alice.id}`, undefined, admin);
    expect(shown.body).toMatchObject({ removed: { reason: "left the security team" }, reviewer: { credentials: 0 } });
  });

  it("a removal whose admin-log record failed is in effect at once, and the repeated request records it, once", async () => {
    const erin = await enrolledReviewer(w.fetch, uniqueId("erin"));
    const noAdminLog = workerFetch({
      tenant: w.tenant,
      deps: {
        now: () => w.clock.now,
        bundleRegistry: () => {
          throw new Error("admin log unavailable");
        },
      },
    });
    const failed = await call(noAdminLog, "DELETE", `/v1/reviewers/${erin.id}`, { reason: "token leaked" }, admin);
    expect(failed.status).toBe(500);
    expect((await call(w.fetch, "GET", "/v1/reviews", undefined, { cookie: erin.cookie })).body.code).toBe("reviewer_removed");
    expect((await call<{ removed: { log: unknown } }>(w.fetch, "GET", `/v1/reviewers/${erin.id}`, undefined, admin)).body.removed.log).toBeNull();

    const retried = await call<{ removed: { reason: string; log: { seq: number } | null } }>(w.fetch, "DELETE", `/v1/reviewers/${erin.id}`, { reason: "retry" }, admin);
    expect(retried.body.removed).toMatchObject({ reason: "token leaked", log: { seq: expect.any(Number) } });
    await call(w.fetch, "DELETE", `/v1/reviewers/${erin.id}`, { reason: "once more" }, admin);
    expect((await adminLog(w.fetch)).filter((entry) => entry.type === "admin.reviewer_removed" && entry.data["reviewer"] === erin.id)).toEqual([
      expect.objectContaining({ seq: retried.body.removed.log!.seq, data: expect.objectContaining({ reason: "token leaked" }) }),
    ]);
  });

  it("is for admins, needs a reason, and names a reviewer that exists", async () => {
    expect((await call(w.fetch, "DELETE", `/v1/reviewers/${bob.id}`, { reason: "x" })).body.code).toBe("unauthenticated");
    expect((await call(w.fetch, "DELETE", `/v1/reviewers/${bob.id}`, { reason: "x" }, { authorization: `Bearer ${env.AUDITOR_TOKEN}` })).body.code).toBe("forbidden");
    expect((await call(w.fetch, "DELETE", `/v1/reviewers/${bob.id}`, { reason: "x" }, { cookie: bob.cookie })).body.code).toBe("forbidden");
    expect((await call(w.fetch, "DELETE", `/v1/reviewers/${bob.id}`, { reason: "  " }, admin)).body.code).toBe("malformed_request");
    expect((await call(w.fetch, "DELETE", `/v1/reviewers/${bob.id}`, undefined, admin)).body.code).toBe("malformed_request");
    expect((await call(w.fetch, "DELETE", "/v1/reviewers/nobody", { reason: "x" }, admin)).body.code).toBe("not_found");
    // Bob is untouched by all that.
    expect((await call(w.fetch, "GET", "/v1/reviews", undefined, { cookie: bob.cookie })).status).toBe(200);
  });
});

describe("revoking a passkey", () => {
  const w = world();
  let client: WardenClient;
  let carol: Reviewer;
  let spare: SoftwareAuthenticator;
  let spareCookie: string;

  beforeAll(async () => {
    await activate(defaultSources, w.tenant);
    client = await readyDevice({ fetch: w.fetch, now: () => w.clock.now });
    carol = await enrolledReviewer(w.fetch, uniqueId("carol"));
    const link = await call<{ token: string }>(w.fetch, "POST", `/v1/reviewers/${carol.id}/enrollments`, {}, admin);
    spare = await SoftwareAuthenticator.create(env.REVIEW_ORIGIN!, env.REVIEW_RP_ID!);
    await enroll(w.fetch, link.body.token, spare);
    spareCookie = await signIn(w.fetch, spare);
  });

  it("refuses that passkey's sign-in, verdicts and sessions; the reviewer's other passkey goes on working", async () => {
    const lost = carol.authenticator.id;
    const shown = await call<{ passkeys: { id: string; revoked: unknown }[] }>(w.fetch, "GET", `/v1/reviewers/${carol.id}`, undefined, admin);
    expect(shown.body.passkeys.map((passkey) => passkey.id).sort()).toEqual([lost, spare.id].sort());

    const revoked = await call<{ revoked: { by: string; reason: string; log: { seq: number } } }>(w.fetch, "DELETE", `/v1/reviewers/${carol.id}/passkeys/${lost}`, { reason: "laptop stolen" }, admin);
    expect(revoked.status).toBe(200);
    expect(revoked.body).toMatchObject({ reviewer: carol.id, credential: lost, revoked: { by: "admin", reason: "laptop stolen", log: { seq: expect.any(Number) } } });

    // The session signed in with it ends at its next request; the one signed in with the spare does not.
    const ended = await call(w.fetch, "GET", "/v1/reviews", undefined, { cookie: carol.cookie });
    expect(ended.status).toBe(401);
    expect(ended.body.code).toBe("passkey_revoked");
    expect((await call(w.fetch, "GET", "/v1/reviews", undefined, { cookie: spareCookie })).status).toBe(200);
    // The next sign-in with it.
    const again = await tryToSignIn(w.fetch, carol.authenticator);
    expect(again.body.code).toBe("passkey_revoked");
    expect(again.headers.get("set-cookie")).toBeNull();

    // A verdict challenge now allows only the spare; an assertion by the revoked passkey is refused all the same.
    const review = await held(client);
    const spareReviewer = { id: carol.id, authenticator: spare, cookie: spareCookie };
    const options = await verdictOptions(w.fetch, spareReviewer, review, "approve");
    expect(options.body.options.allowCredentials.map((credential) => credential.id)).toEqual([spare.id]);
    const refused = await sendVerdict(w.fetch, review, await carol.authenticator.assert(options.body.options));
    expect(refused.status).toBe(401);
    expect(refused.body.code).toBe("passkey_revoked");
    expect((await holdAsAdmin(w.fetch, review)).status).toBe("pending");
    expect((await giveVerdict(w.fetch, spareReviewer, review, "approve")).body).toMatchObject({ status: "approved" });

    const log = (await adminLog(w.fetch)).filter((entry) => entry.type === "admin.passkey_revoked");
    expect(log).toEqual([expect.objectContaining({ data: { reviewer: carol.id, credential: lost, by: "admin", reason: "laptop stolen", at: expect.any(String) } })]);
    const after = await call<{ passkeys: { id: string; revoked: { reason: string } | null }[]; reviewer: { credentials: number } }>(w.fetch, "GET", `/v1/reviewers/${carol.id}`, undefined, admin);
    expect(Object.fromEntries(after.body.passkeys.map((passkey) => [passkey.id, passkey.revoked?.reason ?? null]))).toEqual({ [lost]: "laptop stolen", [spare.id]: null });
    expect(after.body.reviewer.credentials).toBe(1);
  });

  it("withdraws the approvals it gave of holds still pending, as a removal does; the reviewer's other passkey gives them again", async () => {
    // Two approvers per hold, in a tenant of its own, so one approval can be standing when its passkey is revoked.
    const tenant = uniqueId("rvk");
    const manifest = structuredClone(defaultSources.manifest) as { review_tiers: { approvers?: number }[] };
    manifest.review_tiers[0]!.approvers = 2;
    await activate({ ...defaultSources, manifest }, tenant);
    const fetch = workerFetch({ tenant, deps: { now: () => w.clock.now } });
    const device = await readyDevice({ fetch, now: () => w.clock.now });
    const alice = await enrolledReviewer(fetch, uniqueId("alice"));
    const bob = await enrolledReviewer(fetch, uniqueId("bob"));
    const link = await call<{ token: string }>(fetch, "POST", `/v1/reviewers/${alice.id}/enrollments`, {}, admin);
    const second = await SoftwareAuthenticator.create(env.REVIEW_ORIGIN!, env.REVIEW_RP_ID!);
    await enroll(fetch, link.body.token, second);
    const aliceAgain = { id: alice.id, authenticator: second, cookie: await signIn(fetch, second) };

    const stolen = await held(device);
    const kept = await held(device);
    expect((await giveVerdict(fetch, alice, stolen, "approve")).body).toMatchObject({ status: "pending", approvals: [{ reviewer: alice.id }] });
    expect((await giveVerdict(fetch, aliceAgain, kept, "approve")).body).toMatchObject({ status: "pending", approvals: [{ reviewer: alice.id }] });

    const revoked = await call<{ withdrawn_approvals: string[] }>(fetch, "DELETE", `/v1/reviewers/${alice.id}/passkeys/${alice.authenticator.id}`, { reason: "passkey stolen" }, admin);
    expect(revoked.status).toBe(200);
    expect(revoked.body.withdrawn_approvals).toEqual([stolen]);
    expect((await holdAsAdmin(fetch, stolen)).approvals).toEqual([]);
    // The approval made with her other passkey stands.
    expect((await holdAsAdmin(fetch, kept)).approvals).toEqual([expect.objectContaining({ reviewer: alice.id })]);

    // One more approval does not release the hold the revoked passkey approved; the log says why, as for a removal.
    expect((await giveVerdict(fetch, bob, stolen, "approve")).body).toMatchObject({ status: "pending", approvals: [{ reviewer: bob.id }] });
    const entries = (await call<{ entries: LogEntry[] }>(fetch, "GET", `/v1/devices/${device.deviceId}/log?limit=500`, undefined, admin)).body.entries;
    expect(entries.filter((entry) => entry.type === "review.approval_withdrawn").map((entry) => entry.data)).toEqual([
      expect.objectContaining({ review_id: stolen, reviewer: alice.id, credential_id: alice.authenticator.id, approvals: 0, approvers_required: 2, by: "admin", reason: "passkey stolen" }),
    ]);
    // Alice may approve it again with the passkey she still holds: two people, as the tier asks.
    expect((await giveVerdict(fetch, aliceAgain, stolen, "approve")).body).toMatchObject({ status: "approved" });
    // Repeating the revocation withdraws nothing more.
    expect((await call<{ withdrawn_approvals: string[] }>(fetch, "DELETE", `/v1/reviewers/${alice.id}/passkeys/${alice.authenticator.id}`, { reason: "again" }, admin)).body.withdrawn_approvals).toEqual([]);
  });

  it("names a passkey of that reviewer; repeating it records nothing more", async () => {
    const dave = await enrolledReviewer(w.fetch, uniqueId("dave"));
    expect((await call(w.fetch, "DELETE", `/v1/reviewers/${dave.id}/passkeys/${spare.id}`, { reason: "x" }, admin)).body.code).toBe("not_found");
    expect((await call(w.fetch, "DELETE", `/v1/reviewers/${carol.id}/passkeys/${carol.authenticator.id}`, { reason: "again" }, admin)).body).toMatchObject({
      revoked: { reason: "laptop stolen" },
    });
    expect((await adminLog(w.fetch)).filter((entry) => entry.type === "admin.passkey_revoked")).toHaveLength(1);
    // A reviewer cannot revoke passkeys, not even their own: a stolen one must not revoke its owner's others.
    expect((await call(w.fetch, "DELETE", `/v1/reviewers/${dave.id}/passkeys/${dave.authenticator.id}`, { reason: "mine" }, { cookie: dave.cookie })).body.code).toBe("forbidden");
  });
});

describe("an approval given but not yet released, when its reviewer or passkey is taken back", () => {
  const w = world();
  let client: WardenClient;

  beforeAll(async () => {
    await activate(defaultSources, w.tenant);
    client = await readyDevice({ fetch: w.fetch, now: () => w.clock.now });
  });

  async function approvedBy(reviewer: Reviewer): Promise<string> {
    const id = await held(client);
    expect((await giveVerdict(w.fetch, reviewer, id, "approve")).body).toMatchObject({ status: "approved" });
    return id;
  }

  async function deviceLogOf(id: string): Promise<string[]> {
    const page = await call<{ entries: LogEntry[] }>(w.fetch, "GET", `/v1/devices/${client.deviceId}/log?limit=1000`, undefined, admin);
    return page.body.entries.filter((entry) => entry.data["review_id"] === id).map((entry) => entry.type);
  }

  for (const [what, takeBack] of [
    ["the reviewer is removed", (reviewer: Reviewer) => call<{ withdrawn_approvals: string[] }>(w.fetch, "DELETE", `/v1/reviewers/${reviewer.id}`, { reason: "left" }, admin)],
    ["the passkey is revoked", (reviewer: Reviewer) => call<{ withdrawn_approvals: string[] }>(w.fetch, "DELETE", `/v1/reviewers/${reviewer.id}/passkeys/${reviewer.authenticator.id}`, { reason: "stolen" }, admin)],
  ] as const) {
    it(`is withdrawn and the hold cancelled when ${what}: the device gets no token`, async () => {
      const reviewer = await enrolledReviewer(w.fetch, uniqueId("erin"));
      const id = await approvedBy(reviewer);
      expect((await takeBack(reviewer)).body.withdrawn_approvals).toEqual([id]);
      const read = await call<{ status: string; token?: string }>(w.fetch, "GET", `/v1/reviews/${id}`, undefined, admin);
      expect(read.body.status).toBe("cancelled");
      const answer = await client.waitForReview(id, { timeoutMs: 5_000, waitSeconds: 0 });
      expect(answer.body).toMatchObject({ status: "cancelled", released: false });
      expect(answer.body.token).toBeUndefined();
      expect(await deviceLogOf(id)).toEqual(expect.arrayContaining(["review.approved", "review.approval_withdrawn", "review.cancelled"]));
    });
  }
});
