/**
 * E. The strict JSON reader (worker/json/strict.ts) beside JSON.parse, in-isolate, on
 * request bodies as the worker receives them: bytes, decoded and parsed. Two bodies:
 * a decision request of about 2 KiB and a decision batch just under the 64 KiB body cap.
 * The floor is what the worker did before: TextDecoder then JSON.parse.
 *
 *   POST /bench/json   (bench/worker.ts; Node side bench/json-run.ts) → µs per call, median of batches
 */
import type { OpenAPIHono } from "@hono/zod-openapi";
import type { AppEnv } from "../worker/context.ts";
import { MAX_BODY_BYTES } from "../worker/app.ts";
import { parseStrictJson } from "../worker/json/strict.ts";
import { timeSync, type Timing } from "./timing.ts";

/** A decision request shaped like the shim's: paths (some non-ASCII, one escaped quote), a command, context. */
function decisionRequest(index: number): Record<string, unknown> {
  const targets = [
    { kind: "path", value: `/home/dev/workspace/src/module-${index}/index.ts` },
    { kind: "path", value: `/home/dev/workspace/docs/überblick-${index}.md` },
    { kind: "path", value: `/home/dev/workspace/test/"quoted" name ${index}.test.ts` },
    { kind: "command", value: `git diff --stat HEAD~${index} -- src/ | head -n 40` },
    { kind: "url", value: `https://registry.npmjs.org/@scope/package-${index}` },
  ];
  const context: Record<string, string | number | boolean> = {};
  for (let k = 0; k < 40; k += 1) context[`field_${k}`] = k % 3 === 0 ? k * 1013 : k % 3 === 1 ? `value ${k} for request ${index}: a somewhat longer note — ok` : k % 2 === 0;
  return {
    agent: { id: "claude-code", version: "2.1.0", artifact_sha256: "ab".repeat(32) },
    action: { type: "file.write", targets, inputs_sha256: "cd".repeat(32), sends_external: false },
    context,
  };
}

/** The largest batch POST /v1/decisions/batch accepts (BatchRequestSchema). */
const MAX_BATCH = 30;

/** The two bodies: one decision (≈2 KiB), and a batch of them up to the batch size or the body cap. */
export function jsonBenchBodies(): { name: string; bytes: Uint8Array }[] {
  const encoder = new TextEncoder();
  const one = encoder.encode(JSON.stringify(decisionRequest(1)));
  const decisions: Record<string, unknown>[] = [];
  let batch = encoder.encode("{}");
  for (let index = 1; ; index += 1) {
    const next = encoder.encode(JSON.stringify({ decisions: [...decisions, decisionRequest(index)] }));
    if (next.length > MAX_BODY_BYTES || index > MAX_BATCH) break;
    decisions.push(decisionRequest(index));
    batch = next;
  }
  return [
    { name: "decision", bytes: one },
    { name: "batch", bytes: batch },
  ];
}

export interface JsonBenchResult {
  body: string;
  bytes: number;
  /** parseStrictJson(bytes): fatal UTF-8 decoding and strict parsing. */
  strict: Timing;
  /** The floor: TextDecoder then JSON.parse. */
  jsonParse: Timing;
  /** strict.us / jsonParse.us at the median. */
  ratio: number;
}

/** Times both readers on both bodies; checks first that they read the same value. */
export function benchJson(options: { batches: number; batchMs: number; warmup: number }): JsonBenchResult[] {
  const decoder = new TextDecoder();
  const results: JsonBenchResult[] = [];
  for (const { name, bytes } of jsonBenchBodies()) {
    const floor = () => JSON.parse(decoder.decode(bytes)) as unknown;
    const strict = () => parseStrictJson(bytes);
    if (JSON.stringify(strict()) !== JSON.stringify(floor())) throw new Error(`${name}: the strict reader and JSON.parse disagree`);
    // Interleaved so both sides see the same isolate state.
    const jsonParse = timeSync(floor, options.batches, options.batchMs, options.warmup);
    const strictTiming = timeSync(strict, options.batches, options.batchMs, options.warmup);
    results.push({ body: name, bytes: bytes.length, strict: strictTiming, jsonParse, ratio: strictTiming.us / jsonParse.us });
  }
  return results;
}

/** Registers POST /bench/json on the bench app. */
export function jsonBenchRoutes(app: OpenAPIHono<AppEnv>): void {
  app.post("/bench/json", async (c) => {
    const { batches = 9, batchMs = 25, warmup = 20 } = (await c.req.json()) as { batches?: number; batchMs?: number; warmup?: number };
    return c.json(benchJson({ batches, batchMs, warmup }), 200);
  });
}
