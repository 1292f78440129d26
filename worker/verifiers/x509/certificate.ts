import { WardenError } from "../../errors.ts";
import { AsnConvert } from "@peculiar/asn1-schema";
import {
  AuthorityKeyIdentifier,
  BasicConstraints,
  Certificate as AsnCertificate,
  CertificateList as AsnCertificateList,
  ExtendedKeyUsage,
  KeyUsage as AsnKeyUsage,
  SubjectKeyIdentifier,
  Version,
  type Extension as AsnExtension,
} from "@peculiar/asn1-x509";
import { EvidenceError, EvidenceVerificationError, MalformedEvidenceError } from "../errors.ts";
import { bytesEqual, concatBytes, toHex } from "../reader.ts";
import {
  childrenOf,
  contextTag,
  derHeader,
  DerSequence,
  expectTag,
  integerBytes,
  octetAlignedBits,
  oidValue,
  parseNode,
  smallUint,
  strictDer,
  Tag,
  timeValue,
  type DerNode,
} from "./der.ts";

/** Object identifiers the validator understands. */
export const OID = {
  rsaEncryption: "1.2.840.113549.1.1.1",
  rsassaPss: "1.2.840.113549.1.1.10",
  mgf1: "1.2.840.113549.1.1.8",
  sha256WithRSAEncryption: "1.2.840.113549.1.1.11",
  sha384WithRSAEncryption: "1.2.840.113549.1.1.12",
  sha512WithRSAEncryption: "1.2.840.113549.1.1.13",
  ecPublicKey: "1.2.840.10045.2.1",
  p256: "1.2.840.10045.3.1.7",
  p384: "1.3.132.0.34",
  p521: "1.3.132.0.35",
  ecdsaWithSha256: "1.2.840.10045.4.3.2",
  ecdsaWithSha384: "1.2.840.10045.4.3.3",
  ecdsaWithSha512: "1.2.840.10045.4.3.4",
  sha256: "2.16.840.1.101.3.4.2.1",
  sha384: "2.16.840.1.101.3.4.2.2",
  sha512: "2.16.840.1.101.3.4.2.3",
  basicConstraints: "2.5.29.19",
  keyUsage: "2.5.29.15",
  subjectKeyIdentifier: "2.5.29.14",
  authorityKeyIdentifier: "2.5.29.35",
  extKeyUsage: "2.5.29.37",
  nameConstraints: "2.5.29.30",
  certificatePolicies: "2.5.29.32",
  crlNumber: "2.5.29.20",
  crlReason: "2.5.29.21",
} as const;

export type HashName = "SHA-256" | "SHA-384" | "SHA-512";

const HASH_BY_OID: Readonly<Record<string, HashName>> = {
  [OID.sha256]: "SHA-256",
  [OID.sha384]: "SHA-384",
  [OID.sha512]: "SHA-512",
};
const HASH_BYTES: Readonly<Record<HashName, number>> = { "SHA-256": 32, "SHA-384": 48, "SHA-512": 64 };

/**
 * The allowlist of signature algorithms (STYLE §8). SHA-1 and MD5 are not on
 * it; RSA-PSS only with MGF1 over the same hash, salt the hash length and the
 * standard trailer (what AMD's ARK/ASK/VCEK use: SHA-384, salt 48).
 */
export type SignatureAlgorithm =
  | { readonly kind: "ecdsa"; readonly hash: HashName }
  | { readonly kind: "rsa-pkcs1"; readonly hash: HashName }
  | { readonly kind: "rsa-pss"; readonly hash: HashName; readonly saltLength: number }
  | { readonly kind: "unsupported"; readonly oid: string; readonly reason: string };

export type Curve = "P-256" | "P-384" | "P-521";

/** Coordinate size of each allowed curve (SEC 1). */
const CURVE_BYTES: Readonly<Record<Curve, number>> = { "P-256": 32, "P-384": 48, "P-521": 66 };

/** The subject key of a certificate, as far as the allowlist cares. */
export type KeyInfo =
  | { readonly kind: "ec"; readonly curve: Curve }
  | { readonly kind: "rsa"; readonly bits: number; readonly pssOnly: boolean }
  | { readonly kind: "unsupported"; readonly oid: string };

export const KeyUsage = {
  digitalSignature: 0,
  nonRepudiation: 1,
  keyEncipherment: 2,
  dataEncipherment: 3,
  keyAgreement: 4,
  keyCertSign: 5,
  cRLSign: 6,
  encipherOnly: 7,
  decipherOnly: 8,
} as const;
export type KeyUsageName = keyof typeof KeyUsage;

export interface CertExtension {
  readonly critical: boolean;
  /** Contents of extnValue: the DER encoding of the extension's value. */
  readonly value: Uint8Array;
}

