import type { Context } from "hono";
import type { AppEnv } from "../context.ts";
import { router } from "../openapi.ts";
import { reviewPageData } from "../review/holds.ts";
import { WEBAUTHN_CLIENT, enrollPage, originNotice, pageCsp, reviewPage } from "../review/page.ts";
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
  return htmlResponse(c, nonce, reviewPage(nonce, reviewer, holds, now, originNotice(new URL(c.req.url).origin, c.env.REVIEW_ORIGIN, "/review")));
});

reviewPages.get("/review/enroll", function enrollmentPage(c) {
  const nonce = toBase64url(c.var.deps.randomBytes(16));
  return htmlResponse(c, nonce, enrollPage(nonce, originNotice(new URL(c.req.url).origin, c.env.REVIEW_ORIGIN, "/review/enroll")));
});

reviewPages.get(WEBAUTHN_CLIENT.path, function webauthnClient(c) {
  c.header("content-type", "text/javascript; charset=utf-8");
  c.header("x-content-type-options", "nosniff");
  // Revalidated on each page load: a deploy that updates the library must reach every reviewer at once.
  c.header("cache-control", "no-cache");
  return c.body(WEBAUTHN_CLIENT.body);
});
