import { MalformedEvidenceError } from "../errors.ts";
import { ByteReader, bytesEqual } from "../reader.ts";
import { TPM_ALG, TPM_HASH, algName } from "./constants.ts";
import { EV } from "./eventlog-types.ts";

/**
 * The TCG PC Client event log (the measured-boot log a platform's firmware, boot manager and
 * boot loaders write, `/sys/kernel/security/tpm0/binary_bios_measurements`, Windows' WBCL):
 * parsed, not judged. Two formats (TCG PFP Specification v1.06 §10.2):
 *
 * - SHA-1: every event is TCG_PCR_EVENT {pcrIndex u32, eventType u32, digest[20], eventSize
 *   u32, event[eventSize]}, little-endian;
 * - crypto agile: the first event is a TCG_PCR_EVENT of type EV_NO_ACTION whose data is the
 *   "Spec ID Event03" structure listing the banks and digest sizes; every later event is
 *   TCG_PCR_EVENT2 {pcrIndex u32, eventType u32, digests: count u32 then {algId u16,
 *   digest[size]}, eventSize u32, event[eventSize]}.
 *
 * Every read goes through the bounded reader; the log must end exactly after its last event.
 */

/** Larger logs are refused before parsing: real ones are tens of kilobytes. */
export const MAX_EVENT_LOG_BYTES = 1024 * 1024;
/** More events than any boot chain measures (a Windows log has a few hundred). */
export const MAX_EVENTS = 8192;

export interface TcgEvent {
  /** Position in the log, from 0 (the header event). */
  readonly index: number;
  readonly pcr: number;
  readonly type: number;
  /** Digest per TPM_ALG_ID (SHA-1 logs: SHA-1 only). */
  readonly digests: ReadonlyMap<number, Uint8Array>;
  readonly data: Uint8Array;
}

export interface EventLog {
  readonly format: "sha1" | "crypto-agile";
  /** The banks every event carries a digest for, with their sizes (SHA-1 logs: SHA-1 only). */
  readonly banks: readonly { readonly alg: number; readonly size: number }[];
  /** Every event but the crypto-agile header (the Spec ID event describes the format; it measures nothing). */
  readonly events: readonly TcgEvent[];
}

const SPEC_ID_SIGNATURE = new TextEncoder().encode("Spec ID Event03\0");
const PCR_COUNT = 24;

function malformed(message: string): never {
  throw new MalformedEvidenceError("malformed_evidence", `event log: ${message}`);
}

function readPcrIndex(r: ByteReader, index: number): number {
  const pcr = r.u32le(`event ${index} pcrIndex`);
  // PFP §10.2: PCRs 0–23; Windows logs nothing else either. A larger index names no PCR any quote covers.
  if (pcr >= PCR_COUNT) malformed(`event ${index} names PCR ${pcr}`);
  return pcr;
}

/** The Spec ID Event03 structure (PFP §10.4.5.1): the banks and their digest sizes. */
function parseSpecId(data: Uint8Array): { alg: number; size: number }[] {
  const r = new ByteReader(data, "event log Spec ID event");
  if (!bytesEqual(r.bytes(16, "signature"), SPEC_ID_SIGNATURE)) malformed("the first EV_NO_ACTION is not a Spec ID Event03");
  r.u32le("platformClass");
  r.u8("specVersionMinor");
  const major = r.u8("specVersionMajor");
  r.u8("specErrata");
  const uintnSize = r.u8("uintnSize");
  if (major !== 2) throw new MalformedEvidenceError("unsupported_evidence", `event log: Spec ID major version ${major}`);
  if (uintnSize !== 1 && uintnSize !== 2) malformed(`uintnSize ${uintnSize}`);
  const count = r.u32le("numberOfAlgorithms");
  if (count === 0 || count > 8) malformed(`${count} algorithms in the Spec ID event`);
  const banks: { alg: number; size: number }[] = [];
  for (let i = 0; i < count; i++) {
    const alg = r.u16le("algorithmId");
    const size = r.u16le("digestSize");
    const known = TPM_HASH[alg];
    // A bank of unknown size cannot be skipped safely, and a size that disagrees with the algorithm misframes every event.
    if (!known) throw new MalformedEvidenceError("unsupported_evidence", `event log: bank ${algName(alg)} is not supported`);
    if (known.size !== size) malformed(`bank ${algName(alg)} declared with ${size}-byte digests`);
    if (banks.some((b) => b.alg === alg)) malformed(`bank ${algName(alg)} declared twice`);
    banks.push({ alg, size });
  }
  const vendorInfoSize = r.u8("vendorInfoSize");
  r.bytes(vendorInfoSize, "vendorInfo");
  r.end();
  return banks;
}