/** An X.509 v3 certificate, parsed once from strict DER. Every field is a view into `der`. */
export interface Certificate {
  readonly der: Uint8Array;
  /** The signed bytes (TBSCertificate, exactly as received). */
  readonly tbs: Uint8Array;
  readonly version: number;
  /** Serial number contents (two's complement, as encoded). */
  readonly serial: Uint8Array;
  /** Serial as lower-case hex without a sign octet: the key of CRL lookups. */
  readonly serialHex: string;
  readonly signatureAlgorithm: SignatureAlgorithm;
  /** DER of the issuer and subject Names, exactly as received. */
  readonly issuer: Uint8Array;
  readonly subject: Uint8Array;
  /** The Names in their RFC 5280 §7.1 comparison form ({@link nameKey}): what path building and CRL lookup match. */
  readonly issuerKey: string;
  readonly subjectKey: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** DER SubjectPublicKeyInfo: what an anchor is pinned by. */
  readonly spki: Uint8Array;
  readonly key: KeyInfo;
  readonly extensions: ReadonlyMap<string, CertExtension>;
  readonly basicConstraints: { readonly ca: boolean; readonly pathLen: number | undefined } | undefined;
  /** Bitmask over {@link KeyUsage} bit numbers, when the extension is present. */
  readonly keyUsage: number | undefined;
  /** keyIdentifier of the authorityKeyIdentifier extension, when present. */
  readonly authorityKeyId: Uint8Array | undefined;
  /** The subjectKeyIdentifier extension, when present. */
  readonly subjectKeyId: Uint8Array | undefined;
  /** The purposes of the extendedKeyUsage extension, when present (never empty: refused while parsing). */
  readonly extKeyUsage: readonly string[] | undefined;
  /** Issuer and subject are the same bytes (RFC 5280 §6.1: a root, or a CA's key rollover). */
  readonly selfIssued: boolean;
  readonly signatureValue: Uint8Array;
  /** Human-readable subject, for messages only; `<empty subject>` when it has no attributes. */
  readonly subjectText: string;
}

export interface Crl {
  readonly der: Uint8Array;
  readonly tbs: Uint8Array;
  readonly signatureAlgorithm: SignatureAlgorithm;
  readonly issuer: Uint8Array;
  /** {@link nameKey} of the issuer. */
  readonly issuerKey: string;
  readonly thisUpdate: Date;
  readonly nextUpdate: Date | undefined;
  /** Revoked serials (hex, as {@link Certificate.serialHex}). */
  readonly revoked: ReadonlySet<string>;
  readonly extensions: ReadonlyMap<string, CertExtension>;
  /** The cRLNumber extension's value (RFC 5280 §5.2.3) as hex, when present. */
  readonly crlNumber: string | undefined;
  readonly signatureValue: Uint8Array;
  /** Human-readable issuer, for messages only. */
  readonly issuerText: string;
}

function malformedCert(what: string, cause: unknown): never {
  if (cause instanceof EvidenceError && cause.code === "malformed_certificate") throw cause;
  const message = cause instanceof Error ? cause.message : String(cause);
  throw new MalformedEvidenceError("malformed_certificate", `${what}: ${message}`, { cause });
}

function nullOrAbsent(params: DerNode | undefined, what: string): void {
  if (params && (params.tag !== Tag.NULL || params.value.length !== 0)) {
    throw new MalformedEvidenceError("malformed_evidence", `${what}: expected NULL parameters`);
  }
}

function hashAlgorithm(node: DerNode, what: string): HashName | undefined {
  const seq = new DerSequence(node, what);
  const oid = oidValue(seq.next(Tag.OID, "algorithm"), what);
  nullOrAbsent(seq.optional(Tag.NULL), what);
  seq.end();
  return HASH_BY_OID[oid];
}

/** Interprets an AlgorithmIdentifier of a signature (RFC 5280 §4.1.1.2, RFC 4055 §3.1, RFC 5758 §3.2). */
export function signatureAlgorithmOf(node: DerNode, what: string): SignatureAlgorithm {
  const seq = new DerSequence(node, what);
  const oid = oidValue(seq.next(Tag.OID, "algorithm"), what);
  const ecdsa: Record<string, HashName> = { [OID.ecdsaWithSha256]: "SHA-256", [OID.ecdsaWithSha384]: "SHA-384", [OID.ecdsaWithSha512]: "SHA-512" };
  const pkcs1: Record<string, HashName> = {
    [OID.sha256WithRSAEncryption]: "SHA-256",
    [OID.sha384WithRSAEncryption]: "SHA-384",
    [OID.sha512WithRSAEncryption]: "SHA-512",
  };
  const ecdsaHash = ecdsa[oid];
  if (ecdsaHash) {
    // RFC 5758 §3.2 says parameters absent; Intel's OnDie CA root (TPM vendor bundle) encodes a NULL, which carries nothing.
    nullOrAbsent(seq.optional(Tag.NULL), what);
    seq.end();
    return { kind: "ecdsa", hash: ecdsaHash };
  }
  const pkcs1Hash = pkcs1[oid];
  if (pkcs1Hash) {
    nullOrAbsent(seq.optional(Tag.NULL), what);
    seq.end();
    return { kind: "rsa-pkcs1", hash: pkcs1Hash };
  }
  if (oid === OID.rsassaPss) {
    const paramsNode = seq.next(Tag.SEQUENCE, "parameters");
    seq.end();
    const params = new DerSequence(paramsNode, `${what}.RSASSA-PSS-params`);
    const hashNode = params.optional(contextTag(0));
    const mgfNode = params.optional(contextTag(1));
    const saltNode = params.optional(contextTag(2));
    const trailerNode = params.optional(contextTag(3));
    params.end();
    // Absent fields default to SHA-1 (RFC 4055), which is not allowed.
    if (!hashNode || !mgfNode || !saltNode) return { kind: "unsupported", oid, reason: "RSA-PSS with SHA-1 defaults" };
    const hash = hashAlgorithm(parseNode(hashNode.value, what), `${what}.hashAlgorithm`);
    const mgf = new DerSequence(parseNode(mgfNode.value, what), `${what}.maskGenAlgorithm`);
    const mgfOid = oidValue(mgf.next(Tag.OID, "algorithm"), what);
    const mgfHash = hashAlgorithm(mgf.next(Tag.SEQUENCE, "parameters"), `${what}.mgf1Hash`);
    mgf.end();
    const saltLength = smallUint(parseNode(saltNode.value, what), `${what}.saltLength`);
    const trailer = trailerNode ? smallUint(parseNode(trailerNode.value, what), `${what}.trailerField`) : 1;
    if (!hash) return { kind: "unsupported", oid, reason: "RSA-PSS hash not allowed" };
    // WebCrypto's RSA-PSS always uses MGF1 with the message hash; anything else would be verified as something it is not.
    if (mgfOid !== OID.mgf1 || mgfHash !== hash) return { kind: "unsupported", oid, reason: "RSA-PSS mask generation differs from MGF1 with the same hash" };
    if (saltLength !== HASH_BYTES[hash]) return { kind: "unsupported", oid, reason: `RSA-PSS salt length ${saltLength}` };
    if (trailer !== 1) return { kind: "unsupported", oid, reason: `RSA-PSS trailer ${trailer}` };
    return { kind: "rsa-pss", hash, saltLength };
  }
  return { kind: "unsupported", oid, reason: "signature algorithm not allowed" };
}

