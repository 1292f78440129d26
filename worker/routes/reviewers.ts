import { createRoute, z } from "@hono/zod-openapi";
import type { AuthenticationResponseJSON, RegistrationResponseJSON } from "@simplewebauthn/server";
import { requireRole } from "../auth.ts";
import { DeviceIdSchema, LogHeadSchema, bearerSecurity, jsonBody, problems, publicAccess, router } from "../openapi.ts";
import { enrollPasskey, enrollmentOptions, issueEnrollment, registerReviewer, removeReviewer, reviewerDetail, revokePasskey, signIn, signInOptions } from "../review/reviewers.ts";
import { AssertionSchema } from "../review/schemas.ts";
import { CLEAR_REVIEWER_COOKIE, reviewerCookie } from "../review/session.ts";

const B64 = z.string().min(1).max(16384).regex(/^[A-Za-z0-9_-]+$/);
const EnrollmentTokenSchema = z.string().regex(/^[A-Za-z0-9_-]{43}$/).openapi({ description: "The one-time token from the enrollment link" });

const ReviewerIdSchema = z.string().regex(/^[a-z0-9][a-z0-9._@-]{0,63}$/).openapi({ example: "alice" });

const NewReviewerSchema = z
  .strictObject({
    id: ReviewerIdSchema,
    display_name: z.string().min(1).max(128),
    devices: z.array(DeviceIdSchema).max(32).default([]).openapi({ description: "Devices this reviewer uses: they may not approve holds raised from them. Devices registered to the reviewer (their `user` is this id) are refused as well, listed here or not" }),
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

const AdminChangeSchema = z
  .object({
    at: z.string(),
    by: z.string().openapi({ description: "Who did it: `admin` (the admin bearer token) until people's identities arrive" }),
    reason: z.string(),
    log: LogHeadSchema.nullable().openapi({ description: "Where the tenant's admin log (`GET /v1/bundles/log`) records it" }),
  })
  .openapi("AdminChange");

const ReasonSchema = z
  .strictObject({ reason: z.string().trim().min(1).max(500).openapi({ description: "Why, for the admin log" }) })
  .openapi("AdminReason");

const CredentialIdSchema = z.string().min(1).max(1024).regex(/^[A-Za-z0-9_-]+$/).openapi({ description: "The passkey's credential id (base64url)" });

/** Reviewers over HTTP: registration, enrollment links, removal and passkey revocation (admin), passkey enrollment, sign-in and sign-out (flows in worker/review/reviewers.ts). */
export const reviewers = router();

reviewers.use("/v1/reviewers", requireRole("admin"));
reviewers.openapi(
  createRoute({
    method: "post",
    path: "/v1/reviewers",
    operationId: "registerReviewer",
    tags: ["reviewers"],
    summary: "Register a reviewer and issue their one-time passkey enrollment link (admin)",
    security: bearerSecurity,
    request: jsonBody(NewReviewerSchema),
    responses: {
      201: { description: "Registered", content: { "application/json": { schema: z.object({ reviewer: ReviewerSchema, enrollment: EnrollmentSchema }) } } },
      ...problems(400, 401, 403, 409),
    },
  }),
  async (c) => c.json(await registerReviewer({ env: c.env, deps: c.var.deps }, c.req.valid("json")), 201),
);

reviewers.use("/v1/reviewers/:id/enrollments", requireRole("admin"));
reviewers.openapi(
  createRoute({
    method: "post",
    path: "/v1/reviewers/{id}/enrollments",
    operationId: "issueReviewerEnrollment",
    tags: ["reviewers"],
    summary: "Issue another one-time enrollment link for a reviewer (admin)",
    security: bearerSecurity,
    request: { params: z.object({ id: ReviewerIdSchema }) },
    responses: {
      201: { description: "Issued", content: { "application/json": { schema: EnrollmentSchema } } },
      ...problems(401, 403, 404),
    },
  }),
  async (c) => c.json(await issueEnrollment({ env: c.env, deps: c.var.deps }, c.req.valid("param").id), 201),
);

reviewers.openapi(
  createRoute({
    method: "get",
    path: "/v1/reviewers/{id}",
    tags: ["reviewers"],
    operationId: "getReviewer",
    summary: "A reviewer with their passkeys, and any removal or revocation (admin)",
    security: bearerSecurity,
    middleware: [requireRole("admin")] as const,
    request: { params: z.object({ id: ReviewerIdSchema }) },
    responses: {
      200: {
        description: "The reviewer",
        content: {
          "application/json": {
            schema: z
              .object({
                reviewer: ReviewerSchema,
                removed: AdminChangeSchema.nullable(),
                passkeys: z.array(z.object({ id: z.string(), created_at: z.string(), last_used_at: z.string().nullable(), revoked: AdminChangeSchema.nullable() })),
              })
              .openapi("ReviewerDetail"),
          },
        },
      },
      ...problems(401, 403, 404),
    },
  }),
  async (c) => c.json(await reviewerDetail({ env: c.env, deps: c.var.deps }, c.req.valid("param").id), 200),
);

reviewers.openapi(
  createRoute({
    method: "delete",
    path: "/v1/reviewers/{id}",
    tags: ["reviewers"],
    operationId: "removeReviewer",
    summary: "Remove a reviewer: passkeys, sessions and verdict challenges stop at once (admin)",
    description:
      "None of the reviewer's passkeys signs in or gives a verdict any more (`reviewer_removed`), each of their sessions is refused at its next request, " +
      "their outstanding verdict challenges are void, their approvals of holds still pending stop counting (`review.approval_withdrawn` in the device log), " +
      "and their unused enrollment links are deleted. Recorded in the tenant's admin log as `admin.reviewer_removed` with `by` and `reason`. " +
      "The id stays taken. Repeating the request answers with the first removal.",
    security: bearerSecurity,
    middleware: [requireRole("admin")] as const,
    request: { params: z.object({ id: ReviewerIdSchema }), ...jsonBody(ReasonSchema) },
    responses: {
      200: {
        description: "Removed",
        content: {
          "application/json": {
            schema: z
              .object({ reviewer: z.string(), removed: AdminChangeSchema, passkeys: z.array(z.string()), voided_challenges: z.int(), withdrawn_approvals: z.array(z.string()) })
              .openapi("ReviewerRemoval"),
          },
        },
      },
      ...problems(400, 401, 403, 404),
    },
  }),
  async (c) => c.json(await removeReviewer({ env: c.env, deps: c.var.deps }, c.req.valid("param").id, { reason: c.req.valid("json").reason, by: "admin" }), 200),
);

reviewers.openapi(
  createRoute({
    method: "delete",
    path: "/v1/reviewers/{id}/passkeys/{credential}",
    tags: ["reviewers"],
    operationId: "revokePasskey",
    summary: "Revoke one passkey of a reviewer (admin)",
    description:
      "The passkey no longer signs in or gives a verdict (`passkey_revoked`) and a session signed in with it is refused at its next request; the reviewer's " +
      "other passkeys are untouched (issue another enrollment link for a replacement). The approvals it gave of holds still pending stop counting " +
      "(`review.approval_withdrawn` in the device log, naming the credential; listed in `withdrawn_approvals`), as a removed reviewer's do; approvals made " +
      "with the reviewer's other passkeys stand. Admins only: a reviewer cannot revoke their own passkeys, so a stolen " +
      "passkey cannot revoke its owner's others and keep itself. Recorded in the tenant's admin log as `admin.passkey_revoked` with `by` and `reason`.",
    security: bearerSecurity,
    middleware: [requireRole("admin")] as const,
    request: { params: z.object({ id: ReviewerIdSchema, credential: CredentialIdSchema }), ...jsonBody(ReasonSchema) },
    responses: {
      200: {
        description: "Revoked",
        content: { "application/json": { schema: z.object({ reviewer: z.string(), credential: z.string(), revoked: AdminChangeSchema, withdrawn_approvals: z.array(z.string()) }).openapi("PasskeyRevocation") } },
      },
      ...problems(400, 401, 403, 404),
    },
  }),
  async (c) => {
    const { id, credential } = c.req.valid("param");
    return c.json(await revokePasskey({ env: c.env, deps: c.var.deps }, { reviewer: id, credential, reason: c.req.valid("json").reason, by: "admin" }), 200);
  },
);

reviewers.openapi(
  createRoute({
    method: "post",
    path: "/v1/reviewers/enroll/options",
    operationId: "getEnrollmentOptions",
    tags: ["reviewers"],
    security: publicAccess,
    summary: "Passkey creation options for an enrollment link",
    request: jsonBody(z.strictObject({ token: EnrollmentTokenSchema }).openapi("EnrollmentOptionsRequest")),
    responses: {
      200: { description: "WebAuthn creation options", content: { "application/json": { schema: z.object({ reviewer: ReviewerSchema, options: z.record(z.string(), z.unknown()) }) } } },
      ...problems(400, 401),
    },
  }),
  async (c) => {
    const { reviewer, options } = await enrollmentOptions({ env: c.env, deps: c.var.deps }, c.req.valid("json").token);
    return c.json({ reviewer, options: { ...options } }, 200);
  },
);

reviewers.openapi(
  createRoute({
    method: "post",
    path: "/v1/reviewers/enroll",
    operationId: "enrollPasskey",
    tags: ["reviewers"],
    security: publicAccess,
    summary: "Register the reviewer's passkey (attestation none, user verification required)",
    request: jsonBody(z.strictObject({ token: EnrollmentTokenSchema, response: RegistrationSchema }).openapi("EnrollmentRequest")),
    responses: {
      201: { description: "Registered", content: { "application/json": { schema: z.object({ reviewer: ReviewerSchema, credential_id: z.string() }) } } },
      ...problems(400, 401, 409),
    },
  }),
  async (c) => {
    const { token, response } = c.req.valid("json");
    return c.json(await enrollPasskey({ env: c.env, deps: c.var.deps }, { token, response: response as RegistrationResponseJSON }), 201);
  },
);

reviewers.openapi(
  createRoute({
    method: "post",
    path: "/v1/reviewers/login/options",
    operationId: "getSignInOptions",
    tags: ["reviewers"],
    security: publicAccess,
    summary: "Passkey sign-in challenge for the reviewer page",
    request: jsonBody(z.strictObject({}).openapi("LoginOptionsRequest")),
    responses: { 200: { description: "WebAuthn request options (discoverable credentials)", content: { "application/json": { schema: z.object({ options: z.record(z.string(), z.unknown()) }) } } } },
  }),
  async (c) => c.json({ options: { ...(await signInOptions({ env: c.env, deps: c.var.deps })) } }, 200),
);

reviewers.openapi(
  createRoute({
    method: "post",
    path: "/v1/reviewers/login",
    operationId: "signIn",
    tags: ["reviewers"],
    security: publicAccess,
    summary: "Sign in to the reviewer page with a passkey; sets an HttpOnly session cookie",
    request: jsonBody(z.strictObject({ response: AssertionSchema }).openapi("LoginRequest")),
    responses: {
      200: { description: "Signed in", content: { "application/json": { schema: z.object({ reviewer: ReviewerSchema, expires_at: z.string() }) } } },
      ...problems(400, 401, 403),
    },
  }),
  async (c) => {
    const { reviewer, session } = await signIn({ env: c.env, deps: c.var.deps }, c.req.valid("json").response as AuthenticationResponseJSON);
    c.header("set-cookie", reviewerCookie(session.token));
    c.header("cache-control", "no-store");
    return c.json({ reviewer, expires_at: new Date(session.expiresAt).toISOString() }, 200);
  },
);

reviewers.openapi(
  createRoute({
    method: "post",
    path: "/v1/reviewers/logout",
    operationId: "signOut",
    tags: ["reviewers"],
    security: publicAccess,
    summary: "Sign out of the reviewer page",
    responses: { 204: { description: "Signed out" } },
  }),
  (c) => {
    c.header("set-cookie", CLEAR_REVIEWER_COOKIE);
    return c.body(null, 204);
  },
);
