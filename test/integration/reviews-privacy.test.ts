import { env, runInDurableObject } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import type { WardenClient } from "../../cli/client.ts";
import { DROP_RELEASED_SCOPES, ReviewHolds, holdsIo } from "../../durable-objects/ReviewHolds.ts";
import { sha256Hex } from "../../worker/encoding.ts";
import { canonicalJson, type JsonValue } from "../../worker/log/canonical.ts";
import type { LogEntry } from "../../worker/log/chain.ts";
import type { HoldRecord } from "../../worker/review/record.ts";
import { activate, agent, defaultSources, logOf, readyDevice, uniqueId, workerFetch, type Fetch } from "../helpers.ts";
import { admin, call, enrolledReviewer, giveVerdict, holdAsAdmin, holdsStub, outboxStub, verdictOptions, waitOn, type HoldBody, type Reviewer } from "../review-helpers.ts";

/**
 * What a hold tells those who read it, against what the device log tells them (docs/privacy.md,
 * "Review holds"): the hold shows the action as the log holds it, masked — through the API, the
 * reviewer page, webhooks, tickets and `review.*` entries — and the action hash is keyed, so a
 * short secret in a held action cannot be guessed offline from any digest a hold publishes. Only
 * the token an approval releases carries the raw action. Tenants of this file's own whose bundle
 * holds every command for review, tokenises `--token` values as the example bundle does, and
 * opens a Jira issue for each hold.
 */

const SECRET = "hunter22";
const privacy = { command_args: [{ pattern: "--token[= ](?<value>\\S+)", treatment: "tokenise" }] };
const JIRA = {
  fields: {
    project: { key: "SEC" },
    issuetype: { name: "Task" },
    summary: "Warden hold {{review_id}}: {{action_type}} on {{target_count}} targets",
    description: "record {{record_sha256}} · review {{review_url}} · decision at seq {{log_seq}} ({{log_hash}})",
  },
};
const policies = `@id("permit-all")
permit (principal, action, resource);

@id("commands-review")
@review("tier1")
forbid (principal, action == Action::"command.exec", resource);
`;
const manifest = structuredClone(defaultSources.manifest) as { review_tiers: { tickets?: JsonValue }[] };
manifest.review_tiers[0]!.tickets = { jira: JIRA };
const sources = { ...defaultSources, policies, manifest: { ...manifest, privacy } };

/** Another VAULT_KEYS than the run's: one fresh key, or it before the run's key (a rotation). */
const runKeys = JSON.parse(env.VAULT_KEYS!) as { keys: object[] };
const freshKey = { kty: "oct", kid: "vault-2", k: Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("base64url") };
const KEYS = {
  run: env.VAULT_KEYS!,
  fresh: JSON.stringify({ keys: [freshKey] }),
  rotated: JSON.stringify({ keys: [freshKey, ...runKeys.keys] }),
};

/**
 * A tenant of its own, its app under the VAULT_KEYS `keys.use` names (the run's unless a test
 * switches), with this file's bundle active, a ready device and an enrolled reviewer. Called in a
 * describe body: the device and reviewer are made in its beforeAll, so they are read through
 * getters, which the tests reach only once it has run.
 */
