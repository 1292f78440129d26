/**
 * Benchmark build for the audit trail (bench/audit.mjs). NEVER deployed. The
 * production app and Durable Object, plus bench-only routes and two RPC methods
 * on a subclass of DeviceLog (tuning, and running its alarm on demand):
 *
 *   POST /bench/audit/:device/append   {count, concurrency}: `count` appends to the device's
 *                                       object, `concurrency` in flight, from inside the worker
 *   POST /bench/audit/:device/append-inside {count}: `count` appends inside the object, timed there
 *   POST /bench/audit/:device/tune     {…AuditTuning}: the object's checkpoint and segment sizes
 *   POST /bench/audit/:device/alarm    runs the object's alarm (sign, seal, archive) and waits
 */
import { DeviceLog as ProductionDeviceLog } from "../durable-objects/DeviceLog.ts";
import { auditIoFrom, type AuditIo, type AuditTuning } from "../durable-objects/log-io.ts";
import { createApp } from "../worker/app.ts";

export class DeviceLog extends ProductionDeviceLog {
  /** The I/O this object was constructed with; the bench's own copy, so it can change the tuning between runs. */
  private readonly benchIo: AuditIo;

  constructor(ctx: DurableObjectState, env: Env) {
    const io = auditIoFrom(env);
    super(ctx, env, io);
    this.benchIo = io;
  }

  benchTune(tuning: Partial<AuditTuning>): void {
    Object.assign(this.benchIo.tuning, tuning);
  }

  /**
   * `count` appends inside the object, one after another with no RPC between them: the cost of
   * an append itself (hash, key, HMAC, SQLite insert), timed with performance.now(), which local
   * workerd advances during synchronous work.
   */
  benchAppendInside(count: number): { ms: number } {
    const start = performance.now();
    for (let n = 0; n < count; n += 1) this.append("bench.event", { n, tool: "bench", target: "/home/dev/workspace/src/file.ts" }, Date.now());
    return { ms: performance.now() - start };
  }

  /** Runs the alarm until a run seals nothing more (each run seals at most one segment, pruning what it sealed). */
  async benchAlarm(): Promise<number> {
    const firstLive = () => this.readLog(0, 1).entries[0] ?? null;
    let runs = 0;
    for (let before: string | null = null, after = firstLive(); runs === 0 || after !== before; runs += 1) {
      before = after;
      await this.alarm();
      after = firstLive();
    }
    return runs;
  }
}

const app = createApp();

function stubOf(env: Env, device: string): DurableObjectStub<DeviceLog> {
  return (env.DEVICES as unknown as DurableObjectNamespace<DeviceLog>).get(env.DEVICES.idFromName(`${env.TENANT}/${device}`));
}

app.post("/bench/audit/:device/append", async (c) => {
  const { count, concurrency } = (await c.req.json()) as { count: number; concurrency: number };
  const stub = stubOf(c.env, c.req.param("device"));
  let next = 0;
  let failed = 0;
  const worker = async () => {
    while (next < count) {
      next += 1;
      const outcome = await stub.append("bench.event", { n: next, tool: "bench", target: "/home/dev/workspace/src/file.ts" }, Date.now());
      if (!outcome.ok) failed += 1;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return c.json({ appended: count - failed, failed }, 200);
});

app.post("/bench/audit/:device/append-inside", async (c) => {
  const { count } = (await c.req.json()) as { count: number };
  return c.json(await stubOf(c.env, c.req.param("device")).benchAppendInside(count), 200);
});

app.post("/bench/audit/:device/tune", async (c) => {
  await stubOf(c.env, c.req.param("device")).benchTune((await c.req.json()) as Partial<AuditTuning>);
  return c.json({ ok: true }, 200);
});

app.post("/bench/audit/:device/alarm", async (c) => {
  await stubOf(c.env, c.req.param("device")).benchAlarm();
  return c.json({ ok: true }, 200);
});

export default app;
