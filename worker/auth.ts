import type { Context, MiddlewareHandler } from "hono";
import { VerificationError, WardenError } from "./errors.ts";
import { deviceCall, type AppEnv, type Caller, type DeviceSession, type Person, type PersonRole } from "./context.ts";
import { accessConfig, mappedRoles, verifyAccessToken, type AccessConfig } from "./people/access.ts";
import { verifyDpopProof } from "./tokens/dpop.ts";
import type { JWTPayload } from "jose";
import { signingKey, type SigningKey } from "./tokens/keys.ts";
import { verifyWardenJwt } from "./tokens/jwt.ts";
import { reviewerSession, type SignedInReviewer } from "./review/session.ts";
import type { Assurance } from "./domain.ts";
import { SHELLS, type DeviceOs } from "./policy/targets.ts";

export type Role = Caller["role"];

/** A reviewer id is an Access person's e-mail when it fits the reviewer id syntax (routes/reviewers.ts). */
const REVIEWER_ID = /^[a-z0-9][a-z0-9._@-]{0,63}$/;

/** Who presented credentials, before a route's roles pick the one it acts in. */
type Authenticated = { kind: "device"; session: DeviceSession } | { kind: "people"; person: Person | null; reviewer: SignedInReviewer | null };

/**
 * Authenticates the caller and admits it in the first of `roles` it holds: a device by its
 * session token (`Authorization: DPoP` plus a DPoP proof); a person through Cloudflare Access
 * (`Cf-Access-Jwt-Assertion`, roles from `ACCESS_ROLES`), a bootstrap bearer token (one role
 * each), or a reviewer's passkey sign-in (cookie). A device on a route for people is
 * `person_required`; a person without any of the roles is `forbidden`. The proof is verified
 * here but spent by the route, together with what the request changes.
 */
export function requireRole(...roles: Role[]): MiddlewareHandler<AppEnv> {
  return async function requireRoleMiddleware(c, next) {
    c.set("caller", admit(await authenticate(c), roles));
    await next();
  };
}

function admit(who: Authenticated, roles: readonly Role[]): Caller {
  if (who.kind === "device") {
    if (!roles.includes("device")) throw new WardenError("person_required", "a device session may not call a route for people");
    return { role: "device", session: who.session };
  }
  for (const role of roles) {
    if (role === "device") continue;
    if (role === "reviewer") {
      if (who.person?.roles.includes("reviewer") && REVIEWER_ID.test(who.person.id)) return { role, reviewer: { id: who.person.id }, person: who.person };
      if (who.reviewer) return { role, reviewer: who.reviewer, person: { id: who.reviewer.id, via: "passkey", roles: ["reviewer"] } };
      continue;
    }
    if (who.person?.roles.includes(role)) return { role, person: who.person };
  }
  if (!who.person && !who.reviewer) throw new WardenError("unauthenticated", "credentials are required");
  throw new WardenError("forbidden", `${who.person?.id ?? "the reviewer"} may not call this`);
}

async function authenticate(c: Context<AppEnv>): Promise<Authenticated> {
  const authorization = c.req.header("authorization") ?? "";
  if (!authorization) {
    const assertion = c.req.header("cf-access-jwt-assertion");
    const config = accessConfig(c.env);
    const person = assertion && config ? await accessPerson(c, assertion, config) : null;
    const session = await reviewerSession(c);
    if (session.state === "ended") throw new VerificationError(session.code, "an admin ended this reviewer session");
    const reviewer = session.state === "signed-in" ? session.reviewer : null;
    if (person || reviewer) return { kind: "people", person, reviewer };
  }
  const [scheme, credential, extra] = authorization.split(" ");
  if (!scheme || !credential || extra !== undefined) throw new WardenError("unauthenticated", "an Authorization header is required");
  switch (scheme.toLowerCase()) {
    case "bearer":
      return { kind: "people", person: await bootstrapPerson(c, credential), reviewer: null };
    case "dpop":
      return { kind: "device", session: await deviceSession(c, credential) };
    default:
      throw new WardenError("unauthenticated", "the Authorization scheme must be Bearer or DPoP");
  }
}

/** A person Cloudflare Access let through: every one is an actor, and holds the roles the configuration maps. */
async function accessPerson(c: Context<AppEnv>, assertion: string, config: AccessConfig): Promise<Person> {
  const { deps } = c.var;
  const identity = await verifyAccessToken(assertion, config, { now: deps.now(), fetch: (request) => deps.fetch(request) });
  return { id: identity.email, via: "access", roles: [...mappedRoles(identity, config), "actor"] };
}

/**
 * The bootstrap bearer tokens: one role each, for local development and for first setup before
 * Access is configured. Whatever they do is recorded as `bootstrap-token:<role>`, and each use is
 * logged, so their use in production is seen.
 */
