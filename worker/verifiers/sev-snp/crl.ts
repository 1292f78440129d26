import { snapshotBytes } from "../reader.ts";
import { crlNotOlder, parseCrlCached, type Crl } from "../x509/certificate.ts";
import { checkCrl, type TrustAnchor } from "../x509/path.ts";

/**
 * AMD KDS CRLs (KDS specification, pub. 57230, "Get CRL": `/vcek/v1/{product}/crl` and
 * `/vlek/v1/{product}/crl`): X.509 v2 CRLs in DER, issued and signed by the product's ARK
 * (RSA-PSS SHA-384), listing the ASKs and ASVKs AMD revoked. A VCEK or VLEK is not listed: AMD
 * supersedes those by TCB version rather than revoking them, and its issuer (the ASK or ASVK)
 * publishes no CRL. So what a KDS CRL decides is whether the intermediate of a report's chain
 * still stands, and the verifier's `revocation: "require"` asks for one covering it.
 *
 * This module only verifies and orders CRLs; which candidates there are (the request's, the
 * cached copy, a KDS download) is the route's business (worker/attestation/cvm.ts).
 */

/** Size cap before parsing (STYLE §8): AMD's CRLs are a few kilobytes; the verifier's own cap. */
export const MAX_KDS_CRL_BYTES = 256 * 1024;

/** A CRL that a pinned ARK of the report's product issued, its signature verified; its window not yet checked. */
export interface KdsCrl {
  readonly der: Uint8Array;
  readonly crl: Crl;
}

/**
 * Verifies that `der` is a CRL of one of `arks`, the pinned ARKs of the report's product trusted
 * at the evidence time (the caller's `anchorsAt`, which refuses a product without one): the size
 * cap, strict DER (x509/certificate.ts), an issuer Name equal to such an ARK's subject, then that
 * ARK's signature (the shared allowlist and WebCrypto), critical extensions and the SEV-SNP CRL
 * profile (x509/path.ts `checkCrl`). The window is left to the caller, who keeps the newest of
 * several CRLs and then checks that one's (`checkCrlWindow`), so that an older current CRL never
 * stands in for a newer stale one.
 *
 * Answers null for a CRL whose issuer names none of `arks` (another product's, another family's:
 * not a candidate here); a CRL that names an ARK and is not signed by its key is
 * `crl_signature_invalid`, one whose bytes do not parse `malformed_certificate` (over the cap,
 * `malformed_evidence`).
 */
export async function verifyKdsCrl(der: Uint8Array, arks: readonly TrustAnchor[], what = "AMD KDS CRL"): Promise<KdsCrl | null> {
  const bytes = snapshotBytes(der, MAX_KDS_CRL_BYTES, what);
  const crl = parseCrlCached(bytes, what);
  const named = arks.filter((a) => a.subjectKey === crl.issuerKey);
  if (named.length === 0) return null;
  // Several ARKs of one product may share a name (rotation): the CRL is the ARK's whose key signed it.
  let failure: unknown;
  for (const ark of named) {
    try {
      await checkCrl(crl, ark.certificate, "sev-snp", undefined);
      return { der: bytes, crl };
    } catch (error) {
      failure = error;
    }
  }
  throw failure;
}

/**
 * The newest of `crls`, in the order given (absent entries skipped): a later one replaces the
 * one kept only when it is newer by thisUpdate or cRLNumber and older by neither
 * (`crlNotOlder`). So on a tie, or when two CRLs disagree (one has the later thisUpdate, the
 * other the higher number), the earlier in the list is kept: callers list the copy they already
 * hold first, and a candidate must be plainly newer to replace it.
 */
export function newestKdsCrl(crls: readonly (KdsCrl | null | undefined)[]): KdsCrl | undefined {
  let best: KdsCrl | undefined;
  for (const c of crls) {
    if (!c) continue;
    if (!best || kdsCrlNewer(c, best)) best = c;
  }
  return best;
}

/** True when `a` is newer than `b` by thisUpdate or cRLNumber and older by neither. */
export function kdsCrlNewer(a: KdsCrl, b: KdsCrl): boolean {
  return crlNotOlder(a.crl, b.crl) && !crlNotOlder(b.crl, a.crl);
}
