import { describe, expect, it } from "vitest";
import { BundleManifestSchema } from "../../worker/policy/bundle.ts";
import { snpReference, tdxReference } from "../../worker/policy/cvm-reference.ts";

const base = { name: "cvm" };
const hex48 = "ab".repeat(48);

describe("manifest attestation.sev_snp / attestation.tdx", () => {
  it("parses with defaults and maps onto the verifiers' reference values", () => {
    const m = BundleManifestSchema.parse({
      ...base,
      attestation: {
        sev_snp: { measurements: [hex48], minimum_tcb: { Milan: { bootloader: 3, tee: 0, snp: 8, microcode: 115 } } },
        tdx: { mrtd: "any", rtmr: [[hex48]], accepted_tcb_statuses: [{ status: "SWHardeningNeeded", advisory_ids: ["INTEL-SA-00615"] }] },
      },
    });
    const binding = new Uint8Array(64);
    const snp = snpReference(m.attestation!.sev_snp!, binding);
    expect(snp).toMatchObject({ measurements: [hex48], hostData: "any", allowedVmpls: [0], signingKeys: ["vcek"], allowDebug: false, minimumTcb: { Milan: { snp: 8 } } });
    expect(snp.minimumTcb.Genoa).toBeUndefined();
    expect(snp.allowMigrationAgent).toBe(false);
    const turin = BundleManifestSchema.parse({ ...base, attestation: { sev_snp: { measurements: "any", minimum_tcb: { Turin: { fmc: 1, bootloader: 0, tee: 0, snp: 0, microcode: 0 } } } } });
    expect(snpReference(turin.attestation!.sev_snp!, binding).minimumTcb.Turin).toEqual({ fmc: 1, bootloader: 0, tee: 0, snp: 0, microcode: 0 });
    const tdx = tdxReference(m.attestation!.tdx!, binding);
    expect(tdx).toMatchObject({ mrTd: "any", allowDebug: false, requireSeptVeDisable: true, acceptedTcbStatuses: [{ status: "SWHardeningNeeded", advisoryIds: ["INTEL-SA-00615"] }] });
    expect(tdx.rtmr?.[0]).toEqual([hex48]);
    expect(tdx.rtmr?.[1]).toBeUndefined();
  });

  it.each([
    ["a measurement of the wrong size", { sev_snp: { measurements: ["ab"], minimum_tcb: {} } }],
    ["an unknown product", { sev_snp: { measurements: "any", minimum_tcb: { Rome: { bootloader: 0, tee: 0, snp: 0, microcode: 0 } } } }],
    ["a debug switch (debug is always refused)", { sev_snp: { measurements: "any", minimum_tcb: {}, allow_debug: true } }],
    ["VMPL 4", { sev_snp: { measurements: "any", minimum_tcb: {}, allowed_vmpls: [4] } }],
    ["a Turin minimum TCB without the FMC SPL", { sev_snp: { measurements: "any", minimum_tcb: { Turin: { bootloader: 0, tee: 0, snp: 0, microcode: 0 } } } }],
    ["a migration-agent switch that is not a boolean", { sev_snp: { measurements: "any", minimum_tcb: {}, allow_migration_agent: "yes" } }],
    ["Revoked as an accepted TCB status", { tdx: { mrtd: "any", accepted_tcb_statuses: [{ status: "Revoked", advisory_ids: [] }] } }],
    ["UpToDate as an accepted TCB status", { tdx: { mrtd: "any", accepted_tcb_statuses: [{ status: "UpToDate" }] } }],
    ["a malformed advisory id", { tdx: { mrtd: "any", accepted_tcb_statuses: [{ status: "OutOfDate", advisory_ids: ["SA-1"] }] } }],
    ["five RTMRs", { tdx: { mrtd: "any", rtmr: ["any", "any", "any", "any", "any"] } }],
    ["no MRTD allowlist", { tdx: {} }],
  ])("refuses %s", (_name, attestation) => {
    expect(BundleManifestSchema.safeParse({ ...base, attestation }).success).toBe(false);
  });
});
