import type { ServiceContext } from "../context.ts";
import { MalformedInputError, WardenError } from "../errors.ts";
import { signingKey } from "../tokens/keys.ts";
import { EvidenceError } from "../verifiers/errors.ts";
import type { EvidenceType } from "../verifiers/index.ts";
import { concatBytes } from "../verifiers/reader.ts";
import { azureEvidence, snpEvidence, tdxEvidence, type Appraised, type Appraiser } from "./cvm.ts";
import { earFor, signEar, type EarClaimsSet } from "./ear.ts";
import { evidenceDigest } from "./evidence.ts";
import { refusalOf } from "./refusal.ts";
import type { SessionEvidence } from "./schemas.ts";
import { tpmEvidence } from "./tpm.ts";

/**
 * `POST /v1/attestation/results`: evidence appraised for a relying party other than Warden,
 * answered with a signed EAR it can verify with /.well-known/jwks.json. The relying party
 * chooses the nonce (8 to 64 bytes); what the evidence must carry of it, per type:
 *
 * | type | binding |
 * |---|---|
 * | sev-snp, tdx | REPORT_DATA = nonce, zero-padded to 64 bytes |
 * | azure-snp-vtpm | the vTPM quote's extraData = nonce |
 * | tpm | qualifyingData = nonce, by the AK `device_id` enrolled |
 *
 * Reference values come from `device_id`'s bundle when given, else the tenant's active bundle.
 * Nothing is logged to a device: the appraisal is the relying party's, not a device event.
 */

/** How long a relying party may rely on the result. */
export const RESULT_TTL_SECONDS = 300;

export interface ResultRequest {
  evidence: SessionEvidence;
  /** Hex, 8 to 64 bytes. */
  nonce: string;
  device_id?: string | undefined;
}

function padded(nonce: Uint8Array): Uint8Array {
  return concatBytes(nonce, new Uint8Array(64 - nonce.length));
}

type ResultVerifier<T extends EvidenceType> = (ctx: ServiceContext, appraiser: Appraiser, evidence: Extract<SessionEvidence, { type: T }>, nonce: Uint8Array, now: number, deviceId: string | undefined) => Promise<Appraised>;

const RESULT_VERIFIERS: { readonly [T in EvidenceType]: ResultVerifier<T> } = {
  "sev-snp": (ctx, appraiser, evidence, nonce, now) => snpEvidence(ctx, appraiser, evidence, padded(nonce), now),
  tdx: (ctx, appraiser, evidence, nonce, now) => tdxEvidence(ctx, appraiser, evidence, padded(nonce), now),
  "azure-snp-vtpm": (ctx, appraiser, evidence, nonce, now) => azureEvidence(ctx, appraiser, evidence, nonce, now),
  tpm: async (ctx, appraiser, evidence, nonce, now, deviceId) => {
    // A quote is only as good as the AK it is by: without an enrolled device there is none to trust.
    if (!appraiser || deviceId === undefined) throw new MalformedInputError("malformed_request", "TPM evidence needs the device_id whose enrolled AK made the quote");
    const binding = await ctx.deps.deviceStore(ctx.env, ctx.env.TENANT, deviceId).tpmBinding();
    if (!binding) throw new WardenError("tpm_not_enrolled", "the device has no enrolled TPM");
    return tpmEvidence(ctx, appraiser, binding, evidence, nonce, now);
  },
};

/** Verifies and appraises `request.evidence` and signs the result as an EAR. */
export async function attestationResult(ctx: ServiceContext, request: ResultRequest): Promise<{ ear: string; claims: EarClaimsSet; expires_at: string }> {
  const { deps, env } = ctx;
  const now = deps.now();
  if (!/^(?:[0-9a-fA-F]{2}){8,64}$/.test(request.nonce)) throw new MalformedInputError("malformed_request", "nonce must be 8 to 64 bytes of hex");
  const nonce = Uint8Array.from(request.nonce.match(/../g) as string[], (h) => parseInt(h, 16));
  let appraiser: Appraiser = null;
  if (request.device_id !== undefined) {
    appraiser = await deps.deviceStore(env, env.TENANT, request.device_id).device();
    if (!appraiser) throw new WardenError("not_found", "no such device");
  }
  let appraised: Appraised;
  try {
    const verify = RESULT_VERIFIERS[request.evidence.type] as ResultVerifier<EvidenceType>;
    appraised = await verify(ctx, appraiser, request.evidence, nonce, now, request.device_id);
  } catch (error) {
    if (error instanceof EvidenceError) throw refusalOf(error);
    throw error;
  }
  const claims = earFor({ type: request.evidence.type, appraised, evidenceSha256: evidenceDigest(request.evidence), nonce, now });
  const ear = await signEar(await signingKey(env.SIGNING_KEY), claims, RESULT_TTL_SECONDS);
  return { ear, claims, expires_at: new Date((Math.floor(now / 1000) + RESULT_TTL_SECONDS) * 1000).toISOString() };
}
