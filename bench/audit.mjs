#!/usr/bin/env node
// `npm run bench:audit`: the audit trail's benchmarks (section "Audit trail" of bench/README.md).
// Prints figures, asserts only that what it measured verified.
//
//   A. Appends per second on one device: appends issued from inside the worker to the device's
//      Durable Object (hash, HMAC, SQLite insert per entry), 1 and 16 in flight.
//   B. Archival throughput: the object's alarm signs a checkpoint over the whole log and seals it
//      into 1,000-entry segments in R2 (create-only put, read back, verify, prune).
//   C. Export: GET /v1/devices/:id/export streamed to a file (segments from R2 plus the live tail).
//   D. `warden audit verify` on that file: in-process (worker/log/export-verify.ts) and as the real CLI
//      (bin/warden.js, a child process), beside raw SHA-256 over the same entry lines.
//
// Options: --quick (fewer entries), --entries=N, --appends-only (A alone), --without-log-keys
// (A with no LOG_SIGNING_KEY and LOG_HMAC_KEY: the cost of naming keys and chaining HMACs).
// Everything runs locally in Miniflare; the raw
// results go to bench/out/audit.json (git-ignored), the export to bench/out/audit-export.jsonl.
import { spawnSync } from "node:child_process";
import { createHash, generateKeyPairSync, randomBytes } from "node:crypto";
import { createReadStream, mkdirSync, readFileSync, statSync, writeFileSync, createWriteStream } from "node:fs";
import { cpus } from "node:os";
import { dirname, resolve } from "node:path";
import { createInterface } from "node:readline";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { fileURLToPath } from "node:url";
import { Log, LogLevel, Miniflare } from "miniflare";
import { tsImport } from "tsx/esm/api";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const out = resolve(root, "bench/out");
const args = process.argv.slice(2);
const quick = args.includes("--quick");
const entriesArg = args.find((arg) => arg.startsWith("--entries="));
const appendsOnly = args.includes("--appends-only") || args.includes("--without-log-keys");
const withoutLogKeys = args.includes("--without-log-keys");
const TOTAL = entriesArg ? Number(entriesArg.slice("--entries=".length)) : quick ? 3000 : 20000;
const SEGMENT = 1000;
const WASM_NAME = "cedar_wasm_bg.wasm";
const log = (line) => process.stderr.write(`${line}\n`);

mkdirSync(out, { recursive: true });

// ---- the bench worker in Miniflare ----------------------------------------------------------
const { wranglerConfig, bundleWorker } = await tsImport("./server.ts", import.meta.url);
const config = wranglerConfig();
const bundled = await bundleWorker("bench/audit-worker.ts");
const adminToken = randomBytes(32).toString("base64url");
const auditorToken = randomBytes(32).toString("base64url");
const hmacKey = randomBytes(32).toString("base64url");
const jwk = () => JSON.stringify(generateKeyPairSync("ed25519").privateKey.export({ format: "jwk" }));
const mf = new Miniflare({
  log: new Log(LogLevel.WARN),
  cf: false,
  compatibilityDate: config.compatibility_date,
  compatibilityFlags: config.compatibility_flags ?? [],
  modulesRoot: root,
  modules: [
    { type: "ESModule", path: resolve(root, "bench/audit-worker.js"), contents: bundled },
    { type: "CompiledWasm", path: resolve(root, "bench", WASM_NAME), contents: readFileSync(resolve(root, "node_modules/@cedar-policy/cedar-wasm/web", WASM_NAME)) },
  ],
  durableObjects: { DEVICES: { className: "DeviceLog", useSQLite: true } },
  r2Buckets: ["BUNDLES", "ARCHIVE"],
  bindings: {
    TENANT: "default",
    LOG_ORIGIN: config.vars?.LOG_ORIGIN ?? "warden.example.com/log",
    BUNDLE_REFRESH_SECONDS: "5",
    SIGNING_KEY: jwk(),
    ADMIN_TOKEN: adminToken,
    AUDITOR_TOKEN: auditorToken,
    PUBLISHER_KEYS: JSON.stringify({ keys: [] }),
    ...(withoutLogKeys ? {} : { LOG_SIGNING_KEY: jwk(), LOG_HMAC_KEY: hmacKey }),
    // Nothing is signed or archived while appends are timed; B triggers it explicitly.
    LOG_CHECKPOINT_ENTRIES: "1000000000",
    LOG_CHECKPOINT_SECONDS: "86400",
    ARCHIVE_SEGMENT_ENTRIES: String(SEGMENT),
    ARCHIVE_SEGMENT_MINUTES: "1000000",
  },
});
const url = (await mf.ready).toString().replace(/\/+$/, "");
const results = { date: new Date().toISOString(), machine: { cpus: cpus().length, cpu: cpus()[0]?.model, node: process.version }, entries: TOTAL, withoutLogKeys };

