import { MalformedEvidenceError } from "../errors.ts";
import { ByteReader, bytesEqual, fromHex } from "../reader.ts";

/**
 * Intel TDX DCAP quotes, versions 4 and 5 ("Intel TDX DCAP Quoting Library
 * API", appendix "Quote Format"; little-endian):
 *
 *     header (48) ‖ [v5: body type u16, body size u32] ‖ body ‖ signature-data length u32 ‖ signature data
 *
 * The quote signature covers everything before the signature-data length.
 * Signature data: ECDSA-256 quote signature (64, r‖s) ‖ attestation key
 * (64, x‖y) ‖ certification data type 6 (QE report certification data: QE
 * report (384) ‖ QE report signature (64) ‖ QE auth data (u16 length + bytes)
 * ‖ certification data type 5: the PEM PCK chain).
 */
export const HEADER_SIZE = 48;
export const TD_REPORT_10_SIZE = 584;
export const TD_REPORT_15_SIZE = 648;
export const ENCLAVE_REPORT_SIZE = 384;
/** Attestation key type 2: ECDSA-256-with-P-256 curve. */
export const ATTESTATION_KEY_ECDSA_P256 = 2;
/** TEE type 0x81: TDX. */
export const TEE_TYPE_TDX = 0x81;
/** Intel's QE vendor id 939A7233-F79C-4CA9-940A-0DB3957F0607. */
export const INTEL_QE_VENDOR_ID = fromHex("939a7233f79c4ca9940a0db3957f0607");
/** Certification data types (QGL API, "Certification Data Type"). */
const CERT_DATA_PCK_CHAIN = 5;
const CERT_DATA_QE_REPORT = 6;
/** v5 body types. */
const BODY_TYPE_TD10 = 2;
const BODY_TYPE_TD15 = 3;
/** A PCK chain is three certificates of about 1.2 KiB each; anything far larger is not a quote. */
const MAX_CERT_DATA = 64 * 1024;

export interface TdReport {
  readonly kind: "td10" | "td15";
  /** TEE_TCB_SVN: [0] TDX module SVN, [1] module major version, then further components. */
  readonly teeTcbSvn: Uint8Array;
  readonly mrSeam: Uint8Array;
  readonly mrSignerSeam: Uint8Array;
  readonly seamAttributes: Uint8Array;
  readonly tdAttributes: Uint8Array;
  readonly xfam: Uint8Array;
  readonly mrTd: Uint8Array;
  readonly mrConfigId: Uint8Array;
  readonly mrOwner: Uint8Array;
  readonly mrOwnerConfig: Uint8Array;
  readonly rtmrs: readonly [Uint8Array, Uint8Array, Uint8Array, Uint8Array];
  readonly reportData: Uint8Array;
  /** TD report 1.5 only. */
  readonly teeTcbSvn2: Uint8Array | undefined;
  readonly mrServiceTd: Uint8Array | undefined;
}

/** An SGX enclave report body: here, the Quoting Enclave's. */
export interface EnclaveReport {
  readonly raw: Uint8Array;
  readonly cpuSvn: Uint8Array;
  readonly miscSelect: Uint8Array;
  readonly attributes: Uint8Array;
  readonly mrEnclave: Uint8Array;
  readonly mrSigner: Uint8Array;
  readonly isvProdId: number;
  readonly isvSvn: number;
  readonly reportData: Uint8Array;
}

export interface TdxQuote {
  readonly raw: Uint8Array;
  readonly version: 4 | 5;
  readonly teeType: number;
  readonly qeVendorId: Uint8Array;
  readonly userData: Uint8Array;
  readonly body: TdReport;
  /** The bytes the attestation key signed: header and body (with the v5 body descriptor). */
  readonly signed: Uint8Array;
  readonly signature: Uint8Array;
  readonly attestationKey: Uint8Array;
  readonly qeReport: EnclaveReport;
  readonly qeReportSignature: Uint8Array;
  readonly qeAuthData: Uint8Array;
  /** The PCK certificate chain as carried in the quote (PEM text bytes; may end in a NUL). */
  readonly pckChain: Uint8Array;
}

