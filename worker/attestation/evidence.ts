import type { DeviceLog } from "../../durable-objects/DeviceLog.ts";
import type { ServiceContext } from "../context.ts";
import type { DeviceRecord } from "../domain.ts";
import { WardenError } from "../errors.ts";
import { decidingBundle } from "../history/deciding.ts";
import { refusalOf } from "./refusal.ts";
import type { EvidenceType } from "../verifiers/index.ts";
import { EvidenceError } from "../verifiers/errors.ts";
import { snpSessionEvidence, tdxSessionEvidence, type AttestationClaims } from "./cvm.ts";
import type { SessionEvidence } from "./schemas.ts";
import { tpmSessionEvidence } from "./tpm.ts";

type SessionVerifier<T extends EvidenceType> = (
  ctx: ServiceContext,
  store: DurableObjectStub<DeviceLog>,
  device: DeviceRecord,
  nonce: string,
  evidence: Extract<SessionEvidence, { type: T }>,
  now: number,
) => Promise<AttestationClaims>;

/** One entry per evidence type: a type added to `EvidenceType` does not compile until it has one. */
const SESSION_VERIFIERS: { readonly [T in EvidenceType]: SessionVerifier<T> } = {
  "sev-snp": (ctx, _store, device, nonce, evidence, now) => snpSessionEvidence(ctx, device, nonce, evidence, now),
  tdx: (ctx, _store, device, nonce, evidence, now) => tdxSessionEvidence(ctx, device, nonce, evidence, now),
  tpm: tpmSessionEvidence,
};

/**
 * Verifies and appraises session evidence answering `nonce`. A refusal burns the nonce, is
 * logged as `attestation.failed` with its code, and is thrown as the HTTP problem of its family.
 */
export async function sessionEvidence(
  ctx: ServiceContext,
  store: DurableObjectStub<DeviceLog>,
  device: DeviceRecord,
  nonce: string,
  evidence: SessionEvidence,
  now: number,
): Promise<AttestationClaims> {
  try {
    return await (SESSION_VERIFIERS[evidence.type] as SessionVerifier<EvidenceType>)(ctx, store, device, nonce, evidence, now);
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
