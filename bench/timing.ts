/** µs per call of an async function, median and fastest of `batches` batches of at least `batchMs`. */
export interface Timing {
  us: number;
  min: number;
}

/** The middle value (the mean of the two middle ones for an even count). */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/**
 * Two measurements taken in alternating rounds, which goes first reversed every round, so that
 * whatever else the machine does reaches both alike: each side's figure per round, and the median
 * of the rounds' own ratios a ÷ b rather than a ratio of figures taken seconds apart.
 */
export async function alternating(a: () => Promise<number>, b: () => Promise<number>, rounds: number): Promise<{ a: number[]; b: number[]; ratio: number }> {
  const ofA: number[] = [];
  const ofB: number[] = [];
  for (let round = 0; round < rounds; round += 1) {
    if (round % 2 === 0) {
      ofA.push(await a());
      ofB.push(await b());
    } else {
      ofB.push(await b());
      ofA.push(await a());
    }
  }
  return { a: ofA, b: ofB, ratio: median(ofA.map((value, round) => value / (ofB[round] as number))) };
}

/** µs per call of one batch of `fn` awaited in sequence, bounded by time: the clock is read once per call. */
export async function asyncBatch(fn: () => Promise<unknown>, batchMs: number): Promise<{ us: number; calls: number }> {
  const t0 = performance.now();
  let calls = 0;
  let t1 = t0;
  while (t1 - t0 < batchMs) {
    await fn();
    calls += 1;
    t1 = performance.now();
  }
  return { us: ((t1 - t0) * 1000) / calls, calls };
}

/**
 * Batches, not single calls: the isolate clock moves in 1 ms steps, so each batch runs long
 * enough for that step to be small beside it.
 */
export async function timeAsync(fn: () => Promise<unknown>, batches: number, batchMs: number, warmup: number): Promise<Timing> {
  for (let i = 0; i < warmup; i += 1) await fn();
  const perCall: number[] = [];
  for (let b = 0; b < batches; b += 1) perCall.push((await asyncBatch(fn, batchMs)).us);
  perCall.sort((a, b) => a - b);
  return { us: perCall[Math.floor(perCall.length / 2)] as number, min: perCall[0] as number };
}

/** µs per call of a synchronous function, measured like {@link timeAsync} but without a promise per call. */
export function timeSync(fn: () => unknown, batches: number, batchMs: number, warmup: number): Timing {
  for (let i = 0; i < warmup; i += 1) fn();
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
  return { us: perCall[Math.floor(perCall.length / 2)] as number, min: perCall[0] as number };
}
