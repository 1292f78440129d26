/**
 * Node-side stand-ins for Jira Cloud (REST v3 issue create) and ServiceNow (Table API incident
 * insert) in the workerd tests (wired in vitest.config.mts through test/setup/outbound.ts). They
 * check what the real services check first — the Basic credentials, the JSON media type, the
 * required fields — answer as the real ones do, and record every request. Tests read the record
 * and arm failures through the `TICKETS` service binding; failures are armed for requests whose
 * body names a given review or device, since test files share this process.
 */
import { randomBytes } from "node:crypto";

export const JIRA_HOST = "jira.warden.test";
export const SERVICENOW_HOST = "servicenow.warden.test";
/** The credentials vitest.config.mts gives the worker; made afresh every run. */
export const JIRA_USER = "warden-bot@warden.test";
export const JIRA_API_TOKEN = randomBytes(24).toString("base64url");
export const SERVICENOW_USER = "warden.integration";
export const SERVICENOW_PASSWORD = randomBytes(24).toString("base64url");

type Service = "jira" | "servicenow";

interface Received {
  service: Service;
  method: string;
  path: string;
  headers: Record<string, string>;
  body: string;
  status: number;
}

const received: Received[] = [];
/** `<service> <text>` → how many more of that service's requests whose body contains the text answer 503. */
const failures = new Map<string, number>();
let issues = 0;
let incidents = 0;

function basic(user: string, secret: string): string {
  return `Basic ${Buffer.from(`${user}:${secret}`).toString("base64")}`;
}

function answer(record: Omit<Received, "status">, status: number, body: unknown): Response {
  received.push({ ...record, status });
  return Response.json(body, { status });
}

/** Whether a failure is armed for this request (and uses it up). */
function armedFailure(service: Service, body: string): boolean {
  for (const [key, left] of failures) {
    const [armedService, match] = key.split(" ");
    if (armedService === service && left > 0 && body.includes(match!)) {
      failures.set(key, left - 1);
      return true;
    }
  }
  return false;
}

/** miniflare outbound requests to the two hosts (test/setup/outbound.ts routes them here). */
export async function ticketServices(request: Request): Promise<Response> {
  const url = new URL(request.url);
  const service: Service = url.hostname === JIRA_HOST ? "jira" : "servicenow";
  const body = await request.text();
  const record = { service, method: request.method, path: url.pathname, headers: Object.fromEntries(request.headers), body };
  const expected = service === "jira" ? { path: "/rest/api/3/issue", auth: basic(JIRA_USER, JIRA_API_TOKEN) } : { path: "/api/now/table/incident", auth: basic(SERVICENOW_USER, SERVICENOW_PASSWORD) };
  if (request.method !== "POST" || url.pathname !== expected.path) return answer(record, 404, { error: "no such resource" });
  if (request.headers.get("authorization") !== expected.auth) return answer(record, 401, { errorMessages: ["not authenticated"] });
  if (!/^application\/json/.test(request.headers.get("content-type") ?? "")) return answer(record, 415, { errorMessages: ["unsupported media type"] });
  if (armedFailure(service, body)) return answer(record, 503, { errorMessages: ["service unavailable (armed by the test)"] });
  const parsed = JSON.parse(body) as Record<string, unknown>;
  if (service === "jira") {
    const fields = (parsed["fields"] ?? {}) as { project?: { key?: string }; issuetype?: unknown; summary?: unknown };
    if (typeof fields.project?.key !== "string" || fields.issuetype === undefined || typeof fields.summary !== "string") {
      return answer(record, 400, { errorMessages: [], errors: { summary: "You must specify a summary of the issue." } });
    }
    issues += 1;
    const id = String(10_000 + issues);
    return answer(record, 201, { id, key: `${fields.project.key}-${issues}`, self: `https://${JIRA_HOST}/rest/api/3/issue/${id}` });
  }
  if (typeof parsed["short_description"] !== "string") return answer(record, 400, { error: { message: "short_description is mandatory" }, status: "failure" });
  incidents += 1;
  const sysId = randomBytes(16).toString("hex");
  return answer(record, 201, { result: { ...parsed, sys_id: sysId, number: `INC${String(10_000 + incidents).padStart(7, "0")}`, state: "1" } });
}

/**
 * miniflare service binding `TICKETS`: `GET /?service=<jira|servicenow>&review=<id>` lists the
 * requests (those whose body names the review), `POST /fail {service, match, times}` makes that
 * many of the service's next requests whose body contains `match` (a review or device id) answer 503.
 */
export async function ticketSink(request: Request): Promise<Response> {
  const url = new URL(request.url);
  if (request.method === "POST" && url.pathname === "/fail") {
    const { service, match, times } = (await request.json()) as { service: Service; match: string; times: number };
    failures.set(`${service} ${match}`, times);
    return new Response(null, { status: 204 });
  }
  const service = url.searchParams.get("service");
  const review = url.searchParams.get("review");
  return Response.json(received.filter((item) => (service === null || item.service === service) && (review === null || item.body.includes(review))));
}
