import { EvidenceError, EvidenceVerificationError, MalformedEvidenceError } from "../errors.ts";
import { parseCertificate, type Certificate, type KeyUsageName } from "../x509/certificate.ts";
import { DerSequence, Tag, childrenOf, contextTag, oidValue, parseNode, type DerNode } from "../x509/der.ts";
import { validatePath, type ValidatedPath } from "../x509/path.ts";
import { trustedAt } from "../x509/trust.ts";
import { TPM_CURVE } from "./constants.ts";
import { publicJwk } from "./keys.ts";
import type { TpmPublic } from "./structures.ts";
import { TPM_CRITICAL_EXTENSIONS, type TpmTrust } from "./trust.ts";

/** OIDs of the TCG EK Credential Profile (v2.5 §3.2) and RFC 5280. */
export const TCG_OID = {
  subjectAltName: "2.5.29.17",
  extKeyUsage: "2.5.29.37",
  tpmManufacturer: "2.23.133.2.1",
  tpmModel: "2.23.133.2.2",
  tpmVersion: "2.23.133.2.3",
  ekCertificate: "2.23.133.8.1",
} as const;

/** TPM vendor IDs (TCG Vendor ID Registry) as they appear in `tpmManufacturer` ("id:49465800"). */
const TPM_VENDOR_IDS: Readonly<Record<string, string>> = {
  "414D4400": "AMD",
  "41544D4C": "Atmel",
  "4252434D": "Broadcom",
  "474F4F47": "Google",
  "48504500": "HPE",
  "49424D00": "IBM",
  "00001014": "IBM (swtpm)",
  "49465800": "Infineon",
  "494E5443": "Intel",
  "4C454E00": "Lenovo",
  "4D534654": "Microsoft",
  "4E534D20": "National Semiconductor",
  "4E544300": "Nuvoton",
  "51434F4D": "Qualcomm",
  "534D5343": "SMSC",
  "53544D20": "STMicroelectronics",
  "534D534E": "Samsung",
  "534E5300": "Sinosun",
  "54584E00": "Texas Instruments",
  "57454300": "Winbond",
};

/** The TPM the EK certificate's subjectAltName describes. */
export interface TpmDeviceInfo {
  /** `tpmManufacturer` as written, e.g. "id:49465800". */
  readonly manufacturer: string;
  /** The vendor that manufacturer id stands for, when known. */
  readonly manufacturerName: string | undefined;
  readonly model: string;
  readonly version: string;
}

function profileError(message: string): never {
  throw new EvidenceVerificationError("ek_profile_invalid", message);
}

function stringValue(node: DerNode, what: string): string {
  if (node.tag !== Tag.UTF8_STRING && node.tag !== Tag.PRINTABLE_STRING && node.tag !== Tag.IA5_STRING) {
    profileError(`${what}: not a string (tag 0x${node.tag.toString(16)})`);
  }
  try {
    return new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(node.value);
  } catch {
    return profileError(`${what}: not UTF-8`);
  }
}

/**
 * Parses the EK certificate's subjectAltName (TCG EK Credential Profile §3.2.9):
 * a directoryName holding tpmManufacturer, tpmModel and tpmVersion, each exactly
 * once, in one multi-valued RDN or in three RDNs (vendors do both). This is
 * what lets the path validator treat the extension as understood when it is
 * critical — as the profile requires it to be when the subject is empty.
 */
