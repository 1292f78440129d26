import type { DeviceLog } from "../../durable-objects/DeviceLog.ts";
import { base64url } from "jose";
import type { ServiceContext } from "../context.ts";
import type { Assurance, DeviceRecord } from "../domain.ts";
import { sha256Hex } from "../encoding.ts";
import { WardenError } from "../errors.ts";
import { canonicalJson, type JsonValue } from "../log/canonical.ts";
import { decidingBundle } from "../history/deciding.ts";
import { refusalOf } from "./refusal.ts";
import type { EvidenceType } from "../verifiers/index.ts";
import { EvidenceError } from "../verifiers/errors.ts";
import { azureEvidence, sessionQualifyingData, sessionReportData, snpEvidence, tdxEvidence, type Appraised } from "./cvm.ts";
import { earFor, type EarClaimsSet } from "./ear.ts";
import type { LiveNonce } from "./nonces.ts";
import type { SessionEvidence } from "./schemas.ts";
import { tpmSessionEvidence } from "./tpm.ts";

type SessionVerifier<T extends EvidenceType> = (
  ctx: ServiceContext,
  store: DurableObjectStub<DeviceLog>,
  device: DeviceRecord,
  nonce: string,
  evidence: Extract<SessionEvidence, { type: T }>,
  now: number,
) => Promise<Appraised>;

/** One entry per evidence type: a type added to `EvidenceType` does not compile until it has one. Each binds the evidence to the session. */
const SESSION_VERIFIERS: { readonly [T in EvidenceType]: SessionVerifier<T> } = {
  "sev-snp": async (ctx, _store, device, nonce, evidence, now) => snpEvidence(ctx, device, evidence, await sessionReportData(device, nonce), now),
  tdx: async (ctx, _store, device, nonce, evidence, now) => tdxEvidence(ctx, device, evidence, await sessionReportData(device, nonce), now),
  tpm: tpmSessionEvidence,
  "azure-snp-vtpm": async (ctx, _store, device, nonce, evidence, now) => azureEvidence(ctx, device, evidence, await sessionQualifyingData(device, nonce), now),
};

/** The assurance a session opened with verified evidence of each type carries. */
export const ASSURANCE_OF: { readonly [T in EvidenceType]: Assurance } = {
  "sev-snp": "sev-snp",
  tdx: "tdx",
  tpm: "tpm",
  // An Azure CVM is an SEV-SNP guest; its vTPM quote is bound to it through the HCL report.
  "azure-snp-vtpm": "sev-snp",
};

/** SHA-256 (hex) of evidence as the request carried it, in its RFC 8785 form: what an EAR names instead of the raw bytes. */
export function evidenceDigest(evidence: SessionEvidence): string {
  return sha256Hex(canonicalJson(evidence as unknown as JsonValue));
}

/**
 * Verifies and appraises session evidence answering `nonce`, and states the result as an EAR
 * (worker/attestation/ear.ts). A refusal burns the nonce, is logged as `attestation.failed`
 * with its code, and is thrown as the HTTP problem of its family.
 */
export async function sessionEvidence(
  ctx: ServiceContext,
  store: DurableObjectStub<DeviceLog>,
  device: DeviceRecord,
  nonce: LiveNonce,
  evidence: SessionEvidence,
  now: number,
): Promise<EarClaimsSet> {
  try {
    const appraised = await (SESSION_VERIFIERS[evidence.type] as SessionVerifier<EvidenceType>)(ctx, store, device, nonce.value, evidence, now);
    return earFor({ type: evidence.type, appraised, evidenceSha256: evidenceDigest(evidence), nonce: base64url.decode(nonce.value), now });
  } catch (error) {
    // Logged under the device's bundle, whose playbook may quarantine the device for it (docs/history.md › Playbook).
    const refuse = async (data: { [key: string]: string }) => store.refuseEvidence({ nonce, now, data, bundle: await decidingBundle(ctx.env, device, now) });
    if (error instanceof EvidenceError) {
      await refuse({ type: evidence.type, code: error.code, family: error.family, detail: error.message.slice(0, 300) });
      throw refusalOf(error);
    }
    if (error instanceof WardenError) await refuse({ type: evidence.type, code: error.code, detail: error.message.slice(0, 300) });
    throw error;
  }
}
