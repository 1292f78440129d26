import { MalformedEvidenceError } from "../errors.ts";
import { ByteReader } from "../reader.ts";

/**
 * AMD SEV-SNP ATTESTATION_REPORT, versions 2 to 5 (SEV Secure Nested Paging
 * Firmware ABI Specification, pub. 56860, Table "ATTESTATION_REPORT
 * Structure"). Always exactly 0x4A0 bytes, little-endian; bytes 0x000–0x29F
 * are signed, the signature sits at 0x2A0.
 */
export const REPORT_SIZE = 0x4a0;
/** End of the signed range: the signature covers bytes [0, SIGNED_SIZE). */
export const SIGNED_SIZE = 0x2a0;
/** Report versions this parser accepts (STYLE §8: allowlist before parsing further). */
export const SUPPORTED_VERSIONS: readonly number[] = [2, 3, 4, 5];
/** SIGNATURE_ALGO 1: ECDSA P-384 with SHA-384, the only algorithm the ABI defines. */
export const SIGNATURE_ALGO_ECDSA_P384_SHA384 = 1;

/** Which key signed the report (SIGNING_KEY, bits 4:2 at 0x48). */
export type SigningKeyKind = "vcek" | "vlek";

/** GUEST POLICY (0x08), ABI Table "Guest Policy Structure". */
export interface SnpPolicy {
  readonly raw: bigint;
  readonly abiMinor: number;
  readonly abiMajor: number;
  readonly smt: boolean;
  readonly migrateMa: boolean;
  readonly debug: boolean;
  readonly singleSocket: boolean;
  readonly cxlAllow: boolean;
  readonly memAes256Xts: boolean;
  readonly raplDis: boolean;
  readonly ciphertextHiding: boolean;
  readonly pageSwapDisable: boolean;
}

/** A parsed report. Byte fields are views into the snapshot that was parsed. */
export interface SnpReport {
  /** The whole report, and the signed bytes 0x000–0x29F. */
  readonly raw: Uint8Array;
  readonly signed: Uint8Array;
  readonly version: number;
  readonly guestSvn: number;
  readonly policy: SnpPolicy;
  readonly familyId: Uint8Array;
  readonly imageId: Uint8Array;
  readonly vmpl: number;
  readonly signatureAlgo: number;
  /** TCB_VERSION fields as the 8 raw little-endian bytes (their layout depends on the product). */
  readonly currentTcb: Uint8Array;
  readonly platformInfo: bigint;
  readonly authorKeyEn: boolean;
  readonly maskChipKey: boolean;
  readonly signingKey: SigningKeyKind;
  readonly reportData: Uint8Array;
  readonly measurement: Uint8Array;
  readonly hostData: Uint8Array;
  readonly idKeyDigest: Uint8Array;
  readonly authorKeyDigest: Uint8Array;
  readonly reportId: Uint8Array;
  readonly reportIdMa: Uint8Array;
  readonly reportedTcb: Uint8Array;
  /** CPUID family / model / stepping (version 3 and later); absent in version 2. */
  readonly cpuid: { readonly family: number; readonly model: number; readonly stepping: number } | undefined;
  readonly chipId: Uint8Array;
  readonly committedTcb: Uint8Array;
  readonly currentVersion: { readonly major: number; readonly minor: number; readonly build: number };
  readonly committedVersion: { readonly major: number; readonly minor: number; readonly build: number };
  readonly launchTcb: Uint8Array;
  /** Mitigation vectors (version 5 and later). */
  readonly launchMitVector: bigint | undefined;
  readonly currentMitVector: bigint | undefined;
  /** r and s as stored: 72-byte little-endian fields. */
  readonly signatureR: Uint8Array;
  readonly signatureS: Uint8Array;
}

function parsePolicy(raw: bigint): SnpPolicy {
  const bit = (n: number) => ((raw >> BigInt(n)) & 1n) === 1n;
  // Bit 17 is reserved and must be one; bits 63:26 are reserved, must be zero.
  if (!bit(17)) throw new MalformedEvidenceError("reserved_nonzero", "SEV-SNP report: POLICY bit 17 (reserved, must be one) is zero");
  if (raw >> 26n !== 0n) throw new MalformedEvidenceError("reserved_nonzero", `SEV-SNP report: POLICY reserved bits 63:26 set (0x${raw.toString(16)})`);
  return {
    raw,
    abiMinor: Number(raw & 0xffn),
    abiMajor: Number((raw >> 8n) & 0xffn),
    smt: bit(16),
    migrateMa: bit(18),
    debug: bit(19),
    singleSocket: bit(20),
    cxlAllow: bit(21),
    memAes256Xts: bit(22),
    raplDis: bit(23),
    ciphertextHiding: bit(24),
    pageSwapDisable: bit(25),
  };
}

/**
 * Parses one ATTESTATION_REPORT. Exact size, version allowlist, signature
 * algorithm, and every reserved range zero; throws a typed malformed error
 * otherwise. Does not verify anything.
 */