function keyInfoOf(spki: DerNode, what: string): KeyInfo {
  const seq = new DerSequence(spki, what);
  const alg = new DerSequence(seq.next(Tag.SEQUENCE, "algorithm"), `${what}.algorithm`);
  const keyBits = octetAlignedBits(seq.next(Tag.BIT_STRING, "subjectPublicKey"), what);
  seq.end();
  const oid = oidValue(alg.next(Tag.OID, "algorithm"), what);
  if (oid === OID.ecPublicKey) {
    const curveOid = oidValue(alg.next(Tag.OID, "namedCurve"), what);
    alg.end();
    const curve: Curve | undefined = curveOid === OID.p256 ? "P-256" : curveOid === OID.p384 ? "P-384" : curveOid === OID.p521 ? "P-521" : undefined;
    if (!curve) return { kind: "unsupported", oid: curveOid };
    const size = CURVE_BYTES[curve];
    // SEC 1 uncompressed point: 0x04 || X || Y.
    if (keyBits.length !== 1 + 2 * size || keyBits[0] !== 0x04) {
      throw new MalformedEvidenceError("malformed_evidence", `${what}: not an uncompressed ${curve} point`);
    }
    return { kind: "ec", curve };
  }
  if (oid === OID.rsaEncryption || oid === OID.rsassaPss) {
    if (oid === OID.rsaEncryption) nullOrAbsent(alg.optional(Tag.NULL), what);
    else alg.optional(Tag.SEQUENCE); // RFC 4055 §1.2: optional PSS parameters restricting the key
    alg.end();
    const rsa = new DerSequence(parseNode(keyBits, what), `${what}.RSAPublicKey`);
    const modulus = integerBytes(rsa.next(Tag.INTEGER, "modulus"), what);
    integerBytes(rsa.next(Tag.INTEGER, "publicExponent"), what);
    rsa.end();
    if (((modulus[0] as number) & 0x80) !== 0) throw new MalformedEvidenceError("malformed_evidence", `${what}: negative RSA modulus`);
    const digits = modulus[0] === 0 ? modulus.subarray(1) : modulus;
    const bits = digits.length === 0 ? 0 : (digits.length - 1) * 8 + (32 - Math.clz32(digits[0] as number));
    return { kind: "rsa", bits, pssOnly: oid === OID.rsassaPss };
  }
  return { kind: "unsupported", oid };
}

/**
 * Decodes one extension value with @peculiar/asn1-x509, after the strict DER
 * gate (the value is DER inside an OCTET STRING, which the certificate's own
 * gate does not look into).
 */
function decodeExtension<T>(value: Uint8Array, type: new () => T, what: string): T {
  strictDer(value, what);
  return AsnConvert.parse(value, type);
}

function extensionsOf(list: readonly AsnExtension[] | undefined, what: string): Map<string, CertExtension> {
  const out = new Map<string, CertExtension>();
  // RFC 5280 says SIZE (1..MAX), but some generators emit an empty list; it grants nothing, so it is read as none.
  for (const ext of list ?? []) {
    // RFC 5280 §4.2: a certificate MUST NOT include more than one instance of an extension.
    if (out.has(ext.extnID)) throw new MalformedEvidenceError("malformed_evidence", `${what}: duplicate extension ${ext.extnID}`);
    out.set(ext.extnID, { critical: ext.critical, value: new Uint8Array(ext.extnValue.buffer) });
  }
  return out;
}

function serialHexOf(serial: Uint8Array): string {
  return toHex(serial[0] === 0 && serial.length > 1 ? serial.subarray(1) : serial);
}

function parseBasicConstraints(ext: CertExtension | undefined, what: string): Certificate["basicConstraints"] {
  if (!ext) return undefined;
  const bc = decodeExtension(ext.value, BasicConstraints, what);
  return { ca: bc.cA, pathLen: bc.pathLenConstraint };
}

function parseKeyUsage(ext: CertExtension | undefined, what: string): number | undefined {
  if (!ext) return undefined;
  // asn1-x509's KeyUsageFlags put bit n of the BIT STRING at 1 << n, as KeyUsage here does.
  return decodeExtension(ext.value, AsnKeyUsage, what).toNumber();
}