function world() {
  const tenant = uniqueId("hp");
  const keys = { use: "run" as keyof typeof KEYS };
  const apps = Object.fromEntries(Object.entries(KEYS).map(([name, value]) => [name, workerFetch({ tenant, env: { VAULT_KEYS: value } })])) as Record<keyof typeof KEYS, Fetch>;
  const fetch: Fetch = (request) => apps[keys.use](request);
  let client: WardenClient | undefined;
  let reviewer: Reviewer | undefined;
  beforeAll(async () => {
    await activate(sources, tenant);
    client = await readyDevice({ fetch });
    reviewer = await enrolledReviewer(fetch, uniqueId("ana"));
  });
  return {
    tenant,
    keys,
    fetch,
    get client(): WardenClient {
      return client!;
    },
    get reviewer(): Reviewer {
      return reviewer!;
    },
  };
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

  it("is keyed: not the unkeyed SHA-256 of the action, and another under other VAULT_KEYS; review.* entries carry the keyed one", async () => {
    const request = heldCommand();
    const { review, decision } = await held(w.client, request);
    const hold = await holdAsAdmin(w.fetch, review.id);
    expect(hold.record.action_hash).toMatch(/^[0-9a-f]{64}$/);
    // The unkeyed digest would let whoever reads the hash test guesses at the secret offline.
    expect(hold.record.action_hash).not.toBe(unkeyed(w.tenant, w.client.deviceId, decision));

    // The same action under another key is another identity: a hold of its own, not this one joined.
    w.keys.use = "fresh";
    try {
      const other = await held(w.client, request);
      expect(other.review.id).not.toBe(review.id);
      const otherHold = await holdAsAdmin(w.fetch, other.review.id);
      expect(otherHold.record.action_hash).toMatch(/^[0-9a-f]{64}$/);
      expect(otherHold.record.action_hash).not.toBe(hold.record.action_hash);
    } finally {
      w.keys.use = "run";
    }

    expect((await giveVerdict(w.fetch, w.reviewer, review.id, "approve")).status).toBe(200);
    const entries = await reviewEntries(w.fetch, w.client.deviceId, review.id);
    expect(entries.map((entry) => entry.type)).toContain("review.approved");
    for (const entry of entries) expect(entry.data["action_hash"]).toBe(hold.record.action_hash);
    const approved = entries.find((entry) => entry.type === "review.approved")!;
    expect((approved.data["statement"] as { action_hash: string }).action_hash).toBe(hold.record.action_hash);
  });

  it("an identical action joins its pending hold across a rotation of VAULT_KEYS, and not under a key the hold was not made with", async () => {
    const request = heldCommand();
    const { review } = await held(w.client, request);
    const before = await holdAsAdmin(w.fetch, review.id);
    w.keys.use = "rotated";
    try {
      // The new key hashes first; the run's key, now the older one, still finds the hold.
      expect((await held(w.client, request)).review.id).toBe(review.id);
      expect((await holdAsAdmin(w.fetch, review.id)).record.action_hash).toBe(before.record.action_hash);
      w.keys.use = "fresh";
      const underFresh = (await held(w.client, request)).review.id;
      expect(underFresh).not.toBe(review.id);
      // Pending under both keys (isolates that did not share a configuration): the current key's hold is joined, as before a rotation.
      w.keys.use = "rotated";
      expect((await held(w.client, request)).review.id).toBe(underFresh);
    } finally {
      w.keys.use = "run";
    }
  });

  it("approval still releases a token scoped to exactly the action policy judged, which redeems", async () => {
    const { review, request, decision } = await held(w.client);
    await giveVerdict(w.fetch, w.reviewer, review.id, "approve");
    const released = await waitOn(w.client, review.id);
    expect(released.body).toMatchObject({ status: "approved", released: true });
    const claims = JSON.parse(Buffer.from(released.body.token!.split(".")[1]!, "base64url").toString()) as { scope: { action: string; targets: unknown[] } };
    expect(claims.scope).toEqual({ action: "command.exec", targets: decision.targets });
    expect(JSON.stringify(claims.scope)).toContain(SECRET);
    expect((await w.client.redeem(released.body.token!, request.action)).status).toBe(200);
  });
});

