import { EvidenceVerificationError, MalformedEvidenceError } from "../errors.ts";
import { bytesEqual, concatBytes, isAllZero, snapshotBytes, toHex } from "../reader.ts";
import { ecdsaVerifyKey, parseCertificate, parseCertificatesPem, parseCrlCached, pemBlocks, type Certificate, type Crl } from "../x509/certificate.ts";
import { trustAnchor, validatePath, type TrustAnchor, type ValidatedPath } from "../x509/path.ts";
import { anchorsAt, type TrustMaterial } from "../x509/trust.ts";
import { verifyQeIdentity, verifyTcbInfo, type CollateralCheck, type SignedCollateral, type TcbInfo } from "./collateral.ts";
import { pckInfo, type PckInfo } from "./pck.ts";
import { parseTdxQuote, type TdxQuote } from "./quote.ts";
import { INTEL_SGX_ROOT_CA_B64 } from "./roots/root.ts";
import { matchPlatformTcb, matchQeIdentity, matchTdxModule, mergeTcb, type TcbResult } from "./tcb.ts";

/** TDX evidence: one quote, exactly (see `tdxQuoteLength` for inputs with padding after it). */
export interface TdxEvidence {
  readonly quote: Uint8Array;
}

/** Intel PCS collateral for the quote's platform (FMSPC) and the TD Quoting Enclave. */
export interface TdxCollateral {
  readonly tcbInfo: SignedCollateral;
  readonly qeIdentity: SignedCollateral;
  /** DER CRL of the PCK Platform or Processor CA. */
  readonly pckCrl?: Uint8Array;
  /** DER CRL of the Intel SGX Root CA. */
  readonly rootCaCrl?: Uint8Array;
}

/** TDX trust material: the Intel SGX Root CA(s) as anchors; Intel's intermediates come with the quote and the collateral. */
export type TdxTrust = TrustMaterial<TrustAnchor>;

export interface TdxVerifyOptions {
  readonly now: Date;
  readonly trustAnchors: TdxTrust;
  readonly collateral: TdxCollateral;
  /** Time at which TCB Info and QE Identity must be current (their own issueDate..nextUpdate); default `now`. */
  readonly collateralTime?: Date;
  /**
   * "require" (default): the PCK CRL and the Root CA CRL must be supplied,
   * signed, current, and must not list a certificate of either chain.
   * "unchecked": an explicit decision to verify without revocation data;
   * supplied CRLs are still checked.
   */
  readonly revocation?: "require" | "unchecked";
}

/** A quote whose signatures, chains and collateral verified, with its TCB status. Claims are not yet appraised. */
export interface VerifiedTdxQuote {
  readonly type: "tdx";
  readonly quote: TdxQuote;
  readonly pck: PckInfo;
  readonly chain: ValidatedPath;
  /** Platform, TDX module and QE statuses merged (the worst wins, advisories united). */
  readonly tcb: TcbResult;
  readonly platformTcb: TcbResult;
  readonly qeTcb: TcbResult;
  readonly moduleTcb: TcbResult | undefined;
  readonly tcbInfo: Pick<TcbInfo, "fmspc" | "tcbEvaluationDataNumber" | "issueDate" | "nextUpdate">;
}

const MAX_QUOTE = 64 * 1024;
const MAX_CRL = 1024 * 1024;

let pinned: Promise<TdxTrust> | undefined;
/** The pinned Intel SGX Root CA (roots/PROVENANCE.md), checked once per isolate. */
export function pinnedTdxTrust(): Promise<TdxTrust> {
  pinned ??= (async () => {
    const der = Uint8Array.from(atob(INTEL_SGX_ROOT_CA_B64), (c) => c.charCodeAt(0));
    return { anchors: [await trustAnchor("Intel SGX Root CA", parseCertificate(der, "Intel SGX Root CA"), { group: "Intel" })] };
  })();
  return pinned;
}

