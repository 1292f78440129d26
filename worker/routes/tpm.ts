import { createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { base64url } from "jose";
import { requireRole } from "../auth.ts";
import type { AppEnv } from "../context.ts";
import { StateError, WardenError } from "../errors.ts";
import { fromBase64, refusalOf, sha256Hex, toBase64 } from "../evidence.ts";
import { DeviceIdSchema, bearerSecurity, jsonBody, problems, router } from "../openapi.ts";
import { bundleFor, loadDeployment } from "../policy/store.ts";
import { verifyDpopProof } from "../tokens/dpop.ts";
import { EvidenceError, EvidenceVerificationError } from "../verifiers/errors.ts";
import { verifierFor } from "../verifiers/index.ts";
import { toHex } from "../verifiers/reader.ts";
import { parseCertificate } from "../verifiers/x509/certificate.ts";
import {
  checkAkPublic,
  checkEkMatchesCertificate,
  checkEkPublic,
  makeCredential,
  objectName,
  parsePublic,
  pinnedTpmTrust,
  tpmReference,
  verifyEkCertificate,
  type TpmManifestReference,
} from "../verifiers/tpm/index.ts";
import type { DeviceLog } from "../../durable-objects/DeviceLog.ts";
import type { DeviceRecord } from "../domain.ts";
import type { JsonValue } from "../log/canonical.ts";
import { SnpEvidenceSchema, TdxEvidenceSchema, snpSessionEvidence, tdxSessionEvidence } from "./cvm.ts";

/**
 * TPM enrollment (issue 4): an admin issues a one-time bootstrap token for a
 * device; the device sends its EK certificate, EK and AK public areas (with a
 * DPoP proof by its registered key); Warden verifies the EK chain and the AK
 * profile, runs MakeCredential and keeps the credential's digest; the device
 * proves with TPM2_ActivateCredential that the AK is in the EK's TPM. Sessions
 * then carry TPM quotes (worker/routes/attestation.ts, {@link tpmSessionEvidence}).
 */

/** Bootstrap tokens live 15 minutes unless the admin asks otherwise (at most a day). */
const BOOTSTRAP_TTL_SECONDS = 900;
/** The device has this long to answer the credential challenge. */
const ACTIVATION_TTL_SECONDS = 300;
const CREDENTIAL_BYTES = 32;

const base64 = (max: number) => z.string().max(max).regex(/^[A-Za-z0-9+/]*={0,2}$/, "standard base64");

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

/** A quote answering the session nonce (POST /v1/sessions `evidence`). */
export const TpmEvidenceSchema = z
  .strictObject({
    type: z.literal("tpm"),
    quote: base64(2048).openapi({ description: "TPMS_ATTEST from TPM2_Quote (qualifyingData = the nonce's bytes), base64" }),
    signature: base64(1024).openapi({ description: "TPMT_SIGNATURE by the enrolled AK, base64" }),
    pcrs: z
      .record(z.string().regex(/^(0|[1-9]\d?)$/), z.string().regex(/^[0-9a-fA-F]{64}$|^[0-9a-fA-F]{96}$/))
      .openapi({ description: "The selected PCRs' values, hex, by index" }),
  })
  .openapi("TpmEvidence");
export type TpmEvidence = z.infer<typeof TpmEvidenceSchema>;

/** The session evidence types and how each is checked: one entry per `EvidenceType` accepted on POST /v1/sessions. */
export const SessionEvidenceSchema = z.discriminatedUnion("type", [TpmEvidenceSchema, SnpEvidenceSchema, TdxEvidenceSchema]);
export type SessionEvidence = z.infer<typeof SessionEvidenceSchema>;

export const tpm = router();

tpm.use("/v1/devices/:id/tpm/*", requireRole("admin"));
tpm.openapi(
  createRoute({
    method: "post",
    path: "/v1/devices/{id}/tpm/bootstrap",
    summary: "Issue a one-time TPM bootstrap token for a device (admin)",
    security: bearerSecurity,
    request: { params: z.object({ id: DeviceIdSchema }), ...jsonBody(BootstrapRequestSchema) },
    responses: {
      201: { description: "The token (only its digest is stored)", content: { "application/json": { schema: BootstrapSchema } } },
      ...problems(400, 401, 403, 404, 413, 415),
    },
  }),
  async (c) => {
    const { id } = c.req.valid("param");
    const { rebind, ttl_seconds } = c.req.valid("json");
    const { deps } = c.var;
    const now = deps.now();
    const token = base64url.encode(deps.randomBytes(32));
    const expiresAt = now + ttl_seconds * 1000;
    const outcome = await deps.deviceStore(c.env, c.env.TENANT, id).tpmIssueBootstrap({ tokenHash: await sha256Hex(token), rebind, expiresAt, now });
    if (!outcome.ok) throw new StateError(outcome.code === "device_disabled" ? "device_disabled" : "not_found", `no bootstrap token for device ${id}`);
    return c.json({ bootstrap_token: token, expires_at: new Date(expiresAt).toISOString(), rebind }, 201);
  },
);

/** The device's Durable Object and record, and its DPoP proof (no session yet: the proof is by its registered key). */
async function deviceAndProof(c: Context<AppEnv>, deviceId: string) {
  const { deps } = c.var;
  const now = deps.now();
  const store = deps.deviceStore(c.env, c.env.TENANT, deviceId);
  const device = await store.device();
  if (!device) throw new WardenError("not_found", "no such device");
  const { proof } = await verifyDpopProof(c.req.header("dpop"), { method: c.req.method, url: c.req.url, now, jkt: device.jkt });
  return { store, device, proof, now };
}

tpm.openapi(
  createRoute({
    method: "post",
    path: "/v1/attestation/tpm/enroll",
    summary: "Enroll the device's TPM: EK certificate chain, AK profile, credential challenge",
    description:
      "Needs a bootstrap token from POST /v1/devices/{id}/tpm/bootstrap and a DPoP proof by the device's registered key. Answers with TPM2_ActivateCredential inputs; POST /v1/attestation/tpm/activate completes the enrollment.",
    request: { ...jsonBody(EnrollRequestSchema), headers: z.object({ dpop: z.string().max(4096) }) },
    responses: {
      201: { description: "The credential challenge", content: { "application/json": { schema: ChallengeSchema } } },
      ...problems(400, 401, 403, 404, 409, 413, 415),
    },
  }),
  async (c) => {
    const body = c.req.valid("json");
    const { deps } = c.var;
    const { store, proof, now } = await deviceAndProof(c, body.device_id);
    const tokenHash = await sha256Hex(body.bootstrap_token);
    const check = await store.tpmCheckBootstrap(tokenHash, now);
    if (!check.ok) {
      if (check.code === "bootstrap_invalid") {
        await store.tpmLogRefusal({ now, data: { code: "bootstrap_invalid" } });
        throw new WardenError("bootstrap_invalid", "the bootstrap token is unknown, used or expired");
      }
      throw new StateError(check.code === "device_disabled" ? "device_disabled" : "not_found", "the device cannot enroll");
    }
    let prepared;
    try {
      const trust = await (deps.tpmTrust?.() ?? pinnedTpmTrust());
      const ek = await verifyEkCertificate(fromBase64(body.ek_certificate), {
        now: new Date(now),
        trust,
        intermediates: body.ek_intermediates.map((der, i) => parseCertificate(fromBase64(der), `ek_intermediates[${i}]`)),
      });
      const ekPublic = parsePublic(fromBase64(body.ek_public), "ek_public");
      checkEkPublic(ekPublic);
      await checkEkMatchesCertificate(ekPublic, ek.certificate);
      const akBytes = fromBase64(body.ak_public);
      const akPublic = parsePublic(akBytes, "ak_public");
      checkAkPublic(akPublic);
      const akName = await objectName(akPublic);
      const credential = deps.randomBytes(CREDENTIAL_BYTES);
      const challenge = await makeCredential(ekPublic, akName, credential, (n) => deps.randomBytes(n));
      prepared = {
        ek,
        challenge,
        secretHash: await sha256Hex(credential),
        pending: {
          ekName: toHex(await objectName(ekPublic)),
          akName: toHex(akName),
          akPublic: body.ak_public,
          ekCertificateSha256: await sha256Hex(ek.certificate.der),
          ekIssuer: ek.issuer,
          vendor: ek.vendor,
          tpm: ek.tpm ? { manufacturer: ek.tpm.manufacturer, model: ek.tpm.model, version: ek.tpm.version } : null,
        },
      };
    } catch (error) {
      if (!(error instanceof EvidenceError)) throw error;
      await store.tpmLogRefusal({ now, data: { code: error.code, family: error.family, detail: error.message.slice(0, 300) } });
      throw refusalOf(error);
    }
    const expiresAt = now + ACTIVATION_TTL_SECONDS * 1000;
    const outcome = await store.tpmBeginEnrollment({ tokenHash, proof, now, pending: prepared.pending, secretHash: prepared.secretHash, expiresAt });
    if (!outcome.ok) {
      switch (outcome.code) {
        case "tpm_binding_conflict":
          throw new WardenError("tpm_binding_conflict", "the device is bound to another EK or AK; an admin must issue a rebind bootstrap token");
        case "bootstrap_invalid":
          throw new WardenError("bootstrap_invalid", "the bootstrap token is unknown, used or expired");
        case "replay_detected":
          throw new WardenError("replay_detected", "the proof was already used");
        default:
          throw new StateError(outcome.code === "device_disabled" ? "device_disabled" : "not_found", "the device cannot enroll");
      }
    }
    return c.json(
      {
        credential_blob: toBase64(prepared.challenge.credentialBlob),
        encrypted_secret: toBase64(prepared.challenge.encryptedSecret),
        expires_at: new Date(expiresAt).toISOString(),
        ak_name: prepared.pending.akName,
        ek: { vendor: prepared.ek.vendor, issuer: prepared.ek.issuer, chain: [...prepared.ek.chain] },
      },
      201,
    );
  },
);

tpm.openapi(
  createRoute({
    method: "post",
    path: "/v1/attestation/tpm/activate",
    summary: "Complete TPM enrollment with the credential TPM2_ActivateCredential recovered",
    description: "One attempt per challenge: a wrong credential discards it (logged) and enrollment starts over with a new bootstrap token.",
    request: { ...jsonBody(ActivateRequestSchema), headers: z.object({ dpop: z.string().max(4096) }) },
    responses: {
      200: { description: "Enrolled", content: { "application/json": { schema: EnrolledSchema } } },
      ...problems(400, 401, 403, 404, 409, 413, 415),
    },
  }),
  async (c) => {
    const body = c.req.valid("json");
    const { store, proof, now } = await deviceAndProof(c, body.device_id);
    const outcome = await store.tpmCompleteEnrollment({ secretHash: await sha256Hex(fromBase64(body.secret)), proof, now });
    if (!outcome.ok) {
      switch (outcome.code) {
        case "evidence_rejected":
          throw refusalOf(new EvidenceVerificationError("credential_activation_failed", "the credential is not the one MakeCredential protected: the AK is not in the EK's TPM"));
        case "tpm_not_enrolled":
          throw new WardenError("tpm_not_enrolled", "no credential challenge is pending (none issued, expired or already answered)");
        case "replay_detected":
          throw new WardenError("replay_detected", "the proof was already used");
        default:
          throw new StateError(outcome.code === "device_disabled" ? "device_disabled" : "not_found", "the device cannot enroll");
      }
    }
    const { binding, log } = outcome;
    return c.json({ enrolled: true as const, ek_name: binding.ekName, ak_name: binding.akName, vendor: binding.vendor, log }, 200);
  },
);

/** The TPM section of the bundle that decides for this device, or null. */
export async function tpmManifestFor(c: Context<AppEnv>, device: Pick<DeviceRecord, "tenant" | "id" | "groups">, now: number): Promise<TpmManifestReference | null> {
  const chosen = bundleFor(await loadDeployment(c.env, c.env.TENANT, now), { tenant: device.tenant, id: device.id, groups: device.groups }, now);
  return chosen.ok ? (chosen.bundle.manifest.attestation?.tpm ?? null) : null;
}

/** Claims of attested evidence: into the session token (`att`) and the device log. */
export type AttestationClaims = { [key: string]: JsonValue };

/**
 * Verifies and appraises session evidence answering `nonce`. A refusal burns
 * the nonce, is logged as `attestation.failed` with its code, and is thrown as
 * the HTTP problem of its family.
 */
export async function sessionEvidence(
  c: Context<AppEnv>,
  store: DurableObjectStub<DeviceLog>,
  device: DeviceRecord,
  nonce: string,
  evidence: SessionEvidence,
  now: number,
): Promise<AttestationClaims> {
  try {
    return await (SESSION_VERIFIERS[evidence.type] as SessionVerifier<SessionEvidence>)(c, store, device, nonce, evidence, now);
  } catch (error) {
    if (error instanceof EvidenceError) {
      await store.refuseEvidence({ nonce, now, data: { type: evidence.type, code: error.code, family: error.family, detail: error.message.slice(0, 300) } });
      throw refusalOf(error);
    }
    if (error instanceof WardenError) await store.refuseEvidence({ nonce, now, data: { type: evidence.type, code: error.code, detail: error.message.slice(0, 300) } });
    throw error;
  }
}

type SessionVerifier<E extends SessionEvidence> = (
  c: Context<AppEnv>,
  store: DurableObjectStub<DeviceLog>,
  device: DeviceRecord,
  nonce: string,
  evidence: E,
  now: number,
) => Promise<AttestationClaims>;

const SESSION_VERIFIERS: { readonly [T in SessionEvidence["type"]]: SessionVerifier<Extract<SessionEvidence, { type: T }>> } = {
  "sev-snp": (c, _store, device, nonce, evidence, now) => snpSessionEvidence(c, device, nonce, evidence, now),
  tdx: (c, _store, device, nonce, evidence, now) => tdxSessionEvidence(c, device, nonce, evidence, now),
  async tpm(c, store, device, nonce, evidence, now) {
    const binding = await store.tpmBinding();
    if (!binding) throw new WardenError("tpm_not_enrolled", "the device has no enrolled TPM");
    const manifest = await tpmManifestFor(c, device, now);
    if (!manifest) throw new StateError("attestation_not_configured", "the device's bundle has no attestation.tpm reference values");
    const reference = tpmReference(manifest);
    const verifier = verifierFor("tpm");
    const verified = await verifier.verify(
      {
        quote: fromBase64(evidence.quote),
        signature: fromBase64(evidence.signature),
        pcrs: new Map(Object.entries(evidence.pcrs).map(([index, hex]) => [Number(index), hexBytes(hex)])),
      },
      {
        now: new Date(now),
        trustAnchors: await (c.var.deps.tpmTrust?.() ?? verifier.pinnedTrust()),
        collateral: undefined,
        ak: parsePublic(fromBase64(binding.akPublic), "enrolled AK"),
        nonce: base64url.decode(nonce),
        selection: reference.selection,
      },
    );
    const appraisal = verifier.appraise(verified, reference);
    return {
      type: "tpm",
      status: appraisal.status,
      pcr_bank: appraisal.pcrBank,
      pcr_digest: appraisal.pcrDigest,
      pcrs_appraised: [...appraisal.appraised],
      ek_issuer: binding.ekIssuer,
      ek_vendor: binding.vendor,
      ak_name: binding.akName,
      firmware_version: appraisal.firmwareVersion,
      reset_count: appraisal.resetCount,
      restart_count: appraisal.restartCount,
      clock: verified.clock.toString(),
    };
  },
};

function hexBytes(hex: string): Uint8Array {
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}
