/**
 * Part K (`npm run bench -- --only=fleet`): many devices, each its own Durable Object, against
 * one local workerd running the production entry. Every device is registered and opens a
 * session, then decides through the client library (cli/client.ts `WardenClient`, which signs a
 * DPoP proof per request, in Node, inside the timed request), in waves: one device alone, then
 * 1,000 and 10,000 devices active, requests spread round-robin over them at a fixed number in
 * flight. Storage per device is what the persisted Durable Object files take on disk.
 */
import { mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { WardenClient, generateDeviceKey } from "../cli/client.ts";
import { activateDefault } from "./bundles.ts";
import { DECISION, stats, type SideStats } from "./http.ts";
import { startServer } from "./server.ts";

export interface FleetOptions {
  devices: number;
  /** Active devices per wave, and decisions each makes in it. */
  waves: { devices: number; perDevice: number }[];
  /** Decisions of the one-device reference. */
  alone: number;
  concurrency: number;
}

export interface FleetWave {
  devices: number;
  requests: number;
  latency: SideStats;
  rps: number;
}

export interface FleetResults {
  options: FleetOptions;
  registration: { devices: number; seconds: number; rps: number };
  alone: FleetWave;
  waves: FleetWave[];
  storage: { objects: number; bytesPerDevice: number; entriesPerDevice: number };
}

/** Runs `jobs` with `concurrency` in flight; returns each job's latency and the wall time. */
async function inFlight(jobs: (() => Promise<void>)[], concurrency: number): Promise<{ latencies: number[]; wallMs: number }> {
  const latencies: number[] = [];
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < jobs.length) {
        const job = jobs[next++] as () => Promise<void>;
        const start = performance.now();
        await job();
        latencies.push(performance.now() - start);
      }
    }),
  );
  return { latencies, wallMs: performance.now() - t0 };
}

/** Bytes of every SQLite file of the one Durable Object class with the most objects (DeviceLog). */
function deviceStorage(dir: string): { objects: number; bytes: number } {
  const byDirectory = new Map<string, { objects: number; bytes: number }>();
  const walk = (at: string) => {
    for (const entry of readdirSync(at, { withFileTypes: true })) {
      const path = join(at, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (/\.sqlite(-wal|-shm)?$/.test(entry.name)) {
        const total = byDirectory.get(at) ?? { objects: 0, bytes: 0 };
        if (entry.name.endsWith(".sqlite")) total.objects += 1;
        total.bytes += statSync(path).size;
        byDirectory.set(at, total);
      }
    }
  };
  walk(dir);
  return [...byDirectory.values()].sort((a, b) => b.objects - a.objects)[0] ?? { objects: 0, bytes: 0 };
}

export async function runFleet(options: FleetOptions, log: (line: string) => void = () => {}): Promise<FleetResults> {
  const dir = mkdtempSync(join(tmpdir(), "warden-bench-fleet-"));
  const server = await startServer({ persistRoot: dir, production: true });
  try {
    await activateDefault(server);
    const clients: WardenClient[] = [];
    const t0 = performance.now();
    const registrations = Array.from({ length: options.devices }, (_, i) => async () => {
      const client = new WardenClient({ url: server.url, deviceId: `fleet-${i}`, key: await generateDeviceKey("EdDSA") });
      const registered = await client.register(server.adminToken, "linux");
      if (registered.status !== 201) throw new Error(`registering fleet-${i}: ${registered.status} ${JSON.stringify(registered.body)}`);
      await client.openSession();
      clients[i] = client;
      if ((i + 1) % 1000 === 0) log(`  ${i + 1} devices registered, sessions open`);
    });
    await inFlight(registrations, options.concurrency);
    const seconds = (performance.now() - t0) / 1000;

    const decideAs = (client: WardenClient) => async () => {
      const { status, body } = await client.decide<{ decision?: string; token?: string; log?: unknown }>(DECISION);
      if (status !== 200 || body.decision !== "permit" || !body.token || !body.log) throw new Error(`${client.deviceId}: expected a logged permit with a token, got ${status} ${JSON.stringify(body)}`);
    };
    const wave = async (devices: number, perDevice: number): Promise<FleetWave> => {
      const jobs: (() => Promise<void>)[] = [];
      for (let round = 0; round < perDevice; round += 1) for (let i = 0; i < devices; i += 1) jobs.push(decideAs(clients[i] as WardenClient));
      const { latencies, wallMs } = await inFlight(jobs, options.concurrency);
      const result = { devices, requests: jobs.length, latency: stats(latencies), rps: (jobs.length * 1000) / wallMs };
      log(`  ${devices} device(s) active: ${result.requests} decisions, p50 ${result.latency.p50.toFixed(2)} ms, ${result.rps.toFixed(0)} req/s`);
      return result;
    };
    // Warm-up on devices the waves use last, so that no wave starts on a cold isolate.
    await inFlight(Array.from({ length: 200 }, (_, i) => decideAs(clients[clients.length - 1 - (i % 10)] as WardenClient)), options.concurrency);
    const alone = await wave(1, options.alone);
    const waves: FleetWave[] = [];
    for (const { devices, perDevice } of options.waves) waves.push(await wave(Math.min(devices, clients.length), perDevice));

    const storage = deviceStorage(dir);
    const decisions = options.alone + options.waves.reduce((total, w) => total + Math.min(w.devices, clients.length) * w.perDevice, 0) + 200;
    return {
      options,
      registration: { devices: options.devices, seconds, rps: (options.devices * 3) / seconds },
      alone,
      waves,
      // Each device's log holds its registration, its session and its decisions.
      storage: { objects: storage.objects, bytesPerDevice: storage.bytes / Math.max(1, storage.objects), entriesPerDevice: 2 + decisions / options.devices },
    };
  } finally {
    await server.mf.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
}
