import { GraphBuilder, interpret, type Graph, type NDArray, type Weights } from '@loom/graph';
import { compare, type Tolerance } from './webgpu-data.ts';
import { createWebGpuBackend, type WebGpuBackend, type WebGpuBackendOptions } from '../src/webgpu/index.ts';
import { backendRequired, requireBackend } from './require-backend.ts';

/**
 * Shared by the WebGPU test files: the backend (undefined when no adapter; see requireBackend), a
 * seeded generator, and `expectMatchesReference`, which runs a graph on WebGPU and on the float64
 * interpreter and compares every output.
 */

const required = await requireBackend('webgpu');
export const gpu = required.backend as WebGpuBackend | undefined;
export const skipReason = required.reason;

/** A WebGPU backend with some limits lowered (a separate device), to drive the chunked and 2-D paths. */
export async function gpuWithLimits(limits: WebGpuBackendOptions['limits']): Promise<WebGpuBackend> {
  const backend = createWebGpuBackend({ limits });
  await backend.runtime();
  return backend;
}

/** Runs `graph` on WebGPU and on the float64 interpreter; every output must agree within `tol`. */
export async function expectMatchesReference(
  graph: Graph,
  feeds: Readonly<Record<string, NDArray>>,
  weights: Weights = new Map(),
  tol: Tolerance = {},
  backend: WebGpuBackend = gpu!,
): Promise<Record<string, NDArray>> {
  const model = await backend.prepare(graph, weights);
  try {
    const got = await model.run(feeds);
    const want = interpret(graph, feeds, weights);
    for (const name of Object.keys(want)) {
      const { worst, index } = compare(got[name]!, want[name]!, tol);
      if (worst > 1) {
        throw new Error(`output '${name}' differs at ${index}: webgpu ${got[name]!.data[index]}, reference ${want[name]!.data[index]} (${worst.toFixed(1)}x the tolerance)`);
      }
    }
    return got;
  } finally {
    model.dispose();
  }
}

/** A one-node graph over fresh inputs named x0, x1, ... (shapes given) with output 'y'. */
export function oneOp(op: string, inputs: readonly { dtype: 'f32' | 'i32'; shape: readonly number[] }[], attrs: Record<string, unknown> = {}): Graph {
  const b = new GraphBuilder();
  const refs = inputs.map((x, i) => b.input(`x${i}`, x.dtype, x.shape));
  return b.build({ y: b.add(op, refs, attrs) });
}

export { backendRequired };
export * from './webgpu-data.ts';
