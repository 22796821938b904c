// its own file: arenas reset only when no prepared CPU model is alive in the process
import { GraphBuilder, type NDArray } from '@loom/graph';
import { expect, it } from 'vitest';
import { arenaBytesInUse } from '../src/cpu/kernels/resident-weights.ts';
import { cpuBackend } from '../src/index.ts';

const f32 = (shape: number[], seed: number): NDArray => ({ dtype: 'f32', shape, data: Float32Array.from({ length: shape[0]! * shape[1]! }, (_, i) => Math.sin(i + seed)) });

it('weight copies kept by the WebAssembly kernels are released with the last prepared model', async () => {
  const b = new GraphBuilder();
  const x = b.input('x', 'f32', ['rows', 64]);
  const g = b.build({ y: b.add('matmul', [x, b.param('w', 'f32', [64, 32])]) });
  const sizes: number[] = [];
  for (let i = 0; i < 3; i++) {
    const model = await cpuBackend.prepare(g, new Map([['w', f32([64, 32], i)]]));
    await model.run({ x: f32([5, 64], 1) }); // packed GEMM panels kept
    await model.run({ x: f32([1, 64], 2) }); // resident gemv copy kept
    sizes.push(arenaBytesInUse());
    model.dispose();
  }
  expect(sizes[0]).toBeGreaterThan(0);
  expect(sizes).toEqual([sizes[0], sizes[0], sizes[0]]); // nothing accumulates across prepare/dispose cycles
  expect(arenaBytesInUse()).toBe(0);
});
