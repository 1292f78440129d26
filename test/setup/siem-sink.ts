/**
 * Node-side SIEM endpoints for the workerd tests (wired in vitest.config.mts): a signed webhook
 * receiver, a Splunk HTTP Event Collector and an Elasticsearch `_bulk` endpoint, all on
 * `siem.warden.test`. Each checks its credential the way the real one does (HMAC signature over
 * `<t>.<body>`, `Splunk <token>`, `ApiKey <key>`), keeps every event it accepted by uid — Elastic
 * refuses a second `create` of an `_id` with 409, as Elasticsearch does — and can be armed to
 * fail its next n requests, or every request. Tests read and arm them through the `SIEM_SINK`
 * service binding.
 */
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";

export const SIEM_HOST = "siem.warden.test";

/** The sinks' secrets, made afresh per run; the worker gets them through EVENT_SINK_SECRETS. */
export const SIEM_SECRETS = {
  webhook: randomBytes(32).toString("base64url"),
  splunk: randomBytes(24).toString("hex"),
  elastic: randomBytes(32).toString("base64"),
} as const;

type SinkName = keyof typeof SIEM_SECRETS;

/** EVENT_SINKS for the tests: only the `siem-` tenants' events are sent, so other tests' events stay in their feeds. */
export const SIEM_SINKS = [
  { name: "webhook", kind: "webhook", url: `https://${SIEM_HOST}/webhook`, tenants: ["siem-delivery", "siem-failing"] },
  { name: "splunk", kind: "splunk_hec", url: `https://${SIEM_HOST}/services/collector/event`, tenants: ["siem-delivery"] },
  { name: "elastic", kind: "elastic_bulk", url: `https://${SIEM_HOST}/_bulk`, index: "warden-ocsf", tenants: ["siem-delivery"] },
];

interface Received {
  /** uid → the event as the sink got it first, and how many times it came. */
  events: Map<string, { event: { [key: string]: unknown }; copies: number }>;
  requests: number;
  refused: number;
  failNext: number;
  failAlways: boolean;
}

const received = new Map<SinkName, Received>(
  (Object.keys(SIEM_SECRETS) as SinkName[]).map((name) => [name, { events: new Map(), requests: 0, refused: 0, failNext: 0, failAlways: false }]),
);

function keep(sink: Received, event: { [key: string]: unknown }): boolean {
  const uid = (event["metadata"] as { uid: string }).uid;
  const seen = sink.events.get(uid);
  if (seen) {
    seen.copies += 1;
    return false;
  }
  sink.events.set(uid, { event, copies: 1 });
  return true;
}

function sameSecret(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Outbound requests to `siem.warden.test` (test/setup/outbound.ts). */
export async function siemOutbound(request: Request): Promise<Response> {
  const url = new URL(request.url);
  const name: SinkName | null = url.pathname === "/webhook" ? "webhook" : url.pathname === "/services/collector/event" ? "splunk" : url.pathname === "/_bulk" ? "elastic" : null;
  if (!name) return new Response("no such endpoint", { status: 404 });
  const sink = received.get(name)!;
  sink.requests += 1;
  const body = await request.text();
  if (sink.failAlways || sink.failNext > 0) {
    if (sink.failNext > 0) sink.failNext -= 1;
    sink.refused += 1;
    return new Response("armed to fail", { status: 503 });
  }
  const auth = request.headers.get("authorization") ?? "";
  switch (name) {
    case "webhook": {
      const match = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(request.headers.get("warden-signature") ?? "");
      const expected = match ? createHmac("sha256", SIEM_SECRETS.webhook).update(`${match[1]}.${body}`).digest("hex") : "";
      if (!match || !sameSecret(match[2]!, expected)) return new Response("bad signature", { status: 401 });
      for (const event of (JSON.parse(body) as { events: { [key: string]: unknown }[] }).events) keep(sink, event);
      return new Response(null, { status: 204 });
    }
    case "splunk": {
      if (!sameSecret(auth, `Splunk ${SIEM_SECRETS.splunk}`)) return Response.json({ text: "Invalid token", code: 4 }, { status: 403 });
      for (const line of body.split("\n").filter((l) => l.length > 0)) keep(sink, (JSON.parse(line) as { event: { [key: string]: unknown } }).event);
      return Response.json({ text: "Success", code: 0 });
    }
    case "elastic": {
      if (!sameSecret(auth, `ApiKey ${SIEM_SECRETS.elastic}`)) return Response.json({ error: "unauthorized" }, { status: 401 });
      const lines = body.split("\n").filter((l) => l.length > 0);
      const items: { create: { _index: string; _id: string; status: number } }[] = [];
      for (let i = 0; i < lines.length; i += 2) {
        const action = (JSON.parse(lines[i]!) as { create: { _index: string; _id: string } }).create;
        const event = JSON.parse(lines[i + 1]!) as { [key: string]: unknown };
        items.push({ create: { _index: action._index, _id: action._id, status: keep(sink, event) ? 201 : 409 } });
      }
      return Response.json({ took: 1, errors: items.some((item) => item.create.status !== 201), items });
    }
  }
}

/**
 * miniflare service binding `SIEM_SINK`: `GET /?sink=<name>` → `{requests, refused, events: [{uid, copies, event}]}`;
 * `POST /fail {sink, times}` fails its next `times` requests, `{sink, always: true|false}` every one;
 * `POST /reset {sink}` forgets what it received.
 */
export async function siemSink(request: Request): Promise<Response> {
  const url = new URL(request.url);
  if (request.method === "POST") {
    const body = (await request.json()) as { sink: SinkName; times?: number; always?: boolean };
    const sink = received.get(body.sink);
    if (!sink) return new Response("no such sink", { status: 404 });
    if (url.pathname === "/fail") {
      if (body.times !== undefined) sink.failNext = body.times;
      if (body.always !== undefined) sink.failAlways = body.always;
    } else if (url.pathname === "/reset") {
      sink.events.clear();
      sink.requests = 0;
      sink.refused = 0;
    }
    return new Response(null, { status: 204 });
  }
  const sink = received.get(url.searchParams.get("sink") as SinkName);
  if (!sink) return new Response("no such sink", { status: 404 });
  return Response.json({ requests: sink.requests, refused: sink.refused, events: [...sink.events].map(([uid, seen]) => ({ uid, copies: seen.copies, event: seen.event })) });
}
