/**
 * Part B: in-isolate policy evaluation. Node generates each bundle and builds its signed
 * artifact as `warden bundle build` does (compiled once, in Node), uploads it to the bench
 * server's R2; the worker times activation's checks and an isolate's opening of it, then
 * decide() and bare cedar-wasm calls on it, inside workerd. For the largest size, a new
 * workerd process is started over the state the activation left, and its first decision is
 * timed from inside the fresh isolate (`coldFirstDecision`).
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { activateArtifact, buildArtifact, defaultSources } from "./bundles.ts";
import { generateBundle, type GeneratedBundle } from "./policies.ts";
import { benchSecrets, bundleWorker, startServer, type BenchServer } from "./server.ts";
import { median } from "./timing.ts";
import type { Timing } from "./worker.ts";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");

export interface PolicyOptions {
  sizes: number[];
  batches: number;
  batchMs: number;
  warmup: number;
}

export interface PolicyResult {
  policies: number;
  counts: GeneratedBundle["counts"];
  sliceSize: number;
  sliceAnyAgent: number;
  /** Compiling and signing the artifact in Node (`warden bundle build` without the tests). */
  buildMs: number;
  artifactBytes: number;
  /** In the isolate: the artifact read from R2; activation's checks (verify, compile again and compare, open); an isolate's opening (verify, open). */
  readMs: number;
  activationMs: number;
  openMs: number;
  firstDecideMs: number;
  /** Milliseconds of each cedar-wasm step of compileBundle, repeated on its own. */
  compileSteps: Record<string, number>;
  timings: Record<
    | "decide"
    | "cedarWholeValidated"
    | "cedarWholeUnvalidated"
    | "evaluateTarget"
    | "cedarSliceValidated"
    | "cedarSliceUnvalidated"
    | "cedarEmptyValidated"
    | "cedarEmptyUnvalidated"
    | "cedarEmptyNoSchema"
    | "cedarBare"
    | "targetEntity"
    | "decideDeepPath"
    | "decideUnmemoised",
    Timing
  >;
}

export interface ClockProbe {
  spanMs: number;
  dateSpanMs: number;
  calls: number;
  distinctReadings: number;
  minStepMs: number | null;
  medianStepMs: number | null;
  fractional: boolean;
}

/**
 * POSTs JSON. Both bench routes are idempotent, so a connection the local server closed
 * under a reused keep-alive socket ("other side closed", seen now and then after a long
 * request) is retried, up to twice.
 */
async function post<T>(url: string, body: unknown, log: (line: string) => void): Promise<T> {
  const payload = JSON.stringify(body);
  for (let attempt = 1; ; attempt += 1) {
    let response: Response;
    try {
      response = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: payload });
    } catch (error) {
      if (attempt >= 3) throw error;
      log(`  (retrying ${new URL(url).pathname}: ${String((error as Error).cause ?? error)})`);
      await new Promise((resolve) => setTimeout(resolve, 250));
      continue;
    }
    const text = await response.text();
    if (!response.ok) throw new Error(`${url} answered ${response.status}: ${text}`);
    return JSON.parse(text) as T;
  }
}

export async function probeClock(url: string): Promise<ClockProbe> {
  const response = await fetch(`${url}/bench/clock`);
  return (await response.json()) as ClockProbe;
}