function parseExtKeyUsage(ext: CertExtension | undefined, what: string): string[] | undefined {
  if (!ext) return undefined;
  const purposes = [...decodeExtension(ext.value, ExtendedKeyUsage, what)];
  // RFC 5280 §4.2.1.12: KeyPurposeId SIZE (1..MAX). An empty list would read as "no purpose restricted".
  if (purposes.length === 0) throw new MalformedEvidenceError("malformed_evidence", `${what}: empty extendedKeyUsage`);
  return purposes;
}

function keyIdentifiers(extensions: ReadonlyMap<string, CertExtension>, what: string): { authorityKeyId: Uint8Array | undefined; subjectKeyId: Uint8Array | undefined } {
  const aki = extensions.get(OID.authorityKeyIdentifier);
  const ski = extensions.get(OID.subjectKeyIdentifier);
  const akiValue = aki ? decodeExtension(aki.value, AuthorityKeyIdentifier, `${what}.authorityKeyIdentifier`).keyIdentifier : undefined;
  const skiValue = ski ? decodeExtension(ski.value, SubjectKeyIdentifier, `${what}.subjectKeyIdentifier`) : undefined;
  return {
    authorityKeyId: akiValue ? new Uint8Array(akiValue.buffer) : undefined,
    subjectKeyId: skiValue ? new Uint8Array(skiValue.buffer) : undefined,
  };
}

/**
 * Parses one DER certificate. Throws `malformed_certificate` for anything that
 * is not strict DER X.509 v3.
 *
 * Two readers, each for what it is good at: the strict DER gate
 * ({@link strictDer}) runs first over the whole certificate and hands out
 * byte-exact views (the signed TBS bytes, the Names compared byte for byte,
 * the SubjectPublicKeyInfo an anchor is pinned by, the validity times in
 * their RFC 5280 §4.1.2.5 form); @peculiar/asn1-x509 then decodes the
 * structure and the extension values into typed fields.
 */
export function parseCertificate(der: Uint8Array, what = "certificate"): Certificate {
  try {
    const root = strictDer(der, what);
    const asn = AsnConvert.parse(der, AsnCertificate);
    const tbs = asn.tbsCertificate;
    if (tbs.version !== Version.v3) throw new MalformedEvidenceError("malformed_evidence", `${what}: X.509 v${tbs.version + 1}, only v3 is accepted`);
    // The gate's view of the same structure, for the fields that must stay byte-exact.
    const [tbsNode, outerAlg, signatureNode] = childrenOf(root, what) as [DerNode, DerNode, DerNode];
    const [, serialNode, innerAlg, issuer, validityNode, subject, spki] = childrenOf(tbsNode, `${what}.tbs`) as DerNode[] as [DerNode, DerNode, DerNode, DerNode, DerNode, DerNode, DerNode];
    const serial = integerBytes(serialNode, `${what}.serialNumber`);
    // RFC 5280 §4.1.1.2: the two algorithm fields MUST be identical; a mismatch is a substitution attempt.
    if (!bytesEqual(outerAlg.raw, innerAlg.raw)) {
      throw new MalformedEvidenceError("malformed_evidence", `${what}: signatureAlgorithm differs from tbsCertificate.signature`);
    }
    // UTCTime through 2049, GeneralizedTime after (RFC 5280 §4.1.2.5); timeValue refuses any other form (fractions, offsets).
    const [notBeforeNode, notAfterNode] = childrenOf(validityNode, `${what}.validity`) as [DerNode, DerNode];
    const extensions = extensionsOf(tbs.extensions, `${what}.extensions`);
    const issuerKey = nameKey(issuer.raw, `${what}.issuer`);
    const subjectKey = nameKey(subject.raw, `${what}.subject`);
    return {
      der,
      tbs: tbsNode.raw,
      version: 3,
      serial,
      serialHex: serialHexOf(serial),
      signatureAlgorithm: signatureAlgorithmOf(outerAlg, `${what}.signatureAlgorithm`),
      issuer: issuer.raw,
      subject: subject.raw,
      issuerKey,
      subjectKey,
      notBefore: timeValue(notBeforeNode, `${what}.notBefore`),
      notAfter: timeValue(notAfterNode, `${what}.notAfter`),
      spki: spki.raw,
      key: keyInfoOf(spki, `${what}.subjectPublicKeyInfo`),
      extensions,
      basicConstraints: parseBasicConstraints(extensions.get(OID.basicConstraints), `${what}.basicConstraints`),
      keyUsage: parseKeyUsage(extensions.get(OID.keyUsage), `${what}.keyUsage`),
      ...keyIdentifiers(extensions, what),
      extKeyUsage: parseExtKeyUsage(extensions.get(OID.extKeyUsage), `${what}.extendedKeyUsage`),
      // RFC 5280 §6.1: self-issued when the two Names match (§7.1), not only when their bytes are equal.
      selfIssued: issuerKey === subjectKey,
      signatureValue: octetAlignedBits(signatureNode, `${what}.signatureValue`),
      subjectText: nameText(subject.raw, "<empty subject>"),
    };
  } catch (cause) {
    malformedCert(what, cause);
  }
}

/** What path building needs to index a certificate before parsing it: its Names and validity window. */
export interface CertificatePeek {
  readonly subjectKey: string;
  readonly issuerKey: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
}

/**
 * The Names and validity of a certificate from the strict DER gate alone,
 * without decoding the rest (some tens of microseconds, against the half
 * millisecond asn1-x509 takes): a trust store indexes its path material with
 * this and parses a certificate only when its name is an issuer being sought.
 */
