import { EvidenceError } from "./errors.ts";
import {
  appraiseAzureVtpm,
  appraiseSnp,
  pinnedSnpTrust,
  verifyAzureVtpm,
  verifySnpReport,
  type AzureVtpmClaims,
  type AzureVtpmEvidence,
  type AzureVtpmReference,
  type VerifiedAzureVtpm,
  type SnpClaims,
  type SnpCollateral,
  type SnpEvidence,
  type SnpReferenceValues,
  type SnpTrust,
  type VerifiedSnpReport,
} from "./sev-snp/index.ts";
import {
  appraiseTdx,
  pinnedTdxTrust,
  verifyTdxQuote,
  type TdxClaims,
  type TdxCollateral,
  type TdxEvidence,
  type TdxReferenceValues,
  type TdxTrust,
  type VerifiedTdxQuote,
} from "./tdx/index.ts";
import {
  appraiseQuote,
  pinnedTpmTrust,
  verifyQuote,
  type PcrSelectionRequirement,
  type QuoteEvidence,
  type TpmAppraisal,
  type TpmPublic,
  type TpmReference,
  type TpmTrust,
  type VerifiedQuote,
} from "./tpm/index.ts";

/**
 * The evidence types Warden verifies. A closed union: adding one does not compile until {@link EvidenceKinds} describes it and
 * {@link verifiers} has its entry.
 */
export type EvidenceType = "sev-snp" | "tdx" | "tpm" | "azure-snp-vtpm";
export const EVIDENCE_TYPES: readonly EvidenceType[] = ["sev-snp", "tdx", "tpm", "azure-snp-vtpm"];

/**
 * What every verifier receives besides the evidence: the time to verify at
 * (never the clock), the trust anchors (an empty set is an error), and the
 * collateral the route fetched or cached. Verifiers do no I/O.
 */
export interface VerifyContext<Trust, Collateral> {
  readonly now: Date;
  readonly trustAnchors: Trust;
  readonly collateral: Collateral;
}

/** The types that go with each evidence type. */
export interface EvidenceKinds {
  "sev-snp": {
    evidence: SnpEvidence;
    trust: SnpTrust;
    collateral: SnpCollateral | undefined;
    context: VerifyContext<SnpTrust, SnpCollateral | undefined> & {
      /** "unchecked" only as an explicit decision for evidence without an AMD KDS CRL. */
      readonly revocation?: "require" | "unchecked";
    };
    verified: VerifiedSnpReport;
    reference: SnpReferenceValues;
    claims: SnpClaims;
  };
  tdx: {
    evidence: TdxEvidence;
    trust: TdxTrust;
    collateral: TdxCollateral;
    context: VerifyContext<TdxTrust, TdxCollateral> & {
      /** TCB Info / QE Identity windows are checked at this time; default `now`. */
      readonly collateralTime?: Date;
      /** "unchecked" only as an explicit decision for collateral without CRLs. */
      readonly revocation?: "require" | "unchecked";
    };
    verified: VerifiedTdxQuote;
    reference: TdxReferenceValues;
    claims: TdxClaims;
  };
  tpm: {
    evidence: QuoteEvidence;
    /** EK roots: used at enrollment (worker/verifiers/tpm/ek.ts); a quote is verified with the AK enrollment bound. */
    trust: TpmTrust;
    collateral: undefined;
    context: VerifyContext<TpmTrust, undefined> & {
      /** The enrolled AK (its EK chain and credential activation were verified at enrollment). */
      readonly ak: TpmPublic;
      /** The session nonce's bytes: the quote's qualifyingData. */
      readonly nonce: Uint8Array;
      /** The PCR bank and indices the quote must cover exactly (the manifest's). */
      readonly selection: PcrSelectionRequirement;
    };
    verified: VerifiedQuote;
    reference: TpmReference;
    claims: TpmAppraisal;
  };
  /** An Azure confidential VM: HCL report (SEV-SNP) and a quote by the vTPM key it attests (sev-snp/azure-vtpm.ts). */
  "azure-snp-vtpm": {
    evidence: AzureVtpmEvidence;
    trust: SnpTrust;
    collateral: SnpCollateral | undefined;
    context: VerifyContext<SnpTrust, SnpCollateral | undefined> & {
      /** The quote's extraData must be exactly this. */
      readonly nonce: Uint8Array;
      /** As for sev-snp. */
      readonly revocation?: "require" | "unchecked";
    };
    verified: VerifiedAzureVtpm;
    reference: AzureVtpmReference;
    claims: AzureVtpmClaims;
  };
}

