import { EvidenceVerificationError, MalformedEvidenceError } from "../errors.ts";
import { bytesEqual, isAllZero, snapshotBytes } from "../reader.ts";
import { ecdsaVerifyKey, parseCertificate, parseCertificateCached, parseCrlCached, type Certificate } from "../x509/certificate.ts";
import { validatePath, type ValidatedPath } from "../x509/path.ts";
import { anchorsAt, within } from "../x509/trust.ts";
import { MAX_KDS_CRL_BYTES } from "./crl.ts";
import { endorsementInfo, type EndorsementInfo } from "./endorsement.ts";
import { decodeTcb, productFromCpuid, type SnpProduct, type SnpTcb } from "./product.ts";
import { parseSnpReport, type SnpReport } from "./report.ts";
import type { SnpTrust } from "./trust.ts";

/** Size caps applied before any parsing (STYLE §8). */
const MAX_CERT_BYTES = 16 * 1024;
const MAX_EXTRA_CERTS = 8;
/** Larger than a report, so that a report with trailing bytes is reported as such. */
const MAX_REPORT_INPUT = 64 * 1024;

/** SEV-SNP evidence: the report and the certificate of the key that signed it. */
export interface SnpEvidence {
  /** The 0x4A0-byte ATTESTATION_REPORT. */
  readonly report: Uint8Array;
  /** The VCEK or VLEK certificate (DER), e.g. from the extended report's certificate table or AMD KDS. */
  readonly endorsementKey: Uint8Array;
  /**
   * Further certificates from the evidence (ASK/ASVK, ARK; DER). Used only
   * for a product whose ASK/ASVK is not pinned; the ARK always comes from
   * the trust anchors.
   */
  readonly certificates?: readonly Uint8Array[];
}

/** Collateral: AMD KDS CRLs (DER), each checked against its issuer (the ARK) when it names one of the path. */
export interface SnpCollateral {
  readonly crls?: readonly Uint8Array[];
}

export interface SnpVerifyOptions {
  readonly now: Date;
  readonly trustAnchors: SnpTrust;
  readonly collateral?: SnpCollateral;
  /**
   * "require" (default): a CRL of the ARK (AMD KDS `/vcek|vlek/v1/{product}/crl`) must be among
   * the collateral and cover the ASK or ASVK of the path — signed by the ARK, current, not
   * listing it — else `crl_missing`. "unchecked": an explicit decision to verify without
   * revocation data (the offline CLI given no CRL); supplied CRLs are still checked.
   */
  readonly revocation?: "require" | "unchecked";
}

/** A report whose signature, certificate chain and TCB/chip bindings verified. Claims are not yet appraised. */
export interface VerifiedSnpReport {
  readonly type: "sev-snp";
  readonly report: SnpReport;
  readonly product: SnpProduct;
  readonly signingKey: EndorsementInfo["kind"];
  readonly endorsement: EndorsementInfo;
  readonly reportedTcb: SnpTcb;
  readonly chain: ValidatedPath;
}

/** The expected common name of the AMD intermediate for a key type (KDS spec: "SEV-<product>", "SEV-VLEK-<product>"). */
function intermediateName(product: SnpProduct, kind: EndorsementInfo["kind"]): string {
  return kind === "vcek" ? `SEV-${product}` : `SEV-VLEK-${product}`;
}

/**
 * The report signature as the IEEE P1363 r || s WebCrypto verifies (ABI
 * "ECDSA P-384 with SHA-384 Signature Format": R and S are 72-byte
 * little-endian fields, zero above their 48 significant bytes).
 */
export function snpSignatureP1363(report: SnpReport): Uint8Array | undefined {
  const out = new Uint8Array(96);
  for (const [i, field] of [report.signatureR, report.signatureS].entries()) {
    if (!isAllZero(field.subarray(48))) return undefined;
    for (let j = 0; j < 48; j++) out[i * 48 + j] = field[47 - j] as number;
  }
  return out;
}

/**
 * Verifies SEV-SNP evidence (no appraisal):
 *
 * 1. parse the report (exact size, version 2–5, reserved ranges zero) and the
 *    V[CL]EK certificate and its KDS extensions;
 * 2. select the product from the certificate (and check it against the
 *    report's CPUID for version 3+) and the key type from the certificate;
 * 3. validate V[CL]EK ← ASK/ASVK ← ARK at `now` against the pinned anchors,
 *    with the pinned intermediate for that key type, and the CRLs — one of
 *    the ARK covering the ASK/ASVK unless `revocation` is "unchecked";
 * 4. verify the report's ECDSA P-384 signature over bytes 0x000–0x29F;
 * 5. bind report and certificate: SIGNING_KEY matches the key type,
 *    REPORTED_TCB equals the certificate's TCB, CHIP_ID equals its hwID (VCEK).
 */
