import { base64url } from "jose";
import type { DeviceLog } from "../../durable-objects/DeviceLog.ts";
import type { TpmBinding } from "../../durable-objects/tpm-enrollment.ts";
import type { ServiceContext } from "../context.ts";
import type { AppendedEntry, DeviceRecord } from "../domain.ts";
import { sha256Hex, toBase64 } from "../encoding.ts";
import { StateError, WardenError } from "../errors.ts";
import { refusalOf } from "./refusal.ts";
import { verifyDpopProof } from "../tokens/dpop.ts";
import { EvidenceError, EvidenceVerificationError } from "../verifiers/errors.ts";
import { verifierFor } from "../verifiers/index.ts";
import { fromHex, toHex } from "../verifiers/reader.ts";
import { parseCertificate } from "../verifiers/x509/certificate.ts";
import {
  appraiseEventLog,
  checkAkPublic,
  checkEkMatchesCertificate,
  checkEkPublic,
  makeCredential,
  objectName,
  parseEventLog,
  parsePublic,
  pinnedTpmTrust,
  replayEventLog,
  tpmReference,
  verifyEkCertificate,
  eventLogFactsJson,
  type ReplayedEventLog,
} from "../verifiers/tpm/index.ts";
import { evidenceBytes, type Appraised, type AttestationClaims } from "./cvm.ts";
import { referenceValuesFor, requireReferenceValues } from "./reference.ts";
import type { TpmSessionEvidence } from "./schemas.ts";

/**
 * TPM enrollment: an admin issues a one-time bootstrap token for a device; the device sends its
 * EK certificate, EK and AK public areas (with a DPoP proof by its registered key); Warden
 * verifies the EK chain and the AK profile, runs MakeCredential and keeps the credential's
 * digest; the device proves with TPM2_ActivateCredential that the AK is in the EK's TPM.
 * Sessions then carry TPM quotes by that AK ({@link tpmSessionEvidence}).
 */

/** The device has this long to answer the credential challenge. */
const ACTIVATION_TTL_SECONDS = 300;
const CREDENTIAL_BYTES = 32;

/** The parts of a request a device-key proof is checked against. */
export interface ProofRequest {
  dpop: string | undefined;
  method: string;
  url: string;
}

/** Issues a one-time bootstrap token (only its digest is stored). */
export async function issueTpmBootstrap(ctx: ServiceContext, deviceId: string, args: { rebind: boolean; ttlSeconds: number; by: string }) {
  const { deps, env } = ctx;
  const now = deps.now();
  const token = base64url.encode(deps.randomBytes(32));
  const expiresAt = now + args.ttlSeconds * 1000;
  const outcome = await deps.deviceStore(env, env.TENANT, deviceId).tpmIssueBootstrap({ tokenHash: sha256Hex(token), rebind: args.rebind, expiresAt, by: args.by, now });
  if (!outcome.ok) throw new StateError(outcome.code === "device_disabled" ? "device_disabled" : "not_found", `no bootstrap token for device ${deviceId}`);
  return { bootstrap_token: token, expires_at: new Date(expiresAt).toISOString(), rebind: args.rebind };
}

/** The device's Durable Object and record, and its DPoP proof (no session yet: the proof is by its registered key). */
async function deviceAndProof(ctx: ServiceContext, deviceId: string, request: ProofRequest) {
  const { deps, env } = ctx;
  const now = deps.now();
  const store = deps.deviceStore(env, env.TENANT, deviceId);
  const device = await store.device();
  if (!device) throw new WardenError("not_found", "no such device");
  const { proof } = await verifyDpopProof(request.dpop, { method: request.method, url: request.url, now, jkt: device.jkt });
  return { store, device, proof, now };
}

export interface EnrollRequest {
  device_id: string;
  bootstrap_token: string;
  ek_certificate: string;
  ek_intermediates: string[];
  ek_public: string;
  ak_public: string;
}

