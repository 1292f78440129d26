import { env } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import type { WardenClient } from "../../cli/client.ts";
import { holdsIo } from "../../durable-objects/ReviewHolds.ts";
import { webhookTarget } from "../../durable-objects/ReviewOutbox.ts";
import { sha256Hex } from "../../worker/encoding.ts";
import { canonicalJson, type JsonValue } from "../../worker/log/canonical.ts";
import type { LogEntry } from "../../worker/log/chain.ts";
import { ticketTarget } from "../../worker/review/ticket-services.ts";
import type { TicketItem, WebhookItem } from "../../worker/review/types.ts";
import { action, activate, defaultSources, readyDevice, uniqueId, workerFetch } from "../helpers.ts";
import { admin, call, holdAsAdmin, holdsStub, outboxStub, outboxWith } from "../review-helpers.ts";
import { JIRA_HOST, SERVICENOW_HOST } from "../setup/ticket-services.ts";

/**
 * Tickets for new holds: a tier's Jira and ServiceNow templates are rendered when a hold enters
 * the tier, sent by the outbox to the stand-ins the test run starts (test/setup/ticket-services.ts),
 * retried and recorded when the service fails, and the ticket's key comes back into the hold and
 * the device log.
 */

const MINUTE = 60_000;
const PROOF = "record {{record_sha256}} · review {{review_url}} · decision at seq {{log_seq}} ({{log_hash}})";

const JIRA = {
  fields: {
    project: { key: "SEC" },
    issuetype: { name: "Task" },
    summary: "Warden hold {{review_id}}: {{action_type}} by {{agent}} on {{device}} ({{tier}})",
    labels: ["warden", "tier-{{tier}}"],
    description: { type: "doc", version: 1, content: [{ type: "paragraph", content: [{ type: "text", text: PROOF }] }] },
  },
};
const SERVICENOW = {
  fields: { short_description: "Warden hold {{review_id}} ({{tier}}, due {{deadline}})", description: PROOF, correlation_id: "{{ticket_id}}", urgency: "2" },
};

interface Received {
  service: string;
  path: string;
  headers: Record<string, string>;
  body: string;
  status: number;
}

async function received(service: "jira" | "servicenow", review: string): Promise<Received[]> {
  const response = await (env as unknown as { TICKETS: Fetcher }).TICKETS.fetch(`http://tickets/?service=${service}&review=${review}`);
  return (await response.json()) as Received[];
}

/** Makes the service's next `times` requests whose body contains `match` answer 503. */
async function failNext(service: "jira" | "servicenow", match: string, times: number): Promise<void> {
  await (env as unknown as { TICKETS: Fetcher }).TICKETS.fetch("http://tickets/fail", { method: "POST", body: JSON.stringify({ service, match, times }) });
}

/** A tenant whose bundle opens the given tickets at `tier1` and `tier2`. */
function world(tickets: { tier1?: JsonValue; tier2?: JsonValue }) {
  const tenant = uniqueId("tk");
  const clock = { now: Date.now() };
  const fetch = workerFetch({ tenant, deps: { now: () => clock.now } });
  const outbox = () => outboxStub(tenant);
  const setup = async () => {
    const manifest = structuredClone(defaultSources.manifest) as { review_tiers: { name: string; tickets?: JsonValue }[] };
    if (tickets.tier1) manifest.review_tiers[0]!.tickets = tickets.tier1;
    if (tickets.tier2) manifest.review_tiers[1]!.tickets = tickets.tier2;
    await activate({ ...defaultSources, manifest }, tenant);
    return readyDevice({ fetch, now: () => clock.now });
  };
  return { tenant, clock, fetch, outbox, setup };
}

async function hold(client: WardenClient) {
  const decided = await client.decide(action("file.delete", [{ kind: "path", value: `/home/dev/workspace/.git/objects/${uniqueId("obj")}` }]));
  expect(decided.body.decision).toBe("review");
  return { review: decided.body.review as unknown as { id: string; tier: string; deadline: string }, log: decided.body.log as { seq: number; hash: string } };
}

async function logOf(fetch: (request: Request) => Promise<Response>, device: string, review: string): Promise<LogEntry[]> {
  const page = await call<{ entries: LogEntry[] }>(fetch, "GET", `/v1/devices/${device}/log?limit=500`, undefined, admin);
  return page.body.entries.filter((entry) => entry.data["review_id"] === review);
}

