import { env, runInDurableObject } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import type { WardenClient } from "../../cli/client.ts";
import type { ReviewHolds } from "../../durable-objects/ReviewHolds.ts";
import { sha256Hex } from "../../worker/encoding.ts";
import { canonicalJson } from "../../worker/log/canonical.ts";
import type { LogEntry } from "../../worker/log/chain.ts";
import { activate, agent, defaultSources, readyDevice, uniqueId, workerFetch, type Fetch } from "../helpers.ts";
import { admin, call, enrolledReviewer, giveVerdict, holdAsAdmin, holdsStub, waitOn, type Reviewer } from "../review-helpers.ts";

/**
 * What a hold tells those who read it, against what the device log tells them (docs/privacy.md,
 * "Review holds"): the action hash is keyed, so a short secret in a held action cannot be guessed
 * offline from it. A tenant of this file's own whose bundle holds every command for review and
 * tokenises `--token` values, as the example bundle does.
 */

const SECRET = "hunter22";
const privacy = { command_args: [{ pattern: "--token[= ](?<value>\\S+)", treatment: "tokenise" }] };
const policies = `@id("permit-all")
permit (principal, action, resource);

@id("commands-review")
@review("tier1")
forbid (principal, action == Action::"command.exec", resource);
`;
const sources = { ...defaultSources, policies, manifest: { ...(defaultSources.manifest as Record<string, unknown>), privacy } };

/** Another VAULT_KEYS than the run's: one fresh key, or it before the run's key (a rotation). */
const runKeys = JSON.parse(env.VAULT_KEYS!) as { keys: object[] };
const freshKey = { kty: "oct", kid: "vault-2", k: Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("base64url") };
const KEYS = {
  run: env.VAULT_KEYS!,
  fresh: JSON.stringify({ keys: [freshKey] }),
  rotated: JSON.stringify({ keys: [freshKey, ...runKeys.keys] }),
};

/** A tenant of its own, its app under the VAULT_KEYS `keys.use` names (the run's unless a test switches). */
function world() {
  const tenant = uniqueId("hp");
  const keys = { use: "run" as keyof typeof KEYS };
  const apps = Object.fromEntries(Object.entries(KEYS).map(([name, value]) => [name, workerFetch({ tenant, env: { VAULT_KEYS: value } })])) as Record<keyof typeof KEYS, Fetch>;
  const fetch: Fetch = (request) => apps[keys.use](request);
  return { tenant, keys, fetch };
}

/** A command held for review whose `--token` value the log tokenises. Unique per call. */
function heldCommand() {
  const line = `deploy --token ${SECRET} --release ${uniqueId("r")}`;
  return { agent, action: { type: "command.exec", targets: [{ kind: "command" as const, value: line, cwd: "/home/dev/workspace" }] } };
}

async function held(client: WardenClient, request = heldCommand()) {
  const decided = await client.decide(request);
  expect(decided.status).toBe(200);
  expect(decided.body).toMatchObject({ decision: "review" });
  const review = decided.body.review as unknown as { id: string };
  return { review, request, decision: decided.body };
}

/** The unkeyed SHA-256 over the identity the action hash covers, with the action exactly as policy judged it: what the hash must not be. */
function unkeyed(tenant: string, device: string, decision: { targets: unknown }): string {
  const action = { type: "command.exec", targets: decision.targets, inputs_sha256: null, sends_external: false };
  return sha256Hex(canonicalJson({ tenant, device, agent: { ...agent, artifact_sha256: null }, action } as never));
}

async function reviewEntries(fetch: Fetch, device: string, review: string): Promise<LogEntry[]> {
  const page = await call<{ entries: LogEntry[] }>(fetch, "GET", `/v1/devices/${device}/log?limit=500`, undefined, admin);
  return page.body.entries.filter((entry) => entry.type.startsWith("review.") && entry.data["review_id"] === review);
}

