import { AppraisalError, EvidenceConfigurationError, type AppraisalFailureCode } from "./errors.ts";
import { concatBytes, toHex } from "./reader.ts";

/**
 * An allowlist of hex values from the policy bundle's reference values:
 * `"any"` states explicitly that the field is not constrained; an empty list
 * allows nothing (fail closed).
 */
export type Allowlist = readonly string[] | "any";

/**
 * The value evidence must carry in SEV-SNP REPORT_DATA and TDX REPORTDATA
 * (both 64 bytes) to bind it to a session:
 *
 *     REPORT_DATA = SHA-512(nonce ‖ jkt)
 *
 * `nonce` is the server's single-use nonce (its raw bytes, i.e. the base64url
 * text decoded) and `jkt` the 32 raw bytes of the device key's RFC 7638
 * SHA-256 JWK thumbprint (the binary form of the session token's `cnf.jkt`).
 * SHA-512 fills all 64 bytes, so no padding convention is needed, and the
 * thumbprint gives the device key one canonical byte form whatever its type.
 */
export async function expectedReportData(nonce: Uint8Array, deviceKeyThumbprint: Uint8Array): Promise<Uint8Array> {
  if (nonce.length < 16) throw new EvidenceConfigurationError("invalid_reference_values", "nonce shorter than 128 bits");
  if (deviceKeyThumbprint.length !== 32) throw new EvidenceConfigurationError("invalid_reference_values", "JWK thumbprint must be 32 bytes");
  return new Uint8Array(await crypto.subtle.digest("SHA-512", concatBytes(nonce, deviceKeyThumbprint)));
}

/**
 * The qualifying data (extraData) a vTPM quote must carry to bind it to a session when the
 * quote, not REPORT_DATA, is what answers the nonce (Azure confidential VMs, whose REPORT_DATA
 * commits to the HCL runtime data instead):
 *
 *     extraData = SHA-256(nonce ‖ jkt)
 *
 * 32 bytes: within TPM2B_DATA of a vTPM whose largest bank is SHA-256.
 */
export async function expectedQualifyingData(nonce: Uint8Array, deviceKeyThumbprint: Uint8Array): Promise<Uint8Array> {
  if (nonce.length < 16) throw new EvidenceConfigurationError("invalid_reference_values", "nonce shorter than 128 bits");
  if (deviceKeyThumbprint.length !== 32) throw new EvidenceConfigurationError("invalid_reference_values", "JWK thumbprint must be 32 bytes");
  return new Uint8Array(await crypto.subtle.digest("SHA-256", concatBytes(nonce, deviceKeyThumbprint)));
}

/** Checks a reference allowlist's shape once: hex of the field's size, normalised to lower case. */
export function normaliseAllowlist(list: Allowlist | undefined, bytes: number, field: string): Allowlist {
  if (list === undefined || list === "any") return "any";
  if (!Array.isArray(list)) throw new EvidenceConfigurationError("invalid_reference_values", `${field}: allowlist must be an array or "any"`);
  return list.map((v) => {
    if (typeof v !== "string" || v.length !== 2 * bytes || !/^[0-9a-fA-F]+$/.test(v)) {
      throw new EvidenceConfigurationError("invalid_reference_values", `${field}: ${JSON.stringify(v)} is not ${bytes} bytes of hex`);
    }
    return v.toLowerCase();
  });
}

/** Throws `code` unless `value` is on `list` (or the list is "any"). */
export function requireListed(list: Allowlist, value: Uint8Array, code: AppraisalFailureCode, field: string): void {
  if (list === "any") return;
  const hex = toHex(value);
  if (!list.includes(hex)) throw new AppraisalError(code, `${field} ${hex} is not in the reference values`);
}
