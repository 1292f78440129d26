import { EvidenceConfigurationError, EvidenceVerificationError } from "../errors.ts";
import { bytesEqual } from "../reader.ts";
import {
  certificateSignedBy,
  crlSignedBy,
  KeyUsage,
  OID,
  parseCertificatesPem,
  type Certificate,
  type Crl,
  type KeyUsageName,
} from "./certificate.ts";

/**
 * A trust anchor: a vendor root pinned by its key (the DER SubjectPublicKeyInfo
 * of its certificate). Its certificate is kept for its name, its validity
 * window and its own constraints, and its self-signature was checked when the
 * anchor was loaded. Build anchors with {@link trustAnchor}.
 */
export interface TrustAnchor {
  /** A stable label: "ARK-Milan", "Intel SGX Root CA". */
  readonly name: string;
  readonly certificate: Certificate;
}

/** Extensions every path check understands (RFC 5280 §4.2): anything else critical is refused unless the caller handles it. */
const UNDERSTOOD = new Set<string>([OID.basicConstraints, OID.keyUsage]);
/** CRL extensions understood when critical (RFC 5280 §5.2). */
const CRL_UNDERSTOOD = new Set<string>([OID.crlNumber, OID.authorityKeyIdentifier]);

/** Default bound on intermediates: vendor chains here have one or two. */
const MAX_INTERMEDIATES = 4;

export interface PathOptions {
  /** The time every certificate, the anchor and every CRL must be valid at. */
  readonly now: Date;
  /** Pinned anchors; an empty set is a configuration error, never a pass. */
  readonly anchors: readonly TrustAnchor[];
  /** Candidate intermediates (the evidence's own chain); order does not matter, extra ones are ignored. */
  readonly intermediates?: readonly Certificate[];
  /** CRLs to apply: each one to the certificates issued by its issuer, after checking its signature and window. */
  readonly crls?: readonly Crl[];
  /** When true, every certificate of the path (not the anchor) must be covered by a supplied CRL (`crl_missing`). */
  readonly requireCrls?: boolean;
  /** Critical extensions of the leaf that the caller itself processes (e.g. the TPM EK's subjectAltName). */
  readonly leafCriticalExtensions?: readonly string[];
  /**
   * Critical extensions the caller accepts on every certificate of the path (leaf and
   * intermediates, not the anchor). TPM: certificatePolicies (2.5.29.32), which with
   * user-initial-policy-set anyPolicy and no explicit-policy requirement cannot
   * invalidate a path (RFC 5280 §6.1); policyConstraints and policyMappings stay refused.
   */
  readonly pathCriticalExtensions?: readonly string[];
  /** Key usages the leaf must have (its keyUsage extension must be present and assert them). */
  readonly leafKeyUsage?: readonly KeyUsageName[];
  readonly maxIntermediates?: number;
}

export interface ValidatedPath {
  readonly leaf: Certificate;
  /** Leaf first, then each issuer up to (not including) the anchor. */
  readonly path: readonly Certificate[];
  readonly anchor: TrustAnchor;
}

const anchorChecks = new WeakMap<Certificate, Promise<boolean>>();

/**
 * A trust anchor from a vendor root certificate. Verifies once that the root
 * is self-signed under the allowlist and is a CA allowed to sign certificates;
 * its validity window is checked at each use against the injected time.
 */
export async function trustAnchor(name: string, certificate: Certificate): Promise<TrustAnchor> {
  if (!bytesEqual(certificate.issuer, certificate.subject)) {
    throw new EvidenceConfigurationError("invalid_reference_values", `anchor ${name}: not self-issued`);
  }
  let check = anchorChecks.get(certificate);
  if (!check) {
    check = certificateSignedBy(certificate, certificate);
    anchorChecks.set(certificate, check);
  }
  if (!(await check)) throw new EvidenceVerificationError("certificate_signature_invalid", `anchor ${name}: self-signature does not verify`);
  checkCa(certificate, `anchor ${name}`);
  return { name, certificate };
}

/** Anchors from a PEM text: every self-signed certificate in it (intermediates in the same bundle are skipped). */
export async function trustAnchorsFromPem(pem: string, name: string): Promise<TrustAnchor[]> {
  const roots = parseCertificatesPem(pem, name).filter((c) => bytesEqual(c.issuer, c.subject));
  return Promise.all(roots.map((c) => trustAnchor(name, c)));
}