async function call(method, path, body, token = adminToken) {
  const response = await fetch(`${url}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body ? { "content-type": "application/json" } : {}) },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${await response.text()}`);
  return response;
}

async function device(id) {
  const publicKey = generateKeyPairSync("ed25519").publicKey.export({ format: "jwk" });
  await call("POST", "/v1/devices", { id, os: "linux", public_key: publicKey });
  return id;
}

async function timed(work) {
  const start = performance.now();
  const value = await work();
  return { ms: performance.now() - start, value };
}

try {
  // A. appends per second on one device.
  log(`A. appends on one device`);
  results.appends = [];
  for (const concurrency of [1, 16]) {
    const id = await device(`append-c${concurrency}`);
    const count = Math.min(TOTAL, quick ? 2000 : 10000);
    await call("POST", `/bench/audit/${id}/append`, { count: 200, concurrency });
    const { ms } = await timed(() => call("POST", `/bench/audit/${id}/append`, { count, concurrency }));
    results.appends.push({ concurrency, count, ms, perSecond: (count / ms) * 1000 });
    log(`   ${concurrency} in flight: ${count} appends in ${ms.toFixed(0)} ms`);
  }
  {
    const id = await device("append-inside");
    const count = Math.min(TOTAL, quick ? 2000 : 10000);
    await call("POST", `/bench/audit/${id}/append-inside`, { count: 200 });
    const inside = await (await call("POST", `/bench/audit/${id}/append-inside`, { count })).json();
    results.appendInside = { count, ms: inside.ms, usPerAppend: (inside.ms * 1000) / count, perSecond: (count / inside.ms) * 1000 };
  }

  if (appendsOnly) throw Object.assign(new Error("appends only"), { done: true });
  // B. archival throughput.
  log(`B. archival of ${TOTAL} entries`);
  const id = await device("archive");
  await call("POST", `/bench/audit/${id}/append`, { count: TOTAL - 1, concurrency: 16 });
  await call("POST", `/bench/audit/${id}/tune`, { checkpointEntries: 1, segmentEntries: SEGMENT });
  const archival = await timed(() => call("POST", `/bench/audit/${id}/alarm`));
  const archivedEntries = Math.floor(TOTAL / SEGMENT) * SEGMENT;
  results.archival = { entries: archivedEntries, segments: archivedEntries / SEGMENT, ms: archival.ms, perSecond: (archivedEntries / archival.ms) * 1000 };
  log(`   ${archivedEntries} entries in ${archivedEntries / SEGMENT} segments: ${archival.ms.toFixed(0)} ms`);

  // C. export.
  log(`C. export`);
  const exportFile = resolve(out, "audit-export.jsonl");
  const exported = await timed(async () => {
    const response = await call("GET", `/v1/devices/${id}/export`, undefined, auditorToken);
    await pipeline(Readable.fromWeb(response.body), createWriteStream(exportFile));
  });
  const bytes = statSync(exportFile).size;
  results.export = { entries: TOTAL, bytes, ms: exported.ms, perSecond: (TOTAL / exported.ms) * 1000, mbPerSecond: bytes / 1e6 / (exported.ms / 1000) };
  const keysFile = resolve(out, "audit-log-keys.json");
  writeFileSync(keysFile, await (await call("GET", "/.well-known/warden-log-keys.json")).text());
  const hmacFile = resolve(out, "audit-hmac.key");
  writeFileSync(hmacFile, `${hmacKey}\n`, { mode: 0o600 });

  // D. verification beside raw SHA-256 over the same lines.
  log(`D. verification`);
  const lines = readFileSync(exportFile, "utf8").trimEnd().split("\n");
  const entryLines = lines.filter((line) => !line.startsWith('{"kind"'));
  const sha = await timed(async () => {
    for (const line of entryLines) createHash("sha256").update(line).digest();
  });
  const parseAndHash = await timed(async () => {
    const { entryHash } = await tsImport("../worker/log/chain.ts", import.meta.url);
    for (const line of entryLines) entryHash(JSON.parse(line));
  });
  const { verifyExport } = await tsImport("../worker/log/export-verify.ts", import.meta.url);
  const { loadKeys } = await tsImport("../cli/audit.ts", import.meta.url);
  const { parseMacKey } = await tsImport("../worker/log/mac.ts", import.meta.url);
  const keys = await loadKeys(keysFile);
  const inProcess = await timed(async () => {
    const input = createInterface({ input: createReadStream(exportFile, { encoding: "utf8" }), crlfDelay: Infinity });
    return verifyExport(input, { keys, macKeys: [parseMacKey(hmacKey)] });
  });
  if (!inProcess.value.ok) throw new Error(`the export did not verify: ${JSON.stringify(inProcess.value.failure)}`);
  const cli = await timed(async () =>
    spawnSync(process.execPath, [resolve(root, "bin/warden.js"), "audit", "verify", exportFile, "--keys", keysFile, "--hmac-key", hmacFile, "--json", "--quiet"], {
      encoding: "utf8",
    }),
  );
  if (cli.value.status !== 0) throw new Error(`warden audit verify exited ${cli.value.status}: ${cli.value.stdout}${cli.value.stderr}`);
  const cliReport = JSON.parse(cli.value.stdout);
  results.verify = {
    entries: entryLines.length,
    bytes,
    sha256: { ms: sha.ms, perSecond: (entryLines.length / sha.ms) * 1000, mbPerSecond: bytes / 1e6 / (sha.ms / 1000) },
    parseAndEntryHash: { ms: parseAndHash.ms, perSecond: (entryLines.length / parseAndHash.ms) * 1000 },
    inProcess: { ms: inProcess.ms, perSecond: (entryLines.length / inProcess.ms) * 1000 },
    cli: { wallMs: cli.ms, verifyMs: cliReport.seconds * 1000, perSecond: entryLines.length / cliReport.seconds, wallPerSecond: (entryLines.length / cli.ms) * 1000 },
  };
} catch (error) {
  if (!error.done) throw error;
} finally {
  await mf.dispose();
}

