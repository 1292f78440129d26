import { env, runInDurableObject } from "cloudflare:test";
import type { WardenClient } from "../cli/client.ts";
import { ReviewHolds, holdsIo, type HoldsIo } from "../durable-objects/ReviewHolds.ts";
import { ReviewOutbox, outboxIo, type OutboxIo } from "../durable-objects/ReviewOutbox.ts";
import type { ReviewerRegistry } from "../durable-objects/ReviewerRegistry.ts";
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
  record: {
    review_id: string;
    decision_id: string;
    action_hash: string;
    requester: { device: string; agent: string };
    action: { targets: { kind: string; value: string }[] };
    decision_log: { seq: number; hash: string };
  };
  tickets: { service: string; tier: string; key: string; url: string; at: string }[];
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

// ── the review objects and their injected I/O ──────────────────────────────

export function holdsStub(tenant: string): DurableObjectStub<ReviewHolds> {
  return env.REVIEW_HOLDS.get(env.REVIEW_HOLDS.idFromName(tenant));
}

export function outboxStub(tenant: string): DurableObjectStub<ReviewOutbox> {
  return env.REVIEW_OUTBOX.get(env.REVIEW_OUTBOX.idFromName(tenant));
}

export function registryStub(tenant: string): DurableObjectStub<ReviewerRegistry> {
  return env.REVIEWERS.get(env.REVIEWERS.idFromName(tenant));
}

type Method = (...args: unknown[]) => unknown;
type Methods = Record<string, Method>;
/** A stub of an object with injected I/O; its alarm handler can be run like any method. */
export type Injected<O extends ReviewHolds | ReviewOutbox> = DurableObjectStub<O> & { alarm(): Promise<void> };

/**
 * The object behind `stub`, with other I/O: every call builds an instance over the object's
 * real storage with `build`, inside the object (`runInDurableObject`), and calls the method
 * there. This is the seam the objects document (durable-objects/SCHEMA.md): I/O goes in
 * through the constructor; nothing is assigned to a running instance.
 */
function injected<O extends ReviewHolds | ReviewOutbox>(stub: DurableObjectStub<O>, build: (state: DurableObjectState) => O): Injected<O> {
  return new Proxy(stub, {
    get(target, property) {
      if (typeof property !== "string" || property === "id" || property === "name" || property === "then") return Reflect.get(target, property);
      return (...args: unknown[]) => runInDurableObject(target, (_running: O, state) => (build(state) as unknown as Methods)[property]!(...args));
    },
  }) as Injected<O>;
}

/** The tenant's holds with part of their I/O replaced (the clock, the outbox). */
export function holdsWith(stub: DurableObjectStub<ReviewHolds>, io: Partial<HoldsIo>): Injected<ReviewHolds> {
  return injected(stub, (state) => new ReviewHolds(state, env, { ...holdsIo(env), ...io }));
}

/** The tenant's outbox with part of its I/O replaced (the clock, fetch, the device logs). */
export function outboxWith(stub: DurableObjectStub<ReviewOutbox>, io: Partial<OutboxIo>): Injected<ReviewOutbox> {
  return injected(stub, (state) => new ReviewOutbox(state, env, { ...outboxIo(env), ...io }));
}

/**
 * `target` (a stub) with `method` replaced by what `around` makes of the real call, every other
 * method passing straight through. `id` and `name` are properties, not methods, and `then` must
 * stay the stub's own, or awaiting the proxy would take it for a promise: those are read as they are.
 */
function aroundMethod<T extends object>(target: T, method: string, around: (real: Method) => Method): T {
  return new Proxy(target, {
    get(stub, property) {
      if (typeof property !== "string" || property === "id" || property === "name" || property === "then") return Reflect.get(stub, property);
      const real: Method = (...args) => (stub as unknown as Methods)[property]!(...args);
      return property === method ? around(real) : real;
    },
  });
}

/** Stubs that fail as configured, sharing one count of failures. */
export interface Faulty<T> {
  /** A stub made now, in the caller's context: a stub made in one Durable Object cannot be used from another. */
  stub(): T;
  readonly failures: number;
}

/**
 * Stubs from `make` whose `method` fails the next `times` calls, across every stub made:
 * `before` the call reaches the object (nothing happens there), or `after` it ran (its
 * effect stays, its answer is lost).
 */
export function faulty<T extends object>(make: () => T, method: string, when: "before" | "after", times = 1): Faulty<T> {
  let left = times;
  let failures = 0;
  return {
    stub: () =>
      aroundMethod(make(), method, (real) => async (...args) => {
        if (left === 0) return real(...args);
        left -= 1;
        failures += 1;
        if (when === "before") throw new Error(`injected: ${method} never reached the object`);
        await real(...args);
        throw new Error(`injected: the answer to ${method} was lost`);
      }),
    get failures() {
      return failures;
    },
  };
}

/** Stubs that let something else happen in the window after one call, sharing whether it ran. */
export interface Interleaved<T> {
  /** A stub made now, in the caller's context. */
  stub(): T;
  readonly ran: boolean;
}

/**
 * Stubs from `make` whose first call of `method` runs in full, then `between` runs, and only then
 * does the answer reach the caller: what another request does in that window (an admin's
 * revocation between a verdict's counter check and its commit). Later calls pass straight through.
 */
export function interleaved<T extends object>(make: () => T, method: string, between: () => Promise<void>): Interleaved<T> {
  let ran = false;
  return {
    stub: () =>
      aroundMethod(make(), method, (real) => async (...args) => {
        const answer = await real(...args);
        if (!ran) {
          ran = true;
          await between();
        }
        return answer;
      }),
    get ran() {
      return ran;
    },
  };
}

/**
 * Every hold of `device` in the tenant's holds, in any status (by `holds_device`, the index the
 * object keeps on the record's device): `pending()` shows pending holds only, so a hold made and
 * then cancelled, approved or expired would pass there for no hold.
 */
export function holdsOfDevice(tenant: string, device: string): Promise<{ id: string; status: string }[]> {
  return runInDurableObject(holdsStub(tenant), (_running: ReviewHolds, state) =>
    state.storage.sql
      .exec<{ id: string; status: string }>("SELECT id, status FROM holds WHERE json_extract(record, '$.requester.device') = ? ORDER BY created_at, rowid", device)
      .toArray()
      .map((row) => ({ id: row.id, status: row.status })),
  );
}

/** When the object's alarm is set (ms), or null. */
export function alarmOf(stub: DurableObjectStub<ReviewHolds> | DurableObjectStub<ReviewOutbox>): Promise<number | null> {
  return runInDurableObject(stub as DurableObjectStub<ReviewHolds>, (_running: ReviewHolds, state) => state.storage.getAlarm());
}