const BOOTSTRAP_TOKENS = [
  ["admin", "ADMIN_TOKEN"],
  ["auditor", "AUDITOR_TOKEN"],
  ["privacy-officer", "PRIVACY_OFFICER_TOKEN"],
] as const satisfies readonly (readonly [PersonRole, keyof Env])[];

async function bootstrapPerson(c: Context<AppEnv>, credential: string): Promise<Person> {
  for (const [role, name] of BOOTSTRAP_TOKENS) {
    if (await secretMatches(credential, c.env[name])) {
      console.warn(JSON.stringify({ event: "auth.bootstrap_token", role, path: c.req.path }));
      return { id: `bootstrap-token:${role}`, via: "bootstrap-token", roles: [role] };
    }
  }
  throw new VerificationError("invalid_token", "the bearer token is not recognised");
}

/** The person a route admitted: who the records of what this request does name. */
export function personOf(c: Context<AppEnv>): Person {
  const caller = c.var.caller;
  if (caller.role === "device") throw new WardenError("person_required", "a person is required");
  return caller.person;
}

async function deviceSession(c: Context<AppEnv>, token: string): Promise<DeviceSession> {
  const now = c.var.deps.now();
  const claims = await verifiedSession(token, await signingKey(c.env.SIGNING_KEY), now, c.env.TENANT);
  const cnf = claims["cnf"] as { jkt?: unknown } | undefined;
  const { os, assurance, grp, sh } = claims as Record<string, unknown>;
  const shell = sh === undefined ? undefined : SHELLS.find((known) => known === sh);
  const groups = Array.isArray(grp) && grp.every((group) => typeof group === "string") ? (grp as string[]) : null;
  if (typeof cnf?.jkt !== "string" || typeof os !== "string" || typeof assurance !== "string" || groups === null || (sh !== undefined && shell === undefined)) {
    throw new VerificationError("invalid_token", "the session token lacks its binding claims");
  }
  const { proof } = await verifyDpopProof(c.req.header("dpop"), {
    method: c.req.method,
    url: c.req.url,
    now,
    jkt: cnf.jkt,
    accessToken: token,
  });
  return {
    deviceId: claims.sub as string,
    tenant: c.env.TENANT,
    jkt: cnf.jkt,
    os: os as DeviceOs,
    shell,
    assurance: assurance as Assurance,
    groups,
    sessionId: claims.jti as string,
    sessionExpiresAt: (claims.exp as number) * 1000,
    proof,
  };
}

/**
 * Session tokens already verified in this isolate, by key id and exact token text: a device
 * presents the same token on every request for up to 15 minutes, so its signature is checked
 * once. Expiry is still checked on every use.
 */
const verifiedSessions = new Map<string, JWTPayload>();
const MAX_VERIFIED_SESSIONS = 4096;

async function verifiedSession(token: string, key: SigningKey, now: number, tenant: string): Promise<JWTPayload> {
  const cacheKey = `${tenant} ${key.kid} ${token}`;
  const cached = verifiedSessions.get(cacheKey);
  if (cached && typeof cached.exp === "number" && cached.exp * 1000 > now) return cached;
  verifiedSessions.delete(cacheKey);
  const claims = await verifyWardenJwt(token, key, "warden-session+jwt", now, tenant);
  if (verifiedSessions.size >= MAX_VERIFIED_SESSIONS) verifiedSessions.clear();
  verifiedSessions.set(cacheKey, claims);
  return claims;
}

/** Constant-time comparison through digests, so neither content nor length leaks. */
async function secretMatches(presented: string, configured: string | undefined): Promise<boolean> {
  if (!configured) return false;
  const encoder = new TextEncoder();
  const [a, b] = await Promise.all([
    crypto.subtle.digest("SHA-256", encoder.encode(presented)),
    crypto.subtle.digest("SHA-256", encoder.encode(configured)),
  ]);
  return crypto.subtle.timingSafeEqual(a, b);
}

/** The device session of a request that passed `requireRole("device")`. */
export function deviceOf(c: Context<AppEnv>): DeviceSession {
  const caller = c.var.caller;
  if (caller.role !== "device") throw new WardenError("forbidden", "a device session is required");
  return caller.session;
}

/**
 * The Durable Object of device `id`, if the caller may read it: admins and auditors
 * any device, a device only itself. Another device's state is not merely forbidden
 * but invisible (404). A device's proof is spent here, as the read's only effect.
 */
export async function deviceInReach(c: Context<AppEnv>, id: string) {
  const { deps, caller } = c.var;
  const store = deps.deviceStore(c.env, c.env.TENANT, id);
  if (caller.role === "device") {
    if (caller.session.deviceId !== id) throw new WardenError("not_found", "no such device");
    const spent = await store.spendProof(deviceCall(caller.session), deps.now());
    if (!spent.ok) throw new WardenError(spent.code, "the device's object refused the read (its proof, session or standing)");
  }
  return store;
}
