/**
 * Part K (`npm run bench -- --only=fleet`): many devices, each its own Durable Object, against
 * one local workerd running the production entry. Every device is registered and opens a
 * session, then decides through the client library (cli/client.ts `WardenClient`, which signs a
 * DPoP proof per request, in Node, inside the timed request), in waves: one device alone, then
 * 1,000 and 10,000 devices active, requests spread round-robin over them at a fixed number in
 * flight. Storage per device is what the persisted Durable Object files take on disk.
 *
 * Registration and each wave run in a fresh workerd process over the same persisted state (same
 * port and secrets, so sessions stay valid): as a region's isolates and objects come and go, no
 * wave starts with the objects or isolate caches another left warm.
 */

import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { WardenClient, generateDeviceKey } from "../cli/client.ts";
import { activateDefault } from "./bundles.ts";
import { DECISION, inFlight, stats, type SideStats } from "./http.ts";
import { freePort } from "../test/free-port.ts";
import { benchSecrets, bundleWorker, startServer, type BenchServer } from "./server.ts";

/**
 * Local workerd caps SQLite's heap for its whole process at 512 MiB (src/workerd/util/sqlite.c++);
 * Cloudflare raises it to 8 GiB with the `increase-sqlite-hard-heap-limit` rollout gate. A device's
 * object keeps its database open from its decision until about 20 s later (its checkpoint alarm
 * fires after 10 s, then 10 s idle before eviction), so at 100–150 decisions a second over distinct
 * devices a process holds 2,000–3,000 open databases, and under the local cap one failed with
 * SQLITE_NOMEM there (at 2,020 of 5,000; with the gate on, the same 5,000 passed). Miniflare cannot
 * name a single gate, so the fleet's processes run with all of workerd's rollout gates on.
 */
const FLEET_ENV = { WORKERD_ALL_AUTOGATES: "1" } as const;

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
  /** Per device: the database as stored, and what its files take on a local disk (see `deviceStorage`). */
  storage: { objects: number; bytesPerDevice: number; diskBytesPerDevice: number; entriesPerDevice: number };
}


/**
 * The database size of every SQLite file of the one Durable Object class with the most objects
 * (DeviceLog), and what its files take on disk. Local workerd leaves each object's write-ahead
 * log uncheckpointed (a few pages' database file beside hundreds of KiB of WAL), so the files
 * measure what was written, not what is stored: the stored size is the page count the WAL's last
 * committed frame records (SQLite's WAL format), times the page size.
 */
