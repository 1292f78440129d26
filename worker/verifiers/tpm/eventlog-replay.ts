import { EvidenceVerificationError, MalformedEvidenceError } from "../errors.ts";
import { ByteReader, bytesEqual, concatBytes, toHex } from "../reader.ts";
import { TPM_ALG, TPM_HASH, algName } from "./constants.ts";
import { EV, EVENT_TYPES, eventTypeName } from "./eventlog-types.ts";
import type { EventLog, TcgEvent } from "./eventlog.ts";

/**
 * Replay of a parsed TCG event log against PCR values a quote attested (verify), and the
 * facts read from it (for appraisal). The rules, in the order they run:
 *
 * 1. every event's type is in the table (eventlog-types.ts) and not forbidden; EV_NO_ACTION
 *    events carry only zero digests (a non-zero one would be a measurement replay skips);
 * 2. every event whose digest is defined as the hash of its data has data that hashes to each
 *    of its digests (otherwise the data, and every fact read from it, could be forged while the
 *    PCRs still match);
 * 3. each requested bank is replayed from the PCRs' reset values (zero; 0xFF… for PCRs 17–22;
 *    PCR 0 ending in the StartupLocality of an H-CRTM) and every requested PCR must equal its
 *    replay;
 * 4. facts are read only from events in PCRs that were compared (a log's events for PCRs the
 *    quote does not cover prove nothing: CVE-2022-0317).
 */

/** PCR values a quote attested, for one bank. */
export interface ReplayBank {
  /** TPM_ALG_ID of the bank. */
  readonly alg: number;
  readonly pcrs: ReadonlyMap<number, Uint8Array>;
}

/** What the log says, from events in verified PCRs only. Digests are lower-case hex. */
export interface EventLogFacts {
  /** The SecureBoot variable measured in PCR 7 (null when PCR 7 was not compared or the log has none). */
  readonly secureBoot: boolean | null;
  /** SHA-256 of the PK, KEK, db and dbx variables' data as measured in PCR 7 (null when absent or not compared). */
  readonly pk: string | null;
  readonly kek: string | null;
  readonly db: string | null;
  readonly dbx: string | null;
  /** The digests (in the bank PCR 4 was compared in) of every EFI application loaded from a boot option, in order. */
  readonly bootApplications: readonly string[];
  /** The first of them: the boot manager (shim, bootmgfw.efi, systemd-boot). */
  readonly bootManager: string | null;
  /** The last of them when there are several: the image the boot chain ended with (a kernel's EFI stub, winload.efi). */
  readonly kernel: string | null;
  /** PCRs 0–7 (compared) that have an EV_SEPARATOR: the end of pre-OS measurements. */
  readonly separators: readonly number[];
  /** PCRs whose separator signals a firmware error (value other than 0). */
  readonly separatorErrors: readonly number[];
}

/** The facts as claims and reports name them (snake case, arrays copied): one form for the session's claims and the CLI. */
export function eventLogFactsJson(facts: EventLogFacts) {
  return {
    secure_boot: facts.secureBoot,
    pk: facts.pk,
    kek: facts.kek,
    db: facts.db,
    dbx: facts.dbx,
    boot_manager: facts.bootManager,
    kernel: facts.kernel,
    boot_applications: [...facts.bootApplications],
    separators: [...facts.separators],
  };
}

export interface ReplayedEventLog {
  readonly format: EventLog["format"];
  /** The banks the log carries, by label. */
  readonly logBanks: readonly string[];
  readonly events: number;
  /** Per compared bank, the PCRs compared (all equal to their replay). */
  readonly compared: readonly { readonly bank: string; readonly pcrs: readonly number[] }[];
  /** PCRs the log extends that no compared bank covers: their events were neither trusted nor read. */
  readonly unverifiedPcrs: readonly number[];
  readonly facts: EventLogFacts;
}