describe("a hold at a tier with tickets", () => {
  const w = world({ tier1: { jira: JIRA, servicenow: SERVICENOW } });
  let client: WardenClient;

  beforeAll(async () => {
    client = await w.setup();
  });

  it("opens a Jira issue and a ServiceNow incident carrying the proof; their keys return to the hold and the device log", async () => {
    const { review, log } = await hold(client);
    const shown = await holdAsAdmin(w.fetch, review.id);
    expect(shown.tickets).toEqual([]);
    // Opened on the outbox's own alarm (due at once), or by this tick: never on the decision path.
    await w.outbox().tick(w.clock.now);

    const recordSha = sha256Hex(canonicalJson(shown.record as never));
    const link = `${env.REVIEW_ORIGIN}/review#hold-${review.id}`;
    const proof = `record ${recordSha} · review ${link} · decision at seq ${log.seq} (${log.hash})`;

    const [issue] = await received("jira", review.id);
    expect(issue).toMatchObject({ path: "/rest/api/3/issue", status: 201 });
    expect(issue!.headers["content-type"]).toBe("application/json");
    expect(JSON.parse(issue!.body)).toEqual({
      fields: {
        project: { key: "SEC" },
        issuetype: { name: "Task" },
        summary: `Warden hold ${review.id}: file.delete by claude-code on ${client.deviceId} (tier1)`,
        labels: ["warden", "tier-tier1"],
        description: { type: "doc", version: 1, content: [{ type: "paragraph", content: [{ type: "text", text: proof }] }] },
      },
    });
    const [incident] = await received("servicenow", review.id);
    expect(incident).toMatchObject({ path: "/api/now/table/incident", status: 201 });
    expect(JSON.parse(incident!.body)).toEqual({
      short_description: `Warden hold ${review.id} (tier1, due ${review.deadline})`,
      description: proof,
      correlation_id: `${review.id}#3`,
      urgency: "2",
    });
    // Targets never leave Warden in a ticket.
    expect(issue!.body + incident!.body).not.toContain(".git/objects");

    const after = await holdAsAdmin(w.fetch, review.id);
    expect(after.tickets).toEqual([
      { service: "jira", tier: "tier1", key: expect.stringMatching(/^SEC-\d+$/), url: expect.stringMatching(new RegExp(`^https://${JIRA_HOST}/browse/SEC-\\d+$`)), at: expect.any(String) },
      {
        service: "servicenow",
        tier: "tier1",
        key: expect.stringMatching(/^INC\d{7}$/),
        url: expect.stringMatching(new RegExp(`^https://${SERVICENOW_HOST}/incident\\.do\\?sys_id=[0-9a-f]{32}$`)),
        at: expect.any(String),
      },
    ]);
    // The ticket is the hold's state, not its signed record: what a reviewer's challenge commits to is unchanged.
    expect(after.hold_sha256).toBe(shown.hold_sha256);

    const entries = await logOf(w.fetch, client.deviceId, review.id);
    expect(entries.map((entry) => [entry.type, entry.data["service"], entry.data["ticket_key"]])).toEqual([
      ["review.ticket", "jira", after.tickets[0]!.key],
      ["review.ticket", "servicenow", after.tickets[1]!.key],
    ]);
    expect(entries[0]!.data).toMatchObject({ decision_id: shown.record.decision_id, tier: "tier1", ticket_url: after.tickets[0]!.url, ticket_item: `${review.id}#2`, record_sha256: recordSha });

    const tickets = await w.outbox().tickets(review.id);
    expect(tickets.map((ticket) => [ticket.service, ticket.state, ticket.attempts.length, ticket.noted_at !== null])).toEqual([
      ["jira", "opened", 1, true],
      ["servicenow", "opened", 1, true],
    ]);
    // Noting again (an answer lost on the way back) adds nothing to the hold or the log.
    const again = await holdsStub(w.tenant).noteTicket({ review_id: review.id, item: `${review.id}#2`, service: "jira", tier: "tier1", key: "SEC-999", url: "https://x" }, w.clock.now);
    expect(again).toEqual({ ok: true, noted: false });
    expect((await holdAsAdmin(w.fetch, review.id)).tickets).toHaveLength(2);
  });

  it("a failing ticket service is retried with backoff, every attempt recorded, until it opens the ticket", async () => {
    const start = w.clock.now;
    // Armed before the hold exists (its first attempt may run at once), by what the Jira summary names: a device of this test's own.
    const device = await readyDevice({ fetch: w.fetch, now: () => w.clock.now });
    await failNext("jira", device.deviceId, 2);
    const { review } = await hold(device);
    const outbox = w.outbox();
    await outbox.tick(start);
    const first = (await outbox.tickets(review.id)).find((ticket) => ticket.service === "jira")!;
    expect(first.state).toBe("pending");
    const t1 = first.attempts[0]!.at;
    await outbox.tick(t1 + 29_000); // before the first backoff (30 s): nothing
    await outbox.tick(t1 + 30_000); // second attempt, fails again
    await outbox.tick(t1 + 30_000 + 120_000); // third attempt after 2 min, opened
    const jira = (await outbox.tickets(review.id)).find((ticket) => ticket.service === "jira")!;
    expect(jira.attempts.map((attempt) => [attempt.attempt, attempt.at - t1, attempt.status, attempt.url])).toEqual([
      [1, 0, 503, `https://${JIRA_HOST}`],
      [2, 30_000, 503, `https://${JIRA_HOST}`],
      [3, 150_000, 201, `https://${JIRA_HOST}`],
    ]);
    expect(jira.attempts[0]!.error).toMatch(/^HTTP 503: .*service unavailable/);
    expect(jira).toMatchObject({ state: "opened", ticket_key: expect.stringMatching(/^SEC-\d+$/) });
    expect((await received("jira", review.id)).map((request) => request.status)).toEqual([503, 503, 201]);
    expect((await holdAsAdmin(w.fetch, review.id)).tickets.map((ticket) => ticket.key)).toContain(jira.ticket_key);
    // ServiceNow did not fail: one attempt, opened at once.
    expect((await outbox.tickets(review.id)).find((ticket) => ticket.service === "servicenow")!.attempts).toHaveLength(1);
  });
});

