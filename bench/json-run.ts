// Node side of part E (bench/json.ts), apart from it because bench/json.ts loads the worker app.
import type { JsonBenchResult } from "./json.ts";

/** Node side: runs the in-isolate JSON bench on the bench server. */
export async function runJson(url: string, options: { batches: number; batchMs: number; warmup: number }): Promise<JsonBenchResult[]> {
  const response = await fetch(`${url}/bench/json`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(options) });
  if (!response.ok) throw new Error(`POST /bench/json: ${response.status} ${await response.text()}`);
  return (await response.json()) as JsonBenchResult[];
}
