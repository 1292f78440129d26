import { createRoute, z } from "@hono/zod-openapi";
import type { AuthenticationResponseJSON, RegistrationResponseJSON } from "@simplewebauthn/server";
import { requireRole } from "../auth.ts";
import { StateError, VerificationError, WardenError } from "../errors.ts";
import { DeviceIdSchema, bearerSecurity, jsonBody, problems, router } from "../openapi.ts";
import { sha256Hex } from "../review/record.ts";
import { CLEAR_REVIEWER_COOKIE, issueReviewerSession, reviewerCookie } from "../review/session.ts";
import { CHALLENGE_TTL_MS, type ReviewerRecord } from "../../durable-objects/ReviewQueue.ts";
import { assertionOptions, fromBase64url, parseClientData, registrationOptions, reviewConfig, toBase64url, verifyAssertion, verifyRegistration } from "../review/webauthn.ts";
import { AssertionSchema } from "./reviews.ts";

/** An enrollment link is good for this long, once. */
export const ENROLLMENT_TTL_MS = 24 * 3_600_000;

const B64 = z.string().min(1).max(16384).regex(/^[A-Za-z0-9_-]+$/);
const EnrollmentTokenSchema = z.string().regex(/^[A-Za-z0-9_-]{43}$/).openapi({ description: "The one-time token from the enrollment link" });

const ReviewerIdSchema = z.string().regex(/^[a-z0-9][a-z0-9._@-]{0,63}$/).openapi({ example: "alice" });

const NewReviewerSchema = z
  .strictObject({
    id: ReviewerIdSchema,
    display_name: z.string().min(1).max(128),
    devices: z.array(DeviceIdSchema).max(32).default([]).openapi({ description: "Devices this reviewer uses: they may not approve holds raised from them" }),
  })
  .openapi("NewReviewer");

const ReviewerSchema = z
  .object({ id: z.string(), display_name: z.string(), devices: z.array(z.string()), created_at: z.string(), credentials: z.int() })
  .openapi("Reviewer");

const EnrollmentSchema = z
  .object({ token: z.string(), url: z.string(), expires_at: z.string() })
  .openapi("Enrollment", { description: "Hand the link to the reviewer; it registers one passkey, once" });

/** A registration as `PublicKeyCredential.toJSON()` gives it (unknown members dropped). */
const RegistrationSchema = z
  .object({
    id: B64.max(1024),
    rawId: B64.max(1024),
    type: z.literal("public-key"),
    response: z.object({
      clientDataJSON: B64.max(4096),
      attestationObject: B64,
      transports: z.array(z.string().max(32)).max(8).optional(),
    }),
    clientExtensionResults: z.record(z.string(), z.unknown()).optional().default({}),
    authenticatorAttachment: z.string().max(32).optional().nullable(),
  })
  .openapi("WebAuthnRegistration");

function reviewerView(reviewer: ReviewerRecord, credentials: number) {
  return { id: reviewer.id, display_name: reviewer.display_name, devices: reviewer.devices, created_at: reviewer.created_at, credentials };
}

export const reviewers = router();

async function newEnrollment(env: Env, randomBytes: (n: number) => Uint8Array, now: number) {
  const token = toBase64url(randomBytes(32));
  const expiresAt = now + ENROLLMENT_TTL_MS;
  // The fragment never reaches a server log; the page reads it and posts it.
  const url = `${reviewConfig(env).origin}/review/enroll#${token}`;
  return { token, tokenHash: sha256Hex(token), expiresAt, view: { token, url, expires_at: new Date(expiresAt).toISOString() } };
}

