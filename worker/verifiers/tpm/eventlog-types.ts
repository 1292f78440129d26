/**
 * The event types of the TCG PC Client Platform Firmware Profile (PFP) event log, one row
 * each, with what replay may assume of it (TCG PFP Specification v1.06, §10.4.1 Table 9 and
 * §10.4.4 Table 10). A type missing from this table is refused: an unknown type in an
 * extended PCR is a measurement no rule below describes, so it can neither be trusted nor
 * skipped (the bypass class of CVE-2022-0317 and safeboot#139 is exactly a log whose unknown
 * or unreplayed events hide what was measured).
 *
 * `rule`:
 * - `data`: the digest is defined as the hash of the event data, so replay checks the data
 *   against every digest of the event; facts are read from such data only.
 * - `opaque`: the digest is a hash of something the log does not carry (an image, a firmware
 *   volume, a string the firmware does not log verbatim); it is replayed, never interpreted.
 * - `no-action`: not extended into any PCR (EV_NO_ACTION); its digests must be all zero, or it
 *   would be a measurement replay ignores.
 * - `forbidden`: a value the specification reserves; never valid in a log.
 */
export type EventRule = "data" | "opaque" | "no-action" | "forbidden";

export interface EventType {
  readonly name: string;
  readonly rule: EventRule;
  /** Why the row is what it is: the clause, or the quirk of real firmware it accounts for. */
  readonly reason: string;
}

export const EV = {
  PREBOOT_CERT: 0x00000000,
  POST_CODE: 0x00000001,
  UNUSED: 0x00000002,
  NO_ACTION: 0x00000003,
  SEPARATOR: 0x00000004,
  ACTION: 0x00000005,
  EVENT_TAG: 0x00000006,
  S_CRTM_CONTENTS: 0x00000007,
  S_CRTM_VERSION: 0x00000008,
  CPU_MICROCODE: 0x00000009,
  PLATFORM_CONFIG_FLAGS: 0x0000000a,
  TABLE_OF_DEVICES: 0x0000000b,
  COMPACT_HASH: 0x0000000c,
  IPL: 0x0000000d,
  IPL_PARTITION_DATA: 0x0000000e,
  NONHOST_CODE: 0x0000000f,
  NONHOST_CONFIG: 0x00000010,
  NONHOST_INFO: 0x00000011,
  OMIT_BOOT_DEVICE_EVENTS: 0x00000012,
  POST_CODE2: 0x00000013,
  EFI_EVENT_BASE: 0x80000000,
  EFI_VARIABLE_DRIVER_CONFIG: 0x80000001,
  EFI_VARIABLE_BOOT: 0x80000002,
  EFI_BOOT_SERVICES_APPLICATION: 0x80000003,
  EFI_BOOT_SERVICES_DRIVER: 0x80000004,
  EFI_RUNTIME_SERVICES_DRIVER: 0x80000005,
  EFI_GPT_EVENT: 0x80000006,
  EFI_ACTION: 0x80000007,
  EFI_PLATFORM_FIRMWARE_BLOB: 0x80000008,
  EFI_HANDOFF_TABLES: 0x80000009,
  EFI_PLATFORM_FIRMWARE_BLOB2: 0x8000000a,
  EFI_HANDOFF_TABLES2: 0x8000000b,
  EFI_VARIABLE_BOOT2: 0x8000000c,
  EFI_GPT_EVENT2: 0x8000000d,
  EFI_HCRTM_EVENT: 0x80000010,
  EFI_VARIABLE_AUTHORITY: 0x800000e0,
  EFI_SPDM_FIRMWARE_BLOB: 0x800000e1,
  EFI_SPDM_FIRMWARE_CONFIG: 0x800000e2,
  EFI_SPDM_DEVICE_POLICY: 0x800000e3,
  EFI_SPDM_DEVICE_AUTHORITY: 0x800000e4,
} as const;