export function parseSnpReport(bytes: Uint8Array): SnpReport {
  if (bytes.length !== REPORT_SIZE) {
    throw new MalformedEvidenceError(
      bytes.length < REPORT_SIZE ? "evidence_truncated" : "evidence_trailing_data",
      `SEV-SNP report: ${bytes.length} bytes, expected exactly ${REPORT_SIZE}`,
    );
  }
  const r = new ByteReader(bytes, "SEV-SNP report");
  const version = r.u32le("VERSION");
  if (!SUPPORTED_VERSIONS.includes(version)) throw new MalformedEvidenceError("unsupported_evidence", `SEV-SNP report: version ${version} not supported`);
  const guestSvn = r.u32le("GUEST_SVN");
  const policy = parsePolicy(r.u64le("POLICY"));
  const familyId = r.bytes(16, "FAMILY_ID");
  const imageId = r.bytes(16, "IMAGE_ID");
  const vmpl = r.u32le("VMPL");
  if (vmpl > 3) throw new MalformedEvidenceError("malformed_evidence", `SEV-SNP report: VMPL ${vmpl} out of range`);
  const signatureAlgo = r.u32le("SIGNATURE_ALGO");
  if (signatureAlgo !== SIGNATURE_ALGO_ECDSA_P384_SHA384) {
    throw new MalformedEvidenceError("unsupported_evidence", `SEV-SNP report: signature algorithm ${signatureAlgo} not supported`);
  }
  const currentTcb = r.bytes(8, "CURRENT_TCB");
  const platformInfo = r.u64le("PLATFORM_INFO");
  const signer = r.u32le("signer info");
  // 0x48: bit 0 AUTHOR_KEY_EN, bit 1 MASK_CHIP_KEY, bits 4:2 SIGNING_KEY, bits 31:5 reserved.
  if (signer >>> 5 !== 0) throw new MalformedEvidenceError("reserved_nonzero", `SEV-SNP report: reserved signer-info bits set (0x${signer.toString(16)})`);
  const signingKeyField = (signer >>> 2) & 7;
  if (signingKeyField !== 0 && signingKeyField !== 1) {
    // 7 means "not signed"; 2–6 are reserved.
    throw new MalformedEvidenceError("unsupported_evidence", `SEV-SNP report: SIGNING_KEY ${signingKeyField} is not VCEK or VLEK`);
  }
  r.expectZero(4, "reserved 0x4C");
  const reportData = r.bytes(64, "REPORT_DATA");
  const measurement = r.bytes(48, "MEASUREMENT");
  const hostData = r.bytes(32, "HOST_DATA");
  const idKeyDigest = r.bytes(48, "ID_KEY_DIGEST");
  const authorKeyDigest = r.bytes(48, "AUTHOR_KEY_DIGEST");
  const reportId = r.bytes(32, "REPORT_ID");
  const reportIdMa = r.bytes(32, "REPORT_ID_MA");
  const reportedTcb = r.bytes(8, "REPORTED_TCB");
  let cpuid: SnpReport["cpuid"];
  if (version >= 3) {
    // Version 3 added CPUID_FAM_ID, CPUID_MOD_ID and CPUID_STEP at 0x188.
    cpuid = { family: r.u8("CPUID_FAM_ID"), model: r.u8("CPUID_MOD_ID"), stepping: r.u8("CPUID_STEP") };
    r.expectZero(0x1a0 - 0x18b, "reserved 0x18B");
  } else {
    r.expectZero(0x1a0 - 0x188, "reserved 0x188");
  }
  const chipId = r.bytes(64, "CHIP_ID");
  const committedTcb = r.bytes(8, "COMMITTED_TCB");
  const currentVersion = { build: r.u8("CURRENT_BUILD"), minor: r.u8("CURRENT_MINOR"), major: r.u8("CURRENT_MAJOR") };
  r.expectZero(1, "reserved 0x1EB");
  const committedVersion = { build: r.u8("COMMITTED_BUILD"), minor: r.u8("COMMITTED_MINOR"), major: r.u8("COMMITTED_MAJOR") };
  r.expectZero(1, "reserved 0x1EF");
  const launchTcb = r.bytes(8, "LAUNCH_TCB");
  let launchMitVector: bigint | undefined;
  let currentMitVector: bigint | undefined;
  if (version >= 5) {
    // Version 5 (ABI 1.58) added LAUNCH_MIT_VECTOR and CURRENT_MIT_VECTOR at 0x1F8.
    launchMitVector = r.u64le("LAUNCH_MIT_VECTOR");
    currentMitVector = r.u64le("CURRENT_MIT_VECTOR");
    r.expectZero(0x2a0 - 0x208, "reserved 0x208");
  } else {
    r.expectZero(0x2a0 - 0x1f8, "reserved 0x1F8");
  }
  // Signature (ABI Table "ECDSA P-384 with SHA-384 Signature Format"): R and S, 72 bytes each, then reserved.
  const signatureR = r.bytes(72, "SIGNATURE.R");
  const signatureS = r.bytes(72, "SIGNATURE.S");
  r.expectZero(REPORT_SIZE - 0x2a0 - 144, "reserved signature tail");
  r.end();
  return {
    raw: bytes,
    signed: bytes.subarray(0, SIGNED_SIZE),
    version,
    guestSvn,
    policy,
    familyId,
    imageId,
    vmpl,
    signatureAlgo,
    currentTcb,
    platformInfo,
    authorKeyEn: (signer & 1) === 1,
    maskChipKey: (signer & 2) === 2,
    signingKey: signingKeyField === 0 ? "vcek" : "vlek",
    reportData,
    measurement,
    hostData,
    idKeyDigest,
    authorKeyDigest,
    reportId,
    reportIdMa,
    reportedTcb,
    cpuid,
    chipId,
    committedTcb,
    currentVersion,
    committedVersion,
    launchTcb,
    launchMitVector,
    currentMitVector,
    signatureR,
    signatureS,
  };
}