const STARTUP_LOCALITY = new TextEncoder().encode("StartupLocality\0");
/** EFI_GLOBAL_VARIABLE and EFI_IMAGE_SECURITY_DATABASE_GUID (UEFI 2.10 §3.3, §32.6.1). */
const EFI_GLOBAL_VARIABLE = "8be4df61-93ca-11d2-aa0d-00e098032b8c";
const EFI_IMAGE_SECURITY_DATABASE = "d719b2cb-3d3a-4596-a3bc-dad00e67656f";
/** PCR 7 variables whose value is a fact: owner GUID and name. */
const SECURE_BOOT_VARIABLES: readonly { key: "secureBoot" | "pk" | "kek" | "db" | "dbx"; guid: string; name: string }[] = [
  { key: "secureBoot", guid: EFI_GLOBAL_VARIABLE, name: "SecureBoot" },
  { key: "pk", guid: EFI_GLOBAL_VARIABLE, name: "PK" },
  { key: "kek", guid: EFI_GLOBAL_VARIABLE, name: "KEK" },
  { key: "db", guid: EFI_IMAGE_SECURITY_DATABASE, name: "db" },
  { key: "dbx", guid: EFI_IMAGE_SECURITY_DATABASE, name: "dbx" },
];

function notAllowed(event: TcgEvent, why: string): never {
  throw new EvidenceVerificationError("event_log_event_not_allowed", `event log: event ${event.index} (${eventTypeName(event.type)}, PCR ${event.pcr}) ${why}`);
}

async function digest(alg: number, data: Uint8Array): Promise<Uint8Array> {
  const hash = TPM_HASH[alg];
  if (!hash) throw new MalformedEvidenceError("unsupported_evidence", `event log: bank ${algName(alg)}`);
  return new Uint8Array(await crypto.subtle.digest(hash.name, data as Uint8Array<ArrayBuffer>));
}

/** The reset value of a PCR (TPM 2.0 Part 1 §17.6.3; PFP §3.3.4.3: PCRs 17–22 reset to all ones). */
function resetValue(pcr: number, size: number, locality: number): Uint8Array {
  const value = new Uint8Array(size).fill(pcr >= 17 && pcr <= 22 ? 0xff : 0);
  if (pcr === 0) value[size - 1] = locality;
  return value;
}

/** EFI_GUID as text: the first three fields are little-endian (UEFI 2.10 Appendix A). */
function guidText(b: Uint8Array): string {
  const hex = (from: number, to: number, reverse: boolean) => {
    const part = b.subarray(from, to);
    return toHex(reverse ? Uint8Array.from(part).reverse() : part);
  };
  return `${hex(0, 4, true)}-${hex(4, 6, true)}-${hex(6, 8, true)}-${hex(8, 10, false)}-${hex(10, 16, false)}`;
}

/** UEFI_VARIABLE_DATA (PFP §10.4.4 Table 14): GUID, name length (chars), data length, UTF-16 name, data; nothing after. */
function parseVariableData(event: TcgEvent): { guid: string; name: string; data: Uint8Array } {
  const r = new ByteReader(event.data, `event log event ${event.index} UEFI_VARIABLE_DATA`);
  const guid = guidText(r.bytes(16, "VariableName"));
  const nameLength = r.u64le("UnicodeNameLength");
  const dataLength = r.u64le("VariableDataLength");
  if (nameLength > 1024n || dataLength > BigInt(event.data.length)) {
    throw new MalformedEvidenceError("malformed_evidence", `event log: event ${event.index} declares a variable larger than its data`);
  }
  const nameBytes = r.bytes(Number(nameLength) * 2, "UnicodeName");
  const data = r.bytes(Number(dataLength), "VariableData");
  r.end();
  let name = "";
  for (let i = 0; i < nameBytes.length; i += 2) name += String.fromCharCode((nameBytes[i] as number) | ((nameBytes[i + 1] as number) << 8));
  return { guid, name, data };
}

