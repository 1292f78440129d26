/** AMD SEV-SNP: parse (report.ts) → verify (verify.ts) → appraise (appraise.ts); Azure CVMs: azure.ts (HCL report) and azure-vtpm.ts (HCL report + vTPM quote). */
export { parseSnpReport, REPORT_SIZE, SIGNED_SIZE, type SnpReport, type SnpPolicy, type SigningKeyKind } from "./report.ts";
export { productFromCpuid, decodeTcb, tcbAtLeast, type SnpProduct, type SnpTcb } from "./product.ts";
export { endorsementInfo, KdsOid, type EndorsementInfo } from "./endorsement.ts";
export { pinnedSnpTrust, snpTrustFromChains, PINNED_KDS_CHAINS, type SnpTrust, type KdsCertChain } from "./trust.ts";
export { verifySnpReport, snpSignatureP1363, type SnpEvidence, type SnpCollateral, type SnpVerifyOptions, type VerifiedSnpReport } from "./verify.ts";
export { verifyKdsCrl, newestKdsCrl, MAX_KDS_CRL_BYTES, type KdsCrl } from "./crl.ts";
export { appraiseSnp, snpClaims, type SnpReferenceValues, type SnpClaims } from "./appraise.ts";
export { parseAzureHclReport, verifyHclBinding, type AzureHclReport } from "./azure.ts";
export {
  parseAzureVtpmEvidence,
  verifyAzureVtpm,
  appraiseAzureVtpm,
  azurePcrReference,
  MAX_AZURE_EVIDENCE_BYTES,
  type AzureVtpmEvidence,
  type AzureVtpmVerifyOptions,
  type VerifiedAzureVtpm,
  type AzureVtpmReference,
  type AzureVtpmClaims,
} from "./azure-vtpm.ts";