describe("the action hash", () => {
  const w = world();
  let client: WardenClient;
  let reviewer: Reviewer;

  beforeAll(async () => {
    await activate(sources, w.tenant);
    client = await readyDevice({ fetch: w.fetch });
    reviewer = await enrolledReviewer(w.fetch, uniqueId("ana"));
  });

  it("is keyed: not the unkeyed SHA-256 of the action, and another under other VAULT_KEYS; review.* entries carry the keyed one", async () => {
    const request = heldCommand();
    const { review, decision } = await held(client, request);
    const hold = await holdAsAdmin(w.fetch, review.id);
    expect(hold.record.action_hash).toMatch(/^[0-9a-f]{64}$/);
    // The unkeyed digest would let whoever reads the hash test guesses at the secret offline.
    expect(hold.record.action_hash).not.toBe(unkeyed(w.tenant, client.deviceId, decision));

    // The same action under another key is another identity: a hold of its own, not this one joined.
    w.keys.use = "fresh";
    try {
      const other = await held(client, request);
      expect(other.review.id).not.toBe(review.id);
      const otherHold = await holdAsAdmin(w.fetch, other.review.id);
      expect(otherHold.record.action_hash).toMatch(/^[0-9a-f]{64}$/);
      expect(otherHold.record.action_hash).not.toBe(hold.record.action_hash);
    } finally {
      w.keys.use = "run";
    }

    expect((await giveVerdict(w.fetch, reviewer, review.id, "approve")).status).toBe(200);
    const entries = await reviewEntries(w.fetch, client.deviceId, review.id);
    expect(entries.map((entry) => entry.type)).toContain("review.approved");
    for (const entry of entries) expect(entry.data["action_hash"]).toBe(hold.record.action_hash);
    const approved = entries.find((entry) => entry.type === "review.approved")!;
    expect((approved.data["statement"] as { action_hash: string }).action_hash).toBe(hold.record.action_hash);
  });

  it("an identical action joins its pending hold across a rotation of VAULT_KEYS, and not under a key the hold was not made with", async () => {
    const request = heldCommand();
    const { review } = await held(client, request);
    const before = await holdAsAdmin(w.fetch, review.id);
    w.keys.use = "rotated";
    try {
      // The new key hashes first; the run's key, now the older one, still finds the hold.
      expect((await held(client, request)).review.id).toBe(review.id);
      expect((await holdAsAdmin(w.fetch, review.id)).record.action_hash).toBe(before.record.action_hash);
      w.keys.use = "fresh";
      expect((await held(client, request)).review.id).not.toBe(review.id);
    } finally {
      w.keys.use = "run";
    }
  });

  it("approval still releases a token scoped to exactly the action policy judged, which redeems", async () => {
    const { review, request, decision } = await held(client);
    await giveVerdict(w.fetch, reviewer, review.id, "approve");
    const released = await waitOn(client, review.id);
    expect(released.body).toMatchObject({ status: "approved", released: true });
    const claims = JSON.parse(Buffer.from(released.body.token!.split(".")[1]!, "base64url").toString()) as { scope: { action: string; targets: unknown[] } };
    expect(claims.scope).toEqual({ action: "command.exec", targets: decision.targets });
    expect(JSON.stringify(claims.scope)).toContain(SECRET);
    expect((await client.redeem(released.body.token!, request.action)).status).toBe(200);
  });
});

describe("holds made before the action hash was keyed", () => {
  const w = world();
  let client: WardenClient;
  let reviewer: Reviewer;

  beforeAll(async () => {
    await activate(sources, w.tenant);
    client = await readyDevice({ fetch: w.fetch });
    reviewer = await enrolledReviewer(w.fetch, uniqueId("ana"));
  });

  /** Rewrites a hold as an earlier version stored it: its action hash the unkeyed SHA-256, in the column and the record. */
  function asBefore(id: string, hash: string) {
    return runInDurableObject(holdsStub(w.tenant), (_running: ReviewHolds, state) => {
      const sql = state.storage.sql;
      const { record } = sql.exec<{ record: string }>("SELECT record FROM holds WHERE id = ?", id).one();
      sql.exec("UPDATE holds SET action_hash = ?, record = ? WHERE id = ?", hash, JSON.stringify({ ...JSON.parse(record), action_hash: hash }), id);
    });
  }

  it("a pending one is joined by the identical action, approved, and releases a token for exactly its action", async () => {
    const { review, request, decision } = await held(client);
    const before = unkeyed(w.tenant, client.deviceId, decision);
    await asBefore(review.id, before);
    expect((await holdAsAdmin(w.fetch, review.id)).record.action_hash).toBe(before);

    const again = await held(client, request);
    expect(again.review.id).toBe(review.id);
    expect((await giveVerdict(w.fetch, reviewer, review.id, "approve")).body).toMatchObject({ status: "approved", decision: "permit" });
    const released = await waitOn(client, review.id);
    expect(released.body.token).toEqual(expect.any(String));
    expect((await client.redeem(released.body.token!, request.action)).status).toBe(200);
    // Its evidence names the hash it was made under.
    for (const entry of await reviewEntries(w.fetch, client.deviceId, review.id)) expect(entry.data["action_hash"]).toBe(before);
  });
});