/**
 * Checks `log` against the PCR values of `banks` and reads its facts (see the module comment).
 * Throws `event_log_event_not_allowed`, `event_log_digest_mismatch` or
 * `event_log_replay_mismatch` (and the parser's malformed codes for malformed event data).
 */
export async function replayEventLog(log: EventLog, banks: readonly ReplayBank[]): Promise<ReplayedEventLog> {
  if (banks.length === 0) throw new MalformedEvidenceError("malformed_evidence", "event log: no PCR values to replay against");
  for (const bank of banks) {
    if (!log.banks.some((b) => b.alg === bank.alg)) {
      throw new EvidenceVerificationError("event_log_replay_mismatch", `event log: the log has no ${algName(bank.alg)} bank to replay`);
    }
  }

  // 1 and 2: the types, EV_NO_ACTION, and data against digests.
  let locality = 0;
  let localitySet = false;
  let pcr0Extended = false;
  for (const event of log.events) {
    const type = EVENT_TYPES.get(event.type);
    if (!type) notAllowed(event, "is of a type the TCG PC Client profile does not define: it cannot be replayed or skipped safely");
    if (type.rule === "forbidden") notAllowed(event, `is of a reserved type (${type.reason})`);
    if (type.rule === "no-action") {
      for (const value of event.digests.values()) if (value.some((b) => b !== 0)) notAllowed(event, "is not extended but carries a digest: a measurement replay would skip");
      if (event.data.length >= STARTUP_LOCALITY.length && bytesEqual(event.data.subarray(0, STARTUP_LOCALITY.length), STARTUP_LOCALITY)) {
        // PFP §10.4.5.3: one StartupLocality event, in PCR 0, before anything is extended into PCR 0.
        if (event.data.length !== STARTUP_LOCALITY.length + 1 || event.pcr !== 0 || localitySet || pcr0Extended) notAllowed(event, "is a misplaced StartupLocality event");
        locality = event.data[STARTUP_LOCALITY.length] as number;
        if (locality !== 0 && locality !== 3 && locality !== 4) notAllowed(event, `sets startup locality ${locality}`);
        localitySet = true;
      }
      continue;
    }
    if (event.pcr === 0) pcr0Extended = true;
    if (event.type === EV.SEPARATOR && event.data.length !== 4) {
      throw new MalformedEvidenceError("malformed_evidence", `event log: event ${event.index}: a separator's data is 4 bytes`);
    }
    if (type.rule === "data") {
      for (const [alg, value] of event.digests) {
        if (!bytesEqual(await digest(alg, event.data), value)) {
          throw new EvidenceVerificationError(
            "event_log_digest_mismatch",
            `event log: event ${event.index} (${type.name}, PCR ${event.pcr}): its data does not hash to its ${algName(alg)} digest`,
          );
        }
      }
    }
  }

  // 3: replay each requested bank and compare.
  const compared: { bank: string; pcrs: number[] }[] = [];
  const verified = new Map<number, number>();
  for (const bank of banks) {
    const size = (TPM_HASH[bank.alg] as { size: number }).size;
    const values = new Map<number, Uint8Array>();
    for (const event of log.events) {
      if (EVENT_TYPES.get(event.type)?.rule === "no-action") continue;
      const extended = event.digests.get(bank.alg) as Uint8Array;
      const current = values.get(event.pcr) ?? resetValue(event.pcr, size, locality);
      values.set(event.pcr, await digest(bank.alg, concatBytes(current, extended)));
    }
    const pcrs = [...bank.pcrs.keys()].sort((a, b) => a - b);
    for (const pcr of pcrs) {
      const expected = bank.pcrs.get(pcr) as Uint8Array;
      if (expected.length !== size) throw new MalformedEvidenceError("malformed_evidence", `event log: PCR ${pcr} of ${algName(bank.alg)} is not ${size} bytes`);
      const replayed = values.get(pcr) ?? resetValue(pcr, size, locality);
      if (!bytesEqual(replayed, expected)) {
        throw new EvidenceVerificationError("event_log_replay_mismatch", `event log: replaying ${algName(bank.alg)} PCR ${pcr} gives ${toHex(replayed)}, the quote says ${toHex(expected)}`);
      }
      if (!verified.has(pcr)) verified.set(pcr, bank.alg);
    }
    compared.push({ bank: (TPM_HASH[bank.alg] as { label: string }).label, pcrs });
  }

  const extendedPcrs = new Set(log.events.filter((e) => EVENT_TYPES.get(e.type)?.rule !== "no-action").map((e) => e.pcr));
  return {
    format: log.format,
    logBanks: log.banks.map((b) => TPM_HASH[b.alg]?.label ?? algName(b.alg)),
    events: log.events.length,
    compared,
    unverifiedPcrs: [...extendedPcrs].filter((pcr) => !verified.has(pcr)).sort((a, b) => a - b),
    facts: await factsOf(log, verified),
  };
}