/** Verifies the EK chain and the AK, and answers with TPM2_ActivateCredential's inputs. */
export async function beginTpmEnrollment(ctx: ServiceContext, request: ProofRequest, body: EnrollRequest) {
  const { deps } = ctx;
  const { store, proof, now } = await deviceAndProof(ctx, body.device_id, request);
  const tokenHash = sha256Hex(body.bootstrap_token);
  const check = await store.tpmCheckBootstrap(tokenHash, now);
  if (!check.ok) {
    if (check.code === "bootstrap_invalid") {
      await store.tpmLogRefusal({ now, proof, data: { code: "bootstrap_invalid" } });
      throw new WardenError("bootstrap_invalid", "the bootstrap token is unknown, used or expired");
    }
    throw new StateError(check.code === "device_disabled" ? "device_disabled" : "not_found", "the device cannot enroll");
  }
  let prepared;
  try {
    const trust = await (deps.tpmTrust?.() ?? pinnedTpmTrust());
    const ek = await verifyEkCertificate(evidenceBytes(body.ek_certificate, "ek_certificate"), {
      now: new Date(now),
      trust,
      intermediates: body.ek_intermediates.map((der, i) => parseCertificate(evidenceBytes(der, `ek_intermediates[${i}]`), `ek_intermediates[${i}]`)),
    });
    const ekPublic = parsePublic(evidenceBytes(body.ek_public, "ek_public"), "ek_public");
    checkEkPublic(ekPublic);
    await checkEkMatchesCertificate(ekPublic, ek.certificate);
    const akPublic = parsePublic(evidenceBytes(body.ak_public, "ak_public"), "ak_public");
    checkAkPublic(akPublic);
    const akName = await objectName(akPublic);
    const credential = deps.randomBytes(CREDENTIAL_BYTES);
    const challenge = await makeCredential(ekPublic, akName, credential, (n) => deps.randomBytes(n));
    prepared = {
      ek,
      challenge,
      secretHash: sha256Hex(credential),
      pending: {
        ekName: toHex(await objectName(ekPublic)),
        akName: toHex(akName),
        akPublic: body.ak_public,
        ekCertificateSha256: sha256Hex(ek.certificate.der),
        ekIssuer: ek.issuer,
        vendor: ek.vendor,
        tpm: ek.tpm ? { manufacturer: ek.tpm.manufacturer, model: ek.tpm.model, version: ek.tpm.version } : null,
      },
    };
  } catch (error) {
    if (!(error instanceof EvidenceError)) throw error;
    await store.tpmLogRefusal({ now, proof, data: { code: error.code, family: error.family, detail: error.message.slice(0, 300) } });
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
  return {
    credential_blob: toBase64(prepared.challenge.credentialBlob),
    encrypted_secret: toBase64(prepared.challenge.encryptedSecret),
    expires_at: new Date(expiresAt).toISOString(),
    ak_name: prepared.pending.akName,
    ek: { vendor: prepared.ek.vendor, issuer: prepared.ek.issuer, chain: [...prepared.ek.chain] },
  };
}

/** Completes enrollment with the credential the TPM recovered: one attempt per challenge. */
export async function completeTpmEnrollment(
  ctx: ServiceContext,
  request: ProofRequest,
  body: { device_id: string; secret: string },
): Promise<{ enrolled: true; ek_name: string; ak_name: string; vendor: string; log: AppendedEntry }> {
  const { store, proof, now } = await deviceAndProof(ctx, body.device_id, request);
  const outcome = await store.tpmCompleteEnrollment({ secretHash: sha256Hex(evidenceBytes(body.secret, "secret")), proof, now });
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
  return { enrolled: true, ek_name: binding.ekName, ak_name: binding.akName, vendor: binding.vendor, log };
}

/** The PCR bank and indices the device's bundle asks TPM quotes to cover, if it has TPM reference values. */
export async function tpmSelection(ctx: ServiceContext, device: Pick<DeviceRecord, "tenant" | "id" | "groups">, now: number): Promise<{ pcr_bank: string; pcrs: number[] } | null> {
  const tpm = await referenceValuesFor(ctx, device, "tpm", now);
  return tpm ? { pcr_bank: tpm.pcr_bank, pcrs: [...tpm.pcrs].sort((a, b) => a - b) } : null;
}

/**
 * A quote by the enrolled AK (`binding`, from the device's object) whose qualifyingData is
 * `qualifying` (a session's nonce bytes), appraised against the bundle's PCR reference values,
 * with its event log, when sent, replayed against the quoted PCRs.
 */
export async function tpmEvidence(
  ctx: ServiceContext,
  appraiser: DeviceRecord | null,
  binding: TpmBinding,
  evidence: TpmSessionEvidence,
  qualifying: Uint8Array,
  now: number,
): Promise<Appraised> {
  const values = await requireReferenceValues(ctx, appraiser, "tpm", now);
  const reference = tpmReference(values.values);
  const verifier = verifierFor("tpm");
  const verified = await verifier.verify(
    {
      quote: evidenceBytes(evidence.quote, "quote"),
      signature: evidenceBytes(evidence.signature, "signature"),
      pcrs: new Map(Object.entries(evidence.pcrs).map(([index, hex]) => [Number(index), fromHex(hex, `pcrs.${index}`)])),
    },
    {
      now: new Date(now),
      trustAnchors: await (ctx.deps.tpmTrust?.() ?? verifier.pinnedTrust()),
      collateral: undefined,
      ak: parsePublic(evidenceBytes(binding.akPublic, "the enrolled AK"), "enrolled AK"),
      nonce: qualifying,
      selection: reference.selection,
    },
  );
  const appraisal = verifier.appraise(verified, reference);
  // The log is replayed against the values the quote attested, in the quote's bank; its facts are appraised after the PCRs.
  const replayed =
    evidence.event_log === undefined
      ? null
      : await replayEventLog(parseEventLog(evidenceBytes(evidence.event_log, "event_log")), [
          { alg: reference.selection.hashAlg, pcrs: new Map(verified.pcrs.map(({ index, value }) => [index, fromHex(value)])) },
        ]);
  if (reference.eventLog) appraiseEventLog(replayed?.facts ?? null, reference.eventLog);
  const logNamesCode = reference.eventLog !== null && (reference.eventLog.bootManager !== "any" || reference.eventLog.kernel !== "any");
  return {
    policy: values.policy,
    executablesAppraised: appraisal.appraised.length > 0 || logNamesCode,
    claims: {
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
      ...(replayed ? { event_log: eventLogClaims(replayed) } : {}),
    },
  };
}

/** A session's TPM evidence: the device's enrolled AK, the nonce's bytes as qualifyingData. */
export async function tpmSessionEvidence(ctx: ServiceContext, store: DurableObjectStub<DeviceLog>, device: DeviceRecord, nonce: string, evidence: TpmSessionEvidence, now: number): Promise<Appraised> {
  const binding = await store.tpmBinding();
  if (!binding) throw new WardenError("tpm_not_enrolled", "the device has no enrolled TPM");
  return tpmEvidence(ctx, device, binding, evidence, base64url.decode(nonce), now);
}

/** What a replayed event log adds to the claims: its shape and its facts. */
export function eventLogClaims(replayed: ReplayedEventLog): AttestationClaims {
  return { format: replayed.format, events: replayed.events, ...eventLogFactsJson(replayed.facts), unverified_pcrs: [...replayed.unverifiedPcrs] };
}