function checkCa(cert: Certificate, what: string): void {
  // RFC 5280 §6.1.4 (k), (n): only a CA whose keyUsage asserts keyCertSign may issue certificates.
  if (!cert.basicConstraints?.ca) throw new EvidenceVerificationError("certificate_not_ca", `${what}: basicConstraints cA is not set`);
  if (cert.keyUsage === undefined || (cert.keyUsage & (1 << KeyUsage.keyCertSign)) === 0) {
    throw new EvidenceVerificationError("key_usage_invalid", `${what}: keyUsage lacks keyCertSign`);
  }
}

function checkValidity(cert: Certificate, now: Date, what: string): void {
  const t = now.getTime();
  if (t < cert.notBefore.getTime()) {
    throw new EvidenceVerificationError("certificate_not_yet_valid", `${what}: not valid before ${cert.notBefore.toISOString()}`);
  }
  if (t > cert.notAfter.getTime()) {
    throw new EvidenceVerificationError("certificate_expired", `${what}: expired ${cert.notAfter.toISOString()}`);
  }
}

function checkCritical(cert: Certificate, handled: ReadonlySet<string>, what: string): void {
  for (const [oid, ext] of cert.extensions) {
    if (ext.critical && !UNDERSTOOD.has(oid) && !handled.has(oid)) {
      throw new EvidenceVerificationError("unknown_critical_extension", `${what}: critical extension ${oid} is not understood`);
    }
  }
}

function isAnchorKey(cert: Certificate, anchors: readonly TrustAnchor[]): boolean {
  return anchors.some((a) => bytesEqual(a.certificate.spki, cert.spki));
}

/**
 * RFC 5280 §6 certificate-path validation, the one validator every verifier
 * uses. Builds the path from `leaf` through `intermediates` to a pinned anchor
 * (names matched byte for byte, each link's signature checked under the
 * algorithm allowlist), then checks every link at `now`: validity windows
 * (the anchor's too), basicConstraints cA and pathLen, keyUsage keyCertSign,
 * critical extensions, and revocation against the supplied CRLs.
 *
 * A certificate whose key is an anchor's key is that anchor, whatever else it
 * says; a self-signed certificate that only copies an anchor's name is not.
 */
