/**
 * `warden evidence verify --type tpm-eventlog`: replays a TCG event log offline, with the
 * verifier the worker runs on session evidence (worker/verifiers/tpm/eventlog*.ts), against PCR
 * values the caller took from a quote it verified.
 *
 * | option | format |
 * |---|---|
 * | --evidence | the binary event log (`/sys/kernel/security/tpm0/binary_bios_measurements`, Windows' WBCL), or hex / base64 of it |
 * | --pcrs | JSON `{"sha256": {"0": "<hex>", …}, "sha1": {…}, "sha384": {…}}`: every bank and PCR given is compared |
 *
 * SHA-1 banks are accepted here (a legacy quote's values can still be checked against a log);
 * sessions replay only the quote's bank, which is never SHA-1.
 */
import { StrictJsonError, parseStrictJson } from "../worker/json/strict.ts";
import { EvidenceError, MalformedEvidenceError } from "../worker/verifiers/errors.ts";
import { fromHex } from "../worker/verifiers/reader.ts";
import { TPM_ALG } from "../worker/verifiers/tpm/constants.ts";
import { eventLogFactsJson, parseEventLog, replayEventLog, type ReplayBank } from "../worker/verifiers/tpm/index.ts";
import { asText } from "./evidence.ts";

export type EventLogInput = Uint8Array | string;

export interface EventLogResult {
  valid: boolean;
  code?: string;
  message?: string;
  format?: string;
  /** The banks the log carries. */
  banks?: string[];
  events?: number;
  /** Per bank, the PCRs compared (each equal to its replay). */
  compared?: { bank: string; pcrs: number[] }[];
  /** PCRs the log extends that `--pcrs` does not give: their events were not trusted. */
  unverified_pcrs?: number[];
  facts?: {
    secure_boot: boolean | null;
    pk: string | null;
    kek: string | null;
    db: string | null;
    dbx: string | null;
    boot_manager: string | null;
    kernel: string | null;
    boot_applications: string[];
    separators: number[];
    separator_errors: number[];
  };
}

const BANKS: Readonly<Record<string, number>> = { sha1: TPM_ALG.SHA1, sha256: TPM_ALG.SHA256, sha384: TPM_ALG.SHA384, sha512: TPM_ALG.SHA512 };

function malformed(message: string): never {
  throw new MalformedEvidenceError("malformed_evidence", message);
}

/** The log's bytes: binary as given, or text holding hex or base64 of it. */
function logBytes(input: EventLogInput): Uint8Array {
  const text = asText(input);
  if (text === undefined) return input as Uint8Array;
  const compact = text.replace(/\s+/g, "");
  if (/^[0-9a-fA-F]+$/.test(compact) && compact.length % 2 === 0) return fromHex(compact);
  if (/^[A-Za-z0-9+/]+={0,2}$/.test(compact) && compact.length % 4 === 0) return Uint8Array.from(atob(compact), (c) => c.charCodeAt(0));
  return malformed("--evidence: text that is neither hex nor base64 of an event log");
}

/** `--pcrs`: banks by label, PCRs by decimal index, values hex. */
export function pcrBanks(input: EventLogInput): ReplayBank[] {
  let json: unknown;
  try {
    json = parseStrictJson(input);
  } catch (error) {
    if (!(error instanceof StrictJsonError)) throw error;
    return malformed(`--pcrs is not strict JSON (${error.code})`);
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) return malformed('--pcrs is a JSON object {"sha256": {"0": "<hex>"}}');
  const banks: ReplayBank[] = [];
  for (const [label, values] of Object.entries(json)) {
    const alg = BANKS[label];
    if (alg === undefined) return malformed(`--pcrs: unknown bank ${JSON.stringify(label)} (sha1, sha256, sha384, sha512)`);
    if (typeof values !== "object" || values === null || Array.isArray(values)) return malformed(`--pcrs.${label} is an object of PCR values`);
    const pcrs = new Map<number, Uint8Array>();
    for (const [index, hex] of Object.entries(values as Record<string, unknown>)) {
      if (!/^(0|[1-9]\d?)$/.test(index) || Number(index) > 23 || typeof hex !== "string") return malformed(`--pcrs.${label}: PCR ${index} needs an index 0..23 and a hex value`);
      pcrs.set(Number(index), fromHex(hex, `PCR ${index}`));
    }
    if (pcrs.size > 0) banks.push({ alg, pcrs });
  }
  if (banks.length === 0) return malformed("--pcrs gives no PCR values");
  return banks;
}

/** Replays `evidence` against `pcrs`; rejections come back as `{ valid: false, code }`. */
export async function verifyEventLog(args: { evidence: EventLogInput; pcrs: EventLogInput }): Promise<EventLogResult> {
  try {
    const log = parseEventLog(logBytes(args.evidence));
    const replayed = await replayEventLog(log, pcrBanks(args.pcrs));
    const { facts } = replayed;
    return {
      valid: true,
      format: replayed.format,
      banks: [...replayed.logBanks],
      events: replayed.events,
      compared: replayed.compared.map((c) => ({ bank: c.bank, pcrs: [...c.pcrs] })),
      unverified_pcrs: [...replayed.unverifiedPcrs],
      facts: { ...eventLogFactsJson(facts), separator_errors: [...facts.separatorErrors] },
    };
  } catch (error) {
    if (error instanceof EvidenceError) return { valid: false, code: error.code, message: error.message };
    throw error;
  }
}

/** Help of `warden evidence verify --type tpm-eventlog`. */
export const EVENTLOG_EVIDENCE_HELP = [
  'warden evidence verify --type tpm-eventlog --evidence <binary event log> --pcrs <JSON file: {"sha256": {"0": "<hex>", …}, "sha1": {…}}>',
  "",
  "Replays a TCG PC Client event log (crypto-agile or SHA-1 format) per bank, checks every event",
  "whose digest is the hash of its data, refuses unknown or hiding event types, compares every",
  "bank and PCR given, and prints the facts (Secure Boot, PK/KEK/db/dbx, boot manager, kernel).",
  "Exits 0 only when every given PCR matches its replay.",
].join("\n");
