import { EvidenceVerificationError, type VerificationFailureCode } from "../errors.ts";
import { KeyUsage, OID, type Certificate, type Crl } from "./certificate.ts";

/**
 * Certificate profiles: the rules each evidence family's issuers follow on top
 * of RFC 5280 §6 path validation. `rfc5280` is what any caller without a
 * family gets: only the rules that no conforming issuer breaks.
 */
export type PathProfile = "rfc5280" | "tpm" | "sev-snp" | "tdx";

/** Where a certificate sits in a path. */
export type PathPosition = "leaf" | "intermediate" | "anchor";

interface ProfileRule {
  readonly id: string;
  /** The families that enforce it; every family also enforces the `rfc5280` rows. */
  readonly profiles: readonly PathProfile[];
  readonly code: VerificationFailureCode;
  /** The problem with `cert` at `position`, or undefined. */
  readonly check: (cert: Certificate, position: PathPosition) => string | undefined;
}

const EVERY: readonly PathProfile[] = ["rfc5280", "tpm", "sev-snp", "tdx"];
const isCaPosition = (position: PathPosition): boolean => position !== "leaf";
const hasKeyUsage = (cert: Certificate, bit: number): boolean => cert.keyUsage !== undefined && (cert.keyUsage & (1 << bit)) !== 0;

/**
 * One row per rule, each with the clause it enforces and the families whose
 * real chains were checked against it (every TPM vendor CA of the store, the
 * fixtures' EKs and Windows AIK chains, AMD's ARK/ASK/ASVK/VCEK/VLEK of three
 * products, Intel's root, PCK Platform CA, PCK and TCB Signing certificates).
 * An empty extendedKeyUsage (RFC 5280 §4.2.1.12, SIZE 1..MAX) is refused by
 * the parser for every family, so it has no row here.
 */
export const PROFILE_RULES: readonly ProfileRule[] = [
  {
    // RFC 5280 §4.2.1.3: "If the keyCertSign bit is asserted, then the cA bit in the basic constraints extension MUST also be
    // asserted." A leaf claiming to sign certificates is mis-issued, whatever a lenient validator would let it do later.
    id: "keyCertSign-needs-cA",
    profiles: EVERY,
    code: "certificate_profile_invalid",
    check: (cert) => (hasKeyUsage(cert, KeyUsage.keyCertSign) && !cert.basicConstraints?.ca ? "keyUsage asserts keyCertSign without basicConstraints cA" : undefined),
  },
  {
    // RFC 5280 §4.2.1.1 / §4.2.1.2: the key identifiers MUST be non-critical; a critical one is an issuer error that other
    // validators would refuse, so accepting it would make Warden the lenient outlier.
    id: "key-identifiers-non-critical",
    profiles: EVERY,
    code: "certificate_profile_invalid",
    check: (cert) =>
      cert.extensions.get(OID.authorityKeyIdentifier)?.critical || cert.extensions.get(OID.subjectKeyIdentifier)?.critical
        ? "authorityKeyIdentifier or subjectKeyIdentifier is marked critical"
        : undefined,
  },
  {
    // RFC 5280 §4.2.1.9: basicConstraints "MUST appear as a critical extension in all CA certificates that contain public keys
    // used to validate digital signatures on certificates". Every vendor CA in every family marks it critical.
    id: "ca-basicConstraints-critical",
    profiles: EVERY,
    code: "certificate_profile_invalid",
    check: (cert, position) => (isCaPosition(position) && cert.extensions.get(OID.basicConstraints)?.critical === false ? "basicConstraints of a CA is not critical" : undefined),
  },
  {
    // RFC 5280 §4.2.1.10. Name constraints are not implemented: no attestation family issues them (none of the 169 TPM vendor
    // CAs, nor AMD's or Intel's), and an EK's names sit in a critical subjectAltName directoryName that a constraint would have
    // to be matched against. A critical one is already refused as not understood; a non-critical one is refused here, because
    // ignoring it would trust the certificate beyond what its issuer allowed.
    id: "no-name-constraints",
    profiles: EVERY,
    code: "certificate_profile_invalid",
    check: (cert) => (cert.extensions.has(OID.nameConstraints) ? "nameConstraints are not supported" : undefined),
  },
  {
    // RFC 5280 §4.2.1.1: authorityKeyIdentifier MUST be included except in self-signed certificates. TCG EK Credential Profile
    // §3.2 and Intel's PCK certificate profile carry it in every certificate; AMD's VCEK/VLEK carry no key identifiers at all,
    // so SEV-SNP does not enforce it.
    id: "authorityKeyIdentifier-required",
    profiles: ["tpm", "tdx"],
    code: "certificate_profile_invalid",
    check: (cert, position) => (position !== "anchor" && !cert.selfIssued && cert.authorityKeyId === undefined ? "authorityKeyIdentifier is missing" : undefined),
  },
  {
    // RFC 5280 §4.2.1.2: subjectKeyIdentifier MUST appear in all conforming CA certificates. Every CA of the three families has it.
    id: "ca-subjectKeyIdentifier-required",
    profiles: ["tpm", "sev-snp", "tdx"],
    code: "certificate_profile_invalid",
    check: (cert, position) => (isCaPosition(position) && cert.subjectKeyId === undefined ? "subjectKeyIdentifier of a CA is missing" : undefined),
  },
  {
    // RFC 5280 §6.1.4 (n) checks keyCertSign only when keyUsage is present, so `rfc5280` and TPM (dozens of vendors, one CA
    // chain each) accept a CA without it. AMD's KDS specification (ARK: keyCertSign, cRLSign; ASK/ASVK: keyCertSign) and
    // Intel's PCK profile (Root and PCK Platform/Processor CA: keyCertSign, cRLSign) both specify keyUsage on every CA.
    id: "ca-keyUsage-required",
    profiles: ["sev-snp", "tdx"],
    code: "key_usage_invalid",
    check: (cert, position) => (isCaPosition(position) && cert.keyUsage === undefined ? "a CA without keyUsage" : undefined),
  },
];

