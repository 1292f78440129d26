/**
 * Part E: command analysis (worker/policy/command) beside path canonicalisation, in
 * the calling process (Node under `npm run bench`; the module is pure, so workerd runs
 * the same code on the same V8). µs per call, median of batches, each line measured
 * with canonicalizePath of a typical path in the same run so the two compare directly.
 */
import { analyzeCommand, type CommandEnvironment } from "../worker/policy/command/index.ts";
import { canonicalizePath } from "../worker/policy/targets.ts";

export interface CommandTiming {
  /** Characters in the line analysed. */
  chars: number;
  /** Simple commands the line yields (a check that the work was done). */
  commands: number;
  /** Median µs per analyzeCommand call. */
  us: number;
  /** Median µs per canonicalizePath of a typical path, in the same run. */
  pathUs: number;
}

export interface CommandBench {
  short: CommandTiming;
  typical: CommandTiming;
  long: CommandTiming;
}

const ENV: CommandEnvironment = { os: "linux", shell: "bash", cwd: "/home/dev/workspace", home: "/home/dev" };
const PATH = "/home/dev/workspace/src/policy/../command/index.ts";

/** A 4 KiB line of the kind agents write: a diff over many files, piped through filters. */
export function longLine(): string {
  const tail = " | grep -v vendor | sort | uniq -c | head -50";
  let line = "git diff --stat --";
  for (let i = 0; line.length + ` src/module${i}/component${i}.ts`.length + tail.length + 16 <= 4096; i += 1) line += ` src/module${i}/component${i}.ts`;
  // One last path sized so that the line is exactly 4096 characters.
  line += ` src/${"x".repeat(4096 - line.length - tail.length - " src/.ts".length)}.ts`;
  return line + tail;
}

/** Median µs per call over `batches` batches of at least `batchMs`, after 300 ms of warm-up (V8 tiers up). */
function time(fn: () => void, batches: number, batchMs: number): number {
  const warm = performance.now();
  while (performance.now() - warm < 300) fn();
  const perCall: number[] = [];
  for (let b = 0; b < batches; b += 1) {
    const t0 = performance.now();
    let n = 0;
    let t1 = t0;
    while (t1 - t0 < batchMs) {
      fn();
      n += 1;
      t1 = performance.now();
    }
    perCall.push(((t1 - t0) * 1000) / n);
  }
  perCall.sort((a, b) => a - b);
  return perCall[Math.floor(perCall.length / 2)] as number;
}

function measure(line: string, batches: number, batchMs: number): CommandTiming {
  const result = analyzeCommand(line, ENV);
  if (!result.ok) throw new Error(`bench line refused: ${result.reason}`);
  const path = canonicalizePath(PATH, "linux");
  if (!path.ok) throw new Error(`bench path refused: ${path.reason}`);
  // Back to back, so that drift (other load on the machine) hits both alike.
  const us = time(() => analyzeCommand(line, ENV), batches, batchMs);
  const pathUs = time(() => canonicalizePath(PATH, "linux"), batches, batchMs);
  return { chars: line.length, commands: result.value.commands.length, us, pathUs };
}

/** Command analysis µs for a short line, a pipeline of 3 and a 4 KiB line, each beside canonicalizePath. */
export function benchCommandAnalysis(options: { batches?: number; batchMs?: number } = {}): CommandBench {
  const batches = options.batches ?? 15;
  const batchMs = options.batchMs ?? 25;
  return {
    short: measure("git status", batches, batchMs),
    typical: measure("rg -n TODO src | sort | head -20", batches, batchMs),
    long: measure(longLine(), batches, batchMs),
  };
}