function parseTdReport(r: ByteReader, kind: "td10" | "td15"): TdReport {
  const teeTcbSvn = r.bytes(16, "TEE_TCB_SVN");
  const mrSeam = r.bytes(48, "MRSEAM");
  const mrSignerSeam = r.bytes(48, "MRSIGNERSEAM");
  const seamAttributes = r.bytes(8, "SEAMATTRIBUTES");
  const tdAttributes = r.bytes(8, "TDATTRIBUTES");
  const xfam = r.bytes(8, "XFAM");
  const mrTd = r.bytes(48, "MRTD");
  const mrConfigId = r.bytes(48, "MRCONFIGID");
  const mrOwner = r.bytes(48, "MROWNER");
  const mrOwnerConfig = r.bytes(48, "MROWNERCONFIG");
  const rtmrs = [r.bytes(48, "RTMR0"), r.bytes(48, "RTMR1"), r.bytes(48, "RTMR2"), r.bytes(48, "RTMR3")] as const;
  const reportData = r.bytes(64, "REPORTDATA");
  let teeTcbSvn2: Uint8Array | undefined;
  let mrServiceTd: Uint8Array | undefined;
  if (kind === "td15") {
    teeTcbSvn2 = r.bytes(16, "TEE_TCB_SVN2");
    mrServiceTd = r.bytes(48, "MRSERVICETD");
  }
  r.end();
  return { kind, teeTcbSvn, mrSeam, mrSignerSeam, seamAttributes, tdAttributes, xfam, mrTd, mrConfigId, mrOwner, mrOwnerConfig, rtmrs, reportData, teeTcbSvn2, mrServiceTd };
}

/** Parses an SGX REPORTBODY (SDM vol. 3D "REPORT"); reserved ranges must be zero. */
export function parseEnclaveReport(bytes: Uint8Array): EnclaveReport {
  const r = new ByteReader(bytes, "QE report");
  const cpuSvn = r.bytes(16, "CPUSVN");
  const miscSelect = r.bytes(4, "MISCSELECT");
  r.expectZero(28, "reserved");
  const attributes = r.bytes(16, "ATTRIBUTES");
  const mrEnclave = r.bytes(32, "MRENCLAVE");
  r.expectZero(32, "reserved");
  const mrSigner = r.bytes(32, "MRSIGNER");
  r.expectZero(96, "reserved");
  const isvProdId = r.u16le("ISVPRODID");
  const isvSvn = r.u16le("ISVSVN");
  r.expectZero(60, "reserved");
  const reportData = r.bytes(64, "REPORTDATA");
  r.end();
  return { raw: bytes, cpuSvn, miscSelect, attributes, mrEnclave, mrSigner, isvProdId, isvSvn, reportData };
}