function deviceStorage(dir: string): { objects: number; databaseBytes: number; diskBytes: number } {
  const byDirectory = new Map<string, { objects: number; databaseBytes: number; diskBytes: number }>();
  const walk = (at: string) => {
    for (const entry of readdirSync(at, { withFileTypes: true })) {
      const path = join(at, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (/\.sqlite(-wal|-shm)?$/.test(entry.name)) {
        const total = byDirectory.get(at) ?? { objects: 0, databaseBytes: 0, diskBytes: 0 };
        total.diskBytes += statSync(path).size;
        if (entry.name.endsWith(".sqlite")) {
          total.objects += 1;
          total.databaseBytes += databaseSize(path);
        }
        byDirectory.set(at, total);
      }
    }
  };
  walk(dir);
  return [...byDirectory.values()].sort((a, b) => b.objects - a.objects)[0] ?? { objects: 0, databaseBytes: 0, diskBytes: 0 };
}

const WAL_HEADER_BYTES = 32;
const WAL_FRAME_HEADER_BYTES = 24;

/** The size of the database `path` as of its last commit: from its WAL's last committed frame of the current salt, else the file itself. */
function databaseSize(path: string): number {
  const fileBytes = statSync(path).size;
  let wal: Buffer;
  try {
    wal = readFileSync(`${path}-wal`);
  } catch {
    return fileBytes;
  }
  if (wal.length < WAL_HEADER_BYTES || (wal.readUInt32BE(0) & 0xfffffffe) !== 0x377f0682) return fileBytes;
  const pageSize = wal.readUInt32BE(8) === 1 ? 65536 : wal.readUInt32BE(8);
  const salts = [wal.readUInt32BE(16), wal.readUInt32BE(20)];
  let pages = 0;
  for (let at = WAL_HEADER_BYTES; at + WAL_FRAME_HEADER_BYTES + pageSize <= wal.length; at += WAL_FRAME_HEADER_BYTES + pageSize) {
    // Frames left from before the WAL was last restarted carry other salts, and end the log.
    if (wal.readUInt32BE(at + 8) !== salts[0] || wal.readUInt32BE(at + 12) !== salts[1]) break;
    const committedPages = wal.readUInt32BE(at + 4);
    if (committedPages !== 0) pages = committedPages;
  }
  return pages === 0 ? fileBytes : pages * pageSize;
}

export async function runFleet(options: FleetOptions, log: (line: string) => void = () => {}): Promise<FleetResults> {
  const dir = mkdtempSync(join(tmpdir(), "warden-bench-fleet-"));
  // workerd reads it from the environment Miniflare starts it in; only this part's processes get it.
  const previous = Object.fromEntries(Object.keys(FLEET_ENV).map((name) => [name, process.env[name]]));
  Object.assign(process.env, FLEET_ENV);
  const start = { persistRoot: dir, production: true, secrets: benchSecrets(), script: await bundleWorker("worker/index.ts"), port: await freePort() };
  let server: BenchServer = await startServer(start);
  let disposed = false;
  const restart = async () => {
    await server.mf.dispose();
    server = await startServer(start);
  };
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
      return 0;
    });
    await inFlight(registrations, options.concurrency);
    const seconds = (performance.now() - t0) / 1000;

    const decideAs = (client: WardenClient) => async () => {
      const start = performance.now();
      const { status, body } = await client.decide<{ decision?: string; token?: string; log?: unknown }>(DECISION);
      const latency = performance.now() - start;
      if (status !== 200 || body.decision !== "permit" || !body.token || !body.log) throw new Error(`${client.deviceId}: expected a logged permit with a token, got ${status} ${JSON.stringify(body)}`);
      return latency;
    };
    const wave = async (devices: number, perDevice: number): Promise<FleetWave> => {
      await restart();
      // Warm-up on the last ten devices, so that the wave does not start on a cold isolate.
      await inFlight(Array.from({ length: 200 }, (_, i) => decideAs(clients[clients.length - 1 - (i % 10)] as WardenClient)), options.concurrency);
      const jobs: (() => Promise<number>)[] = [];
      for (let round = 0; round < perDevice; round += 1) for (let i = 0; i < devices; i += 1) jobs.push(decideAs(clients[i] as WardenClient));
      const { latencies, wallMs } = await inFlight(jobs, options.concurrency);
      const result = { devices, requests: latencies.length, latency: stats(latencies), rps: (latencies.length * 1000) / wallMs };
      log(`  ${devices} device(s) active: ${result.requests} decisions, p50 ${result.latency.p50.toFixed(2)} ms, ${result.rps.toFixed(0)} req/s`);
      return result;
    };
    const alone = await wave(1, options.alone);
    const waves: FleetWave[] = [];
    for (const { devices, perDevice } of options.waves) waves.push(await wave(Math.min(devices, clients.length), perDevice));

    // Measured with the process gone: a live one deletes the files of objects it evicts meanwhile.
    await server.mf.dispose();
    disposed = true;
    const storage = deviceStorage(dir);
    const decisions = options.alone + options.waves.reduce((total, w) => total + Math.min(w.devices, clients.length) * w.perDevice, 0) + 200 * (options.waves.length + 1);
    return {
      options,
      registration: { devices: options.devices, seconds, rps: (options.devices * 3) / seconds },
      alone,
      waves,
      // Each device's log holds its registration, its session and its decisions.
      storage: { objects: storage.objects, bytesPerDevice: storage.databaseBytes / Math.max(1, storage.objects), diskBytesPerDevice: storage.diskBytes / Math.max(1, storage.objects), entriesPerDevice: 2 + decisions / options.devices },
    };
  } finally {
    if (!disposed) await server.mf.dispose();
    rmSync(dir, { recursive: true, force: true });
    for (const [name, value] of Object.entries(previous)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  }
}
