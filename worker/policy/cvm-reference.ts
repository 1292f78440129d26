import { z } from "zod";
import type { SnpReferenceValues } from "../verifiers/sev-snp/appraise.ts";
import { azurePcrReference, type AzureVtpmReference } from "../verifiers/sev-snp/azure-vtpm.ts";
import type { SnpProduct, SnpTcb } from "../verifiers/sev-snp/product.ts";
import type { TdxReferenceValues } from "../verifiers/tdx/appraise.ts";

/**
 * Bundle manifest reference values for SEV-SNP and TDX (issue 5):
 * `attestation.sev_snp` and `attestation.tdx`. Debug guests are always refused
 * (not configurable from a bundle). An allowlist is a list of hex values or the
 * explicit string "any"; an empty list allows nothing.
 */
const allowlist = (bytes: number) =>
  z.union([z.literal("any"), z.array(z.string().regex(new RegExp(`^[0-9a-fA-F]{${2 * bytes}}$`), `${bytes} bytes of hex`)).max(256)]);

const spl = z.int().min(0).max(255);
const SnpTcbSchema = z.strictObject({ fmc: spl.optional(), bootloader: spl, tee: spl, snp: spl, microcode: spl });
/** Turin's TCB_VERSION has an FMC SPL: its minimum must name one, else any FMC firmware would pass. */
const TurinTcbSchema = z.strictObject({ fmc: spl, bootloader: spl, tee: spl, snp: spl, microcode: spl });

export const SnpManifestSchema = z.strictObject({
  measurements: allowlist(48),
  host_data: allowlist(32).default("any"),
  id_key_digests: allowlist(48).default("any"),
  author_key_digests: allowlist(48).default("any"),
  /** Minimum REPORTED_TCB per product; a product without an entry is refused. */
  minimum_tcb: z.strictObject({ Milan: SnpTcbSchema.optional(), Genoa: SnpTcbSchema.optional(), Turin: TurinTcbSchema.optional() }),
  allowed_vmpls: z.array(z.int().min(0).max(3)).min(1).max(4).default([0]),
  signing_keys: z.array(z.enum(["vcek", "vlek"])).min(1).max(2).default(["vcek"]),
  /**
   * Whether a guest whose policy allows a migration agent (POLICY.MIGRATE_MA) may pass; default
   * false. The agent can export guest memory and the bit is outside the measurement.
   */
  allow_migration_agent: z.boolean().default(false),
  /** Azure confidential VMs: allowed values (SHA-256 hex) per vTPM PCR index; PCRs not listed are reported only. */
  vtpm_pcrs: z.record(z.string().regex(/^(0|[1-9]\d?)$/), z.array(z.string().regex(/^[0-9a-fA-F]{64}$/, "32 bytes of hex")).min(1).max(64)).default({}),
});
export type SnpManifest = z.infer<typeof SnpManifestSchema>;

const AcceptedStatus = z.enum(["SWHardeningNeeded", "ConfigurationNeeded", "ConfigurationAndSWHardeningNeeded", "OutOfDate", "OutOfDateConfigurationNeeded"]);

export const TdxManifestSchema = z.strictObject({
  mrtd: allowlist(48),
  /** RTMR0–3 allowlists by position; a missing position is "any". */
  rtmr: z.array(allowlist(48)).max(4).default([]),
  mrconfigid: allowlist(48).default("any"),
  mrowner: allowlist(48).default("any"),
  mrownerconfig: allowlist(48).default("any"),
  /** Only UpToDate passes unless a status is listed here with every advisory id it may carry. */
  accepted_tcb_statuses: z
    .array(z.strictObject({ status: AcceptedStatus, advisory_ids: z.array(z.string().regex(/^INTEL-SA-\d{5}$/)).max(256).default([]) }))
    .max(8)
    .default([]),
});
export type TdxManifest = z.infer<typeof TdxManifestSchema>;

/** The verifier's reference values from a manifest section and the session's REPORT_DATA binding. */
export function snpReference(m: SnpManifest, reportData: Uint8Array): SnpReferenceValues {
  const minimumTcb: Partial<Record<SnpProduct, SnpTcb>> = {};
  for (const [product, tcb] of Object.entries(m.minimum_tcb) as [SnpProduct, (typeof m.minimum_tcb)["Milan"]][]) {
    if (tcb) minimumTcb[product] = { bootloader: tcb.bootloader, tee: tcb.tee, snp: tcb.snp, microcode: tcb.microcode, ...(tcb.fmc !== undefined ? { fmc: tcb.fmc } : {}) };
  }
  return {
    measurements: m.measurements,
    hostData: m.host_data,
    idKeyDigests: m.id_key_digests,
    authorKeyDigests: m.author_key_digests,
    minimumTcb,
    allowedVmpls: m.allowed_vmpls,
    allowDebug: false,
    allowMigrationAgent: m.allow_migration_agent,
    signingKeys: m.signing_keys,
    reportData,
  };
}

/** Reference values of Azure vTPM evidence: the SEV-SNP section for its report, `vtpm_pcrs` for its quote. */
export function azureVtpmReference(m: SnpManifest): AzureVtpmReference {
  const { reportData: _unused, ...snp } = snpReference(m, new Uint8Array(64));
  return { snp, pcrs: azurePcrReference(m.vtpm_pcrs) };
}

export function tdxReference(m: TdxManifest, reportData: Uint8Array): TdxReferenceValues {
  return {
    mrTd: m.mrtd,
    rtmr: [m.rtmr[0], m.rtmr[1], m.rtmr[2], m.rtmr[3]],
    mrConfigId: m.mrconfigid,
    mrOwner: m.mrowner,
    mrOwnerConfig: m.mrownerconfig,
    allowDebug: false,
    requireSeptVeDisable: true,
    acceptedTcbStatuses: m.accepted_tcb_statuses.map((s) => ({ status: s.status, advisoryIds: s.advisory_ids })),
    reportData,
  };
}
