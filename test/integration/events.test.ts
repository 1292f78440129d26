import { env, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import type { WardenClient } from "../../cli/client.ts";
import type { EventFeed } from "../../durable-objects/EventFeed.ts";
import type { OcsfEvent } from "../../worker/events/ocsf.ts";
import type { EventPage } from "../../worker/events/feed.ts";
import { configure, deviceStub, restart } from "../audit-helpers.ts";
import { expectValidOcsf } from "../ocsf.ts";
import { BASE_URL, activate, defaultSources, eventually, fileAction, logOf, readyDevice, uniqueId, workerFetch, type Fetch } from "../helpers.ts";

const permitAll = { ...defaultSources, policies: '@id("permit-all")\npermit (principal, action, resource);\n' };
const write = fileAction("file.write", "/home/dev/workspace/src/app.ts");
const siem = (env as unknown as { SIEM_SINK: Fetcher }).SIEM_SINK;

type SinkName = "webhook" | "splunk" | "elastic";
interface SinkView {
  requests: number;
  refused: number;
  events: { uid: string; copies: number; event: OcsfEvent }[];
}

async function sinkView(sink: SinkName): Promise<SinkView> {
  return (await (await siem.fetch(`http://sink/?sink=${sink}`)).json()) as SinkView;
}

async function armSink(sink: SinkName, arming: { times?: number; always?: boolean }): Promise<void> {
  await siem.fetch("http://sink/fail", { method: "POST", body: JSON.stringify({ sink, ...arming }) });
}

async function feedPage(fetch: Fetch, query: string, token = env.AUDITOR_TOKEN): Promise<{ status: number; body: EventPage & { code?: string } }> {
  const response = await fetch(new Request(`${BASE_URL}/v1/events${query}`, { headers: { authorization: `Bearer ${token}` } }));
  return { status: response.status, body: (await response.json()) as EventPage & { code?: string } };
}

/** The whole feed of a tenant, read in pages of `pageSize`. */
async function wholeFeed(fetch: Fetch, pageSize = 250): Promise<{ cursor: number; event: OcsfEvent }[]> {
  const all: { cursor: number; event: OcsfEvent }[] = [];
  let after = 0;
  for (;;) {
    const { status, body } = await feedPage(fetch, `?after=${after}&limit=${pageSize}`);
    expect(status).toBe(200);
    all.push(...body.events);
    if (body.events.length < pageSize) return all;
    after = body.next;
  }
}

/** A fresh tenant with the permit-all bundle and `count` devices with sessions. */
async function tenantWithDevices(tenant: string, count: number): Promise<{ fetch: Fetch; devices: WardenClient[] }> {
  const fetch = workerFetch({ tenant });
  await activate(permitAll, tenant);
  const devices = await Promise.all(Array.from({ length: count }, () => readyDevice({ fetch })));
  return { fetch, devices };
}

/** Every entry hash of the devices' logs. */
async function entryHashes(devices: WardenClient[], type?: string): Promise<string[]> {
  const logs = await Promise.all(devices.map((device) => logOf(device)));
  return logs.flat().filter((entry) => type === undefined || entry.type === type).map((entry) => entry.hash);
}

describe("the pull feed", () => {
  it("is gap-free and ordered under 100 concurrent decisions from ten devices, each entry once", async () => {
    const { fetch, devices } = await tenantWithDevices(uniqueId("events"), 10);
    const answers = await Promise.all(devices.flatMap((device) => Array.from({ length: 10 }, () => device.decide(write))));
    expect(answers.every((answer) => answer.status === 200 && answer.body.decision === "permit")).toBe(true);
    const decisions = await entryHashes(devices, "decision");
    expect(decisions).toHaveLength(100);

    const feed = await eventually(async () => {
      const events = await wholeFeed(fetch, 37);
      const uids = new Set(events.map((item) => item.event.metadata.uid));
      return decisions.every((hash) => uids.has(hash)) ? events : null;
    });
    expect(feed.map((item) => item.cursor)).toEqual(Array.from({ length: feed.length }, (_, index) => index + 1));
    const uids = feed.map((item) => item.event.metadata.uid);
    expect(new Set(uids).size).toBe(uids.length);
    // Each device's events keep the order of its log.
    for (const device of devices) {
      const sequence = feed.filter((item) => String(item.event.metadata["log_name"]).endsWith(`/${device.deviceId}`)).map((item) => Number(item.event.metadata["sequence"]));
      expect(sequence).toEqual([...sequence].sort((a, b) => a - b));
    }
    // The bundle activation came through the admin log.
    expect(feed.some((item) => String(item.event.metadata["log_name"]).startsWith("admin:"))).toBe(true);
    // Every event the feed serves is valid OCSF 1.8.0 for its class.
    for (const item of feed) expectValidOcsf(item.event);
  });

  it("pages from a cursor, answers nothing past the head, and is for admins and auditors only", async () => {
    const { fetch, devices } = await tenantWithDevices(uniqueId("events"), 1);
    await devices[0]!.decide(write);
    const hashes = await entryHashes(devices);
    const all = await eventually(async () => {
      const events = await wholeFeed(fetch);
      return events.length >= hashes.length ? events : null;
    });
    const { body: page } = await feedPage(fetch, `?after=2&limit=2`);
    expect(page.events.map((item) => item.cursor)).toEqual([3, 4]);
    expect(page).toMatchObject({ next: 4, oldest: 1, head: all.length });
    const { body: past } = await feedPage(fetch, `?after=${all.length + 50}`);
    expect(past.events).toEqual([]);
    expect((await feedPage(fetch, "", env.ADMIN_TOKEN)).status).toBe(200);
    const asDevice = await devices[0]!.authorized<{ code: string }>("GET", "/v1/events");
    expect([asDevice.status, asDevice.body.code]).toEqual([403, "person_required"]);
    for (const query of ["?after=-1", "?limit=0", "?limit=1001", "?after=1e3", "?after=x"]) {
      const refused = await feedPage(fetch, query);
      expect([query, refused.status, refused.body.code]).toEqual([query, 400, "malformed_request"]);
    }
  });
});

describe("retention", () => {
  it("drops events past EVENT_RETENTION_DAYS once the queue has them; a cursor before them is cursor_expired", async () => {
    const tenant = uniqueId("events");
    const { fetch, devices } = await tenantWithDevices(tenant, 1);
    const device = devices[0]!;
    await device.decide(write);
    const feed = env.EVENT_FEED.get(env.EVENT_FEED.idFromName(tenant)) as DurableObjectStub<EventFeed>;
    const kept = await eventually(async () => {
      const state = await runInDurableObject(feed, (instance: EventFeed) => instance.pushState());
      return state.head > 0 && state.queuedUpto === state.head ? state.head : null;
    });
    // As if they had been ingested eight days ago (the retention is seven).
    await runInDurableObject(feed, (_instance: EventFeed, state) => void state.storage.sql.exec("UPDATE events SET at = at - ?", 8 * 86_400_000));

    // The next event's alarm pushes it and then prunes the expired ones.
    await device.decide(write);
    const page = await eventually(async () => {
      const { body } = await feedPage(fetch, "");
      return body.oldest > kept ? body : null;
    });
    expect(page.oldest).toBe(kept + 1);
    expect(page.events.every((item) => item.cursor > kept)).toBe(true);
    const expired = await feedPage(fetch, "?after=0");
    expect([expired.status, expired.body.code]).toEqual([410, "cursor_expired"]);
    expect((await feedPage(fetch, `?after=${kept}`)).status).toBe(200);
  });
});

describe("an event is never lost", () => {
  it("when the feed is down at the append: the decision is answered, the entry stays owed across a restart, and goes once the feed is back", async () => {
    const tenant = uniqueId("events");
    const { fetch, devices } = await tenantWithDevices(tenant, 1);
    const device = devices[0]!;
    const stub = deviceStub(device.deviceId, tenant);
    await runDurableObjectAlarm(stub);
    await configure(stub, { io: { events: { feed: () => ({ ingest: () => Promise.reject(new Error("feed unavailable")) }) } } });
    const answers = await Promise.all([device.decide(write), device.decide(write), device.decide(write)]);
    expect(answers.map((answer) => answer.body.decision)).toEqual(["permit", "permit", "permit"]);
    const decided = await entryHashes([device], "decision");
    await runDurableObjectAlarm(stub);
    const before = new Set((await wholeFeed(fetch)).map((item) => item.event.metadata.uid));
    expect(decided.filter((hash) => before.has(hash))).toEqual([]);

    // The object is evicted before anything was forwarded: what it owes is in its storage.
    await restart(stub);
    const fresh = deviceStub(device.deviceId, tenant);
    await configure(fresh, { io: { events: undefined } });
    await runDurableObjectAlarm(fresh);
    const after = await eventually(async () => {
      const uids = (await wholeFeed(fetch)).map((item) => item.event.metadata.uid);
      return decided.every((hash) => uids.includes(hash)) ? uids : null;
    });
    expect(new Set(after).size).toBe(after.length);
  });

  it("when an object forwards the same entries twice (it died between the feed's answer and forgetting them): the feed keeps one", async () => {
    const tenant = uniqueId("events");
    const { fetch, devices } = await tenantWithDevices(tenant, 1);
    const hashes = await entryHashes(devices);
    const first = await eventually(async () => {
      const events = await wholeFeed(fetch);
      return events.length >= hashes.length ? events : null;
    });
    const feed = env.EVENT_FEED.get(env.EVENT_FEED.idFromName(tenant));
    const again = [...first].reverse().map((item) => item.event);
    expect(await feed.ingest(again)).toEqual({ accepted: 0 });
    expect(await wholeFeed(fetch)).toEqual(first);
  });
});

describe("push through the queue", () => {
  it("delivers every event of the tenant to the webhook, Splunk HEC and Elastic sinks, exactly once each, retrying a sink that fails twice", async () => {
    await armSink("splunk", { times: 2 });
    const { fetch, devices } = await tenantWithDevices("siem-delivery", 2);
    await Promise.all(devices.flatMap((device) => [device.decide(write), device.decide(write)]));
    const feed = await eventually(async () => {
      const events = await wholeFeed(fetch);
      const decisions = await entryHashes(devices, "decision");
      const uids = new Set(events.map((item) => item.event.metadata.uid));
      return decisions.length === 4 && decisions.every((hash) => uids.has(hash)) ? events : null;
    });
    for (const sink of ["webhook", "splunk", "elastic"] as const) {
      const view = await eventually(async () => {
        const seen = await sinkView(sink);
        const uids = new Set(seen.events.map((item) => item.uid));
        return feed.every((item) => uids.has(item.event.metadata.uid)) ? seen : null;
      });
      const delivered = view.events.filter((item) => feed.some((f) => f.event.metadata.uid === item.uid));
      expect(delivered.every((item) => item.copies === 1)).toBe(true);
      for (const item of delivered) expect(item.event).toEqual(feed.find((f) => f.event.metadata.uid === item.uid)!.event);
    }
    expect((await sinkView("splunk")).refused).toBe(2);
  });

  it("parks in R2 every event a sink refuses through all retries: nothing is lost", async () => {
    await armSink("webhook", { always: true });
    try {
      const { fetch, devices } = await tenantWithDevices("siem-failing", 1);
      await devices[0]!.decide(write);
      const decisions = await entryHashes(devices, "decision");
      const parked = await eventually(async () => {
        const listing = await env.ARCHIVE.list({ prefix: "events/dead-letter/siem-failing/webhook/" });
        const uids = listing.objects.map((object) => object.key.slice(object.key.lastIndexOf("-") + 1, -".json".length));
        return decisions.every((hash) => uids.includes(hash)) ? listing.objects : null;
      }, 30_000);
      const feed = await wholeFeed(fetch);
      expect(parked.length).toBeGreaterThanOrEqual(feed.filter((item) => decisions.includes(item.event.metadata.uid)).length);
      const one = (await (await env.ARCHIVE.get(parked[0]!.key))!.json()) as { tenant: string; sink: string; cursor: number; event: OcsfEvent };
      expect(one).toMatchObject({ tenant: "siem-failing", sink: "webhook" });
      expect(feed.find((item) => item.cursor === one.cursor)!.event).toEqual(one.event);
    } finally {
      await armSink("webhook", { always: false });
    }
  });
});