/** Reads the header and body and returns the offset of the signature-data length field. */
function readHeaderAndBody(r: ByteReader): { version: 4 | 5; teeType: number; qeVendorId: Uint8Array; userData: Uint8Array; body: TdReport } {
  const version = r.u16le("version");
  if (version !== 4 && version !== 5) throw new MalformedEvidenceError("unsupported_evidence", `TDX quote: version ${version} not supported`);
  const keyType = r.u16le("attestation key type");
  if (keyType !== ATTESTATION_KEY_ECDSA_P256) throw new MalformedEvidenceError("unsupported_evidence", `TDX quote: attestation key type ${keyType} not supported`);
  const teeType = r.u32le("TEE type");
  if (teeType !== TEE_TYPE_TDX) throw new MalformedEvidenceError("unsupported_evidence", `TDX quote: TEE type 0x${teeType.toString(16)} is not TDX`);
  r.expectZero(4, "header reserved");
  const qeVendorId = r.bytes(16, "QE vendor id");
  if (!bytesEqual(qeVendorId, INTEL_QE_VENDOR_ID)) throw new MalformedEvidenceError("unsupported_evidence", "TDX quote: QE vendor id is not Intel's");
  const userData = r.bytes(20, "user data");
  let kind: "td10" | "td15" = "td10";
  let size = TD_REPORT_10_SIZE;
  if (version === 5) {
    const bodyType = r.u16le("body type");
    const bodySize = r.u32le("body size");
    if (bodyType === BODY_TYPE_TD10) kind = "td10";
    else if (bodyType === BODY_TYPE_TD15) kind = "td15";
    else throw new MalformedEvidenceError("unsupported_evidence", `TDX quote: body type ${bodyType} is not a TD report`);
    size = kind === "td10" ? TD_REPORT_10_SIZE : TD_REPORT_15_SIZE;
    if (bodySize !== size) throw new MalformedEvidenceError("malformed_evidence", `TDX quote: body size ${bodySize}, expected ${size}`);
  }
  const body = parseTdReport(r.sub(size, "TD report"), kind);
  return { version, teeType, qeVendorId, userData, body };
}

/**
 * Parses one TDX quote, exactly: every length field is checked against what
 * follows it, the certification data must be the QE-report kind holding a PCK
 * chain, and no byte may follow the signature data.
 */
export function parseTdxQuote(bytes: Uint8Array): TdxQuote {
  const r = new ByteReader(bytes, "TDX quote");
  const { version, teeType, qeVendorId, userData, body } = readHeaderAndBody(r);
  const signed = bytes.subarray(0, r.pos);
  const sigDataLength = r.u32le("signature data length");
  const sig = r.sub(sigDataLength, "signature data");
  r.end();
  const signature = sig.bytes(64, "quote signature");
  const attestationKey = sig.bytes(64, "attestation key");
  const certType = sig.u16le("certification data type");
  if (certType !== CERT_DATA_QE_REPORT) throw new MalformedEvidenceError("unsupported_evidence", `TDX quote: certification data type ${certType}, expected ${CERT_DATA_QE_REPORT}`);
  const certSize = sig.u32le("certification data size");
  const cert = sig.sub(certSize, "QE report certification data");
  sig.end();
  const qeReport = parseEnclaveReport(cert.bytes(ENCLAVE_REPORT_SIZE, "QE report"));
  const qeReportSignature = cert.bytes(64, "QE report signature");
  const qeAuthData = cert.bytes(cert.u16le("QE auth data size"), "QE auth data");
  const innerType = cert.u16le("PCK certification data type");
  if (innerType !== CERT_DATA_PCK_CHAIN) {
    throw new MalformedEvidenceError("unsupported_evidence", `TDX quote: PCK certification data type ${innerType}, expected ${CERT_DATA_PCK_CHAIN} (PEM PCK chain)`);
  }
  const innerSize = cert.u32le("PCK certification data size");
  if (innerSize > MAX_CERT_DATA) throw new MalformedEvidenceError("malformed_evidence", `TDX quote: PCK chain of ${innerSize} bytes`);
  const pckChain = cert.bytes(innerSize, "PCK chain");
  cert.end();
  return { raw: bytes, version, teeType, qeVendorId, userData, body, signed, signature, attestationKey, qeReport, qeReportSignature, qeAuthData, pckChain };
}

/**
 * The length of the quote at the start of `bytes`, from its own length fields
 * (for inputs such as DCAP's buffers that carry padding or other bytes after
 * the quote). The caller decides what to do with the rest.
 */
export function tdxQuoteLength(bytes: Uint8Array): number {
  const r = new ByteReader(bytes, "TDX quote");
  readHeaderAndBody(r);
  const sigDataLength = r.u32le("signature data length");
  r.bytes(sigDataLength, "signature data");
  return r.pos;
}