export function peekCertificate(der: Uint8Array, what = "certificate"): CertificatePeek {
  try {
    const [tbsNode] = childrenOf(strictDer(der, what), what) as [DerNode];
    const [, , , issuer, validityNode, subject] = childrenOf(tbsNode, `${what}.tbs`) as DerNode[] as [DerNode, DerNode, DerNode, DerNode, DerNode, DerNode];
    const [notBefore, notAfter] = childrenOf(expectTag(validityNode, Tag.SEQUENCE, what), `${what}.validity`) as [DerNode, DerNode];
    return {
      subjectKey: nameKey(subject.raw, `${what}.subject`),
      issuerKey: nameKey(issuer.raw, `${what}.issuer`),
      notBefore: timeValue(notBefore, `${what}.notBefore`),
      notAfter: timeValue(notAfter, `${what}.notAfter`),
    };
  } catch (cause) {
    malformedCert(what, cause);
  }
}

/**
 * Parse results kept per isolate for objects met more than once: in one request (the CRL the
 * route chooses is the one the verifier then reads; the V[CL]EK the route reads its product from
 * is the one it verifies) and across requests (a device sends the same VCEK with every report).
 * Keyed by the whole DER, never by a digest or a name that someone could make collide. The kept
 * object is parsed from a private copy, so later changes to the caller's bytes cannot reach it.
 * Only successes are kept: bytes that do not parse are parsed again wherever they are met and
 * refused under that caller's label. Bounded in entries (the oldest goes first) and in the size of
 * one entry (a larger object is parsed each time, not kept), so at most entries × size bytes.
 */
class ParsedByBytes<T> {
  private readonly entries = new Map<string, T>();

  constructor(
    private readonly parse: (der: Uint8Array, what: string) => T,
    private readonly maxEntries: number,
    private readonly maxEntryBytes: number,
  ) {}

  get(der: Uint8Array, what: string): T {
    if (der.length > this.maxEntryBytes) return this.parse(der.slice(), what);
    const id = latin1(der);
    const hit = this.entries.get(id);
    if (hit) return hit;
    const parsed = this.parse(der.slice(), what);
    this.entries.set(id, parsed);
    if (this.entries.size > this.maxEntries) this.entries.delete(this.entries.keys().next().value as string);
    return parsed;
  }
}

/** A VCEK or VLEK is some 1.4 KB; the SEV-SNP verifier takes at most 16 KiB of certificate. */
const parsedCertificates = new ParsedByBytes(parseCertificate, 256, 16 * 1024);

/** {@link parseCertificate} through the per-isolate cache ({@link ParsedByBytes}). */
export function parseCertificateCached(der: Uint8Array, what = "certificate"): Certificate {
  return parsedCertificates.get(der, what);
}

/**
 * Parses one DER CRL (RFC 5280 §5): the strict DER gate first, then
 * asn1-x509's CertificateList for the structure, the revoked entries and the
 * extensions; times and the issuer Name come from the gate's exact bytes.
 */
export function parseCrl(der: Uint8Array, what = "CRL"): Crl {
  try {
    const root = strictDer(der, what);
    const asn = AsnConvert.parse(der, AsnCertificateList);
    const tbsList = asn.tbsCertList;
    if (tbsList.version !== undefined && tbsList.version !== Version.v2) throw new MalformedEvidenceError("malformed_evidence", `${what}: unknown CRL version`);
    const [tbsNode, outerAlg, signatureNode] = childrenOf(root, what) as [DerNode, DerNode, DerNode];
    const tbs = new DerSequence(tbsNode, `${what}.tbs`);
    tbs.optional(Tag.INTEGER);
    const innerAlg = tbs.next(Tag.SEQUENCE, "signature");
    const issuer = tbs.next(Tag.SEQUENCE, "issuer");
    const thisUpdateNode = tbs.optional(Tag.UTC_TIME) ?? tbs.next(Tag.GENERALIZED_TIME, "thisUpdate");
    const nextUpdateNode = tbs.optional(Tag.UTC_TIME) ?? tbs.optional(Tag.GENERALIZED_TIME);
    if (!bytesEqual(outerAlg.raw, innerAlg.raw)) {
      throw new MalformedEvidenceError("malformed_evidence", `${what}: signatureAlgorithm differs from tbsCertList.signature`);
    }
    const revoked = new Set<string>();
    for (const entry of tbsList.revokedCertificates ?? []) {
      for (const ext of entry.crlEntryExtensions ?? []) {
        // RFC 5280 §5.3: an entry extension we do not understand and that is critical (e.g. certificateIssuer of an indirect CRL) makes the CRL unusable.
        if (ext.critical && ext.extnID !== OID.crlReason) {
          throw new EvidenceVerificationError("unknown_critical_extension", `${what}: critical CRL entry extension ${ext.extnID}`);
        }
      }
      revoked.add(serialHexOf(new Uint8Array(entry.userCertificate)));
    }
    const extensions = extensionsOf(tbsList.crlExtensions, `${what}.crlExtensions`);
    const number = extensions.get(OID.crlNumber);
    return {
      der,
      tbs: tbsNode.raw,
      signatureAlgorithm: signatureAlgorithmOf(outerAlg, `${what}.signatureAlgorithm`),
      issuer: issuer.raw,
      issuerKey: nameKey(issuer.raw, `${what}.issuer`),
      thisUpdate: timeValue(thisUpdateNode, `${what}.thisUpdate`),
      nextUpdate: nextUpdateNode ? timeValue(nextUpdateNode, `${what}.nextUpdate`) : undefined,
      revoked,
      extensions,
      crlNumber: number ? toHex(integerBytes(strictDer(number.value, `${what}.cRLNumber`), `${what}.cRLNumber`)) : undefined,
      signatureValue: octetAlignedBits(signatureNode, `${what}.signatureValue`),
      issuerText: nameText(issuer.raw, "<empty issuer>"),
    };
  } catch (cause) {
    if (cause instanceof EvidenceVerificationError) throw cause;
    malformedCert(what, cause);
  }
}