writeFileSync(resolve(out, withoutLogKeys ? "audit-without-log-keys.json" : "audit.json"), `${JSON.stringify(results, null, 2)}\n`);
const n = (value) => Math.round(value).toLocaleString("en-US");
const o = [];
o.push(`Warden audit bench  ${results.date}  (${results.machine.cpus} × ${results.machine.cpu}, Node ${results.machine.node}${quick ? ", --quick" : ""})`);
for (const a of results.appends) {
  o.push(`A. appends, one device, ${String(a.concurrency).padStart(2)} in flight${withoutLogKeys ? ", no log keys" : ""}: ${n(a.perSecond)}/s (${a.count} in ${n(a.ms)} ms)`);
}
{
  const i = results.appendInside;
  o.push(`A. one append inside the object (hash${withoutLogKeys ? "" : ", key, HMAC"}, SQLite insert): ${i.usPerAppend.toFixed(1)} µs (${n(i.perSecond)}/s over ${i.count})`);
}
if (appendsOnly) {
  process.stdout.write(`${o.join("\n")}\n`);
  process.exit(0);
}
const b = results.archival;
o.push(`B. archival: ${n(b.perSecond)} entries/s (${b.entries} entries, ${b.segments} segments of ${SEGMENT}, checkpoint included, ${n(b.ms)} ms)`);
const c = results.export;
o.push(`C. export streamed: ${n(c.perSecond)} entries/s, ${c.mbPerSecond.toFixed(1)} MB/s (${(c.bytes / 1e6).toFixed(1)} MB)`);
const d = results.verify;
o.push(`D. verify ${d.entries} entries (${(d.bytes / 1e6).toFixed(1)} MB):`);
o.push(`   raw SHA-256 of each entry line        ${n(d.sha256.perSecond).padStart(10)}/s  (${d.sha256.mbPerSecond.toFixed(0)} MB/s)`);
o.push(`   JSON.parse + RFC 8785 + SHA-256        ${n(d.parseAndEntryHash.perSecond).padStart(10)}/s`);
o.push(`   audit verify, in-process               ${n(d.inProcess.perSecond).padStart(10)}/s`);
o.push(`   warden audit verify (CLI, its timing)  ${n(d.cli.perSecond).padStart(10)}/s  (wall with node+tsx start: ${n(d.cli.wallPerSecond)}/s)`);
process.stdout.write(`${o.join("\n")}\n`);
