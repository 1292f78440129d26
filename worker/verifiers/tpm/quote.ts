import { EvidenceVerificationError, MalformedEvidenceError } from "../errors.ts";
import { bytesEqual, concatBytes, toHex } from "../reader.ts";
import { ALLOWED_HASHES, TPM_GENERATED_VALUE, TPM_HASH, TPM_ST, algName } from "./constants.ts";
import { checkAkPublic, verifyTpmSignature } from "./keys.ts";
import { parseAttest, parseSignature, type TpmAttest, type TpmPublic } from "./structures.ts";

/** A quote as the device sends it: the raw structures and the PCR values it claims. */
export interface QuoteEvidence {
  /** TPMS_ATTEST bytes (TPM2_Quote's `quoted`, without its TPM2B size). */
  readonly quote: Uint8Array;
  /** TPMT_SIGNATURE bytes. */
  readonly signature: Uint8Array;
  /** The PCR values of the selected bank, by PCR index. */
  readonly pcrs: ReadonlyMap<number, Uint8Array>;
}

/** The PCR bank and indices the verifier requires (from the bundle manifest). */
export interface PcrSelectionRequirement {
  readonly hashAlg: number;
  /** PCR indices; order does not matter, duplicates are refused. */
  readonly pcrs: readonly number[];
}

export interface QuoteOptions {
  /** The enrolled AK's public area (already checked at enrollment; checked again here). */
  readonly ak: TpmPublic;
  /** The server nonce the quote must carry as qualifyingData (extraData). */
  readonly nonce: Uint8Array;
  readonly selection: PcrSelectionRequirement;
}

/** Every check {@link verifyQuote} runs, in order; the result lists them all or there is no result. */
export const QUOTE_CHECKS = [
  "ak_profile",
  "signature",
  "magic",
  "type",
  "qualifying_data",
  "pcr_selection",
  "pcr_values",
  "pcr_digest",
] as const;

export interface VerifiedQuote {
  readonly attest: TpmAttest;
  /** The bank as the manifest names it ("sha256"). */
  readonly pcrBank: string;
  /** The quoted PCRs in selection (ascending) order, values as lower-case hex. */
  readonly pcrs: readonly { readonly index: number; readonly value: string }[];
  /** pcrDigest from the quote, hex: the hash of the PCR values the TPM attested. */
  readonly pcrDigest: string;
  readonly clock: bigint;
  readonly resetCount: number;
  readonly restartCount: number;
  readonly safe: boolean;
  readonly firmwareVersion: bigint;
  readonly checks: readonly (typeof QUOTE_CHECKS)[number][];
}

/** H(PCR values concatenated in selection order): what a quote's pcrDigest must be (Part 3 §18.4). */
export async function pcrDigestOf(hashAlg: number, values: readonly Uint8Array[]): Promise<Uint8Array> {
  const hash = TPM_HASH[hashAlg];
  if (!hash) throw new EvidenceVerificationError("unsupported_algorithm", `pcrDigest hash ${algName(hashAlg)}`);
  return new Uint8Array(await crypto.subtle.digest(hash.name, concatBytes(...values) as Uint8Array<ArrayBuffer>));
}

function sortedSelection(selection: PcrSelectionRequirement): number[] {
  const pcrs = [...selection.pcrs].sort((a, b) => a - b);
  if (pcrs.some((p, i) => !Number.isInteger(p) || p < 0 || p > 23 || (i > 0 && p === pcrs[i - 1]))) {
    throw new MalformedEvidenceError("malformed_evidence", "the required PCR selection must be distinct indices 0..23");
  }
  return pcrs;
}

/**
 * Verifies a TPM2_Quote (TPM 2.0 Part 3 §18.4) made with the enrolled AK:
 *
 * 1. parse TPMT_SIGNATURE and TPMS_ATTEST with the bounded reader (sizes,
 *    union tags, no trailing bytes);
 * 2. the AK profile and the algorithm allowlist (SHA-1 refused);
 * 3. the signature over the attest bytes exactly as received;
 * 4. then, now that the bytes are the TPM's: magic TPM_GENERATED_VALUE, type
 *    TPM_ST_ATTEST_QUOTE, extraData equal to the nonce, the PCR selection
 *    exactly the required bank and indices, the reported values complete and of
 *    the bank's size, and pcrDigest = H_sig(values in selection order).
 *
 * Authenticity first: a flipped byte anywhere is `evidence_signature_invalid`
 * rather than whatever field it lands in. Returns claims only when every check
 * in {@link QUOTE_CHECKS} ran; appraisal against reference values is separate.
 */