/** AMD's KDS CRLs and Intel's PCK and Root CA CRLs are a few kilobytes each. */
const parsedCrls = new ParsedByBytes(parseCrl, 64, 64 * 1024);

/** {@link parseCrl} through the per-isolate cache ({@link ParsedByBytes}): what picks the newest CRL and what verifies with it read it once. */
export function parseCrlCached(der: Uint8Array, what = "CRL"): Crl {
  return parsedCrls.get(der, what);
}

/**
 * True unless `held` is newer than `candidate`, two CRLs of one issuer: by thisUpdate, and by
 * cRLNumber (RFC 5280 §5.2.3, monotonically increasing) when both carry one. A CRL newer by
 * either measure wins, so one both older and newer keeps `held`; CRLs of different issuers are
 * not compared (true). Nothing is verified here.
 */
export function crlNotOlder(candidate: Crl, held: Crl): boolean {
  if (candidate.issuerKey !== held.issuerKey) return true;
  if (candidate.thisUpdate.getTime() < held.thisUpdate.getTime()) return false;
  if (candidate.crlNumber !== undefined && held.crlNumber !== undefined && BigInt(`0x${candidate.crlNumber}`) < BigInt(`0x${held.crlNumber}`)) return false;
  return true;
}

/** The DER blocks of every `-----BEGIN <label>-----` block in `text`, in order. */
export function pemBlocks(text: string, label = "CERTIFICATE"): Uint8Array[] {
  const out: Uint8Array[] = [];
  const re = new RegExp(`-----BEGIN ${label}-----([\\s\\S]*?)-----END ${label}-----`, "g");
  for (const m of text.matchAll(re)) {
    const body = (m[1] ?? "").replace(/[\r\n\t ]/g, "");
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(body)) throw new MalformedEvidenceError("malformed_certificate", `PEM ${label}: invalid base64`);
    const bin = atob(body);
    const bytes = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    out.push(bytes);
  }
  return out;
}

/** Every certificate in a PEM text, in order. */
export function parseCertificatesPem(text: string, what = "certificate"): Certificate[] {
  return pemBlocks(text).map((der, i) => parseCertificate(der, `${what}[${i}]`));
}

/** An allowlisted signature algorithm, or `unsupported_algorithm`. */
function allowed(alg: SignatureAlgorithm, key: KeyInfo, what: string): Exclude<SignatureAlgorithm, { kind: "unsupported" }> {
  if (alg.kind === "unsupported") throw new EvidenceVerificationError("unsupported_algorithm", `${what}: ${alg.reason} (${alg.oid})`);
  if (key.kind === "unsupported") throw new EvidenceVerificationError("unsupported_algorithm", `${what}: issuer key algorithm ${key.oid} not allowed`);
  if (alg.kind === "ecdsa" ? key.kind !== "ec" : key.kind !== "rsa") {
    throw new EvidenceVerificationError("unsupported_algorithm", `${what}: ${alg.kind} signature with a ${key.kind} key`);
  }
  if (key.kind === "rsa") {
    if (key.bits < 2048) throw new EvidenceVerificationError("unsupported_algorithm", `${what}: RSA key of ${key.bits} bits`);
    // RFC 4055 §1.2: a key published as id-RSASSA-PSS may only make PSS signatures.
    if (key.pssOnly && alg.kind !== "rsa-pss") throw new EvidenceVerificationError("unsupported_algorithm", `${what}: PSS-only key used for ${alg.kind}`);
  }
  return alg;
}

const RSA_ENCRYPTION_ALGORITHM_ID = Uint8Array.of(0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00);

/**
 * The SPKI WebCrypto can import. WebCrypto only imports RSA keys labelled
 * rsaEncryption, so an id-RSASSA-PSS key (RFC 4055) is relabelled; the key
 * bits are unchanged and `allowed` has already restricted it to PSS.
 */
function importableSpki(spki: Uint8Array, key: KeyInfo): Uint8Array {
  if (key.kind !== "rsa" || !key.pssOnly) return spki;
  const seq = new DerSequence(parseNode(spki, "SPKI"), "SPKI");
  seq.next(Tag.SEQUENCE, "algorithm");
  const bits = seq.next(Tag.BIT_STRING, "subjectPublicKey").raw;
  const body = concatBytes(RSA_ENCRYPTION_ALGORITHM_ID, bits);
  return concatBytes(derHeader(Tag.SEQUENCE, body.length), body);
}

type VerifyAlgorithm = Exclude<SignatureAlgorithm, { kind: "unsupported" }>;
const keyCache = new WeakMap<Uint8Array, Map<string, Promise<CryptoKey>>>();

