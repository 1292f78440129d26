import { EvidenceConfigurationError } from "../errors.ts";
import { bytesEqual } from "../reader.ts";
import { parseCertificatesPem } from "../x509/certificate.ts";
import { trustAnchor, type TrustAnchor } from "../x509/path.ts";
import { windowOf, type TrustEntry, type TrustMaterial, type ValidFor } from "../x509/trust.ts";
import type { SnpProduct } from "./product.ts";
import type { SigningKeyKind } from "./report.ts";
import { GENOA_VCEK, GENOA_VLEK, MILAN_VCEK, MILAN_VLEK, TURIN_VCEK, TURIN_VLEK } from "./roots/pems.ts";

/**
 * SEV-SNP trust material: ARKs as anchors (`group` = the product), ASKs
 * (`purpose` "vcek") and ASVKs (`purpose` "vlek") as the pinned intermediates
 * of their product. A product without an anchor is not trusted at all; a
 * product may have several ARKs (rotation) and several ASKs/ASVKs.
 */
export type SnpTrust = TrustMaterial<TrustAnchor>;

/** One KDS `cert_chain` text (ASK or ASVK, then ARK) for a product and key type. */
export interface KdsCertChain {
  readonly product: SnpProduct;
  readonly kind: SigningKeyKind;
  readonly pem: string;
  /** A window narrower than the certificates', when AMD says so. */
  readonly validFor?: Partial<ValidFor>;
}

/**
 * Builds trust material from KDS `cert_chain` texts. Each text must hold one
 * self-signed ARK and one intermediate it issued. The ARK self-signatures and
 * extensions are checked here, once; an ARK met in several texts is one anchor.
 */
export async function snpTrustFromChains(chains: readonly KdsCertChain[]): Promise<SnpTrust> {
  const anchors: TrustAnchor[] = [];
  const intermediates: TrustEntry[] = [];
  for (const chain of chains) {
    const what = `${chain.product} ${chain.kind} cert_chain`;
    const certs = parseCertificatesPem(chain.pem, what);
    const roots = certs.filter((c) => c.selfIssued);
    const issued = certs.filter((c) => !c.selfIssued);
    const [root] = roots;
    const [intermediate] = issued;
    if (!root || roots.length !== 1 || !intermediate || issued.length !== 1) {
      throw new EvidenceConfigurationError("invalid_reference_values", `${what}: expected one ARK and one ASK/ASVK`);
    }
    if (!anchors.some((a) => a.group === chain.product && bytesEqual(a.certificate.der, root.der))) {
      anchors.push(await trustAnchor(`ARK-${chain.product}`, root, { group: chain.product, ...(chain.validFor ? { validFor: chain.validFor } : {}) }));
    }
    intermediates.push({
      name: `${chain.kind === "vcek" ? "ASK" : "ASVK"}-${chain.product}`,
      group: chain.product,
      purpose: chain.kind,
      certificate: intermediate,
      subjectKey: intermediate.subjectKey,
      validFor: windowOf(intermediate, chain.validFor ?? {}, what),
    });
  }
  return { anchors, intermediates };
}

/** The AMD chains pinned in this repository (roots/PROVENANCE.md). */
export const PINNED_KDS_CHAINS: readonly KdsCertChain[] = [
  { product: "Milan", kind: "vcek", pem: MILAN_VCEK },
  { product: "Milan", kind: "vlek", pem: MILAN_VLEK },
  { product: "Genoa", kind: "vcek", pem: GENOA_VCEK },
  { product: "Genoa", kind: "vlek", pem: GENOA_VLEK },
  { product: "Turin", kind: "vcek", pem: TURIN_VCEK },
  { product: "Turin", kind: "vlek", pem: TURIN_VLEK },
];

let pinned: Promise<SnpTrust> | undefined;
/** The pinned AMD trust material, parsed and self-signature-checked once per isolate. */
export function pinnedSnpTrust(): Promise<SnpTrust> {
  pinned ??= snpTrustFromChains(PINNED_KDS_CHAINS);
  return pinned;
}
