import { z } from "zod";
import { StrictJsonError, parseStrictJson } from "../json/strict.ts";
import { checkOutboundUrl, outboundDevelopment, type OutboundRefusal } from "../net/outbound-url.ts";
import { signatureHeader } from "../review/webhook.ts";
import type { OcsfEvent } from "./ocsf.ts";

/**
 * Where events are pushed: SIEM and SOAR endpoints named in `EVENT_SINKS`, each in its own wire
 * format. Secrets (HMAC key, HEC token, API key) are in the `EVENT_SINK_SECRETS` wrangler secret,
 * keyed by sink name, never in the configuration a deployment's vars show.
 */

export const SINK_KINDS = ["webhook", "splunk_hec", "elastic_bulk"] as const;
export type SinkKind = (typeof SINK_KINDS)[number];

const SinkSchema = z.strictObject({
  name: z.string().regex(/^[a-z0-9][a-z0-9-]{0,31}$/),
  kind: z.enum(SINK_KINDS),
  /** The full endpoint: the webhook's URL, HEC's `/services/collector/event`, Elastic's `/_bulk`. */
  url: z.string().min(1).max(2048),
  /** Elastic only: the index (or data stream) events are created in. */
  index: z.string().regex(/^[a-z0-9][a-z0-9._-]{0,254}$/).optional(),
  /** The tenants whose events go to this sink; absent, every tenant's. */
  tenants: z.array(z.string().min(1).max(128)).min(1).max(1000).optional(),
});
const SinksSchema = z.array(SinkSchema).max(8);
const SecretsSchema = z.record(z.string(), z.string().min(16).max(4096));

export interface Sink {
  name: string;
  kind: SinkKind;
  url: string;
  index: string | undefined;
  tenants: string[] | null;
  secret: string;
}

export type SinkConfigProblem =
  | { problem: "malformed"; detail: string }
  | { problem: "duplicate_name"; sink: string }
  | { problem: "missing_secret"; sink: string }
  | { problem: "missing_index"; sink: string }
  | { problem: "url_refused"; sink: string; reason: OutboundRefusal };

/**
 * The configured sinks, every one checked: a malformed list, a sink without its secret or with a
 * URL the outbound check refuses makes the whole configuration refused, so no event goes to a
 * half-configured set (they wait in the feed until it is fixed).
 */
export function sinksFrom(env: Pick<Env, "EVENT_SINKS" | "EVENT_SINK_SECRETS" | "OUTBOUND_DEVELOPMENT">): { ok: true; sinks: Sink[] } | { ok: false; problem: SinkConfigProblem } {
  if (env.EVENT_SINKS === undefined || env.EVENT_SINKS.trim() === "") return { ok: true, sinks: [] };
  const read = (text: string, schema: z.ZodType, what: string) => {
    let parsed: unknown;
    try {
      parsed = parseStrictJson(text);
    } catch (error) {
      return { ok: false as const, detail: `${what} is not strict JSON (${error instanceof StrictJsonError ? error.code : "unreadable"})` };
    }
    const checked = schema.safeParse(parsed);
    return checked.success ? { ok: true as const, value: checked.data } : { ok: false as const, detail: `${what}: ${checked.error.issues[0]?.message ?? "invalid"}` };
  };
  const listed = read(env.EVENT_SINKS, SinksSchema, "EVENT_SINKS");
  if (!listed.ok) return { ok: false, problem: { problem: "malformed", detail: listed.detail } };
  const secrets = read(env.EVENT_SINK_SECRETS ?? "{}", SecretsSchema, "EVENT_SINK_SECRETS");
  if (!secrets.ok) return { ok: false, problem: { problem: "malformed", detail: secrets.detail } };
  const sinks: Sink[] = [];
  const development = outboundDevelopment(env);
  for (const sink of listed.value as z.infer<typeof SinksSchema>) {
    if (sinks.some((seen) => seen.name === sink.name)) return { ok: false, problem: { problem: "duplicate_name", sink: sink.name } };
    const secret = (secrets.value as Record<string, string>)[sink.name];
    if (secret === undefined) return { ok: false, problem: { problem: "missing_secret", sink: sink.name } };
    if (sink.kind === "elastic_bulk" && sink.index === undefined) return { ok: false, problem: { problem: "missing_index", sink: sink.name } };
    const url = checkOutboundUrl(sink.url, { development });
    if (!url.ok) return { ok: false, problem: { problem: "url_refused", sink: sink.name, reason: url.reason } };
    sinks.push({ name: sink.name, kind: sink.kind, url: sink.url, index: sink.index, tenants: sink.tenants ?? null, secret });
  }
  return { ok: true, sinks };
}

