import type { Context } from "hono";
import { getCookie } from "hono/cookie";
import type { AppEnv } from "../context.ts";
import { signingKey } from "../tokens/keys.ts";
import { signWardenJwt, verifyWardenJwt } from "../tokens/jwt.ts";
import type { ReviewScope } from "./scope.ts";

/** The reviewer page's session cookie: HttpOnly, Secure, SameSite=Strict, whole origin. */
export const REVIEWER_COOKIE = "warden_reviewer";
/** A sign-in lasts this long; every verdict needs its own assertion regardless. */
export const REVIEWER_SESSION_SECONDS = 15 * 60;

/** A signed-in reviewer: who, and the passkey they signed in with (`cid`), whose revocation ends the session. */
export interface SignedInReviewer {
  id: string;
  credential: string;
}

/** Signs a reviewer session after a verified passkey sign-in with `credential`. */
export async function issueReviewerSession(scope: ReviewScope, reviewer: SignedInReviewer, now: number): Promise<{ token: string; expiresAt: number }> {
  return signWardenJwt(
    await signingKey(scope.env.SIGNING_KEY),
    "warden-reviewer+jwt",
    { sub: reviewer.id, cid: reviewer.credential, tnt: scope.env.TENANT, jti: scope.deps.newId() },
    { now, ttlSeconds: REVIEWER_SESSION_SECONDS },
  );
}

/** The `Set-Cookie` value that carries a reviewer session. */
export function reviewerCookie(token: string): string {
  return `${REVIEWER_COOKIE}=${token}; Path=/; Max-Age=${REVIEWER_SESSION_SECONDS}; HttpOnly; Secure; SameSite=Strict`;
}

/** The `Set-Cookie` value that signs a reviewer out. */
export const CLEAR_REVIEWER_COOKIE = `${REVIEWER_COOKIE}=; Path=/; Max-Age=0; HttpOnly; Secure; SameSite=Strict`;

/**
 * The reviewer session a request carries: `none` when the cookie is absent or does not verify
 * (the page then offers sign-in), `signed-in` when it verifies and still stands, `ended` when an
 * admin removed its reviewer or revoked the passkey it was signed in with since.
 */
export type ReviewerSession = { state: "none" } | { state: "signed-in"; reviewer: SignedInReviewer } | { state: "ended"; code: "reviewer_removed" | "passkey_revoked" };

/**
 * Reads and checks the reviewer session cookie. A signature is not enough: the registry is asked
 * on every request whether the session still stands, so a removal or a revocation ends it at the
 * next request instead of at its expiry, up to 15 minutes later.
 */
export async function reviewerSession(c: Context<AppEnv>): Promise<ReviewerSession> {
  const token = getCookie(c, REVIEWER_COOKIE);
  if (!token) return { state: "none" };
  let reviewer: SignedInReviewer;
  try {
    const claims = await verifyWardenJwt(token, await signingKey(c.env.SIGNING_KEY), "warden-reviewer+jwt", c.var.deps.now(), c.env.TENANT);
    const { cid } = claims as Record<string, unknown>;
    if (typeof claims.sub !== "string" || typeof cid !== "string") return { state: "none" };
    reviewer = { id: claims.sub, credential: cid };
  } catch {
    return { state: "none" };
  }
  const standing = await c.var.deps.reviewerRegistry(c.env, c.env.TENANT).standing({ reviewer: reviewer.id, credential: reviewer.credential });
  if (standing.ok) return { state: "signed-in", reviewer };
  return standing.code === "not_found" ? { state: "none" } : { state: "ended", code: standing.code };
}