export function parseTpmSubjectAltName(extnValue: Uint8Array): TpmDeviceInfo {
  let found: Map<string, string> | undefined;
  try {
    const names = childrenOf(parseNode(extnValue, "subjectAltName"), "subjectAltName");
    if (names.length === 0) profileError("subjectAltName is empty");
    for (const general of names) {
      if (general.tag !== contextTag(4)) continue; // only directoryName [4] carries the TPM attributes
      const [name, ...rest] = childrenOf(general, "directoryName");
      if (!name || rest.length > 0 || name.tag !== Tag.SEQUENCE) profileError("directoryName must hold exactly one Name");
      const attrs = new Map<string, string>();
      for (const rdn of childrenOf(name, "Name")) {
        if (rdn.tag !== Tag.SET) profileError("directoryName: RDN is not a SET");
        for (const atv of childrenOf(rdn, "RDN")) {
          const seq = new DerSequence(atv, "AttributeTypeAndValue");
          const oid = oidValue(seq.next(Tag.OID, "type"), "AttributeTypeAndValue");
          const valueNode = childrenOf(atv, "AttributeTypeAndValue")[1] as DerNode;
          seq.next(valueNode.tag, "value");
          seq.end();
          if (oid === TCG_OID.tpmManufacturer || oid === TCG_OID.tpmModel || oid === TCG_OID.tpmVersion) {
            if (attrs.has(oid)) profileError(`directoryName: ${oid} appears twice`);
            attrs.set(oid, stringValue(valueNode, oid));
          }
        }
      }
      if (attrs.size > 0) {
        if (found) profileError("subjectAltName: more than one TPM directoryName");
        found = attrs;
      }
    }
  } catch (cause) {
    if (cause instanceof EvidenceError) {
      if (cause.code === "ek_profile_invalid") throw cause;
      throw new EvidenceVerificationError("ek_profile_invalid", `subjectAltName does not parse: ${cause.message}`, { cause });
    }
    throw cause;
  }
  const manufacturer = found?.get(TCG_OID.tpmManufacturer);
  const model = found?.get(TCG_OID.tpmModel);
  const version = found?.get(TCG_OID.tpmVersion);
  if (manufacturer === undefined || model === undefined || version === undefined) {
    profileError("subjectAltName lacks tpmManufacturer, tpmModel or tpmVersion");
  }
  const id = /^id:([0-9A-Fa-f]{8})$/.exec(manufacturer)?.[1]?.toUpperCase();
  return { manufacturer, manufacturerName: id ? TPM_VENDOR_IDS[id] : undefined, model, version };
}

function parseExtKeyUsage(extnValue: Uint8Array): string[] {
  try {
    return childrenOf(parseNode(extnValue, "extKeyUsage"), "extKeyUsage").map((n) => oidValue(n, "extKeyUsage"));
  } catch (cause) {
    throw new EvidenceVerificationError("ek_profile_invalid", "extKeyUsage does not parse", { cause });
  }
}

/** The empty Name (SEQUENCE {}): EK certificates usually have no subject. */
const EMPTY_NAME = Uint8Array.of(0x30, 0x00);

export interface EkVerification {
  readonly certificate: Certificate;
  readonly path: ValidatedPath;
  /** Vendor label of the anchor the path ends at. */
  readonly vendor: string;
  readonly tpm: TpmDeviceInfo | undefined;
  /** Subjects from the EK's issuer up to the anchor, for display. */
  readonly chain: readonly string[];
  /** The EK certificate's issuer, for display and claims. */
  readonly issuer: string;
}

export interface EkOptions {
  readonly now: Date;
  readonly trust: TpmTrust;
  /** Intermediates the device sent; the pinned vendor intermediates are always candidates too. */
  readonly intermediates?: readonly Certificate[];
}

/**
 * Verifies an EK certificate against the TPM trust store. The profile checks
 * run first (TCG EK Credential Profile §3): the critical subjectAltName is
 * parsed and, only once it parsed as a TPM directoryName, handed to the path
 * validator as an extension the caller understands — critical-extension
 * checking stays on for everything else; an empty subject needs that SAN; an
 * extKeyUsage, when present, must include tcg-kp-EKCertificate. Then RFC 5280
 * path validation with the shared validator at `now`, requiring the EK's
 * keyUsage (keyEncipherment for RSA, keyAgreement for ECC).
 */