/** Imported attestation keys by their bytes: a QE keeps its key across many quotes. Bounded; failures are not kept. */
const attestationKeys = new Map<string, CryptoKey>();
async function importAttestationKey(raw: Uint8Array): Promise<CryptoKey> {
  const id = toHex(raw);
  const hit = attestationKeys.get(id);
  if (hit) return hit;
  const key = await crypto.subtle.importKey("raw", concatBytes(Uint8Array.of(0x04), raw), { name: "ECDSA", namedCurve: "P-256" }, false, ["verify"]);
  attestationKeys.set(id, key);
  if (attestationKeys.size > CHAIN_CACHE_LIMIT) attestationKeys.delete(attestationKeys.keys().next().value as string);
  return key;
}

/** A CRL of the collateral, read once for the route's choice of the newest collateral and this verification. */
function crlOf(bytes: Uint8Array, what: string): Crl {
  return parseCrlCached(snapshotBytes(bytes, MAX_CRL, what), what);
}

/** Parsed PCK chains by their text: a platform sends the same chain in every quote. Bounded. */
const chainCache = new Map<string, Certificate[]>();
const CHAIN_CACHE_LIMIT = 256;

/** The PCK chain in the quote: PEM text (ASCII, possibly NUL-terminated), leaf first. */
function pckCertificates(pem: Uint8Array): Certificate[] {
  const id = new TextDecoder("latin1").decode(pem);
  const cached = chainCache.get(id);
  if (cached) return cached;
  const certs = parsePckChain(pem);
  chainCache.set(id, certs);
  if (chainCache.size > CHAIN_CACHE_LIMIT) chainCache.delete(chainCache.keys().next().value as string);
  return certs;
}

function parsePckChain(pem: Uint8Array): Certificate[] {
  let end = pem.length;
  while (end > 0 && pem[end - 1] === 0) end--;
  for (let i = 0; i < end; i++) {
    if ((pem[i] as number) > 0x7e || pem[i] === 0) throw new MalformedEvidenceError("malformed_evidence", "TDX quote: PCK chain is not ASCII PEM");
  }
  const text = new TextDecoder().decode(pem.subarray(0, end));
  const certs = parseCertificatesPem(text, "PCK chain");
  if (certs.length < 2 || certs.length > 4 || pemBlocks(text).length !== certs.length) {
    throw new MalformedEvidenceError("malformed_evidence", `TDX quote: PCK chain of ${certs.length} certificates`);
  }
  return certs;
}

/**
 * Verifies a TDX quote against Intel's chains and collateral (no appraisal),
 * in the order of Intel's Quote Verification Library:
 *
 * 1. parse the quote (version 4/5, ECDSA-256 key, TEE type TDX, Intel QE);
 * 2. TCB Info and QE Identity: TCB Signing chain to the pinned root (Root CA
 *    CRL), signature over the exact JSON text, validity window;
 * 3. PCK chain to the pinned root with the PCK and Root CA CRLs;
 * 4. QE report signed by the PCK key; QE REPORTDATA = SHA-256(attestation
 *    key ‖ QE auth data) ‖ 32 zero bytes;
 * 5. quote signed by the attestation key over header and body;
 * 6. FMSPC and PCE-ID of TCB Info equal the PCK certificate's; QE against QE
 *    Identity; platform TCB level, TDX module identity → merged TCB status.
 */
