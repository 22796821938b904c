import type { Graph, NDArray, Weights } from '@loom/graph';
import type { PrepareOptions } from '../src/backend.ts';
import { cpuBackend } from '../src/index.ts';

/**
 * The graph's output `y` on the cpu on 1 and then 2 threads, with `options` and every job split
 * (parallelFrom 0) and the workers never paused for another process (pauseWhenContended off: on a
 * busy machine a "2 threads" run would otherwise run on one and compare a run with itself).
 */
export async function outputsOnOneAndTwoThreads(graph: Graph, weights: Weights, feeds: Readonly<Record<string, NDArray>>, options: PrepareOptions = {}): Promise<[NDArray, NDArray]> {
  const results: NDArray[] = [];
  for (const threads of [1, 2]) {
    const model = await cpuBackend.prepare(graph, weights, { ...options, cpu: { ...options.cpu, threads, parallelFrom: 0, pauseWhenContended: false } });
    try {
      results.push((await model.run(feeds))['y']!);
    } finally {
      model.dispose();
    }
  }
  return results as [NDArray, NDArray];
}
