import { normaliseAllowlist, type Allowlist } from "../appraisal.ts";
import { AppraisalError, EvidenceConfigurationError } from "../errors.ts";
import { ALLOWED_HASHES, PCR_BANK, TPM_HASH } from "./constants.ts";
import type { EventLogFacts } from "./eventlog-replay.ts";
import type { PcrSelectionRequirement, VerifiedQuote } from "./quote.ts";

/**
 * The event-log section of `attestation.tpm` (`event_log`): its presence requires a log with
 * every quote; each key names a fact of the replayed log (worker/verifiers/tpm/eventlog-replay.ts).
 */
export interface EventLogManifestReference {
  /** Require the SecureBoot variable measured in PCR 7 to be 1. */
  readonly secure_boot?: boolean | undefined;
  /** SHA-256 (hex) of the variables' data as measured in PCR 7, or "any". */
  readonly pk?: Allowlist | undefined;
  readonly kek?: Allowlist | undefined;
  readonly db?: Allowlist | undefined;
  readonly dbx?: Allowlist | undefined;
  /** Authenticode digests in the quote's bank of the first and last boot application in PCR 4, or "any". */
  readonly boot_manager?: Allowlist | undefined;
  readonly kernel?: Allowlist | undefined;
}

/** The TPM section of a bundle manifest (`attestation.tpm`). */
export interface TpmManifestReference {
  readonly pcr_bank: string;
  readonly pcrs: readonly number[];
  /** Allowed values per PCR index (decimal string key), lower- or upper-case hex. */
  readonly reference: Readonly<Record<string, readonly string[]>>;
  readonly event_log?: EventLogManifestReference | undefined;
}

/** Event-log reference values, normalised. */
export interface EventLogReference {
  readonly secureBoot: boolean;
  readonly pk: Allowlist;
  readonly kek: Allowlist;
  readonly db: Allowlist;
  readonly dbx: Allowlist;
  readonly bootManager: Allowlist;
  readonly kernel: Allowlist;
}

/** Reference values ready for appraisal: the selection a quote must cover and the allowed values. */
export interface TpmReference {
  readonly selection: PcrSelectionRequirement;
  /** Allowed lower-case hex values for the PCRs that are appraised; PCRs not listed are quoted and reported only. */
  readonly allowed: ReadonlyMap<number, ReadonlySet<string>>;
  /** Present when the bundle requires an event log with every quote. */
  readonly eventLog: EventLogReference | null;
}

function invalid(message: string): never {
  throw new EvidenceConfigurationError("invalid_reference_values", `attestation.tpm: ${message}`);
}

/**
 * Turns the manifest's `attestation.tpm` into reference values, refusing
 * anything ambiguous (`invalid_reference_values`): an unknown or SHA-1 bank,
 * duplicate or out-of-range PCRs, reference values for PCRs outside the
 * selection, values of the wrong size, an empty allowlist.
 */
export function tpmReference(manifest: TpmManifestReference): TpmReference {
  const hashAlg = PCR_BANK[manifest.pcr_bank];
  if (hashAlg === undefined || !ALLOWED_HASHES.has(hashAlg)) invalid(`pcr_bank ${manifest.pcr_bank} is not sha256 or sha384`);
  const size = (TPM_HASH[hashAlg] as { size: number }).size;
  const pcrs = [...manifest.pcrs].sort((a, b) => a - b);
  if (pcrs.length === 0) invalid("pcrs is empty");
  for (let i = 0; i < pcrs.length; i++) {
    const p = pcrs[i] as number;
    if (!Number.isInteger(p) || p < 0 || p > 23) invalid(`PCR ${p} is not 0..23`);
    if (i > 0 && p === pcrs[i - 1]) invalid(`PCR ${p} is listed twice`);
  }
  const allowed = new Map<number, Set<string>>();
  for (const [key, values] of Object.entries(manifest.reference)) {
    const index = /^(0|[1-9]\d?)$/.test(key) ? Number(key) : NaN;
    if (!pcrs.includes(index)) invalid(`reference for PCR ${key} outside the selection`);
    if (values.length === 0) invalid(`reference for PCR ${key} allows nothing`);
    const set = new Set<string>();
    for (const v of values) {
      if (!/^[0-9a-fA-F]*$/.test(v) || v.length !== 2 * size) invalid(`reference value for PCR ${key} is not ${size} bytes of hex`);
      set.add(v.toLowerCase());
    }
    allowed.set(index, set);
  }
  return { selection: { hashAlg, pcrs }, allowed, eventLog: manifest.event_log ? eventLogReference(manifest.event_log, size) : null };
}

