import { createRoute, z } from "@hono/zod-openapi";
import { base64url } from "jose";
import { StateError, WardenError } from "../errors.ts";
import { DeviceIdSchema, jsonBody, problems, router } from "../openapi.ts";
import { verifyDpopProof } from "../tokens/dpop.ts";
import { signWardenJwt } from "../tokens/jwt.ts";
import { signingKey } from "../tokens/keys.ts";
import { SessionEvidenceSchema, sessionEvidence, tpmManifestFor } from "./tpm.ts";
import type { DeviceLog } from "../../durable-objects/DeviceLog.ts";
import type { Assurance } from "../domain.ts";
import type { Context } from "hono";
import type { AppEnv } from "../context.ts";

/** 256 bits: well past the 128 a nonce needs to be unguessable. */
const NONCE_BYTES = 32;
const NONCE_TTL_SECONDS = 300;
const SESSION_TTL_SECONDS = 900;

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
    summary: "Get a single-use nonce for opening a session",
    request: jsonBody(NonceRequestSchema),
    responses: {
      201: { description: "A fresh nonce", content: { "application/json": { schema: NonceSchema } } },
      ...problems(400, 403, 404, 413, 415),
    },
  }),
  async (c) => {
    const { device_id } = c.req.valid("json");
    const { deps } = c.var;
    const now = deps.now();
    const nonce = base64url.encode(deps.randomBytes(NONCE_BYTES));
    const expiresAt = now + NONCE_TTL_SECONDS * 1000;
    const store = deps.deviceStore(c.env, c.env.TENANT, device_id);
    const outcome = await store.issueNonce(nonce, expiresAt, now);
    // An unknown device gets a nonce that was never stored, shaped like any other, so this
    // unauthenticated endpoint cannot tell which device ids exist; POST /v1/sessions refuses it.
    if (!outcome.ok && outcome.code !== "not_found") throw new StateError(outcome.code, "no nonce for this device");
    const tpm = await tpmSelectionHint(c, store, device_id, now);
    return c.json({ nonce, expires_at: new Date(expiresAt).toISOString(), ...(tpm ? { attestation: { tpm } } : {}) }, 201);
  },
);

attestation.openapi(
  createRoute({
    method: "post",
    path: "/v1/sessions",
    summary: "Open a device session by signing a server nonce",
    description:
      "The DPoP header carries a proof (RFC 9449) made with the registered device key whose `nonce` claim is the nonce from POST /v1/attestation/nonce. The first valid proof consumes the nonce; it cannot open a second session.",
    request: { ...jsonBody(SessionRequestSchema), headers: z.object({ dpop: z.string().max(4096) }) },
    responses: {
      201: { description: "A session token bound to the device key", content: { "application/json": { schema: SessionSchema } } },
      ...problems(400, 401, 403, 404, 413, 415),
    },
  }),
  async (c) => {
    const { device_id, nonce, evidence } = c.req.valid("json");
    const { deps } = c.var;
    const now = deps.now();
    const store = deps.deviceStore(c.env, c.env.TENANT, device_id);
    const device = await store.device();
    if (!device) throw new WardenError("not_found", "no such device");
    const { proof } = await verifyDpopProof(c.req.header("dpop"), { method: "POST", url: c.req.url, now, jkt: device.jkt, nonce });
    // Evidence is verified before the nonce is consumed; refused evidence burns the nonce and is logged.
    const attested = evidence ? await sessionEvidence(c, store, device, nonce, evidence, now) : null;
    const assurance: Assurance = evidence && attested ? evidence.type : device.assurance;
    const sessionId = deps.newId();
    const opened = await store.openSession({
      nonce,
      proof,
      now,
      session: { session_id: sessionId, assurance, expires_in: SESSION_TTL_SECONDS, ...(attested ? { attestation: attested } : {}) },
    });
    if (!opened.ok) throw new StateError(opened.code, "the session cannot be opened");
    const { token } = await signWardenJwt(
      await signingKey(c.env.SIGNING_KEY),
      "warden-session+jwt",
      { sub: device.id, tnt: device.tenant, jti: sessionId, cnf: { jkt: device.jkt }, os: device.os, ...(device.shell ? { sh: device.shell } : {}), grp: device.groups, assurance, ...(attested ? { att: attested } : {}) },
      { now, ttlSeconds: SESSION_TTL_SECONDS },
    );
    return c.json({ session_token: token, token_type: "DPoP" as const, expires_in: SESSION_TTL_SECONDS, assurance, ...(attested ? { attestation: attested } : {}) }, 201);
  },
);

/**
 * The PCR selection the device's bundle asks TPM quotes for, as a hint on the nonce; nothing when
 * there is none. An unknown device gets the hint of the bundle an ungrouped device of that id would
 * have, so the hint does not tell known devices from unknown ones either.
 */
async function tpmSelectionHint(
  c: Context<AppEnv>,
  store: DurableObjectStub<DeviceLog>,
  deviceId: string,
  now: number,
): Promise<{ pcr_bank: string; pcrs: number[] } | null> {
  try {
    const device = await store.device();
    const tpm = await tpmManifestFor(c, { tenant: c.env.TENANT, id: deviceId, groups: device?.groups ?? [] }, now);
    return tpm ? { pcr_bank: tpm.pcr_bank, pcrs: [...tpm.pcrs].sort((a, b) => a - b) } : null;
  } catch {
    // A hint only: the nonce stands without it, and POST /v1/sessions checks the selection itself.
    return null;
  }
}