/** Facts from events in verified PCRs only; `verified` maps each to the bank it was compared in. */
async function factsOf(log: EventLog, verified: ReadonlyMap<number, number>): Promise<EventLogFacts> {
  const variables: { secureBoot: boolean | null; pk: string | null; kek: string | null; db: string | null; dbx: string | null } = {
    secureBoot: null,
    pk: null,
    kek: null,
    db: null,
    dbx: null,
  };
  const seen = new Set<string>();
  const bootApplications: string[] = [];
  const separators: number[] = [];
  const separatorErrors: number[] = [];
  let pcr7Separated = false;
  for (const event of log.events) {
    if (!verified.has(event.pcr)) continue;
    if (event.type === EV.SEPARATOR) {
      if (event.pcr === 7) pcr7Separated = true;
      // PFP §3.3.2.2: PCRs 0–7 end with a separator of 0 (1 or 0xFFFFFFFF after an error); later PCRs use their own (Windows: "WBCL").
      if (event.pcr <= 7 && !separators.includes(event.pcr)) separators.push(event.pcr);
      if (event.pcr <= 7 && event.data.some((b) => b !== 0) && !separatorErrors.includes(event.pcr)) separatorErrors.push(event.pcr);
    }
    // PFP §3.3.4.8: the Secure Boot configuration is measured into PCR 7 before its separator; later ones are authorities.
    if (event.pcr === 7 && event.type === EV.EFI_VARIABLE_DRIVER_CONFIG && !pcr7Separated) {
      const variable = parseVariableData(event);
      const known = SECURE_BOOT_VARIABLES.find((v) => v.guid === variable.guid && v.name === variable.name);
      if (!known) continue;
      // Two values of one variable leave the fact ambiguous: whichever a reader took, the other could be the real one.
      if (seen.has(known.key)) notAllowed(event, `measures ${known.name} a second time`);
      seen.add(known.key);
      if (known.key === "secureBoot") {
        if (variable.data.length > 1) throw new MalformedEvidenceError("malformed_evidence", `event log: event ${event.index}: SecureBoot is one byte`);
        // An empty SecureBoot variable (some firmware measures it so when Secure Boot is off) is not enabled.
        variables.secureBoot = variable.data[0] === 1;
      } else {
        variables[known.key] = toHex(await digest(TPM_ALG.SHA256, variable.data));
      }
    }
    if (event.pcr === 4 && event.type === EV.EFI_BOOT_SERVICES_APPLICATION) {
      bootApplications.push(toHex(event.digests.get(verified.get(4) as number) as Uint8Array));
    }
  }
  return {
    ...variables,
    bootApplications,
    bootManager: bootApplications[0] ?? null,
    kernel: bootApplications.length > 1 ? (bootApplications[bootApplications.length - 1] as string) : null,
    separators: separators.sort((a, b) => a - b),
    separatorErrors: separatorErrors.sort((a, b) => a - b),
  };
}
