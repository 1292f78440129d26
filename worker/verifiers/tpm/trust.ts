import { EvidenceConfigurationError } from "../errors.ts";
import { OID, parseCertificate, parseCertificatesPem } from "../x509/certificate.ts";
import { trustAnchor, type TrustAnchor } from "../x509/path.ts";
import { lazyEntry, windowOf, type TrustEntry, type TrustMaterial } from "../x509/trust.ts";
import { TPM_STORE, type TpmStoreEntry } from "./roots/store.ts";

/**
 * TPM endorsement trust material: every vendor's roots as anchors (pinned by
 * key, `group` = the vendor) and their intermediates as path material only.
 * TPMs rarely carry their intermediates, so the store's are always candidates;
 * a shim may still send its own.
 */
export type TpmTrust = TrustMaterial<TrustAnchor>;

/** One vendor's material as PEM text (a test's own CA, a tenant's private vendor). */
export interface TpmVendorRoots {
  readonly vendor: string;
  readonly roots: readonly string[];
  readonly intermediates?: readonly string[];
}

/**
 * Critical extensions accepted on TPM anchors as on the rest of their paths:
 * certificatePolicies (STMicro's intermediates, Windows AIK chains), which
 * with user-initial-policy-set anyPolicy cannot invalidate a path (RFC 5280 §6.1).
 */
export const TPM_CRITICAL_EXTENSIONS: readonly string[] = [OID.certificatePolicies];

function notSelfIssued(vendor: string, entry: { readonly name: string }, selfIssued: boolean): void {
  // A self-issued certificate among intermediates would be a root someone forgot to call one.
  if (selfIssued) throw new EvidenceConfigurationError("invalid_reference_values", `${vendor}: intermediate ${entry.name} is self-issued`);
}

function intermediate(vendor: string, name: string, der: Uint8Array, what: string): TrustEntry {
  const certificate = parseCertificate(der, what);
  notSelfIssued(vendor, { name: certificate.subjectText }, certificate.selfIssued);
  return { name, group: vendor, certificate, subjectKey: certificate.subjectKey, validFor: windowOf(certificate, {}, what) };
}

/**
 * Builds trust material from vendor PEMs: every root is checked as an anchor
 * once (self-signature, CA flags, its extensions, by the shared validator's
 * `trustAnchor`); intermediates must not be self-issued.
 */
export async function tpmTrustFrom(vendors: readonly TpmVendorRoots[]): Promise<TpmTrust> {
  const anchors: TrustAnchor[] = [];
  const intermediates: TrustEntry[] = [];
  for (const entry of vendors) {
    for (const pem of entry.roots) {
      for (const cert of parseCertificatesPem(pem, `${entry.vendor} root`)) {
        anchors.push(await trustAnchor(`${entry.vendor}: ${cert.subjectText}`, cert, { group: entry.vendor, criticalExtensions: TPM_CRITICAL_EXTENSIONS }));
      }
    }
    for (const pem of entry.intermediates ?? []) {
      parseCertificatesPem(pem, `${entry.vendor} intermediate`).forEach((cert, i) => intermediates.push(intermediate(entry.vendor, cert.subjectText, cert.der, `${entry.vendor} intermediate[${i}]`)));
    }
  }
  return { anchors, intermediates };
}

function derOf(entry: TpmStoreEntry): Uint8Array {
  return Uint8Array.from(atob(entry.der), (c) => c.charCodeAt(0));
}

/**
 * Trust material from store entries (roots/store.ts, generated and
 * fingerprint-checked by scripts/gen-tpm-roots.mjs). Anchors are parsed and
 * checked now (RFC 5937, once per isolate); the intermediates, most of the
 * store, only have their names and windows read, and are parsed when a path
 * first needs them: asn1-x509 takes about half a millisecond a certificate.
 */
export async function tpmTrustFromStore(entries: readonly TpmStoreEntry[]): Promise<TpmTrust> {
  const anchors: TrustAnchor[] = [];
  const intermediates: TrustEntry[] = [];
  for (const entry of entries) {
    const what = `${entry.vendor}: ${entry.name}`;
    if (entry.role === "anchor") {
      anchors.push(await trustAnchor(what, parseCertificate(derOf(entry), what), { group: entry.vendor, criticalExtensions: TPM_CRITICAL_EXTENSIONS }));
    } else {
      const lazy = lazyEntry(what, entry.vendor, derOf(entry));
      notSelfIssued(entry.vendor, lazy, lazy.issuerKey === lazy.subjectKey);
      intermediates.push(lazy);
    }
  }
  return { anchors, intermediates };
}

let pinned: Promise<TpmTrust> | undefined;

/**
 * The TPM trust store (roots/PROVENANCE.md): every vendor root and
 * intermediate of the vendor bundle plus Warden's own pins, parsed and checked
 * on first use and then kept for the isolate's life.
 */
export function pinnedTpmTrust(): Promise<TpmTrust> {
  pinned ??= tpmTrustFromStore(TPM_STORE);
  pinned.catch(() => {
    pinned = undefined;
  });
  return pinned;
}

/** Two trust sets as one (e.g. the pinned vendors and a test's own CA). */
export function mergeTpmTrust(a: TpmTrust, b: TpmTrust): TpmTrust {
  return { anchors: [...a.anchors, ...b.anchors], intermediates: [...(a.intermediates ?? []), ...(b.intermediates ?? [])] };
}
