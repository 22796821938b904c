/**
 * The cpu program's profile (`profile: true`): time and calls per kernel kind, and for the products
 * their multiply-adds at the sizes each run bound, so that `pnpm bench --profile` can say how near the
 * arithmetic bound each GEMM runs inside a model.
 */
import { GraphBuilder, type NDArray } from '@loom/graph';
import { describe, expect, it } from 'vitest';
import type { CpuProgram } from '../src/cpu/cpu-program.ts';
import { cpuBackend, withPrepareOptions } from '../src/index.ts';
import { seededF32 as f32 } from './seeded-values.ts';

describe('cpu: the kernel profile', () => {
  it('counts each product\'s multiply-adds at the sizes of each run (batch x m x n x k), none for other kernels', async () => {
    const b = new GraphBuilder();
    const x = b.input('x', 'f32', [2, 'rows', 5]);
    const w = b.param('w', 'f32', [5, 7]);
    const wt = b.param('wt', 'f32', [3, 7]); // read transposed: k 7, n 3
    const y = b.add('matmul', [x, w]);
    const z = b.add('matmul', [b.add('relu', [y]), wt], { transposeB: true });
    const graph = b.build({ p: b.add('softmax', [z]) });
    const weights = new Map<string, NDArray>([['w', f32([5, 7], 1)], ['wt', f32([3, 7], 2)]]);
    const model = (await withPrepareOptions(cpuBackend, { cpu: { threads: 1, profile: true } }).prepare(graph, weights)) as Awaited<ReturnType<typeof cpuBackend.prepare>> & { program: CpuProgram };
    await model.run({ x: f32([2, 3, 5], 3) });
    await model.run({ x: f32([2, 4, 5], 4) });
    const entries = model.program.profile();
    const products = entries.filter((e) => e.kernel.includes('matmul'));
    expect(products.reduce((s, e) => s + e.calls, 0)).toBe(4);
    // y: 2 x rows x 7 outputs of 5 multiply-adds; z: 2 x rows x 3 of 7 (rows 3, then 4)
    expect(products.reduce((s, e) => s + e.multiplyAdds, 0)).toBe((2 * 3 + 2 * 4) * (7 * 5 + 3 * 7));
    const others = entries.filter((e) => !e.kernel.includes('matmul'));
    expect(others.map((e) => e.kernel)).toContain('softmax');
    for (const e of others) expect(e.multiplyAdds).toBe(0);
    model.dispose();
  });

  it('counts no multiply-adds for a product that depends on no input, written back after its first run', async () => {
    const b = new GraphBuilder();
    const x = b.input('x', 'f32', [3, 6]);
    const w = b.add('matmul', [b.param('u', 'f32', [6, 4]), b.param('v', 'f32', [4, 5])]); // weights only: computed once
    const graph = b.build({ p: b.add('softmax', [b.add('matmul', [x, w])]) });
    const weights = new Map<string, NDArray>([['u', f32([6, 4], 1)], ['v', f32([4, 5], 2)]]);
    const model = (await withPrepareOptions(cpuBackend, { cpu: { threads: 1, profile: true } }).prepare(graph, weights)) as Awaited<ReturnType<typeof cpuBackend.prepare>> & { program: CpuProgram };
    for (let run = 0; run < 3; run++) await model.run({ x: f32([3, 6], 3 + run) });
    expect(model.program.replayedSteps()).toBeGreaterThan(0);
    const products = model.program.profile().filter((e) => e.kernel.includes('matmul'));
    expect(products.reduce((s, e) => s + e.calls, 0)).toBe(6);
    // u v once (6 x 5 of 4), x w every run (3 x 5 of 6)
    expect(products.reduce((s, e) => s + e.multiplyAdds, 0)).toBe(6 * 5 * 4 + 3 * (3 * 5 * 6));
    model.dispose();
  });
});
