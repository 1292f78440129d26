import { SoftwareAuthenticator } from "../software-authenticator.ts";
import type { NodeSuiteContext } from "./setup.ts";

/**
 * A reviewer approving a hold with a software passkey (test/software-authenticator.ts) over the
 * reviewer API, as the reviewer page does in a browser: enrol from the one-time link, sign in,
 * then challenge, assertion and verdict for the hold.
 */

async function call<T>(ctx: NodeSuiteContext, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: T; headers: Headers }> {
  const response = await fetch(`${ctx.api}${path}`, {
    method,
    headers: { ...(body !== undefined ? { "content-type": "application/json" } : {}), ...headers },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await response.text();
  return { status: response.status, body: (text ? JSON.parse(text) : null) as T, headers: response.headers };
}

export interface Reviewer {
  authenticator: SoftwareAuthenticator;
  cookie: string;
}

export async function enrolledReviewer(ctx: NodeSuiteContext, id: string): Promise<Reviewer> {
  const admin = { authorization: `Bearer ${ctx.adminToken}` };
  const created = await call<{ enrollment: { token: string } }>(ctx, "POST", "/v1/reviewers", { id, display_name: `Reviewer ${id}` }, admin);
  if (created.status !== 201) throw new Error(`reviewer: ${JSON.stringify(created.body)}`);
  const authenticator = await SoftwareAuthenticator.create(ctx.url, new URL(ctx.url).hostname);
  const token = created.body.enrollment.token;
  const options = await call<{ options: Parameters<SoftwareAuthenticator["register"]>[0] }>(ctx, "POST", "/v1/reviewers/enroll/options", { token });
  const enrolled = await call(ctx, "POST", "/v1/reviewers/enroll", { token, response: await authenticator.register(options.body.options) });
  if (enrolled.status !== 201) throw new Error(`enroll: ${JSON.stringify(enrolled.body)}`);
  const login = await call<{ options: Parameters<SoftwareAuthenticator["assert"]>[0] }>(ctx, "POST", "/v1/reviewers/login/options", {});
  const signedIn = await call(ctx, "POST", "/v1/reviewers/login", { response: await authenticator.assert(login.body.options) });
  if (signedIn.status !== 200) throw new Error(`login: ${JSON.stringify(signedIn.body)}`);
  return { authenticator, cookie: (signedIn.headers.get("set-cookie") ?? "").split(";")[0]! };
}

/** The id of the first pending hold raised by `device`, polling until one appears. */
export async function pendingHoldOf(ctx: NodeSuiteContext, device: string, timeoutMs = 30_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const listed = await call<{ reviews: { id: string; record: { requester: { device: string } } }[] }>(ctx, "GET", "/v1/reviews", undefined, { authorization: `Bearer ${ctx.adminToken}` });
    const hold = listed.body.reviews.find((review) => review.record.requester.device === device);
    if (hold) return hold.id;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`no pending hold of ${device}`);
}

/** Challenge, assertion, verdict: one approval of hold `id`. */
export async function approve(ctx: NodeSuiteContext, reviewer: Reviewer, id: string): Promise<void> {
  const hold = await call<{ hold_sha256: string }>(ctx, "GET", `/v1/reviews/${id}`, undefined, { authorization: `Bearer ${ctx.adminToken}` });
  const options = await call<{ options: Parameters<SoftwareAuthenticator["assert"]>[0] }>(ctx, "POST", `/v1/reviews/${id}/options`, { verdict: "approve", hold_sha256: hold.body.hold_sha256 }, { cookie: reviewer.cookie });
  if (options.status !== 200) throw new Error(`verdict options: ${JSON.stringify(options.body)}`);
  const verdict = await call<{ status: string }>(ctx, "POST", `/v1/reviews/${id}/verdict`, { response: await reviewer.authenticator.assert(options.body.options) });
  if (verdict.status !== 200 || verdict.body.status !== "approved") throw new Error(`verdict: ${JSON.stringify(verdict.body)}`);
}
