/**
 * Part I, worker side (bench/history.ts drives it): `POST /bench/history/grow` appends
 * decision-shaped entries to one device — inside its object, through a subclass of DeviceLog
 * with one bench method, so the figure is the append and its history work, not the RPC — and
 * reports what the device's history occupies.
 */
import type { OpenAPIHono } from "@hono/zod-openapi";
import { DeviceLog as ProductionDeviceLog } from "../durable-objects/DeviceLog.ts";
import type { AppEnv } from "../worker/context.ts";
import { decisionBundle } from "../worker/history/deciding.ts";
import type { JsonValue } from "../worker/log/canonical.ts";
import { bundleFor, loadDeployment } from "../worker/policy/store.ts";

/** A decision's log data as the service logs it, for a file.write of one of `spread` paths. */
function decisionData(i: number, spread: number): { [key: string]: JsonValue } {
  const path = `/home/dev/workspace/src/f-${i % spread}.ts`;
  return {
    decision_id: crypto.randomUUID(),
    decision: "permit",
    reason_code: "policy_permit",
    reasons: ["workspace-read-write"],
    policy: null,
    tier: null,
    session: "bench",
    agent: { id: "claude-code", version: "2.1.0", artifact_sha256: null },
    action: { type: "file.write", targets: [{ kind: "path", value: path }], derived: [], submitted: [{ kind: "path", value: path }], inputs_sha256: null, sends_external: false, programs: [] },
    context: null,
    token_jti: null,
    history: null,
  };
}

/** The production object, plus appending many decision-shaped entries in one call. */
export class HistoryBenchDeviceLog extends ProductionDeviceLog {
  benchAppendDecisions(from: number, count: number, spread: number, type: string): { ms: number } {
    const start = performance.now();
    for (let i = from; i < from + count; i += 1) {
      const appended = this.append(type, decisionData(i, spread), Date.now());
      if (!appended.ok) throw new Error(`append refused: ${appended.code}`);
    }
    return { ms: performance.now() - start };
  }
}

export function historyBenchRoutes(app: OpenAPIHono<AppEnv>): void {
  /**
   * Appends `count` decision-shaped entries to `device`'s log (after the device adopted the
   * active bundle's history declarations), then reports the history's footprint. With a `type`
   * other than `decision`, no feature's filter matches them: the floor of an append under the bundle.
   */
  app.post("/bench/history/grow", async (c) => {
    const { device, from, count, spread, type = "decision" } = (await c.req.json()) as { device: string; from: number; count: number; spread: number; type?: string };
    const stub = c.env.DEVICES.get(c.env.DEVICES.idFromName(`${c.env.TENANT}/${device}`)) as unknown as DurableObjectStub<HistoryBenchDeviceLog>;
    if (from === 0) {
      const chosen = bundleFor(await loadDeployment(c.env, c.env.TENANT, Date.now()), { tenant: c.env.TENANT, id: device, groups: [] }, Date.now());
      if (!chosen.ok) return c.json({ error: chosen.code }, 500);
      const read = await stub.readHistory({ bundle: decisionBundle(chosen.bundle), now: Date.now() });
      if (!read.ok) return c.json({ error: read.code }, 500);
    }
    const { ms } = await stub.benchAppendDecisions(from, count, spread, type);
    return c.json({ ...(await stub.historyFootprint()), appendUs: (ms * 1000) / count }, 200);
  });
}