describe("tickets when the hold escalates", () => {
  const w = world({ tier2: { jira: JIRA } });
  let client: WardenClient;

  beforeAll(async () => {
    client = await w.setup();
  });

  it("a tier without tickets opens none; escalating into one that has them opens that tier's ticket", async () => {
    const start = w.clock.now;
    const { review } = await hold(client);
    await w.outbox().tick(start);
    expect(await w.outbox().tickets(review.id)).toEqual([]);
    await holdsStub(w.tenant).tick(start + 241 * MINUTE);
    await w.outbox().tick(start + 241 * MINUTE);
    const [ticket] = await w.outbox().tickets(review.id);
    expect(ticket).toMatchObject({ service: "jira", tier: "tier2", state: "opened" });
    expect(JSON.parse(ticket!.body).fields.labels).toEqual(["warden", "tier-tier2"]);
    w.clock.now = start + 241 * MINUTE;
    try {
      expect((await holdAsAdmin(w.fetch, review.id)).tickets).toEqual([expect.objectContaining({ service: "jira", tier: "tier2", key: ticket!.ticket_key })]);
    } finally {
      w.clock.now = start;
    }
  });
});

describe("an outbound endpoint Warden cannot use", () => {
  it("is an attempt that says why, and nothing leaves: unset, or a URL the outbound check refuses", async () => {
    const tenant = uniqueId("tk");
    // Due in a day, so only the injected outbox below handles it, never the object's own alarm.
    const at = Date.now() + 24 * 60 * MINUTE;
    const review = uniqueId("rv");
    const item = (service: "jira" | "servicenow", n: number): TicketItem => ({ kind: "ticket", key: `${review}#${n}`, review_id: review, tenant, service, tier: "tier1", body: { short_description: review }, at });
    const sent: Request[] = [];
    const outbox = outboxWith(outboxStub(tenant), {
      fetch: (request) => {
        sent.push(request);
        return fetch(request);
      },
      tickets: {
        jira: ticketTarget({ ...env, JIRA_URL: "https://169.254.169.254/latest" } as Env, "jira"),
        servicenow: ticketTarget({ ...env, SERVICENOW_PASSWORD: undefined } as Env, "servicenow"),
      },
    });
    await outbox.accept([item("jira", 1), item("servicenow", 2)], at, undefined);
    await outbox.tick(at);
    const tickets = await outbox.tickets(review);
    expect(tickets.map((ticket) => [ticket.service, ticket.state, ticket.attempts.map((attempt) => [attempt.status, attempt.error])])).toEqual([
      ["jira", "pending", [[null, "JIRA_URL is refused (private_address)"]]],
      ["servicenow", "pending", [[null, "SERVICENOW_USER or SERVICENOW_PASSWORD is not set"]]],
    ]);
    expect(sent).toEqual([]);
  });

  it("a review webhook URL the outbound check refuses is never called; every attempt says why", async () => {
    const tenant = uniqueId("tk");
    const at = Date.now() + 24 * 60 * MINUTE;
    const review = uniqueId("rv");
    const sent: Request[] = [];
    const outbox = outboxWith(outboxStub(tenant), {
      fetch: (request) => {
        sent.push(request);
        return fetch(request);
      },
      webhook: webhookTarget({ ...env, REVIEW_WEBHOOK_URL: "https://192.168.1.20/hooks" } as Env),
    });
    const event = { type: "review.created", review_id: review } as WebhookItem["event"];
    await outbox.accept([{ kind: "webhook", key: `${review}#1`, review_id: review, event, at }], at, undefined);
    await outbox.tick(at);
    const [delivery] = await outbox.deliveries(review);
    expect(delivery!.attempts.map((attempt) => [attempt.status, attempt.error])).toEqual([[null, "REVIEW_WEBHOOK_URL is refused (private_address)"]]);
    expect(sent).toEqual([]);
    expect(webhookTarget({ ...env, REVIEW_WEBHOOK_URL: "http://127.0.0.1:9000/hook", OUTBOUND_DEVELOPMENT: "true" } as Env)?.refused).toBeNull();
  });
});

describe("the holds' review link", () => {
  it("is the reviewer page's anchor for the hold, or absent without REVIEW_ORIGIN", () => {
    expect(holdsIo(env).reviewLink("a b")).toBe(`${env.REVIEW_ORIGIN}/review#hold-a%20b`);
    expect(holdsIo({ ...env, REVIEW_ORIGIN: undefined } as Env).reviewLink("x")).toBeNull();
  });
});
