import { env } from "cloudflare:test";
import type { WardenClient } from "../cli/client.ts";
import { BASE_URL } from "./helpers.ts";
import { SoftwareAuthenticator } from "./software-authenticator.ts";

type Fetch = (request: Request) => Promise<Response>;

export const REVIEW_ORIGIN = env.REVIEW_ORIGIN!;
export const REVIEW_RP_ID = env.REVIEW_RP_ID!;

export interface Answer<T = Record<string, unknown>> {
  status: number;
  body: T & { code?: string };
  headers: Headers;
}

/** One JSON call to the worker under test. */
export async function call<T = Record<string, unknown>>(fetch: Fetch, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Answer<T>> {
  const init: RequestInit = { method, headers: { ...headers } };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    (init.headers as Record<string, string>)["content-type"] = "application/json";
  }
  const response = await fetch(new Request(BASE_URL + path, init));
  const text = await response.text();
  return { status: response.status, body: (text && response.headers.get("content-type")?.includes("json") ? JSON.parse(text) : { text }) as Answer<T>["body"], headers: response.headers };
}

export const admin = { authorization: `Bearer ${env.ADMIN_TOKEN}` };

export interface Reviewer {
  id: string;
  authenticator: SoftwareAuthenticator;
  cookie: string;
}

export interface HoldBody {
  id: string;
  status: string;
  decision: string | null;
  tier: string;
  deadline: string;
  approvals: { reviewer: string }[];
  approvers_required: number;
  released: boolean;
  hold_sha256: string;
  record: { review_id: string; decision_id: string; action_hash: string; requester: { device: string; agent: string }; action: { targets: { kind: string; value: string }[] } };
  token?: string;
}

/** Registers a reviewer (admin), enrolls a software passkey from the link's token, and signs in. */
export async function enrolledReviewer(fetch: Fetch, id: string, devices: string[] = [], authenticator?: SoftwareAuthenticator): Promise<Reviewer> {
  const created = await call<{ enrollment: { token: string; url: string } }>(fetch, "POST", "/v1/reviewers", { id, display_name: `Reviewer ${id}`, devices }, admin);
  if (created.status !== 201) throw new Error(`reviewer: ${JSON.stringify(created.body)}`);
  const key = authenticator ?? (await SoftwareAuthenticator.create(REVIEW_ORIGIN, REVIEW_RP_ID));
  await enroll(fetch, created.body.enrollment.token, key);
  return { id, authenticator: key, cookie: await signIn(fetch, key) };
}

export async function enroll(fetch: Fetch, token: string, authenticator: SoftwareAuthenticator): Promise<Answer> {
  const options = await call<{ options: { challenge: string; user: { id: string } } }>(fetch, "POST", "/v1/reviewers/enroll/options", { token });
  if (options.status !== 200) return options as Answer;
  const enrolled = await call(fetch, "POST", "/v1/reviewers/enroll", { token, response: await authenticator.register(options.body.options) });
  if (enrolled.status !== 201) throw new Error(`enroll: ${JSON.stringify(enrolled.body)}`);
  return enrolled;
}

/** The reviewer session cookie a passkey sign-in sets. */
export async function signIn(fetch: Fetch, authenticator: SoftwareAuthenticator): Promise<string> {
  const options = await call<{ options: { challenge: string } }>(fetch, "POST", "/v1/reviewers/login/options", {});
  const login = await call(fetch, "POST", "/v1/reviewers/login", { response: await authenticator.assert(options.body.options) });
  if (login.status !== 200) throw new Error(`login: ${JSON.stringify(login.body)}`);
  const cookie = login.headers.get("set-cookie") ?? "";
  return cookie.split(";")[0]!;
}

export async function holdAsAdmin(fetch: Fetch, id: string): Promise<HoldBody> {
  const answer = await call<HoldBody>(fetch, "GET", `/v1/reviews/${id}`, undefined, admin);
  if (answer.status !== 200) throw new Error(`hold: ${JSON.stringify(answer.body)}`);
  return answer.body;
}

/** Asks for the challenge of one verdict on the hold as it stands (or as `shown`). */
export async function verdictOptions(fetch: Fetch, reviewer: Reviewer, id: string, verdict: "approve" | "reject" | "escalate", shown?: string) {
  const hold_sha256 = shown ?? (await holdAsAdmin(fetch, id)).hold_sha256;
  return call<{ options: { challenge: string; allowCredentials: { id: string }[] }; statement: Record<string, unknown>; hold: HoldBody }>(
    fetch,
    "POST",
    `/v1/reviews/${id}/options`,
    { verdict, hold_sha256 },
    { cookie: reviewer.cookie },
  );
}

export function sendVerdict(fetch: Fetch, id: string, response: unknown) {
  return call<HoldBody>(fetch, "POST", `/v1/reviews/${id}/verdict`, { response });
}

/** Challenge, assertion, verdict: one reviewer's whole ceremony. */
export async function giveVerdict(fetch: Fetch, reviewer: Reviewer, id: string, verdict: "approve" | "reject" | "escalate") {
  const options = await verdictOptions(fetch, reviewer, id, verdict);
  if (options.status !== 200) return options as unknown as Answer<HoldBody>;
  return sendVerdict(fetch, id, await reviewer.authenticator.assert(options.body.options));
}

/** The device's view of its hold. */
export function waitOn(client: WardenClient, id: string, wait = 0) {
  return client.authorized<HoldBody & { code?: string; token_expires_at?: string }>("GET", `/v1/reviews/${id}${wait ? `?wait=${wait}` : ""}`);
}