function eventLogReference(manifest: EventLogManifestReference, bankSize: number): EventLogReference {
  const list = (value: Allowlist | undefined, bytes: number, field: string) => normaliseAllowlist(value, bytes, `attestation.tpm.event_log.${field}`);
  return {
    secureBoot: manifest.secure_boot ?? false,
    pk: list(manifest.pk, 32, "pk"),
    kek: list(manifest.kek, 32, "kek"),
    db: list(manifest.db, 32, "db"),
    dbx: list(manifest.dbx, 32, "dbx"),
    bootManager: list(manifest.boot_manager, bankSize, "boot_manager"),
    kernel: list(manifest.kernel, bankSize, "kernel"),
  };
}

/**
 * Appraises the facts of a replayed event log (`null` when the device sent none). A required
 * fact the log does not state (no SecureBoot variable, no kernel) fails like a wrong one: an
 * absent measurement is not an allowed one.
 */
export function appraiseEventLog(facts: EventLogFacts | null, reference: EventLogReference): void {
  if (facts === null) throw new AppraisalError("event_log_missing", "the bundle requires a TPM event log with the quote");
  if (reference.secureBoot && facts.secureBoot !== true) throw new AppraisalError("secure_boot_not_enabled", "the event log does not show Secure Boot enabled in PCR 7");
  const checks: [Allowlist, string | null, string][] = [
    [reference.pk, facts.pk, "PK"],
    [reference.kek, facts.kek, "KEK"],
    [reference.db, facts.db, "db"],
    [reference.dbx, facts.dbx, "dbx"],
    [reference.bootManager, facts.bootManager, "the boot manager"],
    [reference.kernel, facts.kernel, "the kernel"],
  ];
  for (const [allowed, value, what] of checks) {
    if (allowed === "any") continue;
    if (value === null || !allowed.includes(value)) throw new AppraisalError("event_log_value_not_allowed", `${what} (${value ?? "not measured"}) is not among the reference values`);
  }
}

/** The appraisal of a verified quote: what goes into the session token and the device log. */
export interface TpmAppraisal {
  /** "affirming": every appraised PCR holds an allowed value. */
  readonly status: "affirming";
  readonly pcrBank: string;
  readonly pcrDigest: string;
  /** PCRs compared with reference values. */
  readonly appraised: readonly number[];
  /** PCRs quoted without reference values (reported, not judged). */
  readonly reportedOnly: readonly number[];
  readonly firmwareVersion: string;
  readonly clock: string;
  readonly resetCount: number;
  readonly restartCount: number;
}

/**
 * Appraises a verified quote against reference values; never re-parses. Each
 * appraised PCR must hold one of its allowed values (`pcr_value_not_allowed`).
 */
export function appraiseQuote(quote: VerifiedQuote, reference: TpmReference): TpmAppraisal {
  const appraised: number[] = [];
  const reportedOnly: number[] = [];
  for (const { index, value } of quote.pcrs) {
    const allowed = reference.allowed.get(index);
    if (!allowed) {
      reportedOnly.push(index);
      continue;
    }
    if (!allowed.has(value)) throw new AppraisalError("pcr_value_not_allowed", `PCR ${index} = ${value} is not an allowed reference value`);
    appraised.push(index);
  }
  return {
    status: "affirming",
    pcrBank: quote.pcrBank,
    pcrDigest: quote.pcrDigest,
    appraised,
    reportedOnly,
    firmwareVersion: quote.firmwareVersion.toString(16).padStart(16, "0"),
    clock: quote.clock.toString(),
    resetCount: quote.resetCount,
    restartCount: quote.restartCount,
  };
}
