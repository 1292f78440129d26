import { EvidenceConfigurationError, EvidenceError, EvidenceVerificationError } from "../errors.ts";
import { bytesEqual } from "../reader.ts";
import { certificateSignedBy, crlSignedBy, KeyUsage, OID, parseCertificatesPem, type Certificate, type Crl, type KeyUsageName } from "./certificate.ts";
import { checkCrlProfile, checkProfile, type PathProfile, type PathPosition } from "./profile.ts";
import { windowOf, within, type TrustEntry, type ValidFor } from "./trust.ts";

/**
 * A trust anchor: a vendor root pinned by its key (the DER
 * SubjectPublicKeyInfo of its certificate), with the window in which it may
 * end a path. Its certificate is kept for its name and its own constraints.
 * Build anchors with {@link trustAnchor}, which checks them once (RFC 5937).
 */
export interface TrustAnchor extends TrustEntry {}

/** Extensions every path check understands (RFC 5280 §4.2): anything else critical is refused unless the caller handles it. */
const UNDERSTOOD = new Set<string>([OID.basicConstraints, OID.keyUsage, OID.authorityKeyIdentifier, OID.subjectKeyIdentifier]);
/** CRL extensions understood when critical (RFC 5280 §5.2). */
const CRL_UNDERSTOOD = new Set<string>([OID.crlNumber, OID.authorityKeyIdentifier]);

/** Default bound on intermediates: vendor chains have one or two (three for some TPM vendors' cross-signed roots). */
const MAX_INTERMEDIATES = 4;
/**
 * Bound on the issuer candidates path building may try in one call (each
 * costs at most one signature check). Real chains need a handful even with
 * every TPM vendor's 169 CAs as candidates; a pool built to make the search
 * explode (many same-named CAs at every level) is refused once it is spent.
 */
const MAX_CANDIDATES = 64;

export interface PathOptions {
  /** The time every certificate, the anchor and every CRL must be valid at. */
  readonly now: Date;
  /** Pinned anchors; an empty set is a configuration error, never a pass. */
  readonly anchors: readonly TrustAnchor[];
  /** Candidate intermediates (the evidence's own chain); order is a preference, extra ones are ignored. */
  readonly intermediates?: readonly Certificate[];
  /**
   * A trust store's path material, tried after `intermediates`: indexed by its
   * subject key, and an entry's certificate is read (parsed, for a lazy store)
   * only when its name is an issuer being sought.
   */
  readonly store?: readonly TrustEntry[];
  /** CRLs to apply: each one to the certificates issued by its issuer, after checking its signature and window. */
  readonly crls?: readonly Crl[];
  /**
   * Which certificates of the path (never the anchor) must be covered by a supplied CRL of their
   * issuer, else `crl_missing`: true, every one (TDX: the PCK CRL and the Root CA CRL); "anchor",
   * the one the anchor issued (SEV-SNP: the ARK's CRL covers the ASK or ASVK, whose V[CL]EKs no
   * CRL lists, AMD superseding them by TCB instead).
   */
  readonly requireCrls?: boolean | "anchor";
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
  /** The family's certificate profile (x509/profile.ts); `rfc5280` by default. */
  readonly profile?: PathProfile;
  readonly maxIntermediates?: number;
  /** Bound on issuer candidates tried while building (`path_search_exhausted` beyond it). */
  readonly maxCandidates?: number;
}

export interface ValidatedPath {
  readonly leaf: Certificate;
  /** Leaf first, then each issuer up to (not including) the anchor. */
  readonly path: readonly Certificate[];
  readonly anchor: TrustAnchor;
}

export interface AnchorOptions {
  /** Vendor, product or "Intel"; the anchor's name by default. */
  readonly group?: string;
  readonly purpose?: string;
  /** A window narrower than the certificate's, when the vendor says so. */
  readonly validFor?: Partial<ValidFor>;
  /** Critical extensions the family accepts on its anchors (TPM: certificatePolicies, as on the rest of its paths). */
  readonly criticalExtensions?: readonly string[];
}

const anchorChecks = new WeakMap<Certificate, Promise<boolean>>();

