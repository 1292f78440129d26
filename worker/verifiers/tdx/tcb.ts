import { EvidenceVerificationError } from "../errors.ts";
import { bytesEqual, fromHex } from "../reader.ts";
import type { QeIdentity, TcbInfo, TcbStatus } from "./collateral.ts";
import type { PckInfo } from "./pck.ts";
import type { EnclaveReport, TdReport } from "./quote.ts";

/** A TCB status and the advisories that explain it. */
export interface TcbResult {
  readonly status: TcbStatus;
  readonly advisoryIds: readonly string[];
}

/** Worse statuses rank higher; merging keeps the worst (as Intel's QVL converges platform, QE and module). */
const SEVERITY: Readonly<Record<TcbStatus, number>> = {
  UpToDate: 0,
  SWHardeningNeeded: 1,
  ConfigurationNeeded: 2,
  ConfigurationAndSWHardeningNeeded: 3,
  OutOfDate: 4,
  OutOfDateConfigurationNeeded: 5,
  Revoked: 6,
};

/** The worse of two results, with the union of their advisories. */
export function mergeTcb(a: TcbResult, b: TcbResult): TcbResult {
  // OutOfDate on one side and a Configuration* status on the other is OutOfDateConfigurationNeeded (QVL's convergence).
  const config = (s: TcbStatus) => s === "ConfigurationNeeded" || s === "ConfigurationAndSWHardeningNeeded";
  let status: TcbStatus = SEVERITY[b.status] > SEVERITY[a.status] ? b.status : a.status;
  if ((a.status === "OutOfDate" && config(b.status)) || (b.status === "OutOfDate" && config(a.status))) status = "OutOfDateConfigurationNeeded";
  const advisoryIds = [...a.advisoryIds];
  for (const id of b.advisoryIds) if (!advisoryIds.includes(id)) advisoryIds.push(id);
  return { status, advisoryIds };
}

/**
 * The platform's TCB level: the first level of TCB Info (Intel orders them
 * newest first) whose SGX components and PCESVN are at or below the PCK
 * certificate's and whose TDX components are at or below TEE_TCB_SVN.
 * As in Intel's QVL (`isTdxTcbHigherOrEqual`), when the TDX module's major
 * version (TEE_TCB_SVN[1]) is not 0 the first two TDX components are left to
 * the TDX module identity.
 */
export function matchPlatformTcb(info: TcbInfo, pck: PckInfo, body: TdReport): TcbResult {
  const tee = body.teeTcbSvn;
  const start = (tee[1] as number) > 0 ? 2 : 0;
  for (const level of info.tcbLevels) {
    const sgxOk = level.tcb.sgxtcbcomponents.every((c, i) => (pck.sgxComponents[i] as number) >= c.svn);
    if (!sgxOk || pck.pceSvn < level.tcb.pcesvn) continue;
    let tdxOk = true;
    for (let i = start; i < 16; i++) if ((tee[i] as number) < (level.tcb.tdxtcbcomponents[i]?.svn ?? 0)) tdxOk = false;
    if (!tdxOk) continue;
    return { status: level.tcbStatus, advisoryIds: level.advisoryIDs ?? [] };
  }
  throw new EvidenceVerificationError("tcb_level_not_found", "no TCB level of the TCB Info matches this platform (TCB not supported)");
}

function maskedEqual(actual: Uint8Array, expected: Uint8Array, mask: Uint8Array): boolean {
  if (actual.length !== expected.length || mask.length !== expected.length) return false;
  for (let i = 0; i < actual.length; i++) if ((((actual[i] as number) ^ (expected[i] as number)) & (mask[i] as number)) !== 0) return false;
  return true;
}

/**
 * The TDX module's identity and TCB status: MRSIGNERSEAM and SEAMATTRIBUTES
 * (under the mask) must match the TCB Info's `tdxModule`, or, for module
 * major version N > 0, its `tdxModuleIdentities` entry "TDX_NN", whose TCB
 * levels then give the module's status from TEE_TCB_SVN[0].
 */
export function matchTdxModule(info: TcbInfo, body: TdReport): TcbResult | undefined {
  const version = body.teeTcbSvn[1] as number;
  const isvSvn = body.teeTcbSvn[0] as number;
  let expected: { mrsigner: string; attributes: string; attributesMask: string } = info.tdxModule;
  let levels: NonNullable<TcbInfo["tdxModuleIdentities"]>[number]["tcbLevels"] | undefined;
  if (version > 0 && info.tdxModuleIdentities && info.tdxModuleIdentities.length > 0) {
    const id = `TDX_${version.toString(16).padStart(2, "0").toUpperCase()}`;
    const identity = info.tdxModuleIdentities.find((m) => m.id.toUpperCase() === id);
    if (!identity) throw new EvidenceVerificationError("tcb_level_not_found", `TCB Info has no TDX module identity ${id}`);
    expected = identity;
    levels = identity.tcbLevels;
  }
  if (!bytesEqual(body.mrSignerSeam, fromHex(expected.mrsigner))) {
    throw new EvidenceVerificationError("collateral_mismatch", "MRSIGNERSEAM is not the TDX module signer the TCB Info names");
  }
  if (!maskedEqual(body.seamAttributes, fromHex(expected.attributes), fromHex(expected.attributesMask))) {
    throw new EvidenceVerificationError("collateral_mismatch", "SEAMATTRIBUTES do not match the TCB Info's TDX module");
  }
  if (!levels) return undefined;
  const level = levels.find((l) => isvSvn >= l.tcb.isvsvn);
  if (!level) throw new EvidenceVerificationError("tcb_level_not_found", `TDX module SVN ${isvSvn} is below every TCB level`);
  return { status: level.tcbStatus, advisoryIds: level.advisoryIDs ?? [] };
}

/**
 * The Quoting Enclave against its QE Identity: MRSIGNER, ISVPRODID,
 * MISCSELECT and ATTRIBUTES (under their masks); its status from ISVSVN.
 */
export function matchQeIdentity(identity: QeIdentity, qe: EnclaveReport): TcbResult {
  if (!bytesEqual(qe.mrSigner, fromHex(identity.mrsigner))) throw new EvidenceVerificationError("qe_identity_mismatch", "QE MRSIGNER is not Intel's");
  if (qe.isvProdId !== identity.isvprodid) throw new EvidenceVerificationError("qe_identity_mismatch", `QE ISVPRODID ${qe.isvProdId}`);
  if (!maskedEqual(qe.miscSelect, fromHex(identity.miscselect), fromHex(identity.miscselectMask))) {
    throw new EvidenceVerificationError("qe_identity_mismatch", "QE MISCSELECT does not match");
  }
  if (!maskedEqual(qe.attributes, fromHex(identity.attributes), fromHex(identity.attributesMask))) {
    throw new EvidenceVerificationError("qe_identity_mismatch", "QE ATTRIBUTES do not match");
  }
  const level = identity.tcbLevels.find((l) => qe.isvSvn >= l.tcb.isvsvn);
  if (!level) throw new EvidenceVerificationError("tcb_level_not_found", `QE ISVSVN ${qe.isvSvn} is below every QE TCB level`);
  return { status: level.tcbStatus, advisoryIds: level.advisoryIDs ?? [] };
}
