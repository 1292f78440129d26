/** Intel TDX: parse (quote.ts) → verify (verify.ts, with collateral.ts, pck.ts, tcb.ts) → appraise (appraise.ts). */
export { parseTdxQuote, parseEnclaveReport, tdxQuoteLength, INTEL_QE_VENDOR_ID, type TdxQuote, type TdReport, type EnclaveReport } from "./quote.ts";
export { pckInfo, SGX_EXTENSIONS_OID, type PckInfo } from "./pck.ts";
export {
  verifyTcbInfo,
  verifyQeIdentity,
  signedCollateralFromPcs,
  topLevelMembers,
  TCB_STATUSES,
  type SignedCollateral,
  type TcbInfo,
  type QeIdentity,
  type TcbStatus,
} from "./collateral.ts";
export { matchPlatformTcb, matchTdxModule, matchQeIdentity, mergeTcb, type TcbResult } from "./tcb.ts";
export { verifyTdxQuote, pinnedTdxTrust, type TdxEvidence, type TdxCollateral, type TdxTrust, type TdxVerifyOptions, type VerifiedTdxQuote } from "./verify.ts";
export { appraiseTdx, tdxClaims, tcbStatusAccepted, type TdxReferenceValues, type TdxClaims, type AcceptedTcbStatus } from "./appraise.ts";
export { collateralFromDcapQvl, collateralFromPcs, isDcapQvlCollateral, newestDcapQvlCollateral, type PcsResponses } from "./formats.ts";
