import { EvidenceRefusal, type ErrorCode } from "../errors.ts";
import type { EvidenceError, EvidenceErrorFamily } from "../verifiers/errors.ts";

/** How each family of verifier codes reaches the wire (the verifier's code rides along as `evidence_code`). */
const HTTP_CODE: { readonly [F in EvidenceErrorFamily]: ErrorCode } = {
  malformed: "evidence_malformed",
  verification: "evidence_rejected",
  appraisal: "evidence_not_allowed",
  configuration: "configuration_error",
};

/** The HTTP-level refusal of evidence a verifier refused. */
export function refusalOf(error: EvidenceError): EvidenceRefusal {
  return new EvidenceRefusal(HTTP_CODE[error.family], error.code, error.message, { cause: error });
}
