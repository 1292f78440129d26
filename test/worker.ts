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
import { auditIoFrom, type AuditIo, type AuditTuning } from "../durable-objects/log-io.ts";
import app from "../worker/index.ts";

export { BundleRegistry, ReviewHolds, ReviewOutbox, ReviewerRegistry } from "../worker/index.ts";
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
    now: () => (change().io?.now ?? base.now)(),
    keys: () => (change().io?.keys ?? base.keys)(),
    macKey: () => (change().io?.macKey ?? base.macKey)(),
    witnesses: () => (change().io?.witnesses ?? base.witnesses)(),
    witnessFetch: (request) => (change().io?.witnessFetch ?? base.witnessFetch)(request),
    get tuning() {
      return { ...base.tuning, ...change().tuning };
    },
  };
}

export class DeviceLog extends ProductionDeviceLog {
  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env, overlaidIo(ctx.id.toString(), env));
  }
}