/** The issuer key imported for one algorithm, once per SPKI view and algorithm. */
function verificationKey(spki: Uint8Array, key: KeyInfo, alg: VerifyAlgorithm): Promise<CryptoKey> {
  const params: SubtleCryptoImportKeyAlgorithm =
    key.kind === "ec"
      ? { name: "ECDSA", namedCurve: key.curve }
      : { name: alg.kind === "rsa-pss" ? "RSA-PSS" : "RSASSA-PKCS1-v1_5", hash: alg.hash };
  const id = `${params.name}/${params.namedCurve ?? alg.hash}`;
  let byAlg = keyCache.get(spki);
  if (!byAlg) {
    byAlg = new Map();
    keyCache.set(spki, byAlg);
  }
  let imported = byAlg.get(id);
  if (!imported) {
    imported = crypto.subtle.importKey("spki", importableSpki(spki, key), params, false, ["verify"]);
    byAlg.set(id, imported);
  }
  return imported;
}

/**
 * An X9.62 ECDSA-Sig-Value (DER SEQUENCE of two INTEGERs) as the fixed-width
 * r || s that WebCrypto verifies. Encoding only: the arithmetic stays in WebCrypto.
 */
export function ecdsaDerToP1363(der: Uint8Array, curve: Curve): Uint8Array | undefined {
  const size = CURVE_BYTES[curve];
  try {
    const seq = new DerSequence(parseNode(der, "ECDSA signature"), "ECDSA signature");
    const r = integerBytes(seq.next(Tag.INTEGER, "r"), "ECDSA r");
    const s = integerBytes(seq.next(Tag.INTEGER, "s"), "ECDSA s");
    seq.end();
    const out = new Uint8Array(2 * size);
    for (const [i, v] of [r, s].entries()) {
      if (((v[0] as number) & 0x80) !== 0) return undefined;
      const digits = v[0] === 0 ? v.subarray(1) : v;
      if (digits.length > size) return undefined;
      out.set(digits, (i + 1) * size - digits.length);
    }
    return out;
  } catch {
    return undefined;
  }
}

/** crypto.subtle.verify of `signature` over `signed` by the key in `spki`, under an allowlisted algorithm. */
async function verifyWith(alg: VerifyAlgorithm, issuer: Pick<Certificate, "spki" | "key">, signed: Uint8Array, signature: Uint8Array): Promise<boolean> {
  const key = await verificationKey(issuer.spki, issuer.key, alg);
  let params: SubtleCryptoSignAlgorithm;
  let sig: Uint8Array | undefined = signature;
  if (alg.kind === "ecdsa") {
    if (issuer.key.kind !== "ec") return false;
    params = { name: "ECDSA", hash: alg.hash };
    sig = ecdsaDerToP1363(signature, issuer.key.curve);
  } else if (alg.kind === "rsa-pss") {
    params = { name: "RSA-PSS", saltLength: alg.saltLength };
  } else {
    params = { name: "RSASSA-PKCS1-v1_5" };
  }
  if (!sig) return false;
  return crypto.subtle.verify(params, key, sig, signed);
}

/**
 * Verifies that `issuer` signed `subject`: the algorithm allowlist first, then
 * the signature through WebCrypto over the TBS bytes exactly as received.
 */
export async function certificateSignedBy(subject: Certificate, issuer: Pick<Certificate, "spki" | "key">): Promise<boolean> {
  const alg = allowed(subject.signatureAlgorithm, issuer.key, subject.subjectText);
  return memoised(subject.der, issuer.spki, async () => {
    try {
      return await verifyWith(alg, issuer, subject.tbs, subject.signatureValue);
    } catch {
      return false;
    }
  });
}

/** Verifies that `issuer` signed `crl`, with the same allowlist as certificates. */
export async function crlSignedBy(crl: Crl, issuer: Pick<Certificate, "spki" | "key">): Promise<boolean> {
  const alg = allowed(crl.signatureAlgorithm, issuer.key, `CRL of ${crl.issuerText}`);
  return memoised(crl.der, issuer.spki, async () => {
    try {
      return await verifyWith(alg, issuer, crl.tbs, crl.signatureValue);
    } catch {
      return false;
    }
  });
}

/**
 * Signature results already established in this isolate, keyed by the exact
 * signed object (its whole DER) and the exact issuer key. A signature check
 * does not depend on time, so a chain or CRL met again (the pinned ASK, a
 * platform's PCK chain, the TCB Signing certificate) costs a lookup; validity
 * windows, CRL windows and revocation are still checked on every use.
 * Only successes are kept; the map is bounded.
 */
const MEMO_LIMIT = 512;
const signatureMemo = new Map<string, true>();

function latin1(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i += 4096) s += String.fromCharCode(...bytes.subarray(i, i + 4096));
  return s;
}

/** The same pairs by object identity: a lookup without building the content key. */
const identityMemo = new WeakMap<Uint8Array, WeakSet<Uint8Array>>();

/** Runs `check` unless (signed, key) already verified; remembers successes. */
export async function memoised(signed: Uint8Array, key: Uint8Array, check: () => Promise<boolean>): Promise<boolean> {
  if (identityMemo.get(signed)?.has(key)) return true;
  const id = `${signed.length}:${latin1(signed)}|${latin1(key)}`;
  if (signatureMemo.has(id)) {
    // Refresh recency.
    signatureMemo.delete(id);
    signatureMemo.set(id, true);
    let keys = identityMemo.get(signed);
    if (!keys) identityMemo.set(signed, (keys = new WeakSet()));
    keys.add(key);
    return true;
  }
  const ok = await check();
  if (ok) {
    let keys = identityMemo.get(signed);
    if (!keys) identityMemo.set(signed, (keys = new WeakSet()));
    keys.add(key);
    signatureMemo.set(id, true);
    if (signatureMemo.size > MEMO_LIMIT) signatureMemo.delete(signatureMemo.keys().next().value as string);
  }
  return ok;
}

