import { EvidenceConfigurationError } from "../errors.ts";
import { bytesEqual } from "../reader.ts";
import { parseCertificatesPem, type Certificate } from "../x509/certificate.ts";
import { trustAnchor, type TrustAnchor } from "../x509/path.ts";
import * as PEM from "./roots/pems.ts";

/**
 * TPM endorsement trust material: vendor roots pinned by key, each labelled
 * with its vendor, and the vendor intermediates known to sit between those
 * roots and EK certificates (TPMs rarely ship them; a shim may still send its
 * own). Roots are data (roots/*.pem, PROVENANCE.md), loaded once.
 */
export interface TpmTrust {
  readonly anchors: readonly TrustAnchor[];
  readonly intermediates: readonly Certificate[];
  /** Vendor label of each anchor. */
  readonly vendorOf: ReadonlyMap<TrustAnchor, string>;
}

/** One vendor's pinned material: its roots and intermediates as PEM text. */
export interface TpmVendorRoots {
  readonly vendor: string;
  readonly roots: readonly string[];
  readonly intermediates?: readonly string[];
}

/** The vendor roots checked into roots/ (see roots/PROVENANCE.md). */
export const PINNED_TPM_VENDORS: readonly TpmVendorRoots[] = [
  { vendor: "Infineon", roots: [PEM.INFINEON_OPTIGA_RSA_ROOT_CA], intermediates: [PEM.INFINEON_OPTIGA_RSA_MFG_CA_007] },
  {
    vendor: "STMicroelectronics",
    roots: [PEM.GLOBALSIGN_TPM_ROOT_CA],
    intermediates: [PEM.STM_TPM_EK_ROOT_CA_CROSS_SIGNED_BY_GLOBALSIGN, PEM.STM_TPM_EK_INTERMEDIATE_CA_06],
  },
  { vendor: "Nuvoton", roots: [PEM.NUVOTON_TPM_ROOT_CA_2111] },
  { vendor: "Microsoft", roots: [PEM.MICROSOFT_TPM_ROOT_CA_2014] },
  {
    vendor: "Google",
    roots: [PEM.GOOGLE_TPM_EK_ROOT_1, PEM.GOOGLE_GCP_EK_AK_CA_ROOT],
    intermediates: [PEM.GOOGLE_TPM_EK_INTERMEDIATE_2, PEM.GOOGLE_TPM_EK_INTERMEDIATE_3, PEM.GOOGLE_GCP_EK_AK_CA_INTERMEDIATE_V3],
  },
];

/**
 * Builds trust material from vendor PEMs: every root must be self-signed (its
 * self-signature and CA flags are checked once, by the shared validator's
 * `trustAnchor`); intermediates must not be self-signed.
 */
export async function tpmTrustFrom(vendors: readonly TpmVendorRoots[]): Promise<TpmTrust> {
  const anchors: TrustAnchor[] = [];
  const intermediates: Certificate[] = [];
  const vendorOf = new Map<TrustAnchor, string>();
  for (const entry of vendors) {
    for (const pem of entry.roots) {
      for (const cert of parseCertificatesPem(pem, `${entry.vendor} root`)) {
        const anchor = await trustAnchor(`${entry.vendor}: ${cert.subjectText}`, cert);
        anchors.push(anchor);
        vendorOf.set(anchor, entry.vendor);
      }
    }
    for (const pem of entry.intermediates ?? []) {
      for (const cert of parseCertificatesPem(pem, `${entry.vendor} intermediate`)) {
        if (bytesEqual(cert.issuer, cert.subject)) {
          throw new EvidenceConfigurationError("invalid_reference_values", `${entry.vendor}: intermediate ${cert.subjectText} is self-issued`);
        }
        intermediates.push(cert);
      }
    }
  }
  return { anchors, intermediates, vendorOf };
}

let pinned: Promise<TpmTrust> | undefined;

/** The pinned vendor trust material, parsed and checked once per isolate. */
export function pinnedTpmTrust(): Promise<TpmTrust> {
  pinned ??= tpmTrustFrom(PINNED_TPM_VENDORS);
  pinned.catch(() => {
    pinned = undefined;
  });
  return pinned;
}

/** Two trust sets as one (e.g. the pinned vendors and a test's own CA). */
export function mergeTpmTrust(a: TpmTrust, b: TpmTrust): TpmTrust {
  return {
    anchors: [...a.anchors, ...b.anchors],
    intermediates: [...a.intermediates, ...b.intermediates],
    vendorOf: new Map([...a.vendorOf, ...b.vendorOf]),
  };
}
