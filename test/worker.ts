/**
 * The worker the tests run (vitest.config.mts `main`): the production entry, except that
 * `DeviceLog` is constructed with the I/O a test chose for that object. This is the tests' one
 * seam into a Durable Object's I/O — the archive bucket, the alarm clock, the log keys and the
 * tuning all come in through the constructor, as in production, never by assigning fields.
 * The I/O each object is constructed with here is the production one overlaid, member by
 * member and at every use, with what tests chose for that object through {@link useAuditIo}
 * (`configure` in test/audit-helpers.ts): a controllable fake, like a clock a test can advance.
 */
import { DeviceLog as ProductionDeviceLog } from "../durable-objects/DeviceLog.ts";
import { EventFeed as ProductionEventFeed } from "../durable-objects/EventFeed.ts";
import type { OcsfEvent } from "../worker/events/ocsf.ts";
import { ocsfCaptionErrors, ocsfSchemaErrors } from "./ocsf-schemas.ts";
import { OCSF_AUDIT_HOST, type OcsfAuditReport } from "./setup/ocsf-audit.ts";
import { auditIoFrom, type AuditIo, type AuditTuning } from "../durable-objects/log-io.ts";
import app from "../worker/index.ts";

export { AgentRegistry, BundleRegistry, ConsentLedger, ReviewHolds, ReviewOutbox, ReviewerRegistry } from "../worker/index.ts";
export default app;

export interface AuditIoChange {
  io?: Partial<Omit<AuditIo, "tuning">>;
  tuning?: Partial<AuditTuning>;
}

/** Changes per object, by Durable Object id; each adds to the ones before it. */
const changes = new Map<string, AuditIoChange>();

/** Adds `change` to the I/O of the object `id`, from its next use of each member on. */
export function useAuditIo(id: DurableObjectId, change: AuditIoChange): void {
  const before = changes.get(id.toString()) ?? {};
  changes.set(id.toString(), { io: { ...before.io, ...change.io }, tuning: { ...before.tuning, ...change.tuning } });
}

/** The production I/O of `env`, overlaid with the changes tests make for the object `id`. */
function overlaidIo(id: string, env: Env): AuditIo {
  const base = auditIoFrom(env);
  const change = () => changes.get(id) ?? {};
  return {
    get archive() {
      return change().io?.archive ?? base.archive;
    },
    get vault() {
      return change().io?.vault ?? base.vault;
    },
    retention: (tenant) => (change().io?.retention ?? base.retention)(tenant),
    tenantHeld: (tenant) => (change().io?.tenantHeld ?? base.tenantHeld)(tenant),
    now: () => (change().io?.now ?? base.now)(),
    keys: () => (change().io?.keys ?? base.keys)(),
    macKey: () => (change().io?.macKey ?? base.macKey)(),
    witnesses: () => (change().io?.witnesses ?? base.witnesses)(),
    witnessFetch: (request) => (change().io?.witnessFetch ?? base.witnessFetch)(request),
    holds: (tenant) => (change().io?.holds ?? base.holds)(tenant),
    get tuning() {
      return { ...base.tuning, ...change().tuning };
    },
    get events() {
      // null turns events off for the object; undefined gives back the environment's feed.
      const chosen = change().io?.events;
      return chosen === undefined ? base.events : chosen;
    },
  };
}

export class DeviceLog extends ProductionDeviceLog {
  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env, overlaidIo(ctx.id.toString(), env));
  }
}

/**
 * The production feed, except that every event it ingests is first checked against its OCSF
 * class schema, and the count and any failure reported to the run (test/setup/ocsf-audit.ts):
 * so every event the integration suite produces is validated, not only those a test reads.
 */
export class EventFeed extends ProductionEventFeed {
  override ingest(events: OcsfEvent[]): { accepted: number } {
    const invalid: OcsfAuditReport["invalid"] = [];
    for (const event of events) {
      const errors = [...ocsfSchemaErrors(event).map((error) => `${error.instanceLocation} ${error.keyword}: ${error.error}`), ...ocsfCaptionErrors(event)];
      if (errors.length > 0) invalid.push({ uid: event.metadata.uid, class_uid: event.class_uid, type: event.metadata["event_code"] ?? null, errors });
    }
    const report: OcsfAuditReport = { validated: events.length, invalid };
    this.ctx.waitUntil(fetch(`https://${OCSF_AUDIT_HOST}/`, { method: "POST", body: JSON.stringify(report) }).then((response) => response.body?.cancel()));
    return super.ingest(events);
  }
}
