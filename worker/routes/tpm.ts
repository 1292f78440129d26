import { createRoute, z } from "@hono/zod-openapi";
import { base64 } from "../attestation/schemas.ts";
import { beginTpmEnrollment, completeTpmEnrollment, issueTpmBootstrap } from "../attestation/tpm.ts";
import { personOf, requireRole } from "../auth.ts";
import { serviceContext } from "../context.ts";
import { bearerSecurity, DeviceIdSchema, dpopProofSecurity, jsonBody, problems, router } from "../openapi.ts";

/** TPM enrollment (worker/attestation/tpm.ts): bootstrap token → enroll → activate. */

/** Bootstrap tokens live 15 minutes unless the admin asks otherwise (at most a day). */
const BOOTSTRAP_TTL_SECONDS = 900;

const BootstrapRequestSchema = z
  .strictObject({
    rebind: z.boolean().default(false).openapi({ description: "Allow enrolling another EK or AK than the bound ones (replaces the binding once activated)" }),
    ttl_seconds: z.int().min(60).max(86_400).default(BOOTSTRAP_TTL_SECONDS),
  })
  .openapi("TpmBootstrapRequest");
const BootstrapSchema = z
  .object({ bootstrap_token: z.string(), expires_at: z.string(), rebind: z.boolean() })
  .openapi("TpmBootstrap", { description: "One-time; hand it to the device's shim for POST /v1/attestation/tpm/enroll" });

const EnrollRequestSchema = z
  .strictObject({
    device_id: DeviceIdSchema,
    bootstrap_token: z.string().min(22).max(128),
    ek_certificate: base64(8192).openapi({ description: "EK certificate, DER, base64" }),
    ek_intermediates: z.array(base64(8192)).max(4).default([]).openapi({ description: "Intermediate CA certificates, DER, base64 (the pinned vendor intermediates are always candidates)" }),
    ek_public: base64(1024).openapi({ description: "The EK's TPMT_PUBLIC, base64" }),
    ak_public: base64(1024).openapi({ description: "The AK's TPMT_PUBLIC, base64" }),
  })
  .openapi("TpmEnrollRequest");
const ChallengeSchema = z
  .object({
    credential_blob: z.string().openapi({ description: "TPM2B_ID_OBJECT (with its size field), base64: TPM2_ActivateCredential's credentialBlob" }),
    encrypted_secret: z.string().openapi({ description: "TPM2B_ENCRYPTED_SECRET (with its size field), base64: TPM2_ActivateCredential's secret" }),
    expires_at: z.string(),
    ak_name: z.string(),
    ek: z.object({ vendor: z.string(), issuer: z.string(), chain: z.array(z.string()) }),
  })
  .openapi("TpmCredentialChallenge");
const ActivateRequestSchema = z
  .strictObject({ device_id: DeviceIdSchema, secret: base64(128).openapi({ description: "The credential TPM2_ActivateCredential returned, base64" }) })
  .openapi("TpmActivateRequest");
const EnrolledSchema = z
  .object({ enrolled: z.literal(true), ek_name: z.string(), ak_name: z.string(), vendor: z.string(), log: z.object({ seq: z.int(), hash: z.string() }) })
  .openapi("TpmEnrolled");

export const tpm = router();

tpm.use("/v1/devices/:id/tpm/*", requireRole("admin"));
tpm.openapi(
  createRoute({
    method: "post",
    path: "/v1/devices/{id}/tpm/bootstrap",
    operationId: "bootstrapTpm",
    tags: ["attestation"],
    summary: "Issue a one-time TPM bootstrap token for a device (admin)",
    security: bearerSecurity,
    request: { params: z.object({ id: DeviceIdSchema }), ...jsonBody(BootstrapRequestSchema) },
    responses: {
      201: { description: "The token (only its digest is stored)", content: { "application/json": { schema: BootstrapSchema } } },
      ...problems(400, 401, 403, 404, 413, 415),
    },
  }),
  async (c) => {
    const { rebind, ttl_seconds } = c.req.valid("json");
    return c.json(await issueTpmBootstrap(serviceContext(c), c.req.valid("param").id, { rebind, ttlSeconds: ttl_seconds, by: personOf(c).id }), 201);
  },
);

tpm.openapi(
  createRoute({
    method: "post",
    path: "/v1/attestation/tpm/enroll",
    operationId: "enrollTpm",
    tags: ["attestation"],
    security: dpopProofSecurity,
    summary: "Enroll the device's TPM: EK certificate chain, AK profile, credential challenge",
    description:
      "Needs a bootstrap token from POST /v1/devices/{id}/tpm/bootstrap and a DPoP proof by the device's registered key. Answers with TPM2_ActivateCredential inputs; POST /v1/attestation/tpm/activate completes the enrollment.",
    request: { ...jsonBody(EnrollRequestSchema) },
    responses: {
      201: { description: "The credential challenge", content: { "application/json": { schema: ChallengeSchema } } },
      ...problems(400, 401, 403, 404, 409, 413, 415),
    },
  }),
  async (c) => c.json(await beginTpmEnrollment(serviceContext(c), { dpop: c.req.header("dpop"), method: "POST", url: c.req.url }, c.req.valid("json")), 201),
);

tpm.openapi(
  createRoute({
    method: "post",
    path: "/v1/attestation/tpm/activate",
    operationId: "activateTpm",
    tags: ["attestation"],
    security: dpopProofSecurity,
    summary: "Complete TPM enrollment with the credential TPM2_ActivateCredential recovered",
    description: "One attempt per challenge: a wrong credential discards it (logged) and enrollment starts over with a new bootstrap token.",
    request: { ...jsonBody(ActivateRequestSchema) },
    responses: {
      200: { description: "Enrolled", content: { "application/json": { schema: EnrolledSchema } } },
      ...problems(400, 401, 403, 404, 409, 413, 415),
    },
  }),
  async (c) => c.json(await completeTpmEnrollment(serviceContext(c), { dpop: c.req.header("dpop"), method: "POST", url: c.req.url }, c.req.valid("json")), 200),
);
