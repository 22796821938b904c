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