/**
 * A trust anchor from a vendor root certificate, checked once (RFC 5937,
 * trust anchor constraints):
 *
 * | anchor extension | decision |
 * |---|---|
 * | basicConstraints | enforced: cA required here; its pathLenConstraint bounds every path it ends |
 * | keyUsage | enforced: keyCertSign required when present; required at all by the SEV-SNP and TDX profiles |
 * | nameConstraints (critical or not) | refused here: not implemented (x509/profile.ts, no-name-constraints) |
 * | authority/subjectKeyIdentifier | informational; marked critical → refused (RFC 5280 §4.2.1.1–2) |
 * | policies, policy constraints/mappings, inhibitAnyPolicy, anything else | critical → refused here unless the family lists it; non-critical → not used |
 *
 * A self-issued root must verify its own signature (a damaged or substituted
 * file is caught at load). An anchor that is not self-issued — three of the
 * TPM vendor bundle's roots are CAs whose own issuer is not distributed — is
 * trusted as what RFC 5280 §6.1.1 (d) makes an anchor: a name and a key.
 * The validity window is checked at each use against the injected time.
 */
export async function trustAnchor(name: string, certificate: Certificate, options: AnchorOptions = {}): Promise<TrustAnchor> {
  const what = `anchor ${name}`;
  if (certificate.selfIssued) {
    let check = anchorChecks.get(certificate);
    if (!check) {
      check = certificateSignedBy(certificate, certificate);
      anchorChecks.set(certificate, check);
    }
    if (!(await check)) throw new EvidenceVerificationError("certificate_signature_invalid", `${what}: self-signature does not verify`);
  }
  checkCa(certificate, what);
  checkCritical(certificate, new Set(options.criticalExtensions ?? []), what);
  checkProfile(certificate, "anchor", "rfc5280", what);
  return {
    name,
    subjectKey: certificate.subjectKey,
    group: options.group ?? name,
    ...(options.purpose ? { purpose: options.purpose } : {}),
    certificate,
    validFor: windowOf(certificate, options.validFor ?? {}, what),
  };
}

/** Anchors from a PEM text: every self-issued certificate in it (intermediates in the same bundle are skipped). */
export async function trustAnchorsFromPem(pem: string, name: string): Promise<TrustAnchor[]> {
  const roots = parseCertificatesPem(pem, name).filter((c) => c.selfIssued);
  return Promise.all(roots.map((c) => trustAnchor(name, c)));
}

function checkCa(cert: Certificate, what: string): void {
  // RFC 5280 §6.1.4 (k): a CA certificate; (n): keyCertSign when keyUsage is present (a profile may require keyUsage at all).
  if (!cert.basicConstraints?.ca) throw new EvidenceVerificationError("certificate_not_ca", `${what}: basicConstraints cA is not set`);
  if (cert.keyUsage !== undefined && (cert.keyUsage & (1 << KeyUsage.keyCertSign)) === 0) {
    throw new EvidenceVerificationError("key_usage_invalid", `${what}: keyUsage lacks keyCertSign`);
  }
}

function checkWindow(window: ValidFor, now: Date, what: string): void {
  if (within(window, now)) return;
  // Compared at whole seconds, the certificates' own precision (see within()).
  if (now.getTime() < window.start.getTime()) {
    throw new EvidenceVerificationError("certificate_not_yet_valid", `${what}: not valid before ${window.start.toISOString()}`);
  }
  throw new EvidenceVerificationError("certificate_expired", `${what}: expired ${window.end.toISOString()}`);
}

function checkCritical(cert: Certificate, handled: ReadonlySet<string>, what: string): void {
  for (const [oid, ext] of cert.extensions) {
    if (ext.critical && !UNDERSTOOD.has(oid) && !handled.has(oid)) {
      throw new EvidenceVerificationError("unknown_critical_extension", `${what}: critical extension ${oid} is not understood`);
    }
  }
}

/** A string key of DER bytes, for recognising one certificate given twice. */
function keyOf(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i += 4096) s += String.fromCharCode(...bytes.subarray(i, i + 4096));
  return s;
}

/** Why a branch of the search ended; the most informative one is reported when no path validates. */
interface Failure {
  readonly error: EvidenceError;
  /** Failures of complete paths (an anchor was reached) outrank dead ends; deeper dead ends outrank shallower ones. */
  readonly rank: number;
}

