/** Thread counts: parsed strictly, capped at twice the cores, and each worker counted in the memory budget. */
import { GraphBuilder, ModelBuilder } from '@loom/graph';
import { describe, expect, it } from 'vitest';
import { cpuBackend, MemoryBudgetError, randomWeights, resolveThreads, ThreadCountError, WORKER_BYTES } from '../src/index.ts';

describe('cpu threads', () => {
  it('LOOM_CPU_THREADS is a positive integer (it overrides the option); empty is unset', () => {
    expect(resolveThreads(undefined, undefined, 8)).toBe(8);
    expect(resolveThreads(3, undefined, 8)).toBe(3);
    expect(resolveThreads(3, ' 5 ', 8)).toBe(5);
    expect(resolveThreads(3, '', 8)).toBe(3);
    for (const bad of ['abc', '0', '-2', '1.5', '1e3', '0x10', '4 threads']) {
      expect(() => resolveThreads(undefined, bad, 8), bad).toThrow(ThreadCountError);
      expect(() => resolveThreads(undefined, bad, 8), bad).toThrow(`LOOM_CPU_THREADS must be a positive integer, got '${bad}'`);
    }
    for (const bad of [0, -1, 1.5, Number.NaN, Infinity]) expect(() => resolveThreads(bad, undefined, 8)).toThrow(/cpu: threads must be a positive integer/);
  });

  it('more than twice the cores is refused, naming the limit and why', () => {
    expect(resolveThreads(16, undefined, 8)).toBe(16);
    expect(resolveThreads(2, undefined, 1)).toBe(2); // tests run 2 threads on one core
    expect(() => resolveThreads(17, undefined, 8)).toThrow(/cpu: 17 threads \(--threads, prepare option threads\) is above the limit of 16 \(twice this machine's 8 cores: more threads only take turns on the cores, and each worker holds about 8 MiB\)/);
    expect(() => resolveThreads(undefined, '1000', 8)).toThrow(/LOOM_CPU_THREADS=1000 is above the limit of 16 threads/);
    expect(() => resolveThreads(1e11, undefined, 8)).toThrow(ThreadCountError);
  });

  it("each worker's memory counts in the cpu budget, checked before any worker starts", async () => {
    const b = new GraphBuilder();
    const x = b.input('x', 'f32', [4]);
    const g = b.build({ y: b.add('exp', [x]) });
    const budget = WORKER_BYTES / 2; // room for the model, not for a worker
    (await cpuBackend.prepare(g, new Map(), { maxMemory: budget, cpu: { threads: 1 } })).dispose();
    const error = await cpuBackend.prepare(g, new Map(), { maxMemory: budget, cpu: { threads: 2 } }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MemoryBudgetError);
    expect((error as Error).message).toMatch(/cpu: the model needs 8\.0 MiB \(weights 0\.0 MiB, constants 0\.0 MiB, worker threads 8\.0 MiB\), above the memory budget of 4\.0 MiB/);
  });
});

describe('random weights', () => {
  const huge = () => {
    const m = new ModelBuilder();
    const ids = m.input('ids', 'i32', ['batch', 'seq'] as const);
    return m.build({ y: m.embed(ids, m.param('table', [200_000, 60_000] as const)) });
  };

  it('are compared with a budget before any is drawn; one weight past an array is an error, not a RangeError', () => {
    expect(() => randomWeights(huge(), 0, 2 ** 30)).toThrow(/random weights: the graph's 1 weights hold 12000000000 elements, 44\.7 GiB of float32, above the memory budget of 1\.0 GiB/);
    expect(() => randomWeights(huge(), 0)).toThrow(/'table' has 12000000000 elements, more than one array holds/);
  });
});