/**
 * Parses a TCG event log in either format. Structural only: which event types are allowed,
 * whether digests match data and whether the replay matches a quote are decided by
 * `replayEventLog` (eventlog-replay.ts).
 */
export function parseEventLog(input: Uint8Array): EventLog {
  if (input.length > MAX_EVENT_LOG_BYTES) malformed(`${input.length} bytes is more than ${MAX_EVENT_LOG_BYTES}`);
  // Snapshot once: the views handed out below must not change under the verifier.
  const bytes = input.slice();
  const r = new ByteReader(bytes, "event log");
  // The first event is always in the SHA-1 format (PFP §10.2.1), in both formats.
  const pcr = readPcrIndex(r, 0);
  const type = r.u32le("event 0 eventType");
  const digest = r.bytes(20, "event 0 digest");
  const data = r.bytes(r.u32le("event 0 eventSize"), "event 0 event");
  const agile = type === EV.NO_ACTION && data.length >= 16 && bytesEqual(data.subarray(0, 16), SPEC_ID_SIGNATURE);
  const events: TcgEvent[] = [];
  if (!agile) {
    events.push({ index: 0, pcr, type, digests: new Map([[TPM_ALG.SHA1, digest]]), data });
    while (r.remaining > 0) {
      const index = events.length;
      if (index >= MAX_EVENTS) malformed(`more than ${MAX_EVENTS} events`);
      const eventPcr = readPcrIndex(r, index);
      const eventType = r.u32le(`event ${index} eventType`);
      const eventDigest = r.bytes(20, `event ${index} digest`);
      const eventData = r.bytes(r.u32le(`event ${index} eventSize`), `event ${index} event`);
      events.push({ index, pcr: eventPcr, type: eventType, digests: new Map([[TPM_ALG.SHA1, eventDigest]]), data: eventData });
    }
    return { format: "sha1", banks: [{ alg: TPM_ALG.SHA1, size: 20 }], events };
  }
  // PFP §10.4.5.1: the Spec ID event is in PCR 0 and carries a zero digest.
  if (pcr !== 0 || digest.some((b) => b !== 0)) malformed("the Spec ID event must be in PCR 0 with a zero digest");
  const banks = parseSpecId(data);
  while (r.remaining > 0) {
    const index = events.length + 1;
    if (index > MAX_EVENTS) malformed(`more than ${MAX_EVENTS} events`);
    const eventPcr = readPcrIndex(r, index);
    const eventType = r.u32le(`event ${index} eventType`);
    const count = r.u32le(`event ${index} digest count`);
    // PFP §10.2.2: every event carries one digest per bank the Spec ID event declares, no more, no fewer.
    if (count !== banks.length) malformed(`event ${index} carries ${count} digests, the log declares ${banks.length} banks`);
    const digests = new Map<number, Uint8Array>();
    for (let i = 0; i < count; i++) {
      const alg = r.u16le(`event ${index} hashAlg`);
      const bank = banks.find((b) => b.alg === alg);
      if (!bank) malformed(`event ${index} has a digest of undeclared bank ${algName(alg)}`);
      if (digests.has(alg)) malformed(`event ${index} has two ${algName(alg)} digests`);
      digests.set(alg, r.bytes(bank.size, `event ${index} ${algName(alg)} digest`));
    }
    const eventData = r.bytes(r.u32le(`event ${index} eventSize`), `event ${index} event`);
    events.push({ index, pcr: eventPcr, type: eventType, digests, data: eventData });
  }
  return { format: "crypto-agile", banks, events };
}
