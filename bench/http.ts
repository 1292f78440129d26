/**
 * Part A: `POST /v1/decisions` against its floor, `POST /bench/chain/:device` (a bare
 * SHA-256-chained insert in a minimal Durable Object, bench/chain-floor.ts), over HTTP on
 * loopback, with Warden's own append (`POST /bench/append/:device`, same device and Durable
 * Object as the decisions) and a no-op beside them, interleaved block by block; then the same
 * requests handed to the app inside the isolate, without the transport.
 */
import { performance } from "node:perf_hooks";
import { WardenClient, generateDeviceKey, type DecisionRequest, type DecisionResponse } from "../cli/client.ts";
import { compilable, defaultSources } from "./bundles.ts";

export interface HttpOptions {
  warmup: number;
  /** Sequential requests per side, run as `blocks` alternating blocks. */
  sequential: number;
  blocks: number;
  concurrency: number;
  /** Requests per side in the concurrent run. */
  concurrent: number;
}

export interface SideStats {
  n: number;
  p50: number;
  p90: number;
  p99: number;
  mean: number;
  min: number;
  max: number;
}

export interface HttpResults {
  options: HttpOptions;
  decision: SideStats;
  /** The bare floor: POST /bench/chain/:device. */
  chain: SideStats;
  /** Context: Warden's own append primitive, POST /bench/append/:device. */
  append: SideStats;
  /** Context: POST /bench/noop, the HTTP path without the Durable Object. */
  noop: SideStats;
  /** Mean time inside the worker's fetch handler during the sequential run, by route (ms). */
  inWorkerMeanMs: { decision: number | null; chain: number | null; append: number | null; noop: number | null };
  /** The same requests handed to the app inside the isolate (no transport), mean µs per kind. */
  inIsolateUs: { decision: number; chain: number; append: number; noop: number };
  /** Requests per second at `concurrency`, and the median latency under that load. */
  decisionRps: number;
  chainRps: number;
  appendRps: number;
  decisionLoadedP50: number;
  chainLoadedP50: number;
  appendLoadedP50: number;
  /** Mean milliseconds to sign one DPoP proof in Node (done ahead of the timed loops). */
  proofSignMs: number;
  /** Microseconds per step of a decision, timed in the isolate (bench/worker.ts /bench/breakdown), and the WebCrypto operations they need. */
  breakdown: Record<string, number | null>;
  /** Microseconds per operation inside the device's Durable Object: proof spend, bare insert, recordDecisions, the chain floor's insert. */
  storageUs: Record<string, number>;
  /** Each step ÷ its primitive, timed in alternating batches: the median of the batches' own ratios (dpopVerify, actionTokenSign, proofSpend, recordDecisions). */
  stepRatios: Record<string, number>;
  /** compileBundle() of the default bundle in the isolate, warm, median of 3, ms. */
  compileDefaultMs: number;
  firstDecision: DecisionResponse;
}

export const DECISION: DecisionRequest = {
  agent: { id: "claude-code", version: "2.1.0" },
  action: { type: "file.write", targets: [{ kind: "path", value: "/home/dev/workspace/x.ts" }] },
};

/** A prepared request: everything computed before the clock starts. */
interface Prepared {
  url: string;
  headers: Record<string, string>;
  body: string;
}

/**
 * `count` sequential `POST /v1/decisions` of one device, proofs signed ahead so signing is never
 * timed; each must be a logged permit. Pushes each latency (ms) to `into` when given.
 */
export async function timedPermits(url: string, device: { client: WardenClient; token: string }, count: number, body: (i: number) => string, into: number[] | null): Promise<void> {
  const prepared = [];
  for (let i = 0; i < count; i += 1) prepared.push({ dpop: await device.client.proof("POST", "/v1/decisions", { accessToken: device.token }), body: body(i) });
  for (const { dpop, body: text } of prepared) {
    const t0 = performance.now();
    const response = await fetch(`${url}/v1/decisions`, { method: "POST", headers: { "content-type": "application/json", authorization: `DPoP ${device.token}`, dpop }, body: text });
    const answer = (await response.json()) as DecisionResponse;
    const elapsed = performance.now() - t0;
    if (response.status !== 200 || answer.decision !== "permit" || !answer.log) throw new Error(`expected a logged permit: ${JSON.stringify(answer)}`);
    into?.push(elapsed);
  }
}

