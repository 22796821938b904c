/**
 * Transposes folded into their readers and writers on WebGL (folded-transposes.ts): attention reads
 * its head split q, k and v through strides and writes its heads merged, instead of transpose
 * passes. Which transposes fold, the strides, that no transpose is drawn for them, that a
 * transpose or a result with another reader is still drawn and read right by both, and the
 * chunked passes of long rows on the folded layouts.
 */
import { GraphBuilder, interpret, ModelBuilder, type NDArray } from '@loom/graph';
import { compile } from '@loom/compiler';
import { describe, expect, it } from 'vitest';
import { backendCompileOptions } from '../src/compile-options.ts';
import { foldTransposes, viewStrides, writeStrides } from '../src/webgl/folded-transposes.ts';
import { createWebGlBackend } from '../src/webgl/index.ts';
import type { WebGlBackend } from '../src/webgl/index.ts';
import { requireBackend } from './require-backend.ts';
import { expectClose } from './suites/small-model.ts';
import { randomF32, rng } from './webgpu-data.ts';

const gl = (await requireBackend('webgl')).backend as WebGlBackend | undefined;

/** Multi-head self-attention over x [2, 5, 12], 3 heads of 4, as the models build it (the attention composite). */
function selfAttention(): { graph: ReturnType<ModelBuilder['build']>; feeds: Record<string, NDArray>; weights: Map<string, NDArray> } {
  const m = new ModelBuilder();
  const x = m.input('x', 'f32', [2, 5, 12]);
  const project = (name: string) => m.matmul(x, m.param(name, [12, 12]));
  const graph = m.build({ y: m.attention(project('wq'), project('wk'), project('wv'), 3) });
  const r = rng(7);
  return { graph, feeds: { x: randomF32([2, 5, 12], r) }, weights: new Map(['wq', 'wk', 'wv'].map((n) => [n, randomF32([12, 12], r)] as const)) };
}

/** Attention's result read by the head merge and by something else: itself as a graph output, or a step (exp). */
function attentionReadTwice(): Record<string, ReturnType<GraphBuilder['build']>> {
  const build = (other: 'output' | 'step') => {
    const b = new GraphBuilder();
    const q = b.input('q', 'f32', [1, 2, 6, 4]);
    const context = b.add('fused_attention', [q, q, q], { scale: 0.5 });
    const merged = b.add('transpose', [context], { perm: [0, 2, 1, 3] });
    return b.build(other === 'output' ? { y: merged, context } : { y: merged, z: b.add('exp', [context]) });
  };
  return { 'a graph output': build('output'), 'another step': build('step') };
}

describe('transposes folded into attention', () => {
  it('the head splits of q, k and v fold, with the strides of [B, T, H, D] read as [B, H, T, D]; attention writes the merge after it', () => {
    const plan = compile(selfAttention().graph, backendCompileOptions('webgl'));
    const graph = plan.graph;
    const steps = plan.steps.map((s) => s.node);
    const transposes = steps.filter((id) => graph.nodes[id]!.op === 'transpose');
    const attention = steps.find((id) => graph.nodes[id]!.op === 'fused_attention')!;
    const { dropped, views, writes } = foldTransposes(graph, steps);
    const folded = views.get(attention)!;
    expect([...folded.keys()]).toEqual([0, 1, 2]);
    expect(transposes.length).toBe(4);
    expect(dropped).toEqual(new Set(transposes));
    const merge = writes.get(attention)!;
    expect(new Set([...folded.values()].map((v) => v.transpose).concat(merge.transpose))).toEqual(dropped);
    // [2, 3, 5, 4] written as [2, 5, 3, 4]
    expect(writeStrides(graph, merge, new Map())).toEqual([60, 4, 12, 1]);
    for (const view of folded.values()) {
      expect(graph.nodes[view.transpose]!.op).toBe('transpose');
      // [2, 5, 3, 4] read as [2, 3, 5, 4]: batch, head, row, element
      expect(viewStrides(graph, view, new Map())).toEqual([60, 4, 12, 1]);
    }
  });

  it('a transpose another node also reads (a graph output) is drawn, and both readers get its values', () => {
    const b = new GraphBuilder();
    const split = b.add('transpose', [b.input('q', 'f32', [1, 6, 2, 4])], { perm: [0, 2, 1, 3] });
    const k = b.input('k', 'f32', [1, 2, 6, 4]);
    const graph = b.build({ y: b.add('fused_attention', [split, k, k], { scale: 0.5 }), split });
    const plan = compile(graph, backendCompileOptions('webgl'));
    const { dropped } = foldTransposes(plan.graph, plan.steps.map((s) => s.node));
    expect(dropped.size).toBe(0);
  });

  it('a result something else also reads (a graph output, another step) is not written transposed', () => {
    for (const [what, graph] of Object.entries(attentionReadTwice())) {
      const plan = compile(graph, backendCompileOptions('webgl'));
      const { dropped, writes } = foldTransposes(plan.graph, plan.steps.map((s) => s.node));
      expect(dropped.size, what).toBe(0);
      expect(writes.size, what).toBe(0);
    }
  });
});

describe.skipIf(!gl)('transposes folded into attention, on webgl', { timeout: 120_000 }, () => {
  it('attention reads its inputs through the views: the same values as the interpreter, and no transpose drawn for them', async () => {
    const { graph, feeds, weights } = selfAttention();
    const model = await gl!.prepare(graph, weights);
    expectClose(await model.run(feeds), interpret(graph, feeds, weights));
    const drawn = await model.profile(feeds);
    expect(drawn.filter((p) => p.op === 'transpose')).toEqual([]);
    model.dispose();
  });

  it('long rows, reduced in chunks (the loop budget lowered to 5), read and write the folded layouts right', async () => {
    const { graph, feeds, weights } = selfAttention();
    const model = await createWebGlBackend({ limits: { maxLoopIterations: 5 } }).prepare(graph, weights);
    expectClose(await model.run(feeds), interpret(graph, feeds, weights));
    expect((await model.profile(feeds)).filter((p) => p.op === 'transpose')).toEqual([]);
    model.dispose();
  });

  it('a result with another reader: the merge drawn, every output right', async () => {
    const feeds = { q: randomF32([1, 2, 6, 4], rng(4)) };
    for (const graph of Object.values(attentionReadTwice())) {
      const model = await gl!.prepare(graph, new Map());
      expectClose(await model.run(feeds), interpret(graph, feeds, new Map()));
      model.dispose();
    }
  });

  it('a transpose with another reader: drawn once, the output and the attention both right', async () => {
    const b = new GraphBuilder();
    const split = b.add('transpose', [b.input('q', 'f32', [1, 6, 2, 4])], { perm: [0, 2, 1, 3] });
    const k = b.input('k', 'f32', [1, 2, 6, 4]);
    const graph = b.build({ y: b.add('fused_attention', [split, k, k], { scale: 0.5 }), split });
    const r = rng(3);
    const feeds = { q: randomF32([1, 6, 2, 4], r), k: randomF32([1, 2, 6, 4], r) };
    const model = await gl!.prepare(graph, new Map());
    expectClose(await model.run(feeds), interpret(graph, feeds, new Map()));
    model.dispose();
  });
});
