import { normaliseAllowlist, requireListed, type Allowlist } from "../appraisal.ts";
import { AppraisalError, EvidenceConfigurationError } from "../errors.ts";
import { bytesEqual, isAllZero, toHex } from "../reader.ts";
import type { TcbStatus } from "./collateral.ts";
import type { VerifiedTdxQuote } from "./verify.ts";

/** A non-UpToDate TCB status the bundle accepts, and the advisories it accepts it with. */
export interface AcceptedTcbStatus {
  readonly status: Exclude<TcbStatus, "UpToDate" | "Revoked">;
  /** Every advisory id of the result must be listed here. */
  readonly advisoryIds: readonly string[];
}

/** Reference values for TDX from the policy bundle. */
export interface TdxReferenceValues {
  /** Allowed MRTD values (48-byte hex). */
  readonly mrTd: Allowlist;
  /** Allowed RTMR0–3 values (48-byte hex each); default "any". */
  readonly rtmr?: readonly [Allowlist?, Allowlist?, Allowlist?, Allowlist?];
  readonly mrConfigId?: Allowlist;
  readonly mrOwner?: Allowlist;
  readonly mrOwnerConfig?: Allowlist;
  /** TDs with TDATTRIBUTES.DEBUG are refused unless this is true: a debug TD's state is visible to the host. */
  readonly allowDebug?: boolean;
  /** TDATTRIBUTES.SEPT_VE_DISABLE must be set unless this is false (EPT-violation #VE is an attack surface on the guest). */
  readonly requireSeptVeDisable?: boolean;
  /** A TD 1.5 MRSERVICETD must be all zero (no service TD) unless this is true. */
  readonly allowServiceTd?: boolean;
  /** Only UpToDate passes by default; other statuses pass only when listed here with their advisories. Revoked never passes. */
  readonly acceptedTcbStatuses?: readonly AcceptedTcbStatus[];
  /** The REPORTDATA the TD must carry (see `expectedReportData`), or "unchecked" where no session is bound. */
  readonly reportData: Uint8Array | "unchecked";
}

/** TDATTRIBUTES bits (Intel TDX module ABI, "TD Attributes"). */
const TD_ATTR_DEBUG = 0n;
const TD_ATTR_SEPT_VE_DISABLE = 28n;

/** What a verified and appraised TDX quote asserts; hex fields are lower case. */
export interface TdxClaims {
  readonly type: "tdx";
  readonly quoteVersion: number;
  readonly tdReport: "td10" | "td15";
  readonly tcbStatus: TcbStatus;
  readonly advisoryIds: readonly string[];
  readonly fmspc: string;
  readonly debug: boolean;
  readonly septVeDisable: boolean;
  readonly tdAttributes: string;
  readonly xfam: string;
  readonly teeTcbSvn: string;
  readonly mrSeam: string;
  readonly mrTd: string;
  readonly mrConfigId: string;
  readonly mrOwner: string;
  readonly mrOwnerConfig: string;
  readonly rtmr: readonly [string, string, string, string];
  readonly reportData: string;
  readonly mrServiceTd?: string;
}

function u64le(bytes: Uint8Array): bigint {
  let v = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(bytes[i] as number);
  return v;
}

/** The claims of a verified quote, without appraisal (for display and logs). */
export function tdxClaims(verified: VerifiedTdxQuote): TdxClaims {
  const b = verified.quote.body;
  const attrs = u64le(b.tdAttributes);
  return {
    type: "tdx",
    quoteVersion: verified.quote.version,
    tdReport: b.kind,
    tcbStatus: verified.tcb.status,
    advisoryIds: verified.tcb.advisoryIds,
    fmspc: verified.pck.fmspc.toLowerCase(),
    debug: ((attrs >> TD_ATTR_DEBUG) & 1n) === 1n,
    septVeDisable: ((attrs >> TD_ATTR_SEPT_VE_DISABLE) & 1n) === 1n,
    tdAttributes: toHex(b.tdAttributes),
    xfam: toHex(b.xfam),
    teeTcbSvn: toHex(b.teeTcbSvn),
    mrSeam: toHex(b.mrSeam),
    mrTd: toHex(b.mrTd),
    mrConfigId: toHex(b.mrConfigId),
    mrOwner: toHex(b.mrOwner),
    mrOwnerConfig: toHex(b.mrOwnerConfig),
    rtmr: [toHex(b.rtmrs[0]), toHex(b.rtmrs[1]), toHex(b.rtmrs[2]), toHex(b.rtmrs[3])],
    reportData: toHex(b.reportData),
    ...(b.mrServiceTd ? { mrServiceTd: toHex(b.mrServiceTd) } : {}),
  };
}

