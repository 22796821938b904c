/**
 * Timing for the benchmark scripts: one warm-up call, then repeated calls until at least `minMs` have
 * passed and `minReps` calls were made (but no more than `maxReps`); returns milliseconds per call.
 */
export interface TimingOptions {
  readonly minMs?: number;
  readonly minReps?: number;
  readonly maxReps?: number;
}

export async function timeRuns(fn: () => unknown, { minMs = 0, minReps = 1, maxReps = Infinity }: TimingOptions = {}): Promise<number> {
  await fn();
  const start = performance.now();
  let reps = 0;
  do {
    await fn();
    reps++;
  } while ((performance.now() - start < minMs || reps < minReps) && reps < maxReps);
  return (performance.now() - start) / reps;
}

export interface MedianOptions {
  /** Timed calls; the median of their times is returned. */
  readonly reps?: number;
  /** Untimed calls first (caches, lazy initialization, weight packing). */
  readonly warmups?: number;
}

/** The median of numbers (the mean of the two middle ones for an even count). */
export function median(values: readonly number[]): number {
  if (values.length === 0) throw new RangeError('median of no values');
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/**
 * Milliseconds of the median call among `reps` timed calls, after `warmups` untimed ones. Unlike
 * the mean of timeRuns, one slow call (a GC pause, a neighbour's burst) does not move it.
 */
export async function medianRuns(fn: () => unknown, { reps = 5, warmups = 1 }: MedianOptions = {}): Promise<number> {
  for (let i = 0; i < warmups; i++) await fn();
  const times: number[] = [];
  for (let i = 0; i < reps; i++) {
    const start = performance.now();
    await fn();
    times.push(performance.now() - start);
  }
  return median(times);
}