export async function runPolicy(server: BenchServer, options: PolicyOptions, log: (line: string) => void = () => {}): Promise<PolicyResult[]> {
  const url = server.url;
  const schema = readFileSync(resolve(root, "policy-bundles/default/schema.cedarschema"), "utf8");
  const manifest = JSON.parse(readFileSync(resolve(root, "policy-bundles/default/manifest.json"), "utf8"));
  const bucket = await server.mf.getR2Bucket("BUNDLES");
  const results: PolicyResult[] = [];
  // One untimed pass on the smallest size first, so that V8 has tiered the cedar wasm and the
  // decision path up before anything is recorded (part A may or may not have run before).
  const sizes = [options.sizes[0] as number, ...options.sizes];
  for (const [index, size] of sizes.entries()) {
    const generated = generateBundle(size, schema, manifest);
    const { artifact, buildMs } = await buildArtifact(generated.sources, { name: `bench-${size}`, tenant: server.tenant, version: size }, server.publisherKey);
    const key = `bench/policy/${size}-${index}.jws`;
    await bucket.put(key, artifact);
    const loaded = await post<{ digest: string; policies: number; artifactBytes: number; readMs: number; activationMs: number; openMs: number; compileSteps: Record<string, number> }>(
      `${url}/bench/policy/load`,
      { key },
      log,
    );
    if (loaded.policies !== size) throw new Error(`bundle of ${size} opened with ${loaded.policies} policies`);
    const run = await post<PolicyResult & { verdict: { decision: string; reasons: string[] }; wholeSet: { decision: string; reasons: string[] } }>(
      `${url}/bench/policy/run`,
      { digest: loaded.digest, agentId: generated.agentId, path: generated.path, batches: options.batches, batchMs: options.batchMs, warmup: options.warmup },
      log,
    );
    // Both sides must answer the same: permitted by exactly the agent's own policy.
    const expected = JSON.stringify([generated.expectedPolicy]);
    if (run.verdict.decision !== "permit" || JSON.stringify(run.verdict.reasons) !== expected) {
      throw new Error(`decide() at ${size}: ${JSON.stringify(run.verdict)}, expected permit by ${expected}`);
    }
    if (run.wholeSet.decision !== "allow" || JSON.stringify(run.wholeSet.reasons) !== expected) {
      throw new Error(`cedar whole set at ${size}: ${JSON.stringify(run.wholeSet)}, expected allow by ${expected}`);
    }
    if (index === 0) {
      log(`  warm-up pass on ${size} policies done`);
      continue;
    }
    const { compileSteps, readMs, activationMs, openMs, artifactBytes } = loaded;
    results.push({ ...run, compileSteps, readMs, activationMs, openMs, artifactBytes, buildMs, counts: generated.counts });
    log(`  ${size} policies: activation ${activationMs.toFixed(0)} ms, open ${openMs.toFixed(1)} ms, decide ${run.timings.decide.us.toFixed(1)} µs, cedar whole set ${run.timings.cedarWholeValidated.us.toFixed(1)} µs`);
  }
  return results;
}

export interface ColdFirstDecision {
  policies: number;
  runs: number;
  /** POST /v1/bundles/activate of the artifact, wall time from Node (verify, compile and compare, registry, R2 pointer). */
  activationMs: number;
  /** Medians over fresh workerd processes, measured inside the new isolate on its first request. */
  loadMs: number;
  decideMs: number;
  totalMs: number;
  /** Median wall time of that first request, from Node. */
  wallMs: number;
  /** The same in processes whose first request used Cedar on a policy of its own (/bench/policy/warm): what is left, the bundle's share and the worker's code run for the first time. */
  afterWarmTotalMs: number;
  /** That first use of Cedar in a new isolate (V8 compiling the wasm functions it calls), median ms: one policy preparsed, one request evaluated. */
  cedarFirstUseMs: number;
  cedarFirstPreparseMs: number;
  cedarFirstEvaluateMs: number;
  all: { loadMs: number; decideMs: number; totalMs: number; wallMs: number; afterWarmTotalMs: number; cedarFirstUseMs: number; cedarFirstPreparseMs: number; cedarFirstEvaluateMs: number }[];
}


/**
 * A fresh isolate's activation-to-first-decision: the bundle is activated through the admin API
 * on one server, which is then stopped; new workerd processes start over its persisted state,
 * and in each /bench/policy/cold times, inside the new isolate, what its first decision needs of
 * the bundle — pointer and artifact read from R2, verified and opened, the slice parsed,
 * decide(). In every other process it is the very first request; in the others it follows one
 * use of Cedar on a policy of its own (one preparse, one evaluation, and no other Cedar call
 * before them), which separates the cost of Cedar's first use in any isolate (V8 compiling the
 * wasm functions a call reaches) from the rest: the bundle's share and the worker's own code
 * running for the first time.
 */
