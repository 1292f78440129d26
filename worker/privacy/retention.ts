import { z } from "zod";
import { ConfigurationError } from "../errors.ts";
import { parseStrictJson } from "../json/strict.ts";

/**
 * How long each kind of record is kept (docs/privacy.md › Retention), from the `RETENTION` var:
 * defaults from the seeds ("90 days for operational logs, 1-7 years for audit artifacts"), with
 * per-tenant overrides.
 *
 * - `operational_days`: a device-log entry leaves its Durable Object by then — archived, never
 *   deleted unarchived (an entry is pruned only in the transaction that seals its segment);
 * - `audit_days`: archived segments are deleted from R2 after this, counted from their sealing;
 * - `vault_days`: tokenised values are deleted from the vault after this, counted from their storing;
 * - `archive_lock_days`: the archive bucket's retention lock (scripts/deploy.mjs). `audit_days`
 *   below it is refused: Warden never plans a deletion the lock forbids.
 */
export interface Retention {
  operationalDays: number;
  auditDays: number;
  vaultDays: number;
  archiveLockDays: number;
}

/** Seven years, the archive lock scripts/deploy.mjs creates (`ARCHIVE_RETENTION_DAYS`). */
export const DEFAULT_ARCHIVE_LOCK_DAYS = 2557;

export const DEFAULT_RETENTION: Retention = { operationalDays: 90, auditDays: DEFAULT_ARCHIVE_LOCK_DAYS, vaultDays: 90, archiveLockDays: DEFAULT_ARCHIVE_LOCK_DAYS };

const days = z.int().min(1).max(36_500);
const KindsSchema = z.strictObject({ operational_days: days.optional(), audit_days: days.optional(), vault_days: days.optional() });
const RetentionSchema = KindsSchema.extend({
  archive_lock_days: z.int().min(0).max(36_500).optional(),
  tenants: z.record(z.string().min(1).max(128), KindsSchema).optional(),
}).strict();

/** A day in ms. */
export const DAY_MS = 86_400_000;

let cached: { source: string | undefined; tenant: string; retention: Retention } | undefined;

/**
 * The retention of `tenant`. A `RETENTION` that is not strict JSON of this shape, or that would
 * delete audit segments before the archive lock allows, is `configuration_error`: retention then
 * deletes nothing, rather than guessing.
 */
export function retentionFor(source: string | undefined, tenant: string): Retention {
  if (cached && cached.source === source && cached.tenant === tenant) return cached.retention;
  let parsed: z.infer<typeof RetentionSchema> = {};
  if (source !== undefined && source.trim() !== "") {
    try {
      parsed = RetentionSchema.parse(parseStrictJson(source));
    } catch (cause) {
      throw new ConfigurationError("configuration_error", "RETENTION is not {operational_days?, audit_days?, vault_days?, archive_lock_days?, tenants?}", { cause });
    }
  }
  const own = parsed.tenants?.[tenant] ?? {};
  const retention: Retention = {
    operationalDays: own.operational_days ?? parsed.operational_days ?? DEFAULT_RETENTION.operationalDays,
    auditDays: own.audit_days ?? parsed.audit_days ?? DEFAULT_RETENTION.auditDays,
    vaultDays: own.vault_days ?? parsed.vault_days ?? DEFAULT_RETENTION.vaultDays,
    archiveLockDays: parsed.archive_lock_days ?? DEFAULT_RETENTION.archiveLockDays,
  };
  if (retention.auditDays < retention.archiveLockDays) {
    throw new ConfigurationError("configuration_error", `RETENTION: audit_days ${retention.auditDays} for ${tenant} is shorter than the archive lock (${retention.archiveLockDays} days)`);
  }
  if (retention.operationalDays > retention.auditDays) throw new ConfigurationError("configuration_error", "RETENTION: operational_days is longer than audit_days");
  cached = { source, tenant, retention };
  return retention;
}

/** Where the tenant's legal hold is published for the alarms of its devices: beside its deployment pointer. */
export function tenantHoldKey(tenant: string): string {
  return `${tenant}/legal-hold.json`;
}
