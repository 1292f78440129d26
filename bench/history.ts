/**
 * Part I: history-aware decisions (docs/history.md).
 *
 *   latency  POST /v1/decisions under bundles declaring 0, 5 and 20 history features, each read
 *            by a policy (so every decision reads the device's history first and records the
 *            values it used), over HTTP like part A, one fresh device per bundle.
 *   storage  what one device's history occupies while 100,000 decision-shaped entries are
 *            appended (`/bench/history/grow`), under the 20-feature bundle: it must stay flat.
 *
 * The worker side (`/bench/history/grow`) is bench/history-routes.ts, registered by bench/worker.ts.
 */
import { WardenClient, generateDeviceKey } from "../cli/client.ts";
import type { BundleSources } from "../worker/policy/artifact.ts";
import { activateArtifact, buildArtifact, defaultSources } from "./bundles.ts";
import { stats, timedPermits, type SideStats } from "./http.ts";

export interface HistoryOptions {
  warmup: number;
  sequential: number;
  /** Entries appended for the storage run, in chunks of `chunk`. */
  entries: number;
  chunk: number;
}

export interface HistoryResults {
  options: HistoryOptions;
  latency: { features: number; stats: SideStats; recorded: number }[];
  storage: { entries: number; rows: number; bytes: number; logRows: number; appendUs: number }[];
  /** µs per append of entries no feature matches, on another device under the same bundle. */
  unmatchedAppendUs: number;
}

const KINDS = [
  (name: string) => ({ [name]: { kind: "count_within", filter: { decision: "permit" }, window_seconds: 60, max: 100 } }),
  (name: string) => ({ [name]: { kind: "formerly", filter: { action: "file.write", decision: "permit" }, within_seconds: 1800 } }),
  (name: string) => ({ [name]: { kind: "count_distinct_within", filter: { action: "file.write" }, field: "path", window_seconds: 600, max: 100 } }),
  (name: string) => ({ [name]: { kind: "sum_within", filter: { decision: "permit" }, field: "targets", window_seconds: 60, max: 100 } }),
  (name: string) => ({ [name]: { kind: "first_seen", filter: { action: "file.write" }, field: "path", max: 100 } }),
];
const TYPE_OF = ["Long", "Bool", "Long", "Long", "Bool"];

/**
 * The example bundle with `count` generated features in place of its own, all read by one
 * policy that never applies (so decisions stay permits, and every value is computed).
 */
export function historyBundle(count: number, sources: BundleSources = defaultSources()): BundleSources {
  const manifest = { ...(sources.manifest as Record<string, unknown>) };
  delete manifest["history"];
  delete manifest["detections"];
  delete manifest["playbook"];
  const names = Array.from({ length: count }, (_, i) => `f${i}`);
  const history = Object.assign({}, ...names.map((name, i) => (KINDS[i % KINDS.length] as (n: string) => object)(name))) as Record<string, unknown>;
  if (count > 0) manifest["history"] = history;
  const block = /type History = \{[\s\S]*?\n\};\n/;
  const historyType = `type History = {\n${names.map((name, i) => `  ${name}: ${TYPE_OF[i % TYPE_OF.length]},`).join("\n")}\n};\n`;
  let schema = sources.schema.replace(block, count > 0 ? historyType : "");
  if (count === 0) schema = schema.replace("  history: History,\n", "");
  let policies = sources.policies.replace(/@id\("exfil-after-customer-data"\)[\s\S]*?context\.history\.deletes_60s > 20 \};\n/, "");
  if (count > 0) {
    const never = names.map((name, i) => (TYPE_OF[i % TYPE_OF.length] === "Long" ? `context.history.${name} > 1000000000` : `(context.history.${name} && !context.history.${name})`)).join(" && ");
    policies += `\n@id("history-bench")\nforbid (principal, action, resource)\nwhen { ${never} };\n`;
  }
  return { ...sources, manifest: manifest as typeof sources.manifest, schema, policies };
}

async function activate(server: Parameters<typeof activateArtifact>[0], count: number, version: number): Promise<string> {
  const { statement, artifact } = await buildArtifact(historyBundle(count), { name: `history-${count}`, tenant: server.tenant, version }, server.publisherKey);
  await activateArtifact(server, version, artifact);
  return statement.digest;
}