export async function verifyEkCertificate(der: Uint8Array, options: EkOptions): Promise<EkVerification> {
  const certificate = parseCertificate(der.slice(), "EK certificate");
  const handled: string[] = [];
  const san = certificate.extensions.get(TCG_OID.subjectAltName);
  let tpm: TpmDeviceInfo | undefined;
  if (san) {
    tpm = parseTpmSubjectAltName(san.value);
    handled.push(TCG_OID.subjectAltName);
  } else if (bytesEqualEmpty(certificate.subject)) {
    profileError("an EK certificate with an empty subject needs a subjectAltName (RFC 5280 §4.2.1.6)");
  }
  if (san && bytesEqualEmpty(certificate.subject) && !san.critical) {
    profileError("subjectAltName must be critical when the subject is empty (RFC 5280 §4.2.1.6)");
  }
  const eku = certificate.extensions.get(TCG_OID.extKeyUsage);
  if (eku) {
    if (!parseExtKeyUsage(eku.value).includes(TCG_OID.ekCertificate)) profileError("extKeyUsage does not include tcg-kp-EKCertificate (2.23.133.8.1)");
    handled.push(TCG_OID.extKeyUsage);
  }
  const key = certificate.key;
  const leafKeyUsage: KeyUsageName[] = key.kind === "ec" ? ["keyAgreement"] : ["keyEncipherment"];
  // Only the store's material valid at the evidence time is a candidate: a vendor's expired or not-yet-valid root never ends a path.
  const trust = trustedAt(options.trust, options.now);
  const path = await validatePath(certificate, {
    now: options.now,
    anchors: trust.anchors,
    intermediates: options.intermediates ?? [],
    store: trust.intermediates,
    leafCriticalExtensions: handled,
    // Vendor EK chains mark certificatePolicies critical (STMicro's intermediate, Windows AIKs). Warden
    // requires no particular policy (user-initial-policy-set anyPolicy, RFC 5280 §6.1.1), under which
    // that extension cannot invalidate a path; policyConstraints and policyMappings stay refused.
    pathCriticalExtensions: TPM_CRITICAL_EXTENSIONS,
    leafKeyUsage,
    profile: "tpm",
  });
  return {
    certificate,
    path,
    vendor: path.anchor.group,
    tpm,
    chain: [...path.path.slice(1).map((c) => c.subjectText), path.anchor.certificate.subjectText],
    issuer: path.path[1]?.subjectText ?? path.anchor.certificate.subjectText,
  };
}

function bytesEqualEmpty(name: Uint8Array): boolean {
  return name.length === EMPTY_NAME.length && name[0] === 0x30 && name[1] === 0x00;
}

/**
 * Checks that the EK public area the device sent is the key its certificate
 * certifies (`endorsement_key_mismatch` otherwise): RSA modulus and exponent,
 * or curve and point, compared through WebCrypto's own export of the
 * certificate's SubjectPublicKeyInfo.
 */
export async function checkEkMatchesCertificate(ek: TpmPublic, certificate: Certificate): Promise<void> {
  const mismatch = (why: string): never => {
    throw new EvidenceVerificationError("endorsement_key_mismatch", `the EK public area is not the certificate's key: ${why}`);
  };
  const mine = publicJwk(ek);
  const spki = certificate.spki as Uint8Array<ArrayBuffer>;
  let theirs: JsonWebKey;
  try {
    if (certificate.key.kind === "rsa" && ek.type === "rsa") {
      theirs = (await crypto.subtle.exportKey("jwk", await crypto.subtle.importKey("spki", spki, { name: "RSA-OAEP", hash: "SHA-256" }, true, ["encrypt"]))) as JsonWebKey;
    } else if (certificate.key.kind === "ec" && ek.type === "ecc") {
      const curve = TPM_CURVE[ek.curveId];
      if (!curve || curve.name !== certificate.key.curve) return mismatch("different curves");
      theirs = (await crypto.subtle.exportKey("jwk", await crypto.subtle.importKey("spki", spki, { name: "ECDH", namedCurve: curve.name }, true, []))) as JsonWebKey;
    } else {
      return mismatch(`certificate key ${certificate.key.kind}, public area ${ek.type}`);
    }
  } catch (cause) {
    if (cause instanceof EvidenceError) throw cause;
    throw new MalformedEvidenceError("malformed_certificate", "the EK certificate's key does not import", { cause });
  }
  const same = ek.type === "rsa" ? mine.n === theirs.n && mine.e === theirs.e : mine.x === theirs.x && mine.y === theirs.y;
  if (!same) mismatch("different key material");
}
