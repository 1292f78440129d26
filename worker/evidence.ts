import { EvidenceRefusal, type ErrorCode } from "./errors.ts";
import type { EvidenceError, EvidenceErrorFamily } from "./verifiers/errors.ts";

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

/** Bytes of standard base64 (the schemas have already checked the alphabet). */
export function fromBase64(text: string): Uint8Array {
  const bin = atob(text);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

export function toBase64(bytes: Uint8Array): string {
  let bin = "";
  for (let i = 0; i < bytes.length; i++) bin += String.fromCharCode(bytes[i] as number);
  return btoa(bin);
}

/** Lower-case hex SHA-256 of bytes or of a string's UTF-8. */
export async function sha256Hex(data: Uint8Array | string): Promise<string> {
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}