/**
 * A WebCrypto verification key for a certificate's subject key (ECDSA P-256 /
 * P-384 only): for evidence signed by a VCEK/VLEK, a PCK or the TCB signing key.
 */
export async function ecdsaVerifyKey(cert: Pick<Certificate, "spki" | "key" | "subjectText">, expected: Curve, hash: HashName): Promise<CryptoKey> {
  if (cert.key.kind !== "ec" || cert.key.curve !== expected) {
    throw new EvidenceVerificationError("unsupported_algorithm", `${cert.subjectText}: expected an ECDSA ${expected} key`);
  }
  return verificationKey(cert.spki, cert.key, { kind: "ecdsa", hash });
}

/** Decoders of the directory string types (X.520 DirectoryString, and IA5String for emailAddress/domainComponent). */
const STRING_DECODERS: Readonly<Record<number, (v: Uint8Array) => string>> = {
  [Tag.UTF8_STRING]: (v) => new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(v),
  [Tag.PRINTABLE_STRING]: (v) => String.fromCharCode(...v),
  [Tag.IA5_STRING]: (v) => String.fromCharCode(...v),
  // TeletexString: in practice Latin-1, as OpenSSL and Go read it.
  0x14: (v) => String.fromCharCode(...v),
  // BMPString: UTF-16BE code units.
  0x1e: (v) => {
    if (v.length % 2 !== 0) throw new WardenError("internal_error", "odd BMPString");
    let out = "";
    for (let i = 0; i < v.length; i += 2) out += String.fromCharCode(((v[i] as number) << 8) | (v[i + 1] as number));
    return out;
  },
};

/** A directory string's comparison form, or undefined when it does not decode (then its exact encoding is compared). */
function comparableText(tag: number, value: Uint8Array): string | undefined {
  const decode = STRING_DECODERS[tag];
  if (!decode) return undefined;
  try {
    return decode(value).normalize("NFKC").toLowerCase().trim().replace(/\s+/g, " ");
  } catch {
    return undefined;
  }
}

/** One attribute of a DER Name: its type's OID and its value as encoded. */
interface NameAttribute {
  type: string;
  value: DerNode;
}

/** A DER Name RDN by RDN, each AttributeTypeAndValue read strictly (a type, a value, nothing after): the one walk every reading of a Name makes. */
function nameAttributes(name: Uint8Array, what: string): NameAttribute[][] {
  return childrenOf(expectTag(parseNode(name, what), Tag.SEQUENCE, what), what).map((rdn) =>
    childrenOf(expectTag(rdn, Tag.SET, what), what).map((atv) => {
      const seq = new DerSequence(atv, `${what}.AttributeTypeAndValue`);
      const type = oidValue(seq.next(Tag.OID, "type"), what);
      const value = childrenOf(atv, what)[1] as DerNode;
      seq.next(value.tag, "value");
      seq.end();
      return { type, value };
    }),
  );
}

/**
 * The values of a DER Name's attributes of type `oid` (e.g. "2.5.4.3", commonName), decoded
 * exactly as their string type says; a value that does not decode as a string is left out.
 * For a pinned comparison such as the TDX TCB signer's common name.
 */
export function nameValues(name: Uint8Array, oid: string, what = "Name"): string[] {
  const out: string[] = [];
  for (const { type, value } of nameAttributes(name, what).flat()) {
    const decode = STRING_DECODERS[value.tag];
    if (type !== oid || !decode) continue;
    try {
      out.push(decode(value.value));
    } catch {
      // Not a string of its type: not a value that can equal a pinned text.
    }
  }
  return out;
}

/**
 * The comparison form of a DER Name (RFC 5280 §7.1, RFC 4518): RDN by RDN,
 * the attributes of each RDN as a set, string values decoded whatever their
 * string type, NFKC-normalised, case-folded, with insignificant spaces
 * removed; any other value by its exact encoding. Two Names are the same
 * Name exactly when their keys are equal. Real vendor chains need it: five
 * STMicro ECC intermediates name their issuer with UTF8String where the
 * issuer's own certificate says PrintableString.
 */
export function nameKey(name: Uint8Array, what = "Name"): string {
  return nameAttributes(name, what)
    .map((rdn) =>
      rdn
        .map(({ type, value }) => {
          const text = comparableText(value.tag, value.value);
          return JSON.stringify(text === undefined ? [type, "der", toHex(value.raw)] : [type, "text", text]);
        })
        .sort()
        .join("+"),
    )
    .join(",");
}

const NAME_LABELS: Readonly<Record<string, string>> = {
  "2.5.4.3": "CN",
  "2.5.4.6": "C",
  "2.5.4.7": "L",
  "2.5.4.8": "ST",
  "2.5.4.10": "O",
  "2.5.4.11": "OU",
  "2.5.4.5": "serialNumber",
};

/**
 * A readable rendering of a DER Name, for messages only (never compared). A
 * Name without attributes (an EK's empty subject) prints as `empty`, never as
 * a blank that would make a message read as if a field were missing.
 */
export function nameText(name: Uint8Array, empty = "<empty name>"): string {
  try {
    const parts = nameAttributes(name, "Name")
      .flat()
      .map(({ type, value }) => `${NAME_LABELS[type] ?? type}=${new TextDecoder().decode(value.value)}`);
    return parts.length === 0 ? empty : parts.join(", ");
  } catch {
    return "(unreadable name)";
  }
}