describe("what a hold shows", () => {
  const w = world();

  /** The record with its targets as policy judged them, raw: what someone guessing the secret would hash. */
  function guessed(record: HoldBody["record"], decision: { targets: unknown }) {
    return { ...record, action: { ...(record as unknown as { action: object }).action, targets: decision.targets } };
  }

  it("the record served, listed and offered for a verdict has the targets the log has, masked, and no raw value", async () => {
    const { review, decision } = await held(w.client);
    const hold = await holdAsAdmin(w.fetch, review.id);
    const entry = (await logOf(w.client)).find((logged) => logged.type === "decision" && logged.data["decision_id"] === decision.decision_id)!;
    const logged = (entry.data["action"] as { targets: unknown[] }).targets;
    expect(hold.record.action.targets).toEqual(logged);
    expect(hold.record.action.targets[0]!.value).toMatch(/^deploy --token \[vault:vault-1:[^\]]+\] --release /);
    expect(JSON.stringify(hold)).not.toContain(SECRET);
    expect(JSON.stringify((await waitOn(w.client, review.id)).body)).not.toContain(SECRET);
    expect(JSON.stringify((await call(w.fetch, "GET", "/v1/reviews", undefined, admin)).body)).not.toContain(SECRET);
    const options = await verdictOptions(w.fetch, w.reviewer, review.id, "approve");
    expect(options.status).toBe(200);
    expect(JSON.stringify(options.body)).not.toContain(SECRET);
    // The digest a verdict commits to is over that record: a guess at the secret does not confirm against it.
    expect(options.body.statement["hold_sha256"]).toBe(hold.hold_sha256);
    const rest = { tier: hold.tier, deadline: hold.deadline, approvers_required: hold.approvers_required };
    expect(sha256Hex(canonicalJson({ record: hold.record, ...rest } as never))).toBe(hold.hold_sha256);
    expect(sha256Hex(canonicalJson({ record: guessed(hold.record, decision), ...rest } as never))).not.toBe(hold.hold_sha256);
  });

  it("the reviewer page shows the masked targets, never the raw value", async () => {
    const { review } = await held(w.client);
    const page = await call(w.fetch, "GET", "/review", undefined, { cookie: w.reviewer.cookie });
    const html = (page.body as { text: string }).text;
    expect(html).toContain(`data-review-id="${review.id}"`);
    expect(html).toMatch(/deploy --token \[vault:vault-1:[^\]]+\] --release /);
    expect(html).not.toContain(SECRET);
  });

  it("the webhook and the ticket carry no raw value, and their record digest is the masked record's, which a guess does not match", async () => {
    const { review, decision } = await held(w.client);
    await outboxStub(w.tenant).tick(Date.now());
    const hold = await holdAsAdmin(w.fetch, review.id);
    const digest = sha256Hex(canonicalJson(hold.record as never));
    expect(sha256Hex(canonicalJson(guessed(hold.record, decision) as never))).not.toBe(digest);

    const deliveries = (await (await (env as unknown as { WEBHOOK_SINK: Fetcher }).WEBHOOK_SINK.fetch(`http://sink/?review=${review.id}`)).json()) as { body: string }[];
    const created = deliveries.map((delivery) => JSON.parse(delivery.body) as { type: string; proof: { record_sha256: string } }).find((event) => event.type === "review.created");
    expect(created?.proof.record_sha256).toBe(digest);
    for (const delivery of deliveries) expect(delivery.body).not.toContain(SECRET);

    const tickets = (await (await (env as unknown as { TICKETS: Fetcher }).TICKETS.fetch(`http://tickets/?service=jira&review=${review.id}`)).json()) as { body: string }[];
    expect(tickets).toHaveLength(1);
    expect(tickets[0]!.body).toContain(`record ${digest}`);
    expect(tickets[0]!.body).not.toContain(SECRET);
  });

  it("review.* entries carry no raw value; the approval's statement commits to the masked record; the token is scoped to the raw action and redeems", async () => {
    const { review, request, decision } = await held(w.client);
    const hold = await holdAsAdmin(w.fetch, review.id);
    expect((await giveVerdict(w.fetch, w.reviewer, review.id, "approve")).status).toBe(200);
    const released = await waitOn(w.client, review.id);
    expect(JSON.stringify({ ...released.body, token: undefined })).not.toContain(SECRET);
    const claims = JSON.parse(Buffer.from(released.body.token!.split(".")[1]!, "base64url").toString()) as { scope: unknown };
    expect(claims.scope).toEqual({ action: "command.exec", targets: decision.targets });
    expect((await w.client.redeem(released.body.token!, request.action)).status).toBe(200);

    const entries = await reviewEntries(w.fetch, w.client.deviceId, review.id);
    expect(entries.map((entry) => entry.type)).toEqual(expect.arrayContaining(["review.approved", "review.released", "review.ticket"]));
    expect(JSON.stringify(entries)).not.toContain(SECRET);
    const statement = entries.find((entry) => entry.type === "review.approved")!.data["statement"] as { hold_sha256: string };
    expect(statement.hold_sha256).toBe(hold.hold_sha256);
    const ticket = entries.find((entry) => entry.type === "review.ticket")!;
    expect(ticket.data["record_sha256"]).toBe(sha256Hex(canonicalJson(hold.record as never)));
  });

  const scopeOf = (tenant: string, id: string) =>
    runInDurableObject(holdsStub(tenant), (_running: ReviewHolds, state) => state.storage.sql.exec<{ scope: string | null }>("SELECT scope FROM holds WHERE id = ?", id).one().scope);

  it("a hold that ends without a permit drops its raw scope at once; a released one, once no token it releases can still be used", async () => {
    const rejected = (await held(w.client)).review;
    expect(await scopeOf(w.tenant, rejected.id)).toContain(SECRET);
    expect((await giveVerdict(w.fetch, w.reviewer, rejected.id, "reject")).status).toBe(200);
    expect(await scopeOf(w.tenant, rejected.id)).toBeNull();

    const approved = (await held(w.client)).review;
    await giveVerdict(w.fetch, w.reviewer, approved.id, "approve");
    const released = await waitOn(w.client, approved.id);
    expect(released.body).toMatchObject({ released: true, token: expect.any(String) });
    // Still within the token's life: a repeated release signs it again from the scope.
    expect(await scopeOf(w.tenant, approved.id)).toContain(SECRET);
    await holdsStub(w.tenant).state(approved.id, Date.now() + 59_000);
    expect(await scopeOf(w.tenant, approved.id)).toContain(SECRET);
    await holdsStub(w.tenant).state(approved.id, Date.now() + 61_000);
    expect(await scopeOf(w.tenant, approved.id)).toBeNull();
  });

  it("the raw action is kept in one place only, the hold's scope, which nothing serves", async () => {
    const { review } = await held(w.client);
    const row = await runInDurableObject(holdsStub(w.tenant), (_running: ReviewHolds, state) =>
      state.storage.sql.exec<{ record: string; scope: string }>("SELECT record, scope FROM holds WHERE id = ?", review.id).one(),
    );
    expect(row.record).not.toContain(SECRET);
    expect(row.scope).toContain(SECRET);
  });
});

