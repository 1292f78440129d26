/**
 * TPM 2.0: parse (structures.ts, eventlog.ts) → verify (ek.ts for EK certificates, keys.ts for
 * the AK profile and signatures, quote.ts for quotes, eventlog-replay.ts for measured-boot logs)
 * → appraise (appraise.ts); credential.ts is
 * MakeCredential for enrollment. Pure: bytes, trust anchors and `now` in; claims or a typed
 * EvidenceError out. Quotes are verified through the evidence registry (../index.ts, "tpm").
 */
export { parsePublic, parseAttest, parseSignature, objectName, type TpmPublic, type TpmAttest, type TpmSignature } from "./structures.ts";
export { checkAkPublic, verifyTpmSignature } from "./keys.ts";
export { checkEkPublic, makeCredential, type CredentialChallenge } from "./credential.ts";
export { verifyEkCertificate, checkEkMatchesCertificate, parseTpmSubjectAltName, type EkVerification, type TpmDeviceInfo } from "./ek.ts";
export { verifyQuote, pcrDigestOf, QUOTE_CHECKS, type QuoteEvidence, type VerifiedQuote, type PcrSelectionRequirement } from "./quote.ts";
export {
  appraiseQuote,
  appraiseEventLog,
  tpmReference,
  type TpmReference,
  type TpmAppraisal,
  type TpmManifestReference,
  type EventLogReference,
  type EventLogManifestReference,
} from "./appraise.ts";
export { parseEventLog, MAX_EVENT_LOG_BYTES, type EventLog, type TcgEvent } from "./eventlog.ts";
export { eventLogFactsJson, replayEventLog, type ReplayBank, type ReplayedEventLog, type EventLogFacts } from "./eventlog-replay.ts";
export { EVENT_TYPES, EV, eventTypeName, type EventType, type EventRule } from "./eventlog-types.ts";
export { pinnedTpmTrust, tpmTrustFrom, tpmTrustFromStore, mergeTpmTrust, type TpmTrust, type TpmVendorRoots } from "./trust.ts";

