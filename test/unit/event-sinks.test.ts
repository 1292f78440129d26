import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import type { OcsfEvent } from "../../worker/events/ocsf.ts";
import { deliver, sinksFrom, type Sink } from "../../worker/events/sinks.ts";
import { WARDEN_VERSION } from "../../worker/version.ts";
import packageJson from "../../package.json";

const secrets = JSON.parse(env.EVENT_SINK_SECRETS!) as Record<string, string>;
const configured = (sinks: unknown[], extra: Partial<Pick<Env, "EVENT_SINK_SECRETS" | "OUTBOUND_DEVELOPMENT">> = {}) =>
  sinksFrom({ EVENT_SINKS: JSON.stringify(sinks), EVENT_SINK_SECRETS: JSON.stringify({ a: "s".repeat(32), b: "t".repeat(32) }), ...extra });

describe("EVENT_SINKS", () => {
  it("reads each kind, with its secret, index and tenants", () => {
    const read = configured([
      { name: "a", kind: "elastic_bulk", url: "https://es.example.com/_bulk", index: "warden-ocsf", tenants: ["acme"] },
      { name: "b", kind: "splunk_hec", url: "https://splunk.example.com:8088/services/collector/event" },
    ]);
    expect(read).toEqual({
      ok: true,
      sinks: [
        { name: "a", kind: "elastic_bulk", url: "https://es.example.com/_bulk", index: "warden-ocsf", tenants: ["acme"], secret: "s".repeat(32) },
        { name: "b", kind: "splunk_hec", url: "https://splunk.example.com:8088/services/collector/event", index: undefined, tenants: null, secret: "t".repeat(32) },
      ],
    });
    expect(sinksFrom({})).toEqual({ ok: true, sinks: [] });
  });

  it.each([
    ["not strict JSON (a duplicate key)", '[{"name":"a","name":"b","kind":"webhook","url":"https://x.example"}]', "malformed"],
    ["an unknown kind", JSON.stringify([{ name: "a", kind: "syslog", url: "https://x.example" }]), "malformed"],
    ["an unknown field", JSON.stringify([{ name: "a", kind: "webhook", url: "https://x.example", token: "inline" }]), "malformed"],
    ["a bad name", JSON.stringify([{ name: "A B", kind: "webhook", url: "https://x.example" }]), "malformed"],
    ["two sinks of one name", JSON.stringify([{ name: "a", kind: "webhook", url: "https://x.example" }, { name: "a", kind: "webhook", url: "https://y.example" }]), "duplicate_name"],
    ["a sink without a secret", JSON.stringify([{ name: "c", kind: "webhook", url: "https://x.example" }]), "missing_secret"],
    ["Elastic without an index", JSON.stringify([{ name: "a", kind: "elastic_bulk", url: "https://x.example/_bulk" }]), "missing_index"],
    ["http in production", JSON.stringify([{ name: "a", kind: "webhook", url: "http://x.example" }]), "url_refused"],
    ["a private address", JSON.stringify([{ name: "a", kind: "webhook", url: "https://10.0.0.5/hook" }]), "url_refused"],
    ["the loopback", JSON.stringify([{ name: "a", kind: "webhook", url: "https://127.0.0.1/hook" }]), "url_refused"],
    ["credentials in the URL", JSON.stringify([{ name: "a", kind: "webhook", url: "https://user:pw@x.example/hook" }]), "url_refused"],
  ])("refuses the whole configuration for %s", (_name, sinks, problem) => {
    const read = sinksFrom({ EVENT_SINKS: sinks, EVENT_SINK_SECRETS: JSON.stringify({ a: "s".repeat(32), b: "t".repeat(32) }) });
    expect(read.ok ? null : read.problem.problem).toBe(problem);
  });

  it("takes http and local addresses only under OUTBOUND_DEVELOPMENT", () => {
    const local = [{ name: "a", kind: "webhook", url: "http://localhost:9000/hook" }];
    expect(configured(local).ok).toBe(false);
    expect(configured(local, { OUTBOUND_DEVELOPMENT: "true" }).ok).toBe(true);
  });

  it("refuses secrets that are not a JSON object of strings, or too short to be keys", () => {
    const sinks = [{ name: "a", kind: "webhook", url: "https://x.example" }];
    expect(configured(sinks, { EVENT_SINK_SECRETS: '{"a":"short"}' })).toMatchObject({ ok: false, problem: { problem: "malformed" } });
    expect(configured(sinks, { EVENT_SINK_SECRETS: '["a"]' })).toMatchObject({ ok: false, problem: { problem: "malformed" } });
  });
});

/** The test sinks (test/setup/siem-sink.ts) as the worker is configured to reach them. */
function testSink(name: "webhook" | "splunk" | "elastic", secret = secrets[name]!): Sink {
  const listed = (JSON.parse(env.EVENT_SINKS!) as { name: string; kind: Sink["kind"]; url: string; index?: string }[]).find((sink) => sink.name === name)!;
  return { name, kind: listed.kind, url: listed.url, index: listed.index, tenants: null, secret };
}

const event = (uid: string): OcsfEvent => ({ class_uid: 6003, time: 1767225600123, metadata: { uid, version: "1.8.0" } });
const fetcher = (request: Request) => fetch(request);

describe("delivery formats", () => {
  it.each(["webhook", "splunk", "elastic"] as const)("%s takes a batch signed or keyed with its secret", async (name) => {
    const uids = [crypto.randomUUID(), crypto.randomUUID()];
    const result = await deliver(testSink(name), uids.map(event), fetcher, Date.now());
    expect([...result.delivered].sort()).toEqual([...uids].sort());
    expect(result.failed.size).toBe(0);
  });

  it.each(["webhook", "splunk", "elastic"] as const)("%s refuses a wrong secret: every event is to be retried", async (name) => {
    const uid = crypto.randomUUID();
    const result = await deliver(testSink(name, "w".repeat(40)), [event(uid)], fetcher, Date.now());
    expect([...result.failed]).toEqual([uid]);
    expect(result.delivered.size).toBe(0);
  });

  it("Elastic answers a redelivered event with 409, which counts as delivered, not indexed twice", async () => {
    const uid = crypto.randomUUID();
    const sink = testSink("elastic");
    await deliver(sink, [event(uid)], fetcher, Date.now());
    const again = await deliver(sink, [event(uid), event(crypto.randomUUID())], fetcher, Date.now());
    expect(again.failed.size).toBe(0);
    expect(again.delivered.has(uid)).toBe(true);
  });

  it("an unreachable sink fails every event and does not throw", async () => {
    const sink: Sink = { name: "gone", kind: "webhook", url: "https://nowhere.warden.test/hook", index: undefined, tenants: null, secret: "x".repeat(32) };
    const result = await deliver(sink, [event("u1")], fetcher, Date.now());
    expect([...result.failed]).toEqual(["u1"]);
  });
});

it("events name the release package.json states", () => {
  expect(WARDEN_VERSION).toBe(packageJson.version);
});