reviewers.use("/v1/reviewers", requireRole("admin"));
reviewers.openapi(
  createRoute({
    method: "post",
    path: "/v1/reviewers",
    summary: "Register a reviewer and issue their one-time passkey enrollment link (admin)",
    security: bearerSecurity,
    request: jsonBody(NewReviewerSchema),
    responses: {
      201: { description: "Registered", content: { "application/json": { schema: z.object({ reviewer: ReviewerSchema, enrollment: EnrollmentSchema }) } } },
      ...problems(400, 401, 403, 409),
    },
  }),
  async (c) => {
    const { deps } = c.var;
    const body = c.req.valid("json");
    const now = deps.now();
    const enrollment = await newEnrollment(c.env, deps.randomBytes, now);
    const reviewer: ReviewerRecord = {
      id: body.id,
      display_name: body.display_name,
      devices: [...new Set(body.devices)],
      user_handle: toBase64url(deps.randomBytes(32)),
      created_at: new Date(now).toISOString(),
    };
    const added = await deps.reviewQueue(c.env, c.env.TENANT).addReviewer({ reviewer, enrollment: { tokenHash: enrollment.tokenHash, expiresAt: enrollment.expiresAt } });
    if (!added.ok) throw new StateError(added.code, `reviewer ${body.id} cannot be registered`);
    return c.json({ reviewer: reviewerView(reviewer, 0), enrollment: enrollment.view }, 201);
  },
);

reviewers.use("/v1/reviewers/:id/enrollments", requireRole("admin"));
reviewers.openapi(
  createRoute({
    method: "post",
    path: "/v1/reviewers/{id}/enrollments",
    summary: "Issue another one-time enrollment link for a reviewer (admin)",
    security: bearerSecurity,
    request: { params: z.object({ id: ReviewerIdSchema }) },
    responses: {
      201: { description: "Issued", content: { "application/json": { schema: EnrollmentSchema } } },
      ...problems(401, 403, 404),
    },
  }),
  async (c) => {
    const { deps } = c.var;
    const enrollment = await newEnrollment(c.env, deps.randomBytes, deps.now());
    const added = await deps.reviewQueue(c.env, c.env.TENANT).addEnrollment({ reviewer: c.req.valid("param").id, tokenHash: enrollment.tokenHash, expiresAt: enrollment.expiresAt });
    if (!added.ok) throw new StateError(added.code, "no such reviewer");
    return c.json(enrollment.view, 201);
  },
);

reviewers.openapi(
  createRoute({
    method: "post",
    path: "/v1/reviewers/enroll/options",
    summary: "Passkey creation options for an enrollment link",
    request: jsonBody(z.strictObject({ token: EnrollmentTokenSchema }).openapi("EnrollmentOptionsRequest")),
    responses: {
      200: { description: "WebAuthn creation options", content: { "application/json": { schema: z.object({ reviewer: ReviewerSchema, options: z.record(z.string(), z.unknown()) }) } } },
      ...problems(400, 401),
    },
  }),
  async (c) => {
    const { deps } = c.var;
    const config = reviewConfig(c.env);
    const { token } = c.req.valid("json");
    const now = deps.now();
    const queue = deps.reviewQueue(c.env, c.env.TENANT);
    const enrollment = await queue.enrollment(sha256Hex(token), now);
    if (!enrollment.ok) throw new VerificationError(enrollment.code, "the enrollment link is unknown, used or expired");
    const challenge = toBase64url(deps.randomBytes(32));
    await queue.issueChallenge({ challenge, purpose: "register", reviewer: enrollment.reviewer.id, review_id: null, enrollment: sha256Hex(token), expires_at: now + CHALLENGE_TTL_MS }, now);
    const options = await registrationOptions(config, {
      reviewerId: enrollment.reviewer.id,
      displayName: enrollment.reviewer.display_name,
      userHandle: fromBase64url(enrollment.reviewer.user_handle),
      challenge,
      exclude: enrollment.credentials,
    });
    return c.json({ reviewer: reviewerView(enrollment.reviewer, enrollment.credentials.length), options: { ...options } }, 200);
  },
);

