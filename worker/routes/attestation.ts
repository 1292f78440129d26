import { createRoute, z } from "@hono/zod-openapi";
import { SessionEvidenceSchema } from "../attestation/schemas.ts";
import { issueNonce, openSession } from "../attestation/sessions.ts";
import { serviceContext } from "../context.ts";
import { DeviceIdSchema, dpopProofSecurity, jsonBody, problems, publicAccess, router } from "../openapi.ts";

const NonceRequestSchema = z.strictObject({ device_id: DeviceIdSchema }).openapi("NonceRequest");
const NonceSchema = z
  .object({
    nonce: z.string(),
    expires_at: z.string(),
    attestation: z
      .object({ tpm: z.object({ pcr_bank: z.string(), pcrs: z.array(z.int()) }).optional() })
      .optional()
      .openapi({ description: "What evidence for POST /v1/sessions must cover: for a TPM quote, the PCR bank and indices (from the device's bundle)" }),
  })
  .openapi("Nonce", { description: "Single use; sign it in the `nonce` claim of the DPoP proof of POST /v1/sessions" });

const SessionRequestSchema = z
  .strictObject({
    device_id: DeviceIdSchema,
    nonce: z.string().min(22).max(64),
    evidence: SessionEvidenceSchema.optional().openapi({ description: "Hardware evidence answering the nonce; when it verifies, the session's assurance is its type" }),
  })
  .openapi("SessionRequest");
const SessionSchema = z
  .object({
    session_token: z.string(),
    token_type: z.literal("DPoP"),
    expires_in: z.int(),
    assurance: z.string(),
    attestation: z.record(z.string(), z.unknown()).optional().openapi({ description: "Claims of the verified evidence (also in the token's `att` claim)" }),
  })
  .openapi("Session");

export const attestation = router();

attestation.openapi(
  createRoute({
    method: "post",
    path: "/v1/attestation/nonce",
    operationId: "issueNonce",
    tags: ["sessions"],
    security: publicAccess,
    summary: "Get a single-use nonce for opening a session",
    description: "Answered alike for every device id, registered or not: only a registered device's nonce opens a session.",
    request: jsonBody(NonceRequestSchema),
    responses: {
      201: { description: "A fresh nonce", content: { "application/json": { schema: NonceSchema } } },
      ...problems(400, 403, 413, 415),
    },
  }),
  async (c) => c.json(await issueNonce(serviceContext(c), c.req.valid("json").device_id), 201),
);

attestation.openapi(
  createRoute({
    method: "post",
    path: "/v1/sessions",
    operationId: "openSession",
    tags: ["sessions"],
    security: dpopProofSecurity,
    summary: "Open a device session by signing a server nonce",
    description:
      "The DPoP header carries a proof (RFC 9449) made with the registered device key whose `nonce` claim is the nonce from POST /v1/attestation/nonce. The first valid proof consumes the nonce; it cannot open a second session.",
    request: { ...jsonBody(SessionRequestSchema), headers: z.object({ dpop: z.string().max(4096) }) },
    responses: {
      201: { description: "A session token bound to the device key", content: { "application/json": { schema: SessionSchema } } },
      ...problems(400, 401, 403, 404, 409, 413, 415),
    },
  }),
  async (c) => c.json(await openSession(serviceContext(c), { dpop: c.req.header("dpop"), method: "POST", url: c.req.url }, c.req.valid("json")), 201),
);