export async function validatePath(leaf: Certificate, options: PathOptions): Promise<ValidatedPath> {
  const { now, anchors } = options;
  if (anchors.length === 0) throw new EvidenceConfigurationError("no_trust_anchors", "no trust anchors configured");
  if (!(now instanceof Date) || Number.isNaN(now.getTime())) {
    throw new EvidenceConfigurationError("invalid_reference_values", "verification time is not a valid Date");
  }
  const intermediates = (options.intermediates ?? []).filter((c) => !isAnchorKey(c, anchors));
  const maxIntermediates = options.maxIntermediates ?? MAX_INTERMEDIATES;

  // Path building: walk issuer names upward until an anchor's key verifies a link.
  const path: Certificate[] = [leaf];
  let anchor: TrustAnchor | undefined;
  for (;;) {
    const current = path[path.length - 1] as Certificate;
    const what = current.subjectText;
    let sawCandidate = false;
    for (const a of anchors) {
      if (!bytesEqual(a.certificate.subject, current.issuer)) continue;
      sawCandidate = true;
      if (await certificateSignedBy(current, a.certificate)) {
        anchor = a;
        break;
      }
    }
    if (anchor) break;
    if (bytesEqual(current.issuer, current.subject) && !isAnchorKey(current, anchors)) {
      // Self-issued and not pinned: possibly a root that copies an anchor's name.
      throw new EvidenceVerificationError("chain_untrusted", `${what}: self-issued certificate that is not a trust anchor`);
    }
    let next: Certificate | undefined;
    for (const c of intermediates) {
      if (path.includes(c) || !bytesEqual(c.subject, current.issuer)) continue;
      sawCandidate = true;
      if (await certificateSignedBy(current, c)) {
        next = c;
        break;
      }
    }
    if (!next) {
      if (sawCandidate) throw new EvidenceVerificationError("certificate_signature_invalid", `${what}: no issuer candidate verifies its signature`);
      throw new EvidenceVerificationError("chain_incomplete", `${what}: issuer not found among the supplied certificates or anchors`);
    }
    if (bytesEqual(next.issuer, next.subject)) {
      throw new EvidenceVerificationError("chain_untrusted", `${what}: issued by a self-issued certificate that is not a trust anchor`);
    }
    if (path.length > maxIntermediates) {
      throw new EvidenceVerificationError("path_length_exceeded", `${what}: more than ${maxIntermediates} intermediates`);
    }
    path.push(next);
  }

  // Path checks, from the anchor down to the leaf (RFC 5280 §6.1.3, §6.1.4).
  const anchorCert = anchor.certificate;
  checkValidity(anchorCert, now, `anchor ${anchor.name}`);
  checkCa(anchorCert, `anchor ${anchor.name}`);
  let maxPathLength = anchorCert.basicConstraints?.pathLen ?? Number.POSITIVE_INFINITY;
  const none = new Set<string>(options.pathCriticalExtensions ?? []);
  const leafHandled = new Set([...(options.leafCriticalExtensions ?? []), ...none]);
  for (let i = path.length - 1; i >= 0; i--) {
    const cert = path[i] as Certificate;
    const issuer = i === path.length - 1 ? anchorCert : (path[i + 1] as Certificate);
    const what = cert.subjectText;
    checkValidity(cert, now, what);
    checkCritical(cert, i === 0 ? leafHandled : none, what);
    await checkRevocation(cert, issuer, options, what);
    if (i === 0) break;
    checkCa(cert, what);
    if (!bytesEqual(cert.issuer, cert.subject)) {
      if (maxPathLength <= 0) throw new EvidenceVerificationError("path_length_exceeded", `${what}: exceeds an issuer's pathLenConstraint`);
      maxPathLength--;
    }
    const own = cert.basicConstraints?.pathLen;
    if (own !== undefined && own < maxPathLength) maxPathLength = own;
  }
  if (options.leafKeyUsage && options.leafKeyUsage.length > 0) {
    const usage = leaf.keyUsage;
    for (const name of options.leafKeyUsage) {
      if (usage === undefined || (usage & (1 << KeyUsage[name])) === 0) {
        throw new EvidenceVerificationError("key_usage_invalid", `${leaf.subjectText}: keyUsage lacks ${name}`);
      }
    }
  }
  return { leaf, path, anchor };
}

async function checkRevocation(cert: Certificate, issuer: Certificate, options: PathOptions, what: string): Promise<void> {
  const crls = (options.crls ?? []).filter((crl) => bytesEqual(crl.issuer, cert.issuer));
  if (crls.length === 0) {
    if (options.requireCrls) throw new EvidenceVerificationError("crl_missing", `${what}: no CRL from its issuer was supplied`);
    return;
  }
  const t = options.now.getTime();
  for (const crl of crls) {
    // RFC 5280 §6.3.3 (f): the CRL issuer must be allowed to sign CRLs, and its signature must verify.
    if (issuer.keyUsage !== undefined && (issuer.keyUsage & (1 << KeyUsage.cRLSign)) === 0) {
      throw new EvidenceVerificationError("key_usage_invalid", `${issuer.subjectText}: keyUsage lacks cRLSign`);
    }
    if (!(await crlSignedBy(crl, issuer))) throw new EvidenceVerificationError("crl_signature_invalid", `CRL of ${issuer.subjectText}: signature does not verify`);
    if (t < crl.thisUpdate.getTime()) throw new EvidenceVerificationError("crl_not_yet_valid", `CRL of ${issuer.subjectText}: thisUpdate ${crl.thisUpdate.toISOString()}`);
    // A CRL without nextUpdate never goes stale, so it cannot be trusted to be current.
    if (!crl.nextUpdate || t > crl.nextUpdate.getTime()) {
      throw new EvidenceVerificationError("crl_expired", `CRL of ${issuer.subjectText}: nextUpdate ${crl.nextUpdate?.toISOString() ?? "absent"}`);
    }
    for (const [oid, ext] of crl.extensions) {
      if (ext.critical && !CRL_UNDERSTOOD.has(oid)) {
        throw new EvidenceVerificationError("unknown_critical_extension", `CRL of ${issuer.subjectText}: critical extension ${oid}`);
      }
    }
    if (crl.revoked.has(cert.serialHex)) throw new EvidenceVerificationError("certificate_revoked", `${what}: serial ${cert.serialHex} is revoked`);
  }
}
