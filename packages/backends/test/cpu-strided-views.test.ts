/**
 * Slices and transposes the cpu plan makes strided views (no kernel): which ones, and that every
 * reader computes what the float64 interpreter does, through reshapes strides can and cannot express,
 * in poison mode too (a view keeps its source's buffer alive until its last reader).
 */
import { GraphBuilder, interpret, maxAbsDiff, type Graph, type NDArray } from '@loom/graph';
import { compile, type Plan } from '@loom/compiler';
import { describe, expect, it } from 'vitest';
import { cpuBackend } from '../src/index.ts';
import { seededF32 as f32 } from './seeded-values.ts';

const cpuPlan = (g: Graph): Plan => compile(g, { inPlace: true, stridedViews: true });
const kernelOps = (p: Plan) => p.steps.map((s) => s.op);

async function expectReference(g: Graph, feeds: Record<string, NDArray>, weights = new Map<string, NDArray>()): Promise<void> {
  const want = interpret(g, feeds, weights);
  for (const options of [{}, { poison: true, smallProduct: 0, parallelFrom: 0, pauseWhenContended: false, threads: 2 }]) {
    const model = await cpuBackend.prepare(g, weights, { cpu: options });
    const got = await model.run(feeds);
    model.dispose();
    for (const [name, expected] of Object.entries(want)) {
      expect(got[name]!.shape).toEqual(expected.shape);
      expect(maxAbsDiff(got[name]!.data, expected.data)).toBeLessThan(1e-5);
    }
  }
}

describe('strided views in the cpu plan', () => {
  it('q, k, v column slices of one projection and the head split reach attention in place; the head merge reaches the next matmul', async () => {
    const b = new GraphBuilder();
    const x = b.input('x', 'f32', ['batch', 'seq', 8]);
    const qkv = b.add('matmul', [x, b.param('w', 'f32', [8, 24])]);
    const heads = (from: number) => b.add('transpose', [b.add('reshape', [b.add('slice', [qkv], { axis: -1, start: from, end: from + 8 })], { shape: ['batch', 'seq', 2, 4] })], { perm: [0, 2, 1, 3] });
    const y = b.add('fused_attention', [heads(0), heads(8), heads(16)], { scale: 0.5 });
    const merged = b.add('reshape', [b.add('transpose', [y], { perm: [0, 2, 1, 3] })], { shape: ['batch', 'seq', 8] });
    const g = b.build({ out: b.add('matmul', [merged, b.param('o', 'f32', [8, 5])]) });
    const plan = cpuPlan(g);
    expect(kernelOps(plan)).toEqual(['matmul', 'fused_attention', 'matmul']);
    expect(plan.stridedViews!.length).toBe(7); // 3 slices, 3 head transposes, the head merge
    const weights = new Map([['w', f32([8, 24], 1)], ['o', f32([8, 5], 2)]]);
    await expectReference(g, { x: f32([2, 5, 8], 3) }, weights);
  });

  it('a strided slice (step 2, middle axis) and a transpose-then-reshape strides cannot express, read by a matmul', async () => {
    const b = new GraphBuilder();
    const x = b.input('x', 'f32', [3, 6, 4]);
    const every2 = b.add('slice', [x], { axis: 1, start: 1, end: 6, step: 2 }); // [3, 3, 4]
    const flat = b.add('reshape', [b.add('transpose', [every2], { perm: [1, 0, 2] })], { shape: [3, 12] }); // merges transposed axes
    const g = b.build({ out: b.add('matmul', [flat, b.param('w', 'f32', [12, 5])]) });
    const plan = cpuPlan(g);
    expect(kernelOps(plan)).toEqual(['matmul']);
    await expectReference(g, { x: f32([3, 6, 4], 4) }, new Map([['w', f32([12, 5], 5)]]));
  });

  it('a transpose of a reshape strides cannot express is copied at run time before attention reads it', async () => {
    const b = new GraphBuilder();
    const x = b.input('x', 'f32', [2, 3, 4]);
    const y = b.input('y', 'f32', [5, 6]);
    const merged = b.add('reshape', [b.add('transpose', [x], { perm: [1, 0, 2] })], { shape: [6, 4] }); // merges transposed axes
    const q = b.add('transpose', [merged], { perm: [1, 0] }); // [4, 6]: a view of a reshape strides cannot express
    const g = b.build({ out: b.add('fused_attention', [q, y, y], { scale: 0.7 }) });
    expect(kernelOps(cpuPlan(g))).toEqual(['fused_attention']);
    await expectReference(g, { x: f32([2, 3, 4], 6), y: f32([5, 6], 8) });
  });

  it('stays a kernel when a reader takes dense data only, or when it is a graph output', () => {
    const b = new GraphBuilder();
    const x = b.input('x', 'f32', [4, 6]);
    const s = b.add('slice', [x], { axis: 1, start: 0, end: 3 });
    const g = b.build({ a: b.add('matmul', [s, b.param('w', 'f32', [3, 2])]), b: b.add('exp', [s]), c: b.add('transpose', [x], { perm: [1, 0] }) });
    const plan = cpuPlan(g);
    expect(plan.stridedViews).toEqual([]);
    expect(kernelOps(plan).filter((op) => op === 'slice' || op === 'transpose')).toEqual(['slice', 'transpose']);
    // without the option (the WebGPU plan) nothing is a strided view
    expect(compile(g).stridedViews).toBeUndefined();
  });

  it('a cache write reads its new rows through the head-split view', async () => {
    const b = new GraphBuilder();
    const fresh = b.input('fresh', 'f32', [1, 2, 6]);
    const cache = b.input('cache', 'f32', [1, 3, 5, 2]);
    const rows = b.add('transpose', [b.add('reshape', [fresh], { shape: [1, 2, 3, 2] })], { perm: [0, 2, 1, 3] }); // [1, 3, 2, 2]
    const g = b.build({ cache: b.add('cache_update', [cache, rows, b.input('pos', 'i32', [1])], { axis: 2 }) });
    expect(kernelOps(cpuPlan(g))).toEqual(['cache_update']);
    const model = await cpuBackend.prepare(g, new Map());
    const feeds = { fresh: f32([1, 2, 6], 7), cache: { dtype: 'f32' as const, shape: [1, 3, 5, 2], data: new Float32Array(30) }, pos: { dtype: 'i32' as const, shape: [1], data: Int32Array.of(1) } };
    await model.run(feeds);
    const want = interpret(g, feeds, new Map())['cache']!;
    expect(maxAbsDiff(model.state.get('cache')!.data, want.data)).toBe(0);
    model.dispose();
  });
});
