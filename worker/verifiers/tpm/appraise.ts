import { AppraisalError, EvidenceConfigurationError } from "../errors.ts";
import { ALLOWED_HASHES, PCR_BANK, TPM_HASH } from "./constants.ts";
import type { PcrSelectionRequirement, VerifiedQuote } from "./quote.ts";

/** The TPM section of a bundle manifest (`attestation.tpm`). */
export interface TpmManifestReference {
  readonly pcr_bank: string;
  readonly pcrs: readonly number[];
  /** Allowed values per PCR index (decimal string key), lower- or upper-case hex. */
  readonly reference: Readonly<Record<string, readonly string[]>>;
}

/** Reference values ready for appraisal: the selection a quote must cover and the allowed values. */
export interface TpmReference {
  readonly selection: PcrSelectionRequirement;
  /** Allowed lower-case hex values for the PCRs that are appraised; PCRs not listed are quoted and reported only. */
  readonly allowed: ReadonlyMap<number, ReadonlySet<string>>;
}

function invalid(message: string): never {
  throw new EvidenceConfigurationError("invalid_reference_values", `attestation.tpm: ${message}`);
}

/**
 * Turns the manifest's `attestation.tpm` into reference values, refusing
 * anything ambiguous (`invalid_reference_values`): an unknown or SHA-1 bank,
 * duplicate or out-of-range PCRs, reference values for PCRs outside the
 * selection, values of the wrong size, an empty allowlist.
 */
export function tpmReference(manifest: TpmManifestReference): TpmReference {
  const hashAlg = PCR_BANK[manifest.pcr_bank];
  if (hashAlg === undefined || !ALLOWED_HASHES.has(hashAlg)) invalid(`pcr_bank ${manifest.pcr_bank} is not sha256 or sha384`);
  const size = (TPM_HASH[hashAlg] as { size: number }).size;
  const pcrs = [...manifest.pcrs].sort((a, b) => a - b);
  if (pcrs.length === 0) invalid("pcrs is empty");
  for (let i = 0; i < pcrs.length; i++) {
    const p = pcrs[i] as number;
    if (!Number.isInteger(p) || p < 0 || p > 23) invalid(`PCR ${p} is not 0..23`);
    if (i > 0 && p === pcrs[i - 1]) invalid(`PCR ${p} is listed twice`);
  }
  const allowed = new Map<number, Set<string>>();
  for (const [key, values] of Object.entries(manifest.reference)) {
    const index = /^(0|[1-9]\d?)$/.test(key) ? Number(key) : NaN;
    if (!pcrs.includes(index)) invalid(`reference for PCR ${key} outside the selection`);
    if (values.length === 0) invalid(`reference for PCR ${key} allows nothing`);
    const set = new Set<string>();
    for (const v of values) {
      if (!/^[0-9a-fA-F]*$/.test(v) || v.length !== 2 * size) invalid(`reference value for PCR ${key} is not ${size} bytes of hex`);
      set.add(v.toLowerCase());
    }
    allowed.set(index, set);
  }
  return { selection: { hashAlg, pcrs }, allowed };
}

/** The appraisal of a verified quote: what goes into the session token and the device log. */
export interface TpmAppraisal {
  /** "affirming": every appraised PCR holds an allowed value. */
  readonly status: "affirming";
  readonly pcrBank: string;
  readonly pcrDigest: string;
  /** PCRs compared with reference values. */
  readonly appraised: readonly number[];
  /** PCRs quoted without reference values (reported, not judged). */
  readonly reportedOnly: readonly number[];
  readonly firmwareVersion: string;
  readonly clock: string;
  readonly resetCount: number;
  readonly restartCount: number;
}

/**
 * Appraises a verified quote against reference values; never re-parses. Each
 * appraised PCR must hold one of its allowed values (`pcr_value_not_allowed`).
 */
export function appraiseQuote(quote: VerifiedQuote, reference: TpmReference): TpmAppraisal {
  const appraised: number[] = [];
  const reportedOnly: number[] = [];
  for (const { index, value } of quote.pcrs) {
    const allowed = reference.allowed.get(index);
    if (!allowed) {
      reportedOnly.push(index);
      continue;
    }
    if (!allowed.has(value)) throw new AppraisalError("pcr_value_not_allowed", `PCR ${index} = ${value} is not an allowed reference value`);
    appraised.push(index);
  }
  return {
    status: "affirming",
    pcrBank: quote.pcrBank,
    pcrDigest: quote.pcrDigest,
    appraised,
    reportedOnly,
    firmwareVersion: quote.firmwareVersion.toString(16).padStart(16, "0"),
    clock: quote.clock.toString(),
    resetCount: quote.resetCount,
    restartCount: quote.restartCount,
  };
}