function percentile(sorted: number[], p: number): number {
  // Nearest rank.
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1] as number;
}

export function stats(samples: number[]): SideStats {
  const sorted = [...samples].sort((a, b) => a - b);
  return {
    n: sorted.length,
    p50: percentile(sorted, 50),
    p90: percentile(sorted, 90),
    p99: percentile(sorted, 99),
    mean: sorted.reduce((a, b) => a + b, 0) / sorted.length,
    min: sorted[0] as number,
    max: sorted[sorted.length - 1] as number,
  };
}

type Check = (status: number, text: string) => void;

async function send(request: Prepared, check: Check): Promise<number> {
  const t0 = performance.now();
  const response = await fetch(request.url, { method: "POST", headers: request.headers, body: request.body });
  const text = await response.text();
  const elapsed = performance.now() - t0;
  check(response.status, text);
  return elapsed;
}

async function sequential(requests: Prepared[], check: Check, into: number[]): Promise<void> {
  for (const request of requests) into.push(await send(request, check));
}

/** `requests` through `concurrency` workers; returns wall-clock ms and per-request latencies. */
function concurrent(requests: Prepared[], concurrency: number, check: Check): Promise<{ wallMs: number; latencies: number[] }> {
  return inFlight(
    requests.map((request) => () => send(request, check)),
    concurrency,
  );
}

/** Runs `jobs`, each answering its own latency in ms, `concurrency` at a time; returns the latencies and the wall time. */
export async function inFlight(jobs: (() => Promise<number>)[], concurrency: number): Promise<{ wallMs: number; latencies: number[] }> {
  const latencies: number[] = [];
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < jobs.length) {
        const job = jobs[next++] as () => Promise<number>;
        latencies.push(await job());
      }
    }),
  );
  return { wallMs: performance.now() - t0, latencies };
}