/** A sink's answer, per event uid: delivered (or already there), or to be tried again. */
export interface SinkResult {
  delivered: Set<string>;
  failed: Set<string>;
}

/** A sink that has not answered by then counts as a failed delivery. */
const SINK_TIMEOUT_MS = 10_000;

/** Sends `events` to `sink` in its format; never throws: a network failure fails every event. */
export async function deliver(sink: Sink, events: OcsfEvent[], fetcher: (request: Request) => Promise<Response>, now: number): Promise<SinkResult> {
  const uids = events.map((event) => event.metadata.uid);
  const failedAll = (): SinkResult => ({ delivered: new Set(), failed: new Set(uids) });
  let response: Response;
  try {
    response = await fetcher(await requestFor(sink, events, now));
  } catch {
    return failedAll();
  }
  if (sink.kind !== "elastic_bulk") {
    await response.body?.cancel();
    return response.ok ? { delivered: new Set(uids), failed: new Set() } : failedAll();
  }
  if (!response.ok) {
    await response.body?.cancel();
    return failedAll();
  }
  return bulkResult(uids, await response.text());
}

async function requestFor(sink: Sink, events: OcsfEvent[], now: number): Promise<Request> {
  const signal = AbortSignal.timeout(SINK_TIMEOUT_MS);
  switch (sink.kind) {
    case "webhook": {
      const body = JSON.stringify({ events });
      const signature = await signatureHeader(sink.secret, Math.floor(now / 1000), body);
      return new Request(sink.url, { method: "POST", signal, body, headers: { "content-type": "application/json", "warden-signature": signature } });
    }
    case "splunk_hec": {
      // HEC takes events back to back; `time` is epoch seconds, sourcetype names the OCSF class.
      const body = events
        .map((event) => JSON.stringify({ time: Number(event["time"]) / 1000, source: "warden", sourcetype: `ocsf:${event.class_uid}`, event }))
        .join("\n");
      return new Request(sink.url, { method: "POST", signal, body, headers: { "content-type": "application/json", authorization: `Splunk ${sink.secret}` } });
    }
    case "elastic_bulk": {
      // `create` with the event uid as `_id`: a redelivered event is refused as a conflict (409), not indexed twice.
      const body = events.map((event) => `${JSON.stringify({ create: { _index: sink.index, _id: event.metadata.uid } })}\n${JSON.stringify(event)}\n`).join("");
      return new Request(sink.url, { method: "POST", signal, body, headers: { "content-type": "application/x-ndjson", authorization: `ApiKey ${sink.secret}` } });
    }
  }
}

const BulkAnswerSchema = z.object({
  items: z.array(z.object({ create: z.object({ _id: z.string(), status: z.int() }) })),
});

/** Elastic answers per item: created (201) or already there (409) is delivered; anything else is tried again. */
function bulkResult(uids: string[], text: string): SinkResult {
  let answer: ReturnType<typeof BulkAnswerSchema.safeParse> | null = null;
  try {
    answer = BulkAnswerSchema.safeParse(parseStrictJson(text));
  } catch {
    answer = null;
  }
  if (!answer?.success || answer.data.items.length !== uids.length) return { delivered: new Set(), failed: new Set(uids) };
  const result: SinkResult = { delivered: new Set(), failed: new Set() };
  answer.data.items.forEach((item, index) => {
    const uid = uids[index]!;
    const ok = item.create._id === uid && (item.create.status === 201 || item.create.status === 409);
    (ok ? result.delivered : result.failed).add(uid);
  });
  return result;
}