export async function verifyQuote(evidence: QuoteEvidence, options: QuoteOptions): Promise<VerifiedQuote> {
  // Snapshot the caller's bytes once: nothing below may see them change.
  const quoteBytes = evidence.quote.slice();
  const signatureBytes = evidence.signature.slice();
  const reported = new Map([...evidence.pcrs].map(([index, value]) => [index, value.slice()] as const));
  const nonce = options.nonce.slice();
  const checks: (typeof QUOTE_CHECKS)[number][] = [];

  const signature = parseSignature(signatureBytes, "quote signature");
  const attest = parseAttest(quoteBytes, "quote");
  if (!ALLOWED_HASHES.has(options.selection.hashAlg)) {
    throw new EvidenceVerificationError("unsupported_algorithm", `PCR bank ${algName(options.selection.hashAlg)} is not allowed`);
  }
  const required = sortedSelection(options.selection);

  checkAkPublic(options.ak);
  checks.push("ak_profile");

  if (!(await verifyTpmSignature(options.ak, signature, quoteBytes))) {
    throw new EvidenceVerificationError("evidence_signature_invalid", "the quote signature does not verify with the enrolled AK");
  }
  checks.push("signature");

  // Part 1 §36.2: a restricted key signs only structures starting with TPM_GENERATED_VALUE.
  if (attest.magic !== TPM_GENERATED_VALUE) {
    throw new EvidenceVerificationError("attest_not_tpm_generated", `magic 0x${attest.magic.toString(16)} is not TPM_GENERATED_VALUE`);
  }
  checks.push("magic");
  if (attest.type !== TPM_ST.ATTEST_QUOTE || attest.attested.kind !== "quote") {
    throw new EvidenceVerificationError("attest_type_mismatch", `attestation type 0x${attest.type.toString(16)} is not TPM_ST_ATTEST_QUOTE`);
  }
  const quoted = attest.attested;
  checks.push("type");

  // The nonce is what makes the quote fresh: without it a recorded quote replays forever.
  if (!bytesEqual(attest.extraData, nonce)) throw new EvidenceVerificationError("qualifying_data_mismatch", "extraData is not the server nonce");
  checks.push("qualifying_data");

  const [bank, ...otherBanks] = quoted.pcrSelect;
  if (
    !bank ||
    otherBanks.length > 0 ||
    bank.hashAlg !== options.selection.hashAlg ||
    bank.pcrs.length !== required.length ||
    bank.pcrs.some((p, i) => p !== required[i])
  ) {
    const got = quoted.pcrSelect.map((s) => `${algName(s.hashAlg)}:${s.pcrs.join(",")}`).join(" ");
    throw new EvidenceVerificationError("pcr_selection_mismatch", `quoted selection ${got || "(none)"} is not ${algName(options.selection.hashAlg)}:${required.join(",")}`);
  }
  checks.push("pcr_selection");

  const size = (TPM_HASH[bank.hashAlg] as { size: number }).size;
  if (reported.size !== required.length || required.some((p) => !reported.has(p))) {
    throw new MalformedEvidenceError("malformed_evidence", `the reported PCR values must be exactly PCRs ${required.join(",")}`);
  }
  const values = required.map((p) => reported.get(p) as Uint8Array);
  if (values.some((v) => v.length !== size)) throw new MalformedEvidenceError("malformed_evidence", `PCR values must be ${size} bytes`);
  checks.push("pcr_values");

  // Part 3 §18.4.1: pcrDigest is computed with the signing scheme's hash, over the values in selection order.
  const digest = await pcrDigestOf(signature.hashAlg, values);
  if (!bytesEqual(digest, quoted.pcrDigest)) throw new EvidenceVerificationError("pcr_digest_mismatch", "the reported PCR values do not hash to pcrDigest");
  checks.push("pcr_digest");

  return {
    attest,
    pcrBank: (TPM_HASH[bank.hashAlg] as { label: string }).label,
    pcrs: required.map((index, i) => ({ index, value: toHex(values[i] as Uint8Array) })),
    pcrDigest: toHex(quoted.pcrDigest),
    clock: attest.clockInfo.clock,
    resetCount: attest.clockInfo.resetCount,
    restartCount: attest.clockInfo.restartCount,
    safe: attest.clockInfo.safe,
    firmwareVersion: attest.firmwareVersion,
    checks,
  };
}