export async function runHttp(url: string, adminToken: string, options: HttpOptions, log: (line: string) => void = () => {}): Promise<HttpResults> {
  const deviceId = `bench-${crypto.randomUUID().slice(0, 8)}`;
  const client = new WardenClient({ url, deviceId, key: await generateDeviceKey("EdDSA") });
  const registered = await client.register(adminToken, "linux");
  if (registered.status !== 201) throw new Error(`registration failed: ${registered.status} ${JSON.stringify(registered.body)}`);
  const token = await client.openSession();

  const decisionBody = JSON.stringify(DECISION);
  let proofMs = 0;
  let proofs = 0;
  /** Decision requests with fresh DPoP proofs, signed now, before they are timed (proofs live 60 s). */
  const decisions = async (count: number): Promise<Prepared[]> => {
    const t0 = performance.now();
    const out: Prepared[] = [];
    for (let i = 0; i < count; i += 1) {
      const dpop = await client.proof("POST", "/v1/decisions", { accessToken: token });
      out.push({ url: `${url}/v1/decisions`, headers: { "content-type": "application/json", authorization: `DPoP ${token}`, dpop }, body: decisionBody });
    }
    proofMs += performance.now() - t0;
    proofs += count;
    return out;
  };

  // The floor appends an entry shaped and sized like a decision's log entry (routes/decisions.ts logData).
  const appendData = (i: number) =>
    JSON.stringify({
      decision_id: crypto.randomUUID(),
      decision: "permit",
      reason_code: "policy_permit",
      reasons: ["workspace-read-write"],
      policy: `sha256:${"0".repeat(64)}`,
      tier: null,
      session: crypto.randomUUID(),
      agent: { id: DECISION.agent.id, version: DECISION.agent.version, artifact_sha256: null },
      action: {
        type: DECISION.action.type,
        targets: DECISION.action.targets,
        submitted: DECISION.action.targets,
        inputs_sha256: null,
        sends_external: false,
      },
      context: null,
      token_jti: crypto.randomUUID(),
      n: i,
    });
  const noops = (count: number): Prepared[] =>
    Array.from({ length: count }, (_, i) => ({ url: `${url}/bench/noop`, headers: { "content-type": "application/json" }, body: appendData(i) }));
  const appends = (count: number): Prepared[] =>
    Array.from({ length: count }, (_, i) => ({ url: `${url}/bench/append/${deviceId}`, headers: { "content-type": "application/json" }, body: appendData(i) }));
  const chains = (count: number): Prepared[] =>
    Array.from({ length: count }, (_, i) => ({ url: `${url}/bench/chain/${deviceId}`, headers: { "content-type": "application/json" }, body: appendData(i) }));

  let firstDecision: DecisionResponse | undefined;
  const checkDecision: Check = (status, text) => {
    if (status !== 200) throw new Error(`decision answered ${status}: ${text}`);
    const body = JSON.parse(text) as DecisionResponse;
    if (body.decision !== "permit" || !body.token || !body.log) throw new Error(`expected a logged permit with a token: ${text}`);
    firstDecision ??= body;
  };
  const checkAppend: Check = (status, text) => {
    if (status !== 200) throw new Error(`append answered ${status}: ${text}`);
  };

  // Warm-up, alternating, untimed.
  const sink: number[] = [];
  for (let i = 0; i < options.warmup; i += 50) {
    const n = Math.min(50, options.warmup - i);
    await sequential(await decisions(n), checkDecision, sink);
    await sequential(chains(n), checkAppend, sink);
    await sequential(appends(n), checkAppend, sink);
    await sequential(noops(n), checkAppend, sink);
  }
  log(`  warm-up: ${options.warmup} requests per side`);

  const servedStats = async () => (await (await fetch(`${url}/bench/served`, { method: "POST" })).json()) as Record<string, { n: number; meanMs: number }>;
  await servedStats(); // reset

  // Sequential, alternating blocks so that drift (DO table growth, GC, the other core) hits both sides alike.
  const decisionMs: number[] = [];
  const chainMs: number[] = [];
  const appendMs: number[] = [];
  const noopMs: number[] = [];
  const perBlock = Math.ceil(options.sequential / options.blocks);
  for (let b = 0; b < options.blocks; b += 1) {
    const n = Math.min(perBlock, options.sequential - b * perBlock);
    const order = b % 2 === 0 ? ["decision", "chain", "append", "noop"] : ["noop", "append", "chain", "decision"];
    for (const side of order) {
      if (side === "decision") await sequential(await decisions(n), checkDecision, decisionMs);
      else if (side === "chain") await sequential(chains(n), checkAppend, chainMs);
      else if (side === "append") await sequential(appends(n), checkAppend, appendMs);
      else await sequential(noops(n), checkAppend, noopMs);
    }
  }
  const inWorker = await servedStats();
  log(`  sequential: ${decisionMs.length} decisions, ${chainMs.length} chain-floor rows, ${appendMs.length} appends, ${noopMs.length} no-ops`);

  // Throughput at a fixed concurrency, in halves ordered decision, floor, append, append, floor, decision.
  const half = Math.floor(options.concurrent / 2);
  const rest = options.concurrent - half;
  const d1 = await concurrent(await decisions(half), options.concurrency, checkDecision);
  const c1 = await concurrent(chains(half), options.concurrency, checkAppend);
  const a1 = await concurrent(appends(half), options.concurrency, checkAppend);
  const a2 = await concurrent(appends(rest), options.concurrency, checkAppend);
  const c2 = await concurrent(chains(rest), options.concurrency, checkAppend);
  const d2 = await concurrent(await decisions(rest), options.concurrency, checkDecision);
  log(`  concurrency ${options.concurrency}: ${options.concurrent} requests per side`);

  // The same requests handed to the app inside the isolate: what the worker spends, without the transport.
  const inIsolate: Record<string, { n: number; totalUs: number }> = {};
  const inprocBlocks = Math.max(2, options.blocks);
  const inprocPerBlock = Math.ceil(options.sequential / inprocBlocks);
  for (let b = 0; b < inprocBlocks; b += 1) {
    const kinds = b % 2 === 0 ? ["decision", "chain", "append", "noop"] : ["noop", "append", "chain", "decision"];
    const items: { kind: string; url: string; headers: Record<string, string>; body: string }[] = [];
    for (const kind of kinds) {
      const prepared = kind === "decision" ? await decisions(inprocPerBlock) : kind === "chain" ? chains(inprocPerBlock) : kind === "append" ? appends(inprocPerBlock) : noops(inprocPerBlock);
      for (const request of prepared) items.push({ kind, ...request });
    }
    const response = await fetch(`${url}/bench/inproc`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ items }) });
    const text = await response.text();
    if (!response.ok) throw new Error(`in-isolate run answered ${response.status}: ${text}`);
    for (const [kind, { n, meanUs }] of Object.entries(JSON.parse(text) as Record<string, { n: number; meanUs: number }>)) {
      const total = (inIsolate[kind] ??= { n: 0, totalUs: 0 });
      total.n += n;
      total.totalUs += n * meanUs;
    }
  }
  const meanOf = (kind: string) => (inIsolate[kind] ? inIsolate[kind].totalUs / inIsolate[kind].n : Number.NaN);
  log(`  in-isolate: ${inprocBlocks} blocks of ${inprocPerBlock} per kind`);

  // In-isolate breakdown of one decision's steps, with a proof signed just now.
  const dpop = await client.proof("POST", "/v1/decisions", { accessToken: token });
  const breakdownResponse = await fetch(`${url}/bench/breakdown`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      token,
      dpop,
      url: `${url}/v1/decisions`,
      decision: DECISION,
      bundle: compilable(defaultSources(), { name: "default" }),
      batches: 9,
      batchMs: 30,
      warmup: 20,
    }),
  });
  const breakdownText = await breakdownResponse.text();
  if (!breakdownResponse.ok) throw new Error(`breakdown answered ${breakdownResponse.status}: ${breakdownText}`);
  const breakdown = JSON.parse(breakdownText) as {
    verdict: string;
    compileDefaultMs: number;
    timings: Record<string, { us: number } | { error: string }>;
    ratios: Record<string, number>;
    storage: Record<string, number>;
  };
  for (const [name, timing] of Object.entries(breakdown.timings)) if ("error" in timing) log(`  breakdown step ${name} failed: ${timing.error}`);
  log(`  in-isolate breakdown done`);

  return {
    options,
    compileDefaultMs: breakdown.compileDefaultMs,
    breakdown: Object.fromEntries(Object.entries(breakdown.timings).map(([name, timing]) => [name, "us" in timing ? timing.us : null])),
    storageUs: breakdown.storage,
    stepRatios: breakdown.ratios,
    decision: stats(decisionMs),
    chain: stats(chainMs),
    append: stats(appendMs),
    noop: stats(noopMs),
    inWorkerMeanMs: {
      decision: inWorker["decision"]?.meanMs ?? null,
      chain: inWorker["chain"]?.meanMs ?? null,
      append: inWorker["append"]?.meanMs ?? null,
      noop: inWorker["noop"]?.meanMs ?? null,
    },
    inIsolateUs: { decision: meanOf("decision"), chain: meanOf("chain"), append: meanOf("append"), noop: meanOf("noop") },
    decisionRps: (options.concurrent * 1000) / (d1.wallMs + d2.wallMs),
    chainRps: (options.concurrent * 1000) / (c1.wallMs + c2.wallMs),
    appendRps: (options.concurrent * 1000) / (a1.wallMs + a2.wallMs),
    decisionLoadedP50: stats([...d1.latencies, ...d2.latencies]).p50,
    chainLoadedP50: stats([...c1.latencies, ...c2.latencies]).p50,
    appendLoadedP50: stats([...a1.latencies, ...a2.latencies]).p50,
    proofSignMs: proofMs / proofs,
    firstDecision: firstDecision as DecisionResponse,
  };
}
