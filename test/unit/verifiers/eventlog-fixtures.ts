// The TCG event logs of test/fixtures/attestation/tpm (MANIFEST.md there, section E, has their
// provenance), each with the PCR values its machine's TPM held, as the source recorded them.
import { fromBase64 } from "./pki.ts";
import { q1 } from "./tpm-fixtures.ts";
import e1Log from "../../fixtures/attestation/tpm/e1-gce-rhel8-shim-grub-eventlog/rhel8-uefi.bin.b64?raw";
import e1Pcrs from "../../fixtures/attestation/tpm/e1-gce-rhel8-shim-grub-eventlog/pcrs.json";
import e1Apps from "../../fixtures/attestation/tpm/e1-gce-rhel8-shim-grub-eventlog/efi-app-digests.json";
import e2Log from "../../fixtures/attestation/tpm/e2-gce-ubuntu-2104-crypto-agile-eventlog/ubuntu-2104-no-secure-boot.bin.b64?raw";
import e2Pcrs from "../../fixtures/attestation/tpm/e2-gce-ubuntu-2104-crypto-agile-eventlog/pcrs.json";
import e2Apps from "../../fixtures/attestation/tpm/e2-gce-ubuntu-2104-crypto-agile-eventlog/efi-app-digests.json";

/** PCR values by bank label and decimal index, hex. */
export type PcrBanks = Partial<Record<"sha1" | "sha256" | "sha384", Record<string, string>>>;

export interface EventLogCase {
  name: string;
  log: Uint8Array;
  format: "sha1" | "crypto-agile";
  pcrs: PcrBanks;
  /** Digests of the EFI applications the source's own parser reports, per bank. */
  efiApps: Partial<Record<"sha1" | "sha256" | "sha384", string[]>>;
  secureBoot: boolean;
  /** PCRs 0–7 with an EV_SEPARATOR (this Windows log holds only the events from PCR 7's configuration on). */
  separators: number[];
}

function q1Pcrs(): PcrBanks {
  const sha1: Record<string, string> = {};
  for (const pcr of q1.Log.PCRs) sha1[String(pcr.Index)] = Array.from(fromBase64(pcr.Digest), (b) => b.toString(16).padStart(2, "0")).join("");
  return { sha1 };
}

export const eventLogCases: EventLogCase[] = [
  { name: "q1 Windows, GCE Shielded VM (SHA-1 log)", log: fromBase64(q1.Log.Raw), format: "sha1", pcrs: q1Pcrs(), efiApps: {}, secureBoot: true, separators: [7] },
  { name: "e1 RHEL 8, GCE, shim + GRUB, Secure Boot (crypto agile)", log: fromBase64(e1Log), format: "crypto-agile", pcrs: e1Pcrs, efiApps: e1Apps, secureBoot: true, separators: [0, 1, 2, 3, 4, 5, 6, 7] },
  { name: "e2 Ubuntu 21.04, GCE, no Secure Boot (crypto agile, SHA-256)", log: fromBase64(e2Log), format: "crypto-agile", pcrs: e2Pcrs, efiApps: e2Apps, secureBoot: false, separators: [0, 1, 2, 3, 4, 5, 6, 7] },
];
