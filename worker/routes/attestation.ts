import { createRoute, z } from "@hono/zod-openapi";
import { SessionEvidenceSchema } from "../attestation/schemas.ts";
import { attestationResult } from "../attestation/results.ts";
import { issueNonce, openSession } from "../attestation/sessions.ts";
import { requireRole } from "../auth.ts";
import { serviceContext } from "../context.ts";
import { DeviceIdSchema, bearerSecurity, dpopProofSecurity, jsonBody, problems, publicAccess, router } from "../openapi.ts";

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
    attestation: z.record(z.string(), z.unknown()).optional().openapi({ description: "The attestation result as an EAR claims-set (draft-ietf-rats-ear-03; also the token's `att` claim): status, AR4SI trustworthiness vector and appraisal policy (the bundle digest) per submod, Warden's verified claims in `warden_claims`" }),
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
    description:
      "Answered alike for every device id, registered or not, and stored nowhere: the nonce is minted for that device id under a key only Warden holds, and a registered device's first session with it spends it.",
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
    request: { ...jsonBody(SessionRequestSchema) },
    responses: {
      201: { description: "A session token bound to the device key", content: { "application/json": { schema: SessionSchema } } },
      ...problems(400, 401, 403, 404, 409, 413, 415),
    },
  }),
  async (c) => c.json(await openSession(serviceContext(c), { dpop: c.req.header("dpop"), method: "POST", url: c.req.url }, c.req.valid("json")), 201),
);

const ResultRequestSchema = z
  .strictObject({
    evidence: SessionEvidenceSchema,
    nonce: z
      .string()
      .regex(/^(?:[0-9a-fA-F]{2}){8,64}$/)
      .openapi({ description: "The relying party's nonce, hex, 8 to 64 bytes: REPORT_DATA (zero-padded to 64 bytes) for sev-snp and tdx, the quote's extraData for azure-snp-vtpm and tpm" }),
    device_id: DeviceIdSchema.optional().openapi({ description: "Appraise under this device's bundle (required for tpm: its enrolled AK); else the tenant's active bundle" }),
  })
  .openapi("AttestationResultRequest");
const ResultSchema = z
  .object({
    ear: z.string().openapi({ description: "The EAR as a JWT (EdDSA, typ eat+jwt, kid in /.well-known/jwks.json)" }),
    claims: z.record(z.string(), z.unknown()).openapi({ description: "The EAR claims-set the JWT carries (draft-ietf-rats-ear-03)" }),
    expires_at: z.string(),
  })
  .openapi("AttestationResult");

attestation.use("/v1/attestation/results", requireRole("admin", "auditor"));
attestation.openapi(
  createRoute({
    method: "post",
    path: "/v1/attestation/results",
    operationId: "appraiseEvidence",
    tags: ["attestation"],
    summary: "Appraise evidence for a relying party and return a signed EAR (admin, auditor)",
    description:
      "Verifies TPM, SEV-SNP, TDX or Azure CVM evidence bound to the caller's nonce, appraises it against the device's (or the active) bundle, and answers with an EAT Attestation Result (draft-ietf-rats-ear-03) signed by the key of /.well-known/jwks.json. Refused evidence is a problem with `evidence_code`, as on POST /v1/sessions.",
    security: bearerSecurity,
    request: jsonBody(ResultRequestSchema),
    responses: {
      200: { description: "The signed result", content: { "application/json": { schema: ResultSchema } } },
      ...problems(400, 401, 403, 404, 409, 413, 415),
    },
  }),
  async (c) => c.json(await attestationResult(serviceContext(c), c.req.valid("json")), 200),
);
