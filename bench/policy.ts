/**
 * Part B: in-isolate policy evaluation. Node generates each bundle and posts it to the
 * bench worker, which compiles it (compileBundle), then times decide() and bare
 * cedar-wasm calls on it inside workerd and answers with the figures.
 */
import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { compilable } from "./bundles.ts";
import { generateBundle, type GeneratedBundle } from "./policies.ts";
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
  compileMs: number;
  preparseWholeMs: number;
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
    | "decideDeepPath",
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

export async function runPolicy(url: string, options: PolicyOptions, log: (line: string) => void = () => {}): Promise<PolicyResult[]> {
  const schema = readFileSync(resolve(root, "policy-bundles/default/schema.cedarschema"), "utf8");
  const manifest = JSON.parse(readFileSync(resolve(root, "policy-bundles/default/manifest.json"), "utf8"));
  const results: PolicyResult[] = [];
  // One untimed pass on the smallest size first, so that V8 has tiered the cedar wasm and the
  // decision path up before anything is recorded (part A may or may not have run before).
  const sizes = [options.sizes[0] as number, ...options.sizes];
  for (const [index, size] of sizes.entries()) {
    const generated = generateBundle(size, schema, manifest);
    const document = compilable(generated.sources, { name: `bench-${size}` });
    const loaded = await post<{ digest: string; policies: number; compileSteps: Record<string, number> }>(`${url}/bench/policy/load`, document, log);
    if (loaded.policies !== size) throw new Error(`bundle of ${size} compiled to ${loaded.policies} policies`);
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
    results.push({ ...run, compileSteps: loaded.compileSteps, counts: generated.counts });
    log(`  ${size} policies: decide ${run.timings.decide.us.toFixed(1)} µs, cedar whole set ${run.timings.cedarWholeValidated.us.toFixed(1)} µs`);
  }
  return results;
}