/** Whether a TCB result passes: UpToDate, or a listed status whose advisories are all listed. */
export function tcbStatusAccepted(status: TcbStatus, advisoryIds: readonly string[], accepted: readonly AcceptedTcbStatus[] = []): boolean {
  if (status === "UpToDate") return true;
  if (status === "Revoked") return false;
  return accepted.some((a) => a.status === status && advisoryIds.every((id) => a.advisoryIds.includes(id)));
}

/**
 * Appraises a verified quote: TCB status (and advisories), TD attributes
 * (DEBUG clear, SEPT_VE_DISABLE set), no service TD, REPORTDATA binding,
 * MRTD, RTMRs, MRCONFIGID, MROWNER, MROWNERCONFIG. Never re-parses; throws
 * {@link AppraisalError} with the first failing check.
 */
export function appraiseTdx(verified: VerifiedTdxQuote, reference: TdxReferenceValues): TdxClaims {
  const mrTd = normaliseAllowlist(reference.mrTd, 48, "mrTd");
  const rtmr = [0, 1, 2, 3].map((i) => normaliseAllowlist(reference.rtmr?.[i], 48, `rtmr[${i}]`));
  const mrConfigId = normaliseAllowlist(reference.mrConfigId, 48, "mrConfigId");
  const mrOwner = normaliseAllowlist(reference.mrOwner, 48, "mrOwner");
  const mrOwnerConfig = normaliseAllowlist(reference.mrOwnerConfig, 48, "mrOwnerConfig");
  if (reference.reportData !== "unchecked" && reference.reportData.length !== 64) {
    throw new EvidenceConfigurationError("invalid_reference_values", "reportData must be 64 bytes");
  }
  const claims = tdxClaims(verified);
  const b = verified.quote.body;

  if (!tcbStatusAccepted(verified.tcb.status, verified.tcb.advisoryIds, reference.acceptedTcbStatuses)) {
    throw new AppraisalError("tcb_status_not_allowed", `TCB status ${verified.tcb.status} (${verified.tcb.advisoryIds.join(", ") || "no advisories"}) is not accepted`);
  }
  if (claims.debug && reference.allowDebug !== true) throw new AppraisalError("debug_not_allowed", "TD is debuggable (TDATTRIBUTES.DEBUG)");
  if (!claims.septVeDisable && reference.requireSeptVeDisable !== false) {
    throw new AppraisalError("td_attributes_not_allowed", "TDATTRIBUTES.SEPT_VE_DISABLE is not set");
  }
  if (b.mrServiceTd && !isAllZero(b.mrServiceTd) && reference.allowServiceTd !== true) {
    throw new AppraisalError("td_attributes_not_allowed", "the TD is bound to a service TD (MRSERVICETD is not zero)");
  }
  if (reference.reportData !== "unchecked" && !bytesEqual(b.reportData, reference.reportData)) {
    throw new AppraisalError("report_data_mismatch", "REPORTDATA does not bind this nonce and device key");
  }
  requireListed(mrTd, b.mrTd, "mrtd_not_allowed", "MRTD");
  for (let i = 0; i < 4; i++) requireListed(rtmr[i] ?? "any", b.rtmrs[i] as Uint8Array, "rtmr_not_allowed", `RTMR${i}`);
  requireListed(mrConfigId, b.mrConfigId, "mrconfigid_not_allowed", "MRCONFIGID");
  requireListed(mrOwner, b.mrOwner, "mrowner_not_allowed", "MROWNER");
  requireListed(mrOwnerConfig, b.mrOwnerConfig, "mrowner_not_allowed", "MROWNERCONFIG");
  return claims;
}
