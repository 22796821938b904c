/** float32 matmul n x n x n on onnxruntime-node (MLAS), both operands fed as inputs each run. */
import { medianRuns } from '../timing.ts';
import { OnnxGraph } from './onnx-graph.ts';
import { ortSession, tensorFor, type OrtEngine } from './ort-session.ts';

export function matmulOnnxModel(n: number): Uint8Array {
  const g = new OnnxGraph();
  g.node('MatMul', ['A', 'B'], {}, 'C');
  const square = (name: string) => ({ name, dtype: 'float32', shape: [n, n] }) as const;
  return g.encode('matmul', [square('A'), square('B')], [square('C')], 17);
}

/** Median GFLOP/s over `reps` runs on `threads` intra-op threads (onnxruntime-node, or onnxruntime-web's wasm backend). */
export async function ortMatmulGflops(n: number, threads: number, reps = 7, engine: OrtEngine = 'node'): Promise<number> {
  const session = await ortSession(matmulOnnxModel(n), threads, engine);
  const random = () => tensorFor(session, 'float32', Float32Array.from({ length: n * n }, () => Math.random() - 0.5), [n, n]);
  const feeds = { A: random(), B: random() };
  try {
    const ms = await medianRuns(() => session.run(feeds), { reps });
    return (2 * n ** 3) / ms / 1e6;
  } finally {
    await session.release();
  }
}
