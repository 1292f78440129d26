import type { Context } from "hono";
import type { AppEnv } from "../context.ts";
import { router } from "../openapi.ts";
import { reviewPageData } from "../review/holds.ts";
import { enrollPage, pageCsp, reviewPage } from "../review/page.ts";
import { reviewerSession } from "../review/session.ts";
import { toBase64url } from "../review/webauthn.ts";

/** The reviewer page (`/review`) and the enrollment page (`/review/enroll`), outside the OpenAPI document. */
export const reviewPages = router();

function htmlResponse(c: Context<AppEnv>, nonce: string, body: string): Response {
  c.header("content-security-policy", pageCsp(nonce));
  c.header("x-frame-options", "DENY");
  c.header("cache-control", "no-store");
  c.header("referrer-policy", "no-referrer");
  return c.html(body);
}

reviewPages.get("/review", async function reviewQueuePage(c) {
  const nonce = toBase64url(c.var.deps.randomBytes(16));
  // A session an admin ended is shown the sign-in, like one that expired.
  const session = await reviewerSession(c);
  const { reviewer, holds, now } = await reviewPageData({ env: c.env, deps: c.var.deps }, session.state === "signed-in" ? session.reviewer : null);
  return htmlResponse(c, nonce, reviewPage(nonce, reviewer, holds, now));
});

reviewPages.get("/review/enroll", function enrollmentPage(c) {
  const nonce = toBase64url(c.var.deps.randomBytes(16));
  return htmlResponse(c, nonce, enrollPage(nonce));
});