export async function verifyTdxQuote(evidence: TdxEvidence, options: TdxVerifyOptions): Promise<VerifiedTdxQuote> {
  const { now, trustAnchors, collateral } = options;
  // The roots valid at the evidence time, in the manner of the other families (a rotated Intel root would sit beside the old one);
  // none is the store's fault, said before anything of the evidence is judged.
  const anchors = anchorsAt(trustAnchors, now, { vendor: "Intel" });
  const quote = parseTdxQuote(snapshotBytes(evidence.quote, MAX_QUOTE, "TDX quote"));

  const requireCrls = (options.revocation ?? "require") === "require";
  if (requireCrls && (!collateral.pckCrl || !collateral.rootCaCrl)) {
    throw new EvidenceVerificationError("collateral_incomplete", "the PCK CRL and the Root CA CRL are required");
  }
  const rootCrls: Crl[] = collateral.rootCaCrl ? [crlOf(collateral.rootCaCrl, "Root CA CRL")] : [];
  const pckCrls: Crl[] = collateral.pckCrl ? [crlOf(collateral.pckCrl, "PCK CRL")] : [];

  const check: CollateralCheck = { now, collateralTime: options.collateralTime ?? now, anchors, rootCrls, requireCrls };
  const tcbInfo = await verifyTcbInfo(collateral.tcbInfo, check);
  const qeIdentity = await verifyQeIdentity(collateral.qeIdentity, check);

  const [leaf, ...intermediates] = pckCertificates(quote.pckChain);
  const chain = await validatePath(leaf as Certificate, {
    now,
    anchors,
    intermediates,
    crls: [...pckCrls, ...rootCrls],
    requireCrls,
    leafKeyUsage: ["digitalSignature"],
    maxIntermediates: 1,
    profile: "tdx",
  });
  const pck = pckInfo(chain.leaf);

  const pckKey = await ecdsaVerifyKey(chain.leaf, "P-256", "SHA-256");
  if (!(await crypto.subtle.verify({ name: "ECDSA", hash: "SHA-256" }, pckKey, quote.qeReportSignature, quote.qeReport.raw))) {
    throw new EvidenceVerificationError("evidence_signature_invalid", "QE report signature does not verify with the PCK key");
  }
  // The QE vouches for the attestation key (and its auth data) by hashing them into its report.
  const binding = new Uint8Array(await crypto.subtle.digest("SHA-256", concatBytes(quote.attestationKey, quote.qeAuthData)));
  if (!bytesEqual(quote.qeReport.reportData.subarray(0, 32), binding) || !isAllZero(quote.qeReport.reportData.subarray(32))) {
    throw new EvidenceVerificationError("qe_report_binding_mismatch", "QE REPORTDATA does not commit to the attestation key and QE auth data");
  }
  let attestationKey: CryptoKey;
  try {
    attestationKey = await importAttestationKey(quote.attestationKey);
  } catch (cause) {
    throw new EvidenceVerificationError("evidence_signature_invalid", "attestation key is not a P-256 point", { cause });
  }
  if (!(await crypto.subtle.verify({ name: "ECDSA", hash: "SHA-256" }, attestationKey, quote.signature, quote.signed))) {
    throw new EvidenceVerificationError("evidence_signature_invalid", "quote signature does not verify with the attestation key");
  }

  if (tcbInfo.fmspc.toUpperCase() !== pck.fmspc) {
    throw new EvidenceVerificationError("collateral_mismatch", `TCB Info is for FMSPC ${tcbInfo.fmspc}, the PCK certificate for ${pck.fmspc}`);
  }
  if (tcbInfo.pceId.toLowerCase() !== toHex(pck.pceId)) {
    throw new EvidenceVerificationError("collateral_mismatch", `TCB Info is for PCE-ID ${tcbInfo.pceId}, the PCK certificate for ${toHex(pck.pceId)}`);
  }
  const qeTcb = matchQeIdentity(qeIdentity, quote.qeReport);
  const platformTcb = matchPlatformTcb(tcbInfo, pck, quote.body);
  const moduleTcb = matchTdxModule(tcbInfo, quote.body);
  let tcb = platformTcb;
  if (moduleTcb) tcb = mergeTcb(tcb, moduleTcb);
  tcb = mergeTcb(tcb, qeTcb);
  return {
    type: "tdx",
    quote,
    pck,
    chain,
    tcb,
    platformTcb,
    qeTcb,
    moduleTcb,
    tcbInfo: { fmspc: tcbInfo.fmspc, tcbEvaluationDataNumber: tcbInfo.tcbEvaluationDataNumber, issueDate: tcbInfo.issueDate, nextUpdate: tcbInfo.nextUpdate },
  };
}