export async function verifySnpReport(evidence: SnpEvidence, options: SnpVerifyOptions): Promise<VerifiedSnpReport> {
  const { now, trustAnchors } = options;
  const report = parseSnpReport(snapshotBytes(evidence.report, MAX_REPORT_INPUT, "SEV-SNP report"));
  const endorsementCert = parseCertificateCached(snapshotBytes(evidence.endorsementKey, MAX_CERT_BYTES, "V[CL]EK certificate"), "V[CL]EK certificate");
  const extra = evidence.certificates ?? [];
  if (extra.length > MAX_EXTRA_CERTS) throw new MalformedEvidenceError("malformed_evidence", `${extra.length} certificates, at most ${MAX_EXTRA_CERTS}`);
  const crlsIn = options.collateral?.crls ?? [];
  if (crlsIn.length > MAX_EXTRA_CERTS) throw new MalformedEvidenceError("malformed_evidence", `${crlsIn.length} CRLs, at most ${MAX_EXTRA_CERTS}`);
  const endorsement = endorsementInfo(endorsementCert);
  const { product, kind } = endorsement;

  // Trust material of this product valid at the evidence time (an ARK or ASK outside its window is never a candidate).
  const arks = anchorsAt(trustAnchors, now, { vendor: "AMD", group: product });
  const pinnedAll = (trustAnchors.intermediates ?? []).filter((e) => e.group === product && e.purpose === kind);
  const pinned = pinnedAll.filter((e) => within(e.validFor, now)).map((e) => e.certificate);
  const expectedName = intermediateName(product, kind);
  if (pinnedAll.length > 0 && pinned.length === 0) {
    // Pinned, but none valid now: evidence-supplied certificates must not take the pinned ones' place.
    const early = pinnedAll.every((e) => now.getTime() < e.validFor.start.getTime());
    throw new EvidenceVerificationError(early ? "certificate_not_yet_valid" : "certificate_expired", `no pinned ${expectedName} is valid at ${now.toISOString()}`);
  }
  const intermediates: Certificate[] =
    pinned.length > 0 ? pinned : extra.map((der, i) => parseCertificate(snapshotBytes(der, MAX_CERT_BYTES, "certificate"), `certificate[${i}]`));
  // The route has read these CRLs already, choosing the newest: the same bytes are not parsed again.
  const crls = crlsIn.map((der, i) => parseCrlCached(snapshotBytes(der, MAX_KDS_CRL_BYTES, "CRL"), `CRL[${i}]`));
  const chain = await validatePath(endorsementCert, {
    now,
    anchors: arks,
    intermediates,
    crls,
    // Revocation of the intermediate is not the evidence's to omit: a CRL of the ARK must cover the ASK or ASVK.
    requireCrls: (options.revocation ?? "require") === "require" ? "anchor" : false,
    maxIntermediates: 1,
    profile: "sev-snp",
  });
  // The V[CL]EK must hang directly off the ASK (VCEK) or ASVK (VLEK) of its product: a VLEK under the ASK is not a VLEK.
  const via = chain.path[1];
  if (
    chain.path.length !== 2 ||
    !via ||
    (pinned.length > 0 ? !pinned.some((p) => bytesEqual(via.spki, p.spki)) : !via.subjectText.split(", ").includes(`CN=${expectedName}`))
  ) {
    throw new EvidenceVerificationError("chain_untrusted", `${kind.toUpperCase()} is not issued by ${expectedName}`);
  }

  const key = await ecdsaVerifyKey(endorsementCert, "P-384", "SHA-384");
  const signature = snpSignatureP1363(report);
  if (!signature || !(await crypto.subtle.verify({ name: "ECDSA", hash: "SHA-384" }, key, signature, report.signed))) {
    throw new EvidenceVerificationError("evidence_signature_invalid", "SEV-SNP report signature does not verify with the V[CL]EK");
  }

  // Bindings between the signed report and the certificate.
  if (report.signingKey !== kind) {
    throw new EvidenceVerificationError("endorsement_key_mismatch", `report says ${report.signingKey.toUpperCase()}, certificate is a ${kind.toUpperCase()}`);
  }
  if (report.cpuid) {
    const fromCpuid = productFromCpuid(report.cpuid.family, report.cpuid.model);
    if (fromCpuid !== product) {
      throw new EvidenceVerificationError(
        "product_mismatch",
        `report CPUID family 0x${report.cpuid.family.toString(16)} model 0x${report.cpuid.model.toString(16)} is not ${product}`,
      );
    }
  }
  if (!bytesEqual(report.reportedTcb, endorsement.tcb)) {
    throw new EvidenceVerificationError("tcb_mismatch", "REPORTED_TCB differs from the TCB the certificate was issued for");
  }
  if (kind === "vcek") {
    const hwid = endorsement.hwid as Uint8Array;
    // Turin hwIDs are 8 bytes; the rest of CHIP_ID is zero.
    const matches = bytesEqual(report.chipId.subarray(0, hwid.length), hwid) && isAllZero(report.chipId.subarray(hwid.length));
    if (!matches || isAllZero(hwid)) throw new EvidenceVerificationError("chip_id_mismatch", "CHIP_ID differs from the VCEK's hwID (or is masked)");
  }
  return {
    type: "sev-snp",
    report,
    product,
    signingKey: kind,
    endorsement,
    reportedTcb: decodeTcb(product, report.reportedTcb),
    chain,
  };
}
