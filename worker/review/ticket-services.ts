/**
 * The two ticketing services a hold can open a ticket in, as `ReviewOutbox` reaches them: where
 * they are and how Warden authenticates (wrangler vars and secrets), the request that opens one,
 * and the answer's key. Jira Cloud: REST v3 `POST /rest/api/3/issue` with Basic auth (account
 * email and API token), answering 201 `{id, key, self}`. ServiceNow: Table API
 * `POST /api/now/table/incident` with Basic auth (an integration user), answering 201
 * `{result: {sys_id, number, …}}`.
 */
import { toBase64 } from "../encoding.ts";
import { StrictJsonError, parseStrictJson, type JsonValue } from "../json/strict.ts";
import { boundedBytes } from "../net/bounded-body.ts";
import { checkOutboundUrl, outboundDevelopment } from "../net/outbound-url.ts";
import type { TicketService } from "./ticket-templates.ts";

/** Where one service's tickets go, or why none can be opened there (every attempt then records it). */
export type TicketTarget = { ok: true; base: string; authorization: string } | { ok: false; problem: string };

/** A ticket the service opened: its key and where a person opens it. */
export interface TicketReceipt {
  key: string;
  url: string;
}

/** An answer is read up to this many bytes: a created issue or incident is well under it. */
export const MAX_TICKET_ANSWER_BYTES = 64 * 1024;

/** The variables each service is configured by; the secret is a wrangler secret. */
const CONFIG: Record<TicketService, { url: keyof Env; user: keyof Env; secret: keyof Env }> = {
  jira: { url: "JIRA_URL", user: "JIRA_USER", secret: "JIRA_API_TOKEN" },
  servicenow: { url: "SERVICENOW_URL", user: "SERVICENOW_USER", secret: "SERVICENOW_PASSWORD" },
};

/**
 * One service's target from the environment. The base URL is checked like every outbound
 * endpoint (https and a public address in production): a ticket URL pointing inside the network
 * would make Warden post hold details wherever its configuration says.
 */
export function ticketTarget(env: Env, service: TicketService): TicketTarget {
  const names = CONFIG[service];
  const raw = env[names.url];
  const user = env[names.user];
  const secret = env[names.secret];
  if (typeof raw !== "string" || raw === "") return { ok: false, problem: `${names.url} is not set` };
  if (typeof user !== "string" || user === "" || typeof secret !== "string" || secret === "") return { ok: false, problem: `${names.user} or ${names.secret} is not set` };
  const checked = checkOutboundUrl(raw, { development: outboundDevelopment(env) });
  if (!checked.ok) return { ok: false, problem: `${names.url} is refused (${checked.reason})` };
  const url = new URL(checked.url.url);
  if (url.search !== "") return { ok: false, problem: `${names.url} must be a base URL without a query` };
  const authorization = `Basic ${toBase64(new TextEncoder().encode(`${user}:${secret}`))}`;
  return { ok: true, base: `${url.origin}${url.pathname.replace(/\/+$/, "")}`, authorization };
}

const PATHS: Record<TicketService, string> = {
  jira: "/rest/api/3/issue",
  servicenow: "/api/now/table/incident",
};

/** The request that opens one ticket. */
export function ticketRequest(service: TicketService, target: { base: string; authorization: string }, body: string, signal: AbortSignal): Request {
  return new Request(`${target.base}${PATHS[service]}`, {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/json", authorization: target.authorization },
    body,
    signal,
  });
}

function member(value: JsonValue, name: string): JsonValue | undefined {
  return value !== null && typeof value === "object" && !Array.isArray(value) ? value[name] : undefined;
}

/** Jira issue keys: project key, dash, number. */
const JIRA_KEY = /^[A-Z][A-Z0-9_]{0,31}-[1-9][0-9]{0,11}$/;
/** ServiceNow task numbers (`INC0010001`) and sys_ids (32 hex). */
const SERVICENOW_NUMBER = /^[A-Z]{2,8}[0-9]{4,12}$/;
const SYS_ID = /^[0-9a-f]{32}$/;

/**
 * The opened ticket from the service's answer, or why there is none. Anything but a 2xx whose
 * strict-JSON body names a well-formed key is a failed attempt, recorded with the status and
 * the start of the body (the service's own error message, for an operator).
 */
export async function readTicketAnswer(service: TicketService, base: string, response: Response): Promise<{ ok: true; ticket: TicketReceipt } | { ok: false; error: string }> {
  const { bytes, truncated } = await boundedBytes(response, MAX_TICKET_ANSWER_BYTES);
  if (response.status < 200 || response.status > 299) {
    return { ok: false, error: `HTTP ${response.status}: ${new TextDecoder().decode(bytes.subarray(0, 300))}` };
  }
  if (truncated) return { ok: false, error: `the answer is over ${MAX_TICKET_ANSWER_BYTES} bytes` };
  let body: JsonValue;
  try {
    body = parseStrictJson(bytes);
  } catch (cause) {
    if (!(cause instanceof StrictJsonError)) throw cause;
    return { ok: false, error: `the answer is not strict JSON (${cause.code})` };
  }
  if (service === "jira") {
    const key = member(body, "key");
    if (typeof key !== "string" || !JIRA_KEY.test(key)) return { ok: false, error: "the answer names no issue key" };
    return { ok: true, ticket: { key, url: `${base}/browse/${key}` } };
  }
  const result = member(body, "result");
  const number = member(result ?? null, "number");
  const sysId = member(result ?? null, "sys_id");
  if (typeof number !== "string" || !SERVICENOW_NUMBER.test(number) || typeof sysId !== "string" || !SYS_ID.test(sysId)) {
    return { ok: false, error: "the answer names no incident number and sys_id" };
  }
  return { ok: true, ticket: { key: number, url: `${base}/incident.do?sys_id=${sysId}` } };
}