export async function coldFirstDecision(sources: GeneratedBundle["sources"] | "default", request: unknown, runs: number, log: (line: string) => void = () => {}): Promise<ColdFirstDecision> {
  const dir = mkdtempSync(join(tmpdir(), "warden-bench-cold-"));
  try {
    const secrets = benchSecrets();
    const script = await bundleWorker();
    const setup = await startServer({ persistRoot: dir, secrets, script });
    const bundleSources = sources === "default" ? defaultSources() : sources;
    let activationMs: number;
    let policies: number;
    try {
      const { artifact } = await buildArtifact(bundleSources, { name: "bench-cold", tenant: setup.tenant, version: 1 }, setup.publisherKey);
      ({ activationMs } = await activateArtifact(setup, 1, artifact));
      policies = (bundleSources.policies.match(/@id\(/g) ?? []).length;
    } finally {
      await setup.mf.dispose();
    }
    const all: ColdFirstDecision["all"] = [];
    type Cold = { loadMs: number; decideMs: number; totalMs: number; policies: number; verdict: { decision: string } };
    type Warm = { preparseMs: number; evaluateMs: number; decideMs: number; decision: string };
    const fresh = async (warmFirst: boolean): Promise<{ answer: Cold; wallMs: number; warm: Warm }> => {
      const server = await startServer({ persistRoot: dir, secrets, script });
      try {
        const warm = warmFirst ? await post<Warm>(`${server.url}/bench/policy/warm`, {}, log) : { preparseMs: Number.NaN, evaluateMs: Number.NaN, decideMs: Number.NaN, decision: "allow" };
        if (warm.decision !== "allow") throw new Error(`Cedar's first use answered ${warm.decision}, not allow`);
        const t0 = performance.now();
        const answer = await post<Cold>(`${server.url}/bench/policy/cold`, { request }, log);
        const wallMs = performance.now() - t0;
        if (answer.verdict.decision !== "permit") throw new Error(`the cold decision at ${policies} policies was ${JSON.stringify(answer.verdict)}, not a permit`);
        return { answer, wallMs, warm };
      } finally {
        await server.mf.dispose();
      }
    };
    for (let run = 0; run < runs; run += 1) {
      const cold = await fresh(false);
      const warmed = await fresh(true);
      all.push({
        loadMs: cold.answer.loadMs,
        decideMs: cold.answer.decideMs,
        totalMs: cold.answer.totalMs,
        wallMs: cold.wallMs,
        afterWarmTotalMs: warmed.answer.totalMs,
        cedarFirstUseMs: warmed.warm.decideMs,
        cedarFirstPreparseMs: warmed.warm.preparseMs,
        cedarFirstEvaluateMs: warmed.warm.evaluateMs,
      });
    }
    log(`  fresh isolates, ${policies} policies: first decision ${all.map((one) => one.totalMs.toFixed(0)).join(", ")} ms in-isolate`);
    return {
      policies,
      runs,
      activationMs,
      loadMs: median(all.map((one) => one.loadMs)),
      decideMs: median(all.map((one) => one.decideMs)),
      totalMs: median(all.map((one) => one.totalMs)),
      wallMs: median(all.map((one) => one.wallMs)),
      afterWarmTotalMs: median(all.map((one) => one.afterWarmTotalMs)),
      cedarFirstUseMs: median(all.map((one) => one.cedarFirstUseMs)),
      cedarFirstPreparseMs: median(all.map((one) => one.cedarFirstPreparseMs)),
      cedarFirstEvaluateMs: median(all.map((one) => one.cedarFirstEvaluateMs)),
      all,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