interface CrlRule {
  readonly id: string;
  readonly profiles: readonly PathProfile[];
  readonly check: (crl: Crl) => string | undefined;
}

/** The CRL rows (RFC 5280 §5.2.3), with the families whose CRLs were checked against them. */
export const CRL_RULES: readonly CrlRule[] = [
  {
    // "CRL number is a non-critical CRL extension": a critical one is an issuer error.
    id: "crlNumber-non-critical",
    profiles: EVERY,
    check: (crl) => (crl.extensions.get(OID.crlNumber)?.critical ? "cRLNumber is marked critical" : undefined),
  },
  {
    // "Conforming CRL issuers MUST include the CRL number": Intel's PCK and Root CA CRLs do. AMD's KDS specification says
    // nothing of CRL extensions (and no KDS CRL is among the fixtures), so SEV-SNP does not require it; TPM vendors publish
    // no CRLs that Warden consumes.
    id: "crlNumber-required",
    profiles: ["rfc5280", "tdx"],
    check: (crl) => (crl.crlNumber === undefined ? "cRLNumber is missing" : undefined),
  },
];

/** Applies `profile`'s rows to `cert` at `position`: the first broken rule's code, or nothing. */
export function checkProfile(cert: Certificate, position: PathPosition, profile: PathProfile, what: string): void {
  for (const rule of PROFILE_RULES) {
    if (!rule.profiles.includes(profile)) continue;
    const problem = rule.check(cert, position);
    if (problem) throw new EvidenceVerificationError(rule.code, `${what}: ${problem} (${profile} profile, ${rule.id})`);
  }
}

/** Applies `profile`'s CRL rows. */
export function checkCrlProfile(crl: Crl, profile: PathProfile, what: string): void {
  for (const rule of CRL_RULES) {
    if (!rule.profiles.includes(profile)) continue;
    const problem = rule.check(crl);
    if (problem) throw new EvidenceVerificationError("certificate_profile_invalid", `${what}: ${problem} (${profile} profile, ${rule.id})`);
  }
}
