import { createRoute, z } from "@hono/zod-openapi";
import type { AuthenticationResponseJSON, RegistrationResponseJSON } from "@simplewebauthn/server";
import { requireRole } from "../auth.ts";
import { bearerSecurity, DeviceIdSchema, jsonBody, problems, publicAccess, router } from "../openapi.ts";
import { enrollPasskey, enrollmentOptions, issueEnrollment, registerReviewer, signIn, signInOptions } from "../review/reviewers.ts";
import { AssertionSchema } from "../review/schemas.ts";
import { CLEAR_REVIEWER_COOKIE, reviewerCookie } from "../review/session.ts";

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

/** Reviewers over HTTP: registration and enrollment links (admin), passkey enrollment, sign-in and sign-out (flows in worker/review/reviewers.ts). */
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
      ...problems(400, 401),
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