/**
 * RFC 5280 §6 certificate-path validation, the one validator every verifier
 * uses.
 *
 * Path building (RFC 4158) searches depth first from `leaf` through
 * `intermediates` to a pinned anchor: issuers are matched by Name (RFC 5280
 * §7.1, see `nameKey`; candidates whose subjectKeyIdentifier matches the child's
 * authorityKeyIdentifier first), each link's signature is checked under the
 * algorithm allowlist, and when a complete path fails validation (expired,
 * revoked, constrained, mis-profiled) the search backtracks to the next
 * candidate — two same-named CAs, a rotated or cross-signed one, are both
 * tried. Self-issued intermediates (a CA's key rollover: old key signs new)
 * are path material and do not count against pathLenConstraint (§6.1.4 (l));
 * a self-signed certificate that is not an anchor ends its branch as
 * `chain_untrusted`. The search is bounded by depth (`maxIntermediates`) and by
 * the number of candidates tried (`maxCandidates`, then
 * `path_search_exhausted`).
 *
 * Path validation checks every link at `now`, anchor down: validity windows
 * (the anchor's trust window too), basicConstraints cA and pathLen, keyUsage
 * keyCertSign, critical extensions, the family profile, and revocation
 * against the supplied CRLs.
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
  const maxIntermediates = options.maxIntermediates ?? MAX_INTERMEDIATES;
  let candidatesLeft = options.maxCandidates ?? MAX_CANDIDATES;

  const anchorsByName = new Map<string, TrustAnchor[]>();
  for (const a of anchors) anchorsByName.set(a.subjectKey, [...(anchorsByName.get(a.subjectKey) ?? []), a]);
  const storeByName = new Map<string, TrustEntry[]>();
  for (const e of options.store ?? []) storeByName.set(e.subjectKey, [...(storeByName.get(e.subjectKey) ?? []), e]);
  const isAnchorKey = (cert: Certificate): boolean => anchors.some((a) => bytesEqual(a.certificate.spki, cert.spki));
  const byName = new Map<string, Certificate[]>();
  const seen = new Set<string>();
  for (const c of options.intermediates ?? []) {
    const der = keyOf(c.der);
    // A copy of an anchor is that anchor; a duplicate is one candidate.
    if (seen.has(der) || isAnchorKey(c)) continue;
    seen.add(der);
    byName.set(c.subjectKey, [...(byName.get(c.subjectKey) ?? []), c]);
  }

  let best: Failure | undefined;
  const fail = (error: EvidenceError, rank: number): void => {
    if (!best || rank > best.rank) best = { error, rank };
  };
  // Signature results of this call, failures included: a branch met twice costs one check.
  const links = new Map<Certificate, Map<Uint8Array, Promise<boolean>>>();
  const signed = (child: Certificate, issuer: Certificate, depth: number): Promise<boolean> => {
    let byIssuer = links.get(child);
    if (!byIssuer) links.set(child, (byIssuer = new Map()));
    let result = byIssuer.get(issuer.spki);
    if (!result) {
      // An algorithm outside the allowlist (or a key of the wrong type for it) rules out this link, not the search:
      // a same-named candidate with another key may still verify.
      result = certificateSignedBy(child, issuer).catch((error: unknown) => {
        if (!(error instanceof EvidenceError) || error.code !== "unsupported_algorithm") throw error;
        fail(error, depth);
        return false;
      });
      byIssuer.set(issuer.spki, result);
    }
    return result;
  };
  const preferByKeyId = <T>(child: Certificate, list: readonly T[], certOf: (t: T) => Certificate): T[] => {
    const aki = child.authorityKeyId;
    if (!aki) return [...list];
    const matches = (t: T) => {
      const ski = certOf(t).subjectKeyId;
      return ski !== undefined && bytesEqual(ski, aki);
    };
    return [...list.filter(matches), ...list.filter((t) => !matches(t))];
  };

  const spend = (what: string): void => {
    if (--candidatesLeft < 0) throw new EvidenceVerificationError("path_search_exhausted", `${what}: more than ${options.maxCandidates ?? MAX_CANDIDATES} issuer candidates tried`);
  };

  const search = async (path: Certificate[]): Promise<ValidatedPath | undefined> => {
    const current = path[path.length - 1] as Certificate;
    const what = current.subjectText;
    const depth = path.length;
    let sawCandidate = false;
    let sawSigned = false;
    for (const anchor of preferByKeyId(current, anchorsByName.get(current.issuerKey) ?? [], (a) => a.certificate)) {
      sawCandidate = true;
      spend(what);
      if (!(await signed(current, anchor.certificate, depth))) continue;
      sawSigned = true;
      try {
        await checkPath(path, anchor, options);
        return { leaf, path, anchor };
      } catch (error) {
        if (!(error instanceof EvidenceError)) throw error;
        fail(error, 1000 + depth);
      }
    }
    if (current.selfIssued && !isAnchorKey(current) && (await signed(current, current, depth))) {
      // A root that is not pinned: possibly one that copies an anchor's name.
      fail(new EvidenceVerificationError("chain_untrusted", `${what}: self-signed certificate that is not a trust anchor`), depth);
      return undefined;
    }
    const onPath = (c: Certificate) => path.some((p) => p === c || (bytesEqual(p.spki, c.spki) && p.subjectKey === c.subjectKey));
    const fromStore = (storeByName.get(current.issuerKey) ?? []).map((e) => e.certificate).filter((c) => !seen.has(keyOf(c.der)) && !isAnchorKey(c));
    const candidates = preferByKeyId(current, [...(byName.get(current.issuerKey) ?? []), ...fromStore].filter((c) => !onPath(c)), (c) => c);
    for (const next of candidates) {
      sawCandidate = true;
      spend(what);
      if (!(await signed(current, next, depth))) continue;
      sawSigned = true;
      // Past the depth bound only a self-signed issuer is looked at, to be reported for what it is (chain_untrusted).
      if (path.length > maxIntermediates && !(next.selfIssued && (await signed(next, next, depth + 1)))) {
        fail(new EvidenceVerificationError("path_length_exceeded", `${what}: more than ${maxIntermediates} intermediates`), depth + 1);
        continue;
      }
      const found = await search([...path, next]);
      if (found) return found;
    }
    if (!sawSigned) {
      fail(
        sawCandidate
          ? new EvidenceVerificationError("certificate_signature_invalid", `${what}: no issuer candidate verifies its signature`)
          : new EvidenceVerificationError("chain_incomplete", `${what}: issuer not found among the supplied certificates or anchors`),
        depth,
      );
    }
    return undefined;
  };

  const found = await search([leaf]);
  if (found) return found;
  throw (best as Failure).error;
}

/** RFC 5280 §6.1.3–6.1.4 over one built path, from the anchor down to the leaf; throws the first failure. */
async function checkPath(path: readonly Certificate[], anchor: TrustAnchor, options: PathOptions): Promise<void> {
  const profile = options.profile ?? "rfc5280";
  const anchorCert = anchor.certificate;
  const anchorWhat = `anchor ${anchor.name}`;
  checkWindow(anchor.validFor, options.now, anchorWhat);
  checkCa(anchorCert, anchorWhat);
  checkProfile(anchorCert, "anchor", profile, anchorWhat);
  let maxPathLength = anchorCert.basicConstraints?.pathLen ?? Number.POSITIVE_INFINITY;
  const pathHandled = new Set<string>(options.pathCriticalExtensions ?? []);
  const leafHandled = new Set([...(options.leafCriticalExtensions ?? []), ...pathHandled]);
  for (let i = path.length - 1; i >= 0; i--) {
    const cert = path[i] as Certificate;
    const issuer = i === path.length - 1 ? anchorCert : (path[i + 1] as Certificate);
    const what = cert.subjectText;
    const position: PathPosition = i === 0 ? "leaf" : "intermediate";
    checkWindow({ start: cert.notBefore, end: cert.notAfter }, options.now, what);
    checkCritical(cert, i === 0 ? leafHandled : pathHandled, what);
    await checkRevocation(cert, issuer, i === path.length - 1, options, profile, what);
    if (i > 0) {
      checkCa(cert, what);
      // §6.1.4 (l): self-issued certificates (key rollover) do not count against the path length.
      if (!cert.selfIssued) {
        if (maxPathLength <= 0) throw new EvidenceVerificationError("path_length_exceeded", `${what}: exceeds an issuer's pathLenConstraint`);
        maxPathLength--;
      }
      const own = cert.basicConstraints?.pathLen;
      if (own !== undefined && own < maxPathLength) maxPathLength = own;
    }
    checkProfile(cert, position, profile, what);
  }
  const leaf = path[0] as Certificate;
  for (const name of options.leafKeyUsage ?? []) {
    if (leaf.keyUsage === undefined || (leaf.keyUsage & (1 << KeyUsage[name])) === 0) {
      throw new EvidenceVerificationError("key_usage_invalid", `${leaf.subjectText}: keyUsage lacks ${name}`);
    }
  }
}