/** The table; tests are driven from it (test/unit/verifiers/tpm-eventlog.test.ts). */
export const EVENT_TYPES: ReadonlyMap<number, EventType> = new Map<number, EventType>([
  [EV.PREBOOT_CERT, { name: "EV_PREBOOT_CERT", rule: "opaque", reason: "PFP Table 9: deprecated, digest of a certificate not logged" }],
  [EV.POST_CODE, { name: "EV_POST_CODE", rule: "opaque", reason: "PFP §10.4.1: digest of the POST code itself; the data is only a description (or blob base and length)" }],
  [EV.UNUSED, { name: "EV_UNUSED", rule: "forbidden", reason: "PFP Table 9: reserved, must not be used" }],
  [EV.NO_ACTION, { name: "EV_NO_ACTION", rule: "no-action", reason: "PFP §10.4.1: informative (Spec ID, StartupLocality, vendor data), not extended; digests must be zero" }],
  [EV.SEPARATOR, { name: "EV_SEPARATOR", rule: "data", reason: "PFP §10.4.1: digest of the 4-byte separator value (0 normal, 1 or 0xFFFFFFFF on error)" }],
  [EV.ACTION, { name: "EV_ACTION", rule: "data", reason: "PFP §10.4.1: digest of the action string the data carries" }],
  [EV.EVENT_TAG, { name: "EV_EVENT_TAG", rule: "opaque", reason: "PFP §10.4.2: tagged events whose digest covers vendor data; Windows boot manager uses them in PCRs 12–14" }],
  [EV.S_CRTM_CONTENTS, { name: "EV_S_CRTM_CONTENTS", rule: "opaque", reason: "PFP Table 9: digest of the S-CRTM, which is not in the log" }],
  [EV.S_CRTM_VERSION, { name: "EV_S_CRTM_VERSION", rule: "opaque", reason: "PFP Table 9: digest of a version value whose encoding differs between firmware" }],
  [EV.CPU_MICROCODE, { name: "EV_CPU_MICROCODE", rule: "opaque", reason: "PFP Table 9: digest of the microcode update, not logged" }],
  [EV.PLATFORM_CONFIG_FLAGS, { name: "EV_PLATFORM_CONFIG_FLAGS", rule: "opaque", reason: "PFP Table 9: vendor configuration" }],
  [EV.TABLE_OF_DEVICES, { name: "EV_TABLE_OF_DEVICES", rule: "opaque", reason: "PFP Table 9: vendor device table" }],
  [EV.COMPACT_HASH, { name: "EV_COMPACT_HASH", rule: "opaque", reason: "PFP Table 9: vendor-defined compact measurement (Windows: PCR 12–14 boot counters)" }],
  [EV.IPL, { name: "EV_IPL", rule: "opaque", reason: "PFP Table 9: boot loader measurements (GRUB commands and files in PCRs 8–9, shim's MOK lists in PCR 14) hashed in loader-specific ways" }],
  [EV.IPL_PARTITION_DATA, { name: "EV_IPL_PARTITION_DATA", rule: "opaque", reason: "PFP Table 9: partition data of the IPL" }],
  [EV.NONHOST_CODE, { name: "EV_NONHOST_CODE", rule: "opaque", reason: "PFP Table 9: code of a non-host processor, not logged" }],
  [EV.NONHOST_CONFIG, { name: "EV_NONHOST_CONFIG", rule: "opaque", reason: "PFP Table 9: configuration of a non-host processor" }],
  [EV.NONHOST_INFO, { name: "EV_NONHOST_INFO", rule: "opaque", reason: "PFP Table 9: information about a non-host processor (GCE: the SEV state)" }],
  [EV.OMIT_BOOT_DEVICE_EVENTS, { name: "EV_OMIT_BOOT_DEVICE_EVENTS", rule: "opaque", reason: "PFP Table 9: marks that boot attempts were not measured" }],
  [EV.POST_CODE2, { name: "EV_POST_CODE2", rule: "opaque", reason: "PFP Table 9: POST code with a UEFI_PLATFORM_FIRMWARE_BLOB2 description" }],
  [EV.EFI_EVENT_BASE, { name: "EV_EFI_EVENT_BASE", rule: "forbidden", reason: "PFP Table 10: the base value of the EFI range, not an event" }],
  [EV.EFI_VARIABLE_DRIVER_CONFIG, { name: "EV_EFI_VARIABLE_DRIVER_CONFIG", rule: "data", reason: "PFP §10.4.4: digest of the UEFI_VARIABLE_DATA (SecureBoot, PK, KEK, db, dbx in PCR 7)" }],
  [EV.EFI_VARIABLE_BOOT, { name: "EV_EFI_VARIABLE_BOOT", rule: "opaque", reason: "EDK2 and most firmware hash only VariableData although the PFP names the whole structure; replayed, not interpreted" }],
  [EV.EFI_BOOT_SERVICES_APPLICATION, { name: "EV_EFI_BOOT_SERVICES_APPLICATION", rule: "opaque", reason: "PFP §10.4.4: Authenticode digest of the PE image (boot manager, shim, GRUB, kernel), which the log does not carry" }],
  [EV.EFI_BOOT_SERVICES_DRIVER, { name: "EV_EFI_BOOT_SERVICES_DRIVER", rule: "opaque", reason: "PFP §10.4.4: Authenticode digest of a driver image" }],
  [EV.EFI_RUNTIME_SERVICES_DRIVER, { name: "EV_EFI_RUNTIME_SERVICES_DRIVER", rule: "opaque", reason: "PFP §10.4.4: Authenticode digest of a driver image" }],
  [EV.EFI_GPT_EVENT, { name: "EV_EFI_GPT_EVENT", rule: "data", reason: "PFP §10.4.4: digest of the UEFI_GPT_DATA the event carries" }],
  [EV.EFI_ACTION, { name: "EV_EFI_ACTION", rule: "data", reason: "PFP §10.4.4: digest of the action string (\"Calling EFI Application from Boot Option\", \"Exit Boot Services Invocation\")" }],
  [EV.EFI_PLATFORM_FIRMWARE_BLOB, { name: "EV_EFI_PLATFORM_FIRMWARE_BLOB", rule: "opaque", reason: "PFP §10.4.4: digest of a firmware volume, not logged" }],
  [EV.EFI_HANDOFF_TABLES, { name: "EV_EFI_HANDOFF_TABLES", rule: "opaque", reason: "PFP §10.4.4: digest of configuration tables, not logged" }],
  [EV.EFI_PLATFORM_FIRMWARE_BLOB2, { name: "EV_EFI_PLATFORM_FIRMWARE_BLOB2", rule: "opaque", reason: "PFP §10.4.4: digest of a firmware volume, not logged" }],
  [EV.EFI_HANDOFF_TABLES2, { name: "EV_EFI_HANDOFF_TABLES2", rule: "opaque", reason: "PFP §10.4.4: digest of configuration tables, not logged" }],
  [EV.EFI_VARIABLE_BOOT2, { name: "EV_EFI_VARIABLE_BOOT2", rule: "data", reason: "PFP §10.4.4: introduced to fix EV_EFI_VARIABLE_BOOT, its digest is of the whole UEFI_VARIABLE_DATA" }],
  [EV.EFI_GPT_EVENT2, { name: "EV_EFI_GPT_EVENT2", rule: "opaque", reason: "PFP §10.4.4: digest of the GPT with platform-specific fields zeroed, not of the event data" }],
  [EV.EFI_HCRTM_EVENT, { name: "EV_EFI_HCRTM_EVENT", rule: "opaque", reason: "PFP §10.4.4: H-CRTM measurement made before the log existed" }],
  [EV.EFI_VARIABLE_AUTHORITY, { name: "EV_EFI_VARIABLE_AUTHORITY", rule: "data", reason: "PFP §10.4.4: digest of the UEFI_VARIABLE_DATA naming the db/MOK entry that authorised an image" }],
  [EV.EFI_SPDM_FIRMWARE_BLOB, { name: "EV_EFI_SPDM_FIRMWARE_BLOB", rule: "opaque", reason: "PFP §10.4.4: SPDM device measurements" }],
  [EV.EFI_SPDM_FIRMWARE_CONFIG, { name: "EV_EFI_SPDM_FIRMWARE_CONFIG", rule: "opaque", reason: "PFP §10.4.4: SPDM device configuration" }],
  [EV.EFI_SPDM_DEVICE_POLICY, { name: "EV_EFI_SPDM_DEVICE_POLICY", rule: "opaque", reason: "PFP §10.4.4: SPDM device policy" }],
  [EV.EFI_SPDM_DEVICE_AUTHORITY, { name: "EV_EFI_SPDM_DEVICE_AUTHORITY", rule: "opaque", reason: "PFP §10.4.4: SPDM device authority" }],
]);

/** A readable name of an event type, for messages. */
export function eventTypeName(type: number): string {
  return EVENT_TYPES.get(type)?.name ?? `0x${type.toString(16).padStart(8, "0")}`;
}
