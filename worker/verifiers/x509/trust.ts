import { EvidenceConfigurationError } from "../errors.ts";
import { parseCertificate, peekCertificate, type Certificate } from "./certificate.ts";

/** When a piece of trust material may be used: inclusive, at the certificates' precision (whole seconds). */
export interface ValidFor {
  readonly start: Date;
  readonly end: Date;
}

/**
 * One certificate of trust material, the same shape for every family (TPM
 * vendor CAs, AMD ARK/ASK/ASVK per product, the Intel SGX root).
 */
export interface TrustEntry {
  /** A stable label: "ARK-Milan", "Nuvoton: Nuvoton TPM Root CA 1110". */
  readonly name: string;
  /** What it vouches for: the TPM vendor, the SEV-SNP product ("Milan"), "Intel". */
  readonly group: string;
  /** A narrower role inside the group: SEV-SNP "vcek" (an ASK) or "vlek" (an ASVK). */
  readonly purpose?: string;
  readonly certificate: Certificate;
  /** The certificate's subject in comparison form ({@link Certificate.subjectKey}), known without parsing it. */
  readonly subjectKey: string;
  /** The certificate's own window, or a narrower one when the vendor says so (a root retired early, a key compromised). */
  readonly validFor: ValidFor;
}

/**
 * Trust material: anchors end paths (pinned by key); intermediates are only
 * path material, never trusted on their own. Several anchors per group are
 * allowed, for a vendor's rotated roots.
 */
export interface TrustMaterial<Anchor extends TrustEntry = TrustEntry> {
  readonly anchors: readonly Anchor[];
  readonly intermediates?: readonly TrustEntry[];
}

/** Seconds since the epoch: certificate times have no finer precision (RFC 5280 §4.1.2.5). */
function seconds(d: Date): number {
  return Math.floor(d.getTime() / 1000);
}

/** Whether `at` falls inside `window`, compared at whole seconds: notAfter 12:00:00 still covers 12:00:00.999. */
export function within(window: ValidFor, at: Date): boolean {
  const t = seconds(at);
  return t >= seconds(window.start) && t <= seconds(window.end);
}

/**
 * The window of `certificate`, narrowed by `narrower`. A narrower window that
 * would widen the certificate's own, or leave nothing, is a configuration
 * error: trust material can only take validity away.
 */
export function windowOf(certificate: Pick<Certificate, "notBefore" | "notAfter">, narrower: Partial<ValidFor> = {}, what = "trust material"): ValidFor {
  const start = narrower.start ?? certificate.notBefore;
  const end = narrower.end ?? certificate.notAfter;
  if (start.getTime() < certificate.notBefore.getTime() || end.getTime() > certificate.notAfter.getTime()) {
    throw new EvidenceConfigurationError("invalid_reference_values", `${what}: a trust window may only narrow the certificate's validity`);
  }
  if (start.getTime() > end.getTime()) throw new EvidenceConfigurationError("invalid_reference_values", `${what}: empty trust window`);
  return { start, end };
}

/**
 * The trust material usable at `at` (the evidence time): anchors and
 * intermediates whose window covers it, in the manner of sigstore-js
 * `filterCertAuthorities`. Applied before path building, so an expired or
 * not-yet-valid root of a rotating vendor is never a candidate.
 */
export function trustedAt<Anchor extends TrustEntry>(material: TrustMaterial<Anchor>, at: Date): { anchors: Anchor[]; intermediates: TrustEntry[] } {
  return {
    anchors: material.anchors.filter((a) => within(a.validFor, at)),
    intermediates: (material.intermediates ?? []).filter((e) => within(e.validFor, at)),
  };
}

/**
 * The anchors of `material` that may end a path at `at` (the evidence time), only those of
 * `group` when the family picks its roots by group (the SEV-SNP product). None is
 * `no_trust_anchors`, a configuration error (the store needs updating, the device is not at
 * fault), whose message names the vendor, the group and the time. Every SEV-SNP and TDX caller
 * decides it here.
 */
export function anchorsAt<Anchor extends TrustEntry>(material: TrustMaterial<Anchor>, at: Date, of: { readonly vendor: string; readonly group?: string }): Anchor[] {
  const anchors = material.anchors.filter((a) => within(a.validFor, at) && (of.group === undefined || a.group === of.group));
  if (anchors.length > 0) return anchors;
  if (material.anchors.length === 0) throw new EvidenceConfigurationError("no_trust_anchors", `no ${of.vendor} trust anchors configured`);
  const group = of.group === undefined ? "" : ` for ${of.group}`;
  throw new EvidenceConfigurationError("no_trust_anchors", `no ${of.vendor} trust anchor${group} valid at ${at.toISOString()}`);
}

/**
 * Path material from DER that is parsed on first use: its subject and window
 * come from {@link peekCertificate}, so a store of many intermediates can be
 * indexed and filtered by time without decoding any of them. The parse result
 * is kept; a certificate that does not parse throws `malformed_certificate`
 * when first read (store certificates are checked when generated and tested).
 */
export function lazyEntry(name: string, group: string, der: Uint8Array, narrower: Partial<ValidFor> = {}): TrustEntry & { readonly issuerKey: string } {
  const peek = peekCertificate(der, name);
  let parsed: Certificate | undefined;
  return {
    name,
    group,
    subjectKey: peek.subjectKey,
    issuerKey: peek.issuerKey,
    validFor: windowOf(peek, narrower, name),
    get certificate(): Certificate {
      parsed ??= parseCertificate(der, name);
      return parsed;
    },
  };
}