async function readyClient(url: string, adminToken: string): Promise<{ client: WardenClient; token: string }> {
  const client = new WardenClient({ url, deviceId: `history-${crypto.randomUUID().slice(0, 8)}`, key: await generateDeviceKey("EdDSA") });
  const registered = await client.register(adminToken, "linux");
  if (registered.status !== 201) throw new Error(`registration failed: ${registered.status}`);
  return { client, token: await client.openSession() };
}

export async function runHistory(
  server: Parameters<typeof activateArtifact>[0],
  options: HistoryOptions,
  log: (line: string) => void = () => {},
): Promise<HistoryResults> {
  const { url, adminToken } = server;
  const results: HistoryResults = { options, latency: [], storage: [], unmatchedAppendUs: 0 };
  let version = 1000;
  for (const features of [0, 5, 20]) {
    const digest = await activate(server, features, (version += 1));
    const { client, token } = await readyClient(url, adminToken);
    const body = (i: number) => JSON.stringify({ agent: { id: "claude-code", version: "2.1.0" }, action: { type: "file.write", targets: [{ kind: "path", value: `/home/dev/workspace/src/f-${i % 50}.ts` }] } });
    // The deployment pointer is cached per isolate (BUNDLE_REFRESH_SECONDS): wait until decisions name this bundle.
    for (let attempt = 0; ; attempt += 1) {
      const answer = await client.decide({ agent: { id: "claude-code", version: "2.1.0" }, action: { type: "file.write", targets: [{ kind: "path", value: "/home/dev/workspace/x.ts" }] } });
      if (answer.body.policy === digest) break;
      if (attempt > 60) throw new Error(`the ${features}-feature bundle never decided`);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    const samples: number[] = [];
    let recorded = 0;
    const run = (count: number, into: number[] | null) => timedPermits(url, { client, token }, count, body, into);
    await run(options.warmup, null);
    await run(options.sequential, samples);
    // The values each decision used are in its entry: as many as the bundle's policies read.
    const entries = (await client.authorized<{ entries: { type: string; data: { history?: { values?: object } } }[] }>("GET", `/v1/devices/${client.deviceId}/log?limit=1000`)).body.entries;
    recorded = Object.keys(entries.filter((entry) => entry.type === "decision").at(-1)?.data.history?.values ?? {}).length;
    if (recorded !== features) throw new Error(`decisions under the ${features}-feature bundle record ${recorded} values`);
    results.latency.push({ features, stats: stats(samples), recorded });
    log(`  ${features} features: p50 ${stats(samples).p50.toFixed(2)} ms over ${samples.length} decisions`);
  }

  // Storage under the 20-feature bundle (active now), on a device of its own.
  const grow = async (type: string, from: number, count: number) => {
    const response = await fetch(`${url}/bench/history/grow`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ device, from, count, spread: 5000, type }) });
    if (!response.ok) throw new Error(`grow: ${response.status} ${await response.text()}`);
    return (await response.json()) as { rows: number; bytes: number; logRows: number; appendUs: number };
  };
  let device = "";
  const register = async () => {
    device = `history-grow-${crypto.randomUUID().slice(0, 8)}`;
    const registered = await new WardenClient({ url, deviceId: device, key: await generateDeviceKey("EdDSA") }).register(adminToken, "linux");
    if (registered.status !== 201) throw new Error("registration failed");
  };
  await register();
  results.unmatchedAppendUs = (await grow("bench.event", 0, options.chunk)).appendUs;
  log(`  ${options.chunk} entries no feature matches: ${results.unmatchedAppendUs.toFixed(0)} µs per append`);
  await register();
  for (let from = 0; from < options.entries; from += options.chunk) {
    const footprint = await grow("decision", from, options.chunk);
    results.storage.push({ entries: from + options.chunk, ...footprint });
    log(`  ${from + options.chunk} entries: history ${footprint.rows} rows, ${(footprint.bytes / 1024).toFixed(1)} KiB; ${footprint.logRows} log rows in the object; ${footprint.appendUs.toFixed(0)} µs per append`);
  }
  return results;
}
