import { EvidenceConfigurationError } from "../errors.ts";
import { bytesEqual } from "../reader.ts";
import { parseCertificatesPem, type Certificate } from "../x509/certificate.ts";
import { trustAnchor, type TrustAnchor } from "../x509/path.ts";
import type { SnpProduct } from "./product.ts";
import type { SigningKeyKind } from "./report.ts";
import { GENOA_VCEK, GENOA_VLEK, MILAN_VCEK, MILAN_VLEK, TURIN_VCEK, TURIN_VLEK } from "./roots/pems.ts";

/** The AMD trust material of one product: its ARK (the anchor) and the ASK / ASVK it signed. */
export interface SnpProductTrust {
  readonly product: SnpProduct;
  readonly ark: TrustAnchor;
  /** The only intermediate accepted for VCEKs, when pinned. */
  readonly ask: Certificate | undefined;
  /** The only intermediate accepted for VLEKs, when pinned. */
  readonly asvk: Certificate | undefined;
}

/** SEV-SNP trust anchors: per product. A product that is absent is not trusted at all. */
export type SnpTrust = ReadonlyMap<SnpProduct, SnpProductTrust>;

/** One KDS `cert_chain` text (ASK or ASVK, then ARK) for a product and key type. */
export interface KdsCertChain {
  readonly product: SnpProduct;
  readonly kind: SigningKeyKind;
  readonly pem: string;
}

/**
 * Builds trust material from KDS `cert_chain` texts. Each text must hold one
 * self-signed ARK and one intermediate it issued; all texts of a product must
 * carry the same ARK key. The ARK self-signatures are verified here, once.
 */
export async function snpTrustFromChains(chains: readonly KdsCertChain[]): Promise<SnpTrust> {
  const out = new Map<SnpProduct, { ark: TrustAnchor; ask?: Certificate; asvk?: Certificate }>();
  for (const chain of chains) {
    const certs = parseCertificatesPem(chain.pem, `${chain.product} ${chain.kind} cert_chain`);
    const roots = certs.filter((c) => bytesEqual(c.issuer, c.subject));
    const intermediates = certs.filter((c) => !bytesEqual(c.issuer, c.subject));
    const [root] = roots;
    const [intermediate] = intermediates;
    if (!root || roots.length !== 1 || !intermediate || intermediates.length !== 1) {
      throw new EvidenceConfigurationError("invalid_reference_values", `${chain.product} ${chain.kind} cert_chain: expected one ARK and one ASK/ASVK`);
    }
    let entry = out.get(chain.product);
    if (!entry) {
      entry = { ark: await trustAnchor(`ARK-${chain.product}`, root) };
      out.set(chain.product, entry);
    } else if (!bytesEqual(entry.ark.certificate.spki, root.spki)) {
      throw new EvidenceConfigurationError("invalid_reference_values", `${chain.product}: cert_chains carry different ARKs`);
    }
    if (chain.kind === "vcek") entry.ask = intermediate;
    else entry.asvk = intermediate;
  }
  return new Map([...out].map(([product, e]) => [product, { product, ark: e.ark, ask: e.ask, asvk: e.asvk }]));
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