/**
 * One verifier per evidence type, one interface: parse and verify
 * (authenticity: signatures, chains, collateral) → verified evidence or an
 * {@link EvidenceError}; appraise (reference values) → claims or an
 * `AppraisalError`. Appraisal never re-parses.
 */
export interface EvidenceVerifier<T extends EvidenceType> {
  readonly type: T;
  /** The vendor roots pinned in this repository, loaded and self-checked once per isolate. */
  pinnedTrust(): Promise<EvidenceKinds[T]["trust"]>;
  verify(evidence: EvidenceKinds[T]["evidence"], context: EvidenceKinds[T]["context"]): Promise<EvidenceKinds[T]["verified"]>;
  appraise(verified: EvidenceKinds[T]["verified"], reference: EvidenceKinds[T]["reference"]): EvidenceKinds[T]["claims"];
}

/** The registry, keyed by the closed {@link EvidenceType} union. */
export const verifiers: { readonly [T in EvidenceType]: EvidenceVerifier<T> } = {
  "sev-snp": {
    type: "sev-snp",
    pinnedTrust: pinnedSnpTrust,
    verify: (evidence, context) =>
      verifySnpReport(evidence, {
        now: context.now,
        trustAnchors: context.trustAnchors,
        ...(context.collateral ? { collateral: context.collateral } : {}),
        ...(context.revocation ? { revocation: context.revocation } : {}),
      }),
    appraise: appraiseSnp,
  },
  tdx: {
    type: "tdx",
    pinnedTrust: pinnedTdxTrust,
    verify: (evidence, context) => verifyTdxQuote(evidence, context),
    appraise: appraiseTdx,
  },
  "azure-snp-vtpm": {
    type: "azure-snp-vtpm",
    pinnedTrust: pinnedSnpTrust,
    verify: (evidence, context) =>
      verifyAzureVtpm(evidence, {
        now: context.now,
        trustAnchors: context.trustAnchors,
        nonce: context.nonce,
        ...(context.collateral ? { collateral: context.collateral } : {}),
        ...(context.revocation ? { revocation: context.revocation } : {}),
      }),
    appraise: appraiseAzureVtpm,
  },
  tpm: {
    type: "tpm",
    pinnedTrust: pinnedTpmTrust,
    verify: (evidence, context) => verifyQuote(evidence, { ak: context.ak, nonce: context.nonce, selection: context.selection }),
    appraise: appraiseQuote,
  },
};

export function verifierFor<T extends EvidenceType>(type: T): EvidenceVerifier<T> {
  return verifiers[type];
}

/** Verify, then appraise: the claims of evidence that passed both, or the EvidenceError of the first failing step. */
export async function verifyAndAppraise<T extends EvidenceType>(
  type: T,
  evidence: EvidenceKinds[T]["evidence"],
  context: EvidenceKinds[T]["context"],
  reference: EvidenceKinds[T]["reference"],
): Promise<EvidenceKinds[T]["claims"]> {
  const verifier = verifierFor(type);
  const verified = await verifier.verify(evidence, context);
  return verifier.appraise(verified, reference);
}

export { EvidenceError };
export type { EvidenceErrorCode, EvidenceErrorFamily } from "./errors.ts";
export { evidenceErrorFamily } from "./errors.ts";
export { expectedReportData, type Allowlist } from "./appraisal.ts";