async function checkRevocation(cert: Certificate, issuer: Certificate, issuedByAnchor: boolean, options: PathOptions, profile: PathProfile, what: string): Promise<void> {
  const crls = (options.crls ?? []).filter((crl) => crl.issuerKey === cert.issuerKey);
  if (crls.length === 0) {
    const required = options.requireCrls === true || (options.requireCrls === "anchor" && issuedByAnchor);
    if (required) throw new EvidenceVerificationError("crl_missing", `${what}: no CRL from its issuer was supplied`);
    return;
  }
  for (const crl of crls) {
    await checkCrl(crl, issuer, profile, options.now);
    if (crl.revoked.has(cert.serialHex)) throw new EvidenceVerificationError("certificate_revoked", `${what}: serial ${cert.serialHex} is revoked`);
  }
}

/**
 * That `issuer` issued `crl` and that it is usable (RFC 5280 §6.3.3): the issuer may sign CRLs
 * (cRLSign when it has keyUsage, (f)), the signature verifies under the algorithm allowlist, the
 * CRL is current at `now` ({@link checkCrlWindow}; skipped when `now` is undefined, for a caller
 * that picks the newest of several CRLs and checks the window of the one it keeps), every
 * critical extension is understood, and the family's CRL profile holds.
 */
export async function checkCrl(crl: Crl, issuer: Certificate, profile: PathProfile, now: Date | undefined): Promise<void> {
  const crlWhat = `CRL of ${issuer.subjectText}`;
  if (issuer.keyUsage !== undefined && (issuer.keyUsage & (1 << KeyUsage.cRLSign)) === 0) {
    throw new EvidenceVerificationError("key_usage_invalid", `${issuer.subjectText}: keyUsage lacks cRLSign`);
  }
  if (!(await crlSignedBy(crl, issuer))) throw new EvidenceVerificationError("crl_signature_invalid", `${crlWhat}: signature does not verify`);
  if (now !== undefined) checkCrlWindow(crl, now);
  for (const [oid, ext] of crl.extensions) {
    if (ext.critical && !CRL_UNDERSTOOD.has(oid)) {
      throw new EvidenceVerificationError("unknown_critical_extension", `${crlWhat}: critical extension ${oid}`);
    }
  }
  checkCrlProfile(crl, profile, crlWhat);
}

/**
 * That `crl` is current at `now`: thisUpdate ≤ now ≤ nextUpdate, compared at whole seconds as
 * certificate windows are (RFC 5280 §6.3.3 (a)(2) makes a CRL stale only after nextUpdate).
 */
export function checkCrlWindow(crl: Crl, now: Date): void {
  const crlWhat = `CRL of ${crl.issuerText}`;
  // A CRL without nextUpdate never goes stale, so it cannot be trusted to be current.
  if (!crl.nextUpdate) throw new EvidenceVerificationError("crl_expired", `${crlWhat}: nextUpdate absent`);
  if (!within({ start: crl.thisUpdate, end: crl.nextUpdate }, now)) {
    if (now.getTime() < crl.thisUpdate.getTime()) throw new EvidenceVerificationError("crl_not_yet_valid", `${crlWhat}: thisUpdate ${crl.thisUpdate.toISOString()}`);
    throw new EvidenceVerificationError("crl_expired", `${crlWhat}: nextUpdate ${crl.nextUpdate.toISOString()}`);
  }
}
