import type { AppendedEntry } from "../worker/domain.ts";
import { WardenError } from "../worker/errors.ts";
import { parseStrictJson } from "../worker/json/strict.ts";
import type { JsonValue } from "../worker/log/canonical.ts";
import { parseWitnessConfig, type WitnessConfig } from "../worker/log/witness.ts";
import type { EventsIo } from "./event-outbox.ts";
import { retentionFor, tenantHoldKey, type Retention } from "../worker/privacy/retention.ts";

/**
 * What a device log asks of its tenant's `ReviewHolds` (named here, not imported: the holds'
 * outbox appends to device logs, so the types would import each other).
 */
export interface DeviceHolds {
  /** `ReviewHolds.cancelForDevice`. */
  cancelForDevice(args: { device: string; reason: string; by: string; now: number; quarantineSeq?: number }): Promise<unknown>;
}

/**
 * What a device log's audit side (durable-objects/log-signing.ts, log-archive.ts, log-audit.ts)
 * takes from outside, injected through the constructors: the archive bucket, the clock of its
 * alarm, its keys and its tuning. Production builds it from the environment ({@link auditIoFrom});
 * tests build it themselves (test/worker.ts, test/README.md › seams).
 */
export interface AuditIo {
  archive: R2Bucket;
  /** The vault of tokenised values (`VAULT`): the alarm deletes the device's values past retention. */
  vault: R2Bucket;
  /** How long each kind of record of `tenant` is kept (`RETENTION`, worker/privacy/retention.ts). */
  retention(tenant: string): Retention;
  /** Whether the tenant is under a legal hold (its marker beside the deployment pointer); a failed read rejects, and nothing is deleted. */
  tenantHeld(tenant: string): Promise<boolean>;
  /** The alarm's clock: the one place real time enters the object (requests bring their own `now`). */
  now(): number;
  /** Private JWKs (JSON): the key that signs now, and during a rotation the one before it. */
  keys(): { current: string | undefined; previous: string | undefined };
  macKey(): string | undefined;
  tuning: AuditTuning;
  /** The tenant's event feed each committed entry is owed to; null produces no events. */
  events: EventsIo;
  /** The tenant's review holds, which a playbook's quarantine ends (as an admin's does). */
  holds(tenant: string): DeviceHolds;
  /** The witnesses asked to cosign each checkpoint (`WITNESSES`); none by default. */
  witnesses(): WitnessConfig[];
  /** How witnesses are reached: the `WITNESS` service binding when there is one, else the network. */
  witnessFetch(request: Request): Promise<Response>;
}

/** When to sign and when to seal. */
export interface AuditTuning {
  /** Sign once this many entries are unsigned… */
  checkpointEntries: number;
  /** …or once the oldest unsigned entry is this old. */
  checkpointSeconds: number;
  /** Seal a segment once this many entries are signed and unarchived… */
  segmentEntries: number;
  /** …or once the oldest unarchived entry is this old (then with whatever is signed). */
  segmentMinutes: number;
  /** Delay before an alarm that failed runs again. */
  retrySeconds: number;
}

function positiveNumber(value: string | undefined, fallback: number): number {
  const number = value === undefined || value === "" ? Number.NaN : Number(value);
  return Number.isFinite(number) && number >= 0 ? number : fallback;
}

export function tuningFrom(env: Env): AuditTuning {
  return {
    checkpointEntries: Math.max(1, Math.floor(positiveNumber(env.LOG_CHECKPOINT_ENTRIES, 256))),
    checkpointSeconds: positiveNumber(env.LOG_CHECKPOINT_SECONDS, 10),
    segmentEntries: Math.max(1, Math.floor(positiveNumber(env.ARCHIVE_SEGMENT_ENTRIES, 1024))),
    segmentMinutes: positiveNumber(env.ARCHIVE_SEGMENT_MINUTES, 60),
    retrySeconds: 30,
  };
}

/** The production I/O: the `ARCHIVE` bucket, the real clock, the configured keys and tuning. */
export function auditIoFrom(env: Env): AuditIo {
  return {
    archive: env.ARCHIVE,
    vault: env.VAULT,
    retention: (tenant) => retentionFor(env.RETENTION, tenant),
    tenantHeld: async (tenant) => (await env.BUNDLES.head(tenantHoldKey(tenant))) !== null,
    now: () => Date.now(),
    keys: () => ({ current: env.LOG_SIGNING_KEY, previous: env.LOG_SIGNING_KEY_PREVIOUS }),
    macKey: () => env.LOG_HMAC_KEY,
    tuning: tuningFrom(env),
    events: eventsIoFrom(env),
    holds: (tenant) => env.REVIEW_HOLDS.get(env.REVIEW_HOLDS.idFromName(tenant)),
    witnesses: () => witnessesFrom(env.WITNESSES),
    witnessFetch: (request) => (env.WITNESS ? env.WITNESS.fetch(request) : fetch(request)),
  };
}

let witnessCache: { source: string | undefined; witnesses: WitnessConfig[] } | undefined;

/** `WITNESSES` (JSON) parsed once per value; a value that does not parse is a configuration error, never "no witnesses". */
function witnessesFrom(source: string | undefined): WitnessConfig[] {
  const cached = witnessCache;
  if (cached && cached.source === source) return cached.witnesses;
  let witnesses: WitnessConfig[];
  try {
    witnesses = source ? parseWitnessConfig(parseStrictJson(source)) : [];
  } catch (cause) {
    throw new WardenError("configuration_error", "WITNESSES is not a JSON list of {vkey, url}", { cause });
  }
  witnessCache = { source, witnesses };
  return witnesses;
}

/** What the audit side reads of, and appends to, the log its object owns. */
export interface LogAccess {
  sql: SqlStorage;
  storage: DurableObjectStorage;
  head(): AppendedEntry;
  /** The registration (public: id, tenant, os, public key, jkt, assurance, status, time). */
  device(): ({ id: string; tenant: string } & object) | null;
  /** Runs `before` and appends one entry, in one transaction. */
  appendWith(before: () => void, type: string, data: { [key: string]: JsonValue }, now: number): AppendedEntry;
  /** `LOG_ORIGIN`: the schema-less URL a device log's origin starts with. */
  originPrefix: string | undefined;
}


/** Events go to the tenant's `EVENT_FEED` object. */
export function eventsIoFrom(env: Env): EventsIo {
  return { feed: (tenant) => env.EVENT_FEED.get(env.EVENT_FEED.idFromName(tenant)) };
}
