import { env, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { PRUNE_EXPIRED } from "../../durable-objects/EventFeed.ts";
import { COLLECTABLE_HOLD, DROP_RELEASED_SCOPES, DROP_UNCOLLECTED_SCOPES, EARLIEST_RELEASED_SCOPE, EARLIEST_UNCOLLECTED_SCOPE, HOLD_QUERIES, JOINABLE_HOLD } from "../../durable-objects/ReviewHolds.ts";
import { OUTBOX_QUERIES } from "../../durable-objects/ReviewOutbox.ts";
import { SEGMENT_QUERIES } from "../../durable-objects/log-archive.ts";
import { EXPIRED_TREE, RETAINED_FROM } from "../../durable-objects/log-retention.ts";
import { registeredDevice } from "../audit-helpers.ts";
import { uniqueId } from "../helpers.ts";
import { holdsStub, outboxStub } from "../review-helpers.ts";

/**
 * The statements that run on every alarm run, push, accepted item, export step or quarantine of
 * an object whose tables grow for as long as it lives must read through an index: a scan costs
 * what the object keeps, not what the statement needs. SQLite's own EXPLAIN QUERY PLAN in the
 * object's database says which (no ANALYZE statistics exist to change a plan as the tables
 * fill); where a LIMIT is what keeps the read short, the rows the statement read say it.
 */
async function planOf(stub: DurableObjectStub, statement: string): Promise<string[]> {
  const parameters = Array.from(statement.matchAll(/\?/g), () => 0);
  return runInDurableObject(stub, (_instance: unknown, state: DurableObjectState) =>
    state.storage.sql
      .exec<{ detail: string }>(`EXPLAIN QUERY PLAN ${statement}`, ...parameters)
      .toArray()
      .map((row) => row.detail),
  );
}

/** Each step of the plan searches `index` (or sorts what that search found): none scans. */
function expectSearchOf(plan: string[], index: string): void {
  expect(plan.length).toBeGreaterThan(0);
  for (const step of plan) expect(step).toMatch(new RegExp(`^(SEARCH \\w+ USING (COVERING )?INDEX ${index} \\(|USE TEMP B-TREE FOR ORDER BY$)`));
}

describe("statements on a growing table read through an index", () => {
  it("a device log's segment reads (every alarm run, every export step) read one row, however many segments it keeps", async () => {
    // A device's object has its tables once the device is registered.
    const { stub } = await registeredDevice();
    for (const [name, statement] of Object.entries(SEGMENT_QUERIES)) {
      const plan = await planOf(stub, statement);
      expect([name, plan.some((step) => step.startsWith("USE TEMP B-TREE"))]).toEqual([name, false]);
      expectSearchOf(plan, "segments_by_state");
    }
    // A plan cannot tell a walk that stops at its LIMIT from a whole one: count the rows each reads
    // over 100 sealed segments of 10 entries, the 101st pending, the first 40 expired.
    const reads = await runInDurableObject(stub, (_instance: unknown, state: DurableObjectState) => {
      const { sql } = state.storage;
      for (let idx = 1; idx <= 101; idx += 1) {
        sql.exec("INSERT INTO segments (idx, first, last, manifest, manifest_hash, state) VALUES (?, ?, ?, ?, ?, ?)", idx, idx * 10 - 9, idx * 10, `manifest ${idx}`, `hash ${idx}`, idx === 101 ? "pending" : "sealed");
      }
      for (let idx = 1; idx <= 40; idx += 1) sql.exec("INSERT INTO expired_segments (idx, first, last, deleted_at) VALUES (?, ?, ?, 0)", idx, idx * 10 - 9, idx * 10);
      const read = (statement: string, ...parameters: number[]) => {
        const cursor = sql.exec(statement, ...parameters);
        const rows = cursor.toArray().map((row) => Object.values(row)[0]);
        return { rows, rowsRead: cursor.rowsRead };
      };
      const found = {
        lastSealed: read(SEGMENT_QUERIES.lastSealed),
        pending: read(SEGMENT_QUERIES.pending),
        holding: read(SEGMENT_QUERIES.sealedHolding, 505, 505),
        beyondSealed: read(SEGMENT_QUERIES.sealedHolding, 1005, 1005),
        retainedFrom: read(RETAINED_FROM),
        expiredTree: read(EXPIRED_TREE),
      };
      // Made-up rows: gone before the device's alarm could read them as its archive.
      sql.exec("DELETE FROM segments");
      sql.exec("DELETE FROM expired_segments");
      return found;
    });
    expect(reads).toEqual({
      lastSealed: { rows: ["manifest 100"], rowsRead: 1 },
      pending: { rows: [101], rowsRead: 1 },
      holding: { rows: ["manifest 51"], rowsRead: 1 },
      beyondSealed: { rows: [], rowsRead: 1 },
      retainedFrom: { rows: [400], rowsRead: 1 },
      expiredTree: { rows: ["manifest 40"], rowsRead: 2 },
    });
  });

  it("the review outbox's due webhooks and tickets (every alarm run, every accepted item)", async () => {
    const stub = outboxStub(uniqueId("plans"));
    const indexes: Record<keyof typeof OUTBOX_QUERIES, string> = {
      dueWebhooks: "webhook_events_due",
      nextWebhook: "webhook_events_due",
      nextTicket: "tickets_due",
      unnotedTickets: "tickets_unnoted",
      unnotedCount: "tickets_unnoted",
      undeliveredEvidence: "evidence_waiting",
    };
    for (const [name, index] of Object.entries(indexes)) {
      expectSearchOf(await planOf(stub, OUTBOX_QUERIES[name as keyof typeof OUTBOX_QUERIES]), index);
    }
  });

  it("the review holds of one device: counted at every new hold, cancelled by a quarantine", async () => {
    const stub = holdsStub(uniqueId("plans"));
    for (const statement of Object.values(HOLD_QUERIES)) expectSearchOf(await planOf(stub, statement), "holds_device");
  });

  it("the review holds' lookup of the pending hold an action joins (at every hold), under every key VAULT_KEYS keeps", async () => {
    // The outer loop walks the statement's own array of hashes (one per key), never the holds; each is one search of the unique index.
    const plan = await planOf(holdsStub(uniqueId("plans")), JOINABLE_HOLD);
    expect(plan).toContain("SEARCH holds USING INDEX holds_pending_action (action_hash=?)");
    for (const step of plan) expect(step).toMatch(/^(SCAN hash VIRTUAL TABLE INDEX \d+:|SEARCH holds USING INDEX holds_pending_action \(action_hash=\?\)|USE TEMP B-TREE FOR ORDER BY)$/);
  });

  it("the review holds' drop of released scopes (at an advance once one is due, over holds kept for good), and the read of when one is", async () => {
    const stub = holdsStub(uniqueId("plans"));
    expectSearchOf(await planOf(stub, DROP_RELEASED_SCOPES), "holds_scope_released");
    // min() over the index: its first entry with a release time, not every hold that keeps a scope.
    expect(await planOf(stub, EARLIEST_RELEASED_SCOPE)).toEqual(["SEARCH holds USING INDEX holds_scope_released"]);
  });

  it("the review holds' lookup of the approval an action collects (at every hold), under every key VAULT_KEYS keeps", async () => {
    const plan = await planOf(holdsStub(uniqueId("plans")), COLLECTABLE_HOLD);
    expect(plan).toContain("SEARCH holds USING INDEX holds_uncollected_action (action_hash=? AND decided_at>?)");
    for (const step of plan) expect(step).toMatch(/^(SCAN hash VIRTUAL TABLE INDEX \d+:|SEARCH holds USING INDEX holds_uncollected_action \(action_hash=\? AND decided_at>\?\)|USE TEMP B-TREE FOR ORDER BY)$/);
  });

  it("the review holds' drop of the scopes of approvals never collected, and the read of when one is due", async () => {
    const stub = holdsStub(uniqueId("plans"));
    expectSearchOf(await planOf(stub, DROP_UNCOLLECTED_SCOPES), "holds_scope_uncollected");
    expect(await planOf(stub, EARLIEST_UNCOLLECTED_SCOPE)).toEqual(["SEARCH holds USING INDEX holds_scope_uncollected"]);
  });

  it("the event feed's retention prune (after every push)", async () => {
    const stub = env.EVENT_FEED.get(env.EVENT_FEED.idFromName(uniqueId("plans")));
    expectSearchOf(await planOf(stub, PRUNE_EXPIRED), "events_by_time");
  });
});
