import { normaliseAllowlist, requireListed, type Allowlist } from "../appraisal.ts";
import { AppraisalError, EvidenceConfigurationError } from "../errors.ts";
import { bytesEqual, toHex } from "../reader.ts";
import { tcbAtLeast, type SnpProduct, type SnpTcb } from "./product.ts";
import type { SigningKeyKind } from "./report.ts";
import type { VerifiedSnpReport } from "./verify.ts";

/** Reference values for SEV-SNP from the policy bundle. */
export interface SnpReferenceValues {
  /** Allowed MEASUREMENT values (48-byte hex). */
  readonly measurements: Allowlist;
  /** Allowed HOST_DATA values (32-byte hex); default "any". */
  readonly hostData?: Allowlist;
  /** Allowed ID_KEY_DIGEST values (48-byte hex); default "any". */
  readonly idKeyDigests?: Allowlist;
  /** Allowed AUTHOR_KEY_DIGEST values (48-byte hex); default "any". */
  readonly authorKeyDigests?: Allowlist;
  /** Minimum REPORTED_TCB per product, component by component; a product without an entry is refused, and Turin's must name `fmc`. */
  readonly minimumTcb: Partial<Record<SnpProduct, SnpTcb>>;
  /** VMPLs the report may come from; default [0] (the most privileged level, where an SVSM-less guest kernel runs). */
  readonly allowedVmpls?: readonly number[];
  /** Debug guests (POLICY.DEBUG) are refused unless this is true: a debug guest's memory is readable by the host. */
  readonly allowDebug?: boolean;
  /**
   * Guests whose policy allows a migration agent (POLICY.MIGRATE_MA, bit 18) are refused unless
   * this is true: the agent can export the guest's memory, and the bit is not part of the
   * measurement, so a host can set it when launching an approved image.
   */
  readonly allowMigrationAgent?: boolean;
  /** Endorsement key types accepted; default ["vcek"]. VLEK evidence is refused unless "vlek" is listed. */
  readonly signingKeys?: readonly SigningKeyKind[];
  /**
   * The REPORT_DATA the report must carry (see `expectedReportData`), or
   * "unchecked" where no session is being bound (the CLI's offline check).
   */
  readonly reportData: Uint8Array | "unchecked";
}

/** What a verified and appraised SEV-SNP report asserts; hex fields are lower case. */
export interface SnpClaims {
  readonly type: "sev-snp";
  readonly product: SnpProduct;
  readonly signingKey: SigningKeyKind;
  readonly reportVersion: number;
  readonly vmpl: number;
  readonly debug: boolean;
  readonly policy: string;
  readonly guestSvn: number;
  readonly measurement: string;
  readonly hostData: string;
  readonly idKeyDigest: string;
  readonly authorKeyDigest: string;
  readonly reportData: string;
  readonly familyId: string;
  readonly imageId: string;
  readonly reportedTcb: SnpTcb;
  /** VCEK only. */
  readonly chipId?: string;
  /** VLEK only: the cloud provider the VLEK was issued to. */
  readonly cspId?: string;
}

/** The claims of a verified report, without appraisal (for display and logs). */
export function snpClaims(verified: VerifiedSnpReport): SnpClaims {
  const r = verified.report;
  return {
    type: "sev-snp",
    product: verified.product,
    signingKey: verified.signingKey,
    reportVersion: r.version,
    vmpl: r.vmpl,
    debug: r.policy.debug,
    policy: r.policy.raw.toString(16).padStart(16, "0"),
    guestSvn: r.guestSvn,
    measurement: toHex(r.measurement),
    hostData: toHex(r.hostData),
    idKeyDigest: toHex(r.idKeyDigest),
    authorKeyDigest: toHex(r.authorKeyDigest),
    reportData: toHex(r.reportData),
    familyId: toHex(r.familyId),
    imageId: toHex(r.imageId),
    reportedTcb: verified.reportedTcb,
    ...(verified.signingKey === "vcek" ? { chipId: toHex(r.chipId) } : {}),
    ...(verified.endorsement.cspId !== undefined ? { cspId: verified.endorsement.cspId } : {}),
  };
}

/**
 * Appraises a verified report against reference values: key type, product,
 * debug and migration-agent policy, VMPL, REPORT_DATA binding, MEASUREMENT, HOST_DATA, ID and
 * author key digests, and REPORTED_TCB at or above the product's minimum.
 * Never re-parses; throws {@link AppraisalError} with the first failing check.
 */
export function appraiseSnp(verified: VerifiedSnpReport, reference: SnpReferenceValues): SnpClaims {
  const measurements = normaliseAllowlist(reference.measurements, 48, "measurements");
  const hostData = normaliseAllowlist(reference.hostData, 32, "hostData");
  const idKeys = normaliseAllowlist(reference.idKeyDigests, 48, "idKeyDigests");
  const authorKeys = normaliseAllowlist(reference.authorKeyDigests, 48, "authorKeyDigests");
  if (reference.reportData !== "unchecked" && reference.reportData.length !== 64) {
    throw new EvidenceConfigurationError("invalid_reference_values", "reportData must be 64 bytes");
  }
  const r = verified.report;

  const keys = reference.signingKeys ?? ["vcek"];
  if (!keys.includes(verified.signingKey)) {
    throw new AppraisalError("signing_key_not_allowed", `${verified.signingKey.toUpperCase()}-signed reports are not accepted`);
  }
  const minimum = reference.minimumTcb[verified.product];
  if (!minimum) throw new AppraisalError("product_not_allowed", `no minimum TCB configured for ${verified.product}`);
  // Turin reports an FMC SPL; a minimum without one would accept any (tcbAtLeast reads a missing component as 0).
  if (verified.product === "Turin" && minimum.fmc === undefined) throw new EvidenceConfigurationError("invalid_reference_values", "the Turin minimum TCB names no FMC SPL");
  if (r.policy.debug && reference.allowDebug !== true) throw new AppraisalError("debug_not_allowed", "guest policy allows debugging");
  if (r.policy.migrateMa && reference.allowMigrationAgent !== true) throw new AppraisalError("migration_agent_not_allowed", "guest policy allows a migration agent (MIGRATE_MA)");
  const vmpls = reference.allowedVmpls ?? [0];
  if (!vmpls.includes(r.vmpl)) throw new AppraisalError("vmpl_not_allowed", `VMPL ${r.vmpl} is not allowed`);
  if (reference.reportData !== "unchecked" && !bytesEqual(r.reportData, reference.reportData)) {
    throw new AppraisalError("report_data_mismatch", "REPORT_DATA does not bind this nonce and device key");
  }
  requireListed(measurements, r.measurement, "measurement_not_allowed", "MEASUREMENT");
  requireListed(hostData, r.hostData, "host_data_not_allowed", "HOST_DATA");
  requireListed(idKeys, r.idKeyDigest, "id_key_not_allowed", "ID_KEY_DIGEST");
  requireListed(authorKeys, r.authorKeyDigest, "author_key_not_allowed", "AUTHOR_KEY_DIGEST");
  if (!tcbAtLeast(verified.reportedTcb, minimum)) {
    throw new AppraisalError("tcb_below_minimum", `REPORTED_TCB ${JSON.stringify(verified.reportedTcb)} is below ${JSON.stringify(minimum)}`);
  }
  return snpClaims(verified);
}