describe("the sweep of released scopes", () => {
  const w = world();

  const scopeOf = (id: string) =>
    runInDurableObject(holdsStub(w.tenant), (_running: ReviewHolds, state) => state.storage.sql.exec<{ scope: string | null }>("SELECT scope FROM holds WHERE id = ?", id).one().scope);

  /**
   * How often the tenant's holds ran the sweep (`DROP_RELEASED_SCOPES`) while `calls` ran on an instance of them built over
   * their real storage: the storage's own `exec` is wrapped for that long, counting the statements on their way to it.
   */
  async function sweepsDuring(calls: (holds: ReviewHolds) => Promise<unknown>): Promise<number> {
    return runInDurableObject(holdsStub(w.tenant), async (_running: ReviewHolds, state) => {
      const { sql } = state.storage;
      expect(state.storage.sql).toBe(sql);
      const exec = sql.exec.bind(sql);
      let sweeps = 0;
      sql.exec = ((query: string, ...bindings: SqlStorageValue[]) => {
        if (query === DROP_RELEASED_SCOPES) sweeps += 1;
        return exec(query, ...bindings);
      }) as SqlStorage["exec"];
      try {
        await calls(new ReviewHolds(state, env, holdsIo(env)));
      } finally {
        delete (sql as Partial<SqlStorage>).exec;
      }
      return sweeps;
    });
  }

  it("runs only once a released scope is due, at the first call past it, as it did at every call", async () => {
    const { review } = await held(w.client);
    await giveVerdict(w.fetch, w.reviewer, review.id, "approve");
    const at = Date.now();
    expect(
      await sweepsDuring(async (holds) => {
        // Read before the release: nothing released keeps a scope yet. The release itself must make the sweep look again.
        await holds.state(review.id, at);
        expect(await holds.release({ id: review.id, device: w.client.deviceId, jti: uniqueId("jti"), now: at })).toMatchObject({ ok: true, repeated: false });
        for (const after of [0, 30_000, 59_000]) await holds.state(review.id, at + after);
        expect(await scopeOf(review.id)).toContain(SECRET);
        await holds.state(review.id, at + 61_000);
        expect(await scopeOf(review.id)).toBeNull();
        await holds.state(review.id, at + 62_000);
      }),
    ).toBe(1);
  });

  it("a sweep whose transaction rolled back is run again at the next call", async () => {
    const { review } = await held(w.client);
    await giveVerdict(w.fetch, w.reviewer, review.id, "approve");
    expect((await waitOn(w.client, review.id)).body).toMatchObject({ released: true, token: expect.any(String) });
    const at = Date.now();
    // A hold under an id already taken: the sweep runs at its advance, then its insert fails and takes the sweep back with it.
    const taken = (await held(w.client)).review.id;
    const clash = { review_id: taken, action_hash: "0".repeat(64), requester: { device: w.client.deviceId, agent: agent.id }, decision_log: { seq: 1, hash: "" } } as HoldRecord;
    const ladder = [{ name: "tier1", sla_minutes: 60, on_timeout: "deny" as const, approvers: 1 }];
    expect(
      await sweepsDuring(async (holds) => {
        await expect(holds.hold({ record: clash, scope: { action: "command.exec", targets: [] }, ladder, tokenTtl: 60 }, at + 61_000)).rejects.toThrow();
        expect(await scopeOf(review.id)).toContain(SECRET);
        await holds.state(review.id, at + 62_000);
      }),
    ).toBe(2);
    expect(await scopeOf(review.id)).toBeNull();
  });
});

