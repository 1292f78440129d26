/** µs per call of an async function, median and fastest of `batches` batches of at least `batchMs`. */
export interface Timing {
  us: number;
  min: number;
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