reviewers.openapi(
  createRoute({
    method: "post",
    path: "/v1/reviewers/enroll",
    summary: "Register the reviewer's passkey (attestation none, user verification required)",
    request: jsonBody(z.strictObject({ token: EnrollmentTokenSchema, response: RegistrationSchema }).openapi("EnrollmentRequest")),
    responses: {
      201: { description: "Registered", content: { "application/json": { schema: z.object({ reviewer: ReviewerSchema, credential_id: z.string() }) } } },
      ...problems(400, 401, 409),
    },
  }),
  async (c) => {
    const { deps } = c.var;
    const config = reviewConfig(c.env);
    const { token, response } = c.req.valid("json");
    const queue = deps.reviewQueue(c.env, c.env.TENANT);
    const client = parseClientData(response.response.clientDataJSON);
    const taken = await queue.takeChallenge(client.challenge, deps.now());
    if (!taken.ok) throw new VerificationError(taken.code, "the challenge cannot be used");
    const { row } = taken;
    if (row.purpose !== "register" || row.enrollment !== sha256Hex(token) || !row.reviewer) throw new VerificationError("challenge_invalid", "the challenge is not for this enrollment");
    const credential = await verifyRegistration(response as RegistrationResponseJSON, config, row.challenge);
    const now = deps.now();
    const added = await queue.addCredential({ tokenHash: sha256Hex(token), reviewer: row.reviewer, credential, now });
    if (!added.ok) throw new StateError(added.code, "the passkey cannot be registered");
    const reviewer = await queue.reviewer(row.reviewer);
    if (!reviewer) throw new WardenError("not_found", "no such reviewer");
    return c.json({ reviewer: reviewerView(reviewer, (await queue.credentialIds(reviewer.id)).length), credential_id: credential.id }, 201);
  },
);

reviewers.openapi(
  createRoute({
    method: "post",
    path: "/v1/reviewers/login/options",
    summary: "Passkey sign-in challenge for the reviewer page",
    request: jsonBody(z.strictObject({}).openapi("LoginOptionsRequest")),
    responses: { 200: { description: "WebAuthn request options (discoverable credentials)", content: { "application/json": { schema: z.object({ options: z.record(z.string(), z.unknown()) }) } } } },
  }),
  async (c) => {
    const { deps } = c.var;
    const config = reviewConfig(c.env);
    const now = deps.now();
    const challenge = toBase64url(deps.randomBytes(32));
    await deps.reviewQueue(c.env, c.env.TENANT).issueChallenge({ challenge, purpose: "login", reviewer: null, review_id: null, enrollment: null, expires_at: now + CHALLENGE_TTL_MS }, now);
    return c.json({ options: { ...(await assertionOptions(config, { challenge, allow: [] })) } }, 200);
  },
);

reviewers.openapi(
  createRoute({
    method: "post",
    path: "/v1/reviewers/login",
    summary: "Sign in to the reviewer page with a passkey; sets an HttpOnly session cookie",
    request: jsonBody(z.strictObject({ response: AssertionSchema }).openapi("LoginRequest")),
    responses: {
      200: { description: "Signed in", content: { "application/json": { schema: z.object({ reviewer: ReviewerSchema, expires_at: z.string() }) } } },
      ...problems(400, 401),
    },
  }),
  async (c) => {
    const { deps } = c.var;
    const config = reviewConfig(c.env);
    const response = c.req.valid("json").response as AuthenticationResponseJSON;
    const queue = deps.reviewQueue(c.env, c.env.TENANT);
    const client = parseClientData(response.response.clientDataJSON);
    const taken = await queue.takeChallenge(client.challenge, deps.now());
    if (!taken.ok) throw new VerificationError(taken.code, "the challenge cannot be used");
    if (taken.row.purpose !== "login") throw new VerificationError("challenge_invalid", "the challenge is not for a sign-in");
    const credential = await queue.credential(response.id);
    if (!credential) throw new VerificationError("webauthn_invalid", "unknown passkey");
    const { newCounter } = await verifyAssertion(response, config, taken.row.challenge, credential);
    const now = deps.now();
    const used = await queue.useCredential({ id: credential.id, newCounter, now });
    if (!used.ok) throw new VerificationError(used.code === "counter_regression" ? "counter_regression" : "webauthn_invalid", "the passkey cannot sign in");
    const session = await issueReviewerSession(c, used.reviewer.id, now);
    c.header("set-cookie", reviewerCookie(session.token));
    c.header("cache-control", "no-store");
    return c.json({ reviewer: reviewerView(used.reviewer, (await queue.credentialIds(used.reviewer.id)).length), expires_at: new Date(session.expiresAt).toISOString() }, 200);
  },
);

reviewers.openapi(
  createRoute({
    method: "post",
    path: "/v1/reviewers/logout",
    summary: "Sign out of the reviewer page",
    responses: { 204: { description: "Signed out" } },
  }),
  (c) => {
    c.header("set-cookie", CLEAR_REVIEWER_COOKIE);
    return c.body(null, 204);
  },
);
