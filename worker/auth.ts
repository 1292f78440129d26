import type { Context, MiddlewareHandler } from "hono";
import { VerificationError, WardenError } from "./errors.ts";
import { deviceCall, type AppEnv, type Caller, type DeviceSession } from "./context.ts";
import { verifyDpopProof } from "./tokens/dpop.ts";
import type { JWTPayload } from "jose";
import { signingKey, type SigningKey } from "./tokens/keys.ts";
import { verifyWardenJwt } from "./tokens/jwt.ts";
import { reviewerSession } from "./review/session.ts";
import type { Assurance } from "./domain.ts";
import { SHELLS, type DeviceOs } from "./policy/targets.ts";

export type Role = Caller["role"];

/**
 * Authenticates the caller as admin or auditor (bearer token from configuration) or
 * as a device (session token with `Authorization: DPoP` plus a DPoP proof), and
 * refuses roles not in `roles`. The proof is verified here but spent by the route,
 * together with what the request changes.
 */
export function requireRole(...roles: Role[]): MiddlewareHandler<AppEnv> {
  return async function requireRoleMiddleware(c, next) {
    const caller = await authenticate(c);
    if (!roles.includes(caller.role)) throw new WardenError("forbidden", `role ${caller.role} may not call this`);
    c.set("caller", caller);
    await next();
  };
}

async function authenticate(c: Context<AppEnv>): Promise<Caller> {
  const authorization = c.req.header("authorization") ?? "";
  if (!authorization) {
    const session = await reviewerSession(c);
    if (session.state === "signed-in") return { role: "reviewer", reviewer: session.reviewer };
    if (session.state === "ended") throw new VerificationError(session.code, "an admin ended this reviewer session");
  }
  const [scheme, credential, extra] = authorization.split(" ");
  if (!scheme || !credential || extra !== undefined) throw new WardenError("unauthenticated", "an Authorization header is required");
  switch (scheme.toLowerCase()) {
    case "bearer": {
      if (await secretMatches(credential, c.env.ADMIN_TOKEN)) return { role: "admin" };
      if (await secretMatches(credential, c.env.AUDITOR_TOKEN)) return { role: "auditor" };
      throw new VerificationError("invalid_token", "the bearer token is not recognised");
    }
    case "dpop":
      return { role: "device", session: await deviceSession(c, credential) };
    default:
      throw new WardenError("unauthenticated", "the Authorization scheme must be Bearer or DPoP");
  }
}

async function deviceSession(c: Context<AppEnv>, token: string): Promise<DeviceSession> {
  const now = c.var.deps.now();
  const claims = await verifiedSession(token, await signingKey(c.env.SIGNING_KEY), now);
  const cnf = claims["cnf"] as { jkt?: unknown } | undefined;
  const { tnt, os, assurance, grp, sh } = claims as Record<string, unknown>;
  const shell = sh === undefined ? undefined : SHELLS.find((known) => known === sh);
  const groups = Array.isArray(grp) && grp.every((group) => typeof group === "string") ? (grp as string[]) : null;
  if (typeof cnf?.jkt !== "string" || typeof tnt !== "string" || typeof os !== "string" || typeof assurance !== "string" || groups === null || (sh !== undefined && shell === undefined)) {
    throw new VerificationError("invalid_token", "the session token lacks its binding claims");
  }
  // A session token from another tenant's deployment sharing the key is not ours to honour.
  if (tnt !== c.env.TENANT) throw new VerificationError("invalid_token", "the session belongs to another tenant");
  const { proof } = await verifyDpopProof(c.req.header("dpop"), {
    method: c.req.method,
    url: c.req.url,
    now,
    jkt: cnf.jkt,
    accessToken: token,
  });
  return {
    deviceId: claims.sub as string,
    tenant: tnt,
    jkt: cnf.jkt,
    os: os as DeviceOs,
    shell,
    assurance: assurance as Assurance,
    groups,
    sessionId: claims.jti as string,
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

async function verifiedSession(token: string, key: SigningKey, now: number): Promise<JWTPayload> {
  const cacheKey = `${key.kid} ${token}`;
  const cached = verifiedSessions.get(cacheKey);
  if (cached && typeof cached.exp === "number" && cached.exp * 1000 > now) return cached;
  verifiedSessions.delete(cacheKey);
  const claims = await verifyWardenJwt(token, key, "warden-session+jwt", now);
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
    if (!spent.ok) throw new WardenError(spent.code, "the proof was already used");
  }
  return store;
}