describe("holds made before the hold was masked and its hash keyed", () => {
  const w = world();

  const inHolds = <T>(body: (state: DurableObjectState) => T) => runInDurableObject(holdsStub(w.tenant), (_running: ReviewHolds, state) => body(state));
  const columns = (state: DurableObjectState) => state.storage.sql.exec<{ sql: string }>("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'holds'").one().sql;

  /**
   * Rewrites the tenant's holds as the earlier version stored them — no `scope` column; in the record the raw targets
   * and the unkeyed action hash, which the column has too — then starts the object again over that storage.
   */
  async function asBefore(id: string, raw: unknown, hash: string) {
    await inHolds((state) => {
      const sql = state.storage.sql;
      const stored = JSON.parse(sql.exec<{ record: string }>("SELECT record FROM holds WHERE id = ?", id).one().record) as { action: object };
      sql.exec("DROP INDEX holds_scope_released");
      sql.exec("DROP INDEX holds_scope_uncollected");
      sql.exec("ALTER TABLE holds DROP COLUMN scope");
      sql.exec("UPDATE holds SET action_hash = ?, record = ? WHERE id = ?", hash, JSON.stringify({ ...stored, action: { ...stored.action, targets: raw }, action_hash: hash }), id);
    });
    expect(await inHolds(columns)).not.toMatch(/\bscope\b/);
    await inHolds((state) => void new ReviewHolds(state, env, holdsIo(env)));
    await inHolds((state) => void new ReviewHolds(state, env, holdsIo(env)));
  }

  it("get the scope column at the object's next start, empty; a pending one is joined by the identical action, approved, and releases a token for exactly its action", async () => {
    const { review, request, decision } = await held(w.client);
    const before = unkeyed(w.tenant, w.client.deviceId, decision);
    await asBefore(review.id, decision.targets, before);
    expect((await inHolds(columns)).match(/\bscope\b/g)).toHaveLength(1);
    expect(await inHolds((state) => state.storage.sql.exec("SELECT scope FROM holds WHERE id = ?", review.id).one())).toEqual({ scope: null });
    expect((await holdAsAdmin(w.fetch, review.id)).record.action_hash).toBe(before);

    // New holds beside it are made as now: masked, keyed, with their scope.
    const other = await held(w.client);
    expect(other.review.id).not.toBe(review.id);
    expect(JSON.stringify(await holdAsAdmin(w.fetch, other.review.id))).not.toContain(SECRET);

    const again = await held(w.client, request);
    expect(again.review.id).toBe(review.id);
    expect((await giveVerdict(w.fetch, w.reviewer, review.id, "approve")).body).toMatchObject({ status: "approved", decision: "permit" });
    const released = await waitOn(w.client, review.id);
    const claims = JSON.parse(Buffer.from(released.body.token!.split(".")[1]!, "base64url").toString()) as { scope: unknown };
    expect(claims.scope).toEqual({ action: "command.exec", targets: decision.targets });
    expect((await w.client.redeem(released.body.token!, request.action)).status).toBe(200);
    // Its evidence names the hash it was made under.
    for (const entry of await reviewEntries(w.fetch, w.client.deviceId, review.id)) expect(entry.data["action_hash"]).toBe(before);
  });
});
