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

/** Signs a reviewer session after a verified passkey sign-in. */
export async function issueReviewerSession(scope: ReviewScope, reviewer: string, now: number): Promise<{ token: string; expiresAt: number }> {
  return signWardenJwt(
    await signingKey(scope.env.SIGNING_KEY),
    "warden-reviewer+jwt",
    { sub: reviewer, tnt: scope.env.TENANT, jti: scope.deps.newId() },
    { now, ttlSeconds: REVIEWER_SESSION_SECONDS },
  );
}

/** The `Set-Cookie` value that carries a reviewer session. */
export function reviewerCookie(token: string): string {
  return `${REVIEWER_COOKIE}=${token}; Path=/; Max-Age=${REVIEWER_SESSION_SECONDS}; HttpOnly; Secure; SameSite=Strict`;
}

/** The `Set-Cookie` value that signs a reviewer out. */
export const CLEAR_REVIEWER_COOKIE = `${REVIEWER_COOKIE}=; Path=/; Max-Age=0; HttpOnly; Secure; SameSite=Strict`;

/** The signed-in reviewer, or null when the cookie is absent or does not verify (the page then offers sign-in). */
export async function reviewerFromCookie(c: Context<AppEnv>): Promise<{ id: string } | null> {
  const token = getCookie(c, REVIEWER_COOKIE);
  if (!token) return null;
  try {
    const claims = await verifyWardenJwt(token, await signingKey(c.env.SIGNING_KEY), "warden-reviewer+jwt", c.var.deps.now());
    if (claims["tnt"] !== c.env.TENANT || typeof claims.sub !== "string") return null;
    return { id: claims.sub };
  } catch {
    return null;
  }
}
