import { StrictJsonError, parseStrictJson } from "../../json/strict.ts";
import { EvidenceVerificationError, MalformedEvidenceError } from "../errors.ts";
import { ByteReader, bytesEqual, isAllZero } from "../reader.ts";
import { REPORT_SIZE } from "./report.ts";

/**
 * The HCL report of an Azure confidential VM (the paravisor's
 * IGVM_ATTEST "HCLA" structure, as Azure's attestation clients return it):
 *
 *     0x000 header: "HCLA", version, report size, request type, status, 12 reserved bytes
 *     0x020 hardware report: the 0x4A0-byte SEV-SNP ATTESTATION_REPORT
 *     0x4C0 runtime data: data size, version, report type, hash type, variable-data size, variable data (JSON)
 *     ...   zero padding to the fixed size
 *
 * The SNP report's REPORT_DATA[0:32] is SHA-256 of the variable data (hash
 * type 1), which carries the vTPM's attestation key; REPORT_DATA[32:64] is zero.
 */
export interface AzureHclReport {
  readonly snpReport: Uint8Array;
  readonly hashType: number;
  /** The runtime claims JSON (HCLAkPub, HCLEkPub, VM configuration) exactly as hashed. */
  readonly runtimeData: Uint8Array;
}

const HCLA = 0x414c4348; // "HCLA" little-endian
/** IGVM report type 2: SEV-SNP. */
const REPORT_TYPE_SNP = 2;
/** Hash type 1: SHA-256 (the only one this parser accepts). */
const HASH_TYPE_SHA256 = 1;

/** Parses an Azure HCL report around an SEV-SNP report. */
export function parseAzureHclReport(bytes: Uint8Array): AzureHclReport {
  const r = new ByteReader(bytes, "Azure HCL report");
  if (r.u32le("signature") !== HCLA) throw new MalformedEvidenceError("malformed_evidence", "Azure HCL report: missing HCLA signature");
  const version = r.u32le("version");
  if (version !== 1 && version !== 2) throw new MalformedEvidenceError("unsupported_evidence", `Azure HCL report: version ${version}`);
  const reportSize = r.u32le("report size");
  r.u32le("request type");
  r.u32le("status");
  r.expectZero(12, "reserved");
  const snpReport = r.bytes(REPORT_SIZE, "hardware report");
  const runtime = r.sub(reportSize > 0x4c0 && reportSize <= bytes.length ? reportSize - 0x4c0 : r.remaining, "runtime data");
  const dataSize = runtime.u32le("data size");
  if (dataSize !== runtime.data.length) throw new MalformedEvidenceError("malformed_evidence", "Azure HCL report: runtime data size mismatch");
  runtime.u32le("version");
  const reportType = runtime.u32le("report type");
  if (reportType !== REPORT_TYPE_SNP) throw new MalformedEvidenceError("unsupported_evidence", `Azure HCL report: report type ${reportType} is not SEV-SNP`);
  const hashType = runtime.u32le("hash type");
  if (hashType !== HASH_TYPE_SHA256) throw new MalformedEvidenceError("unsupported_evidence", `Azure HCL report: hash type ${hashType}`);
  const runtimeData = runtime.bytes(runtime.u32le("variable data size"), "variable data");
  runtime.end();
  r.expectZero(r.remaining, "padding");
  // The runtime claims carry the vTPM keys a relying party reads: they must have one reading, so strict JSON.
  try {
    parseStrictJson(runtimeData);
  } catch (error) {
    if (!(error instanceof StrictJsonError)) throw error;
    throw new MalformedEvidenceError("malformed_evidence", `Azure HCL report: the runtime data is not strict JSON (${error.code})`);
  }
  return { snpReport, hashType, runtimeData };
}

/** Checks that the SNP report's REPORT_DATA commits to the HCL runtime data (SHA-256 ‖ 32 zero bytes). */
export async function verifyHclBinding(hcl: AzureHclReport, reportData: Uint8Array): Promise<void> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", hcl.runtimeData));
  if (!bytesEqual(reportData.subarray(0, 32), digest) || !isAllZero(reportData.subarray(32))) {
    throw new EvidenceVerificationError("runtime_data_mismatch", "REPORT_DATA does not commit to the HCL runtime data");
  }
}
