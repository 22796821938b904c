/**
 * Transposes folded into their readers and writers on WebGL (folded-transposes.ts): attention reads
 * its head split q, k and v through strides and writes its heads merged, instead of transpose
 * passes. Which transposes fold and with what strides (multi-head and grouped-query attention,
 * whose kv heads come through a reshape inserting a unit axis, and GPT-2's q, k and v sliced from
 * one projection), that no transpose or slice is drawn for them, that a transpose or a result with another reader is still drawn and read right by both,
 * a merge written alone, and the chunked passes of long rows on the folded layouts.
 */
import { GraphBuilder, interpret, ModelBuilder, type Graph, type NDArray } from '@loom/graph';
import { compile } from '@loom/compiler';
import { describe, expect, it } from 'vitest';
import { backendCompileOptions } from '../src/compile-options.ts';
import { foldTransposes, viewOffset, viewStrides, writeStrides } from '../src/webgl/folded-transposes.ts';
import { createWebGlBackend, type WebGlBackend } from '../src/webgl/index.ts';
import { requireBackend } from './require-backend.ts';
import { expectClose } from './suites/small-model.ts';
import { randomF32, rng } from './webgpu-data.ts';

const gl = (await requireBackend('webgl')).backend as WebGlBackend | undefined;

interface Case {
  readonly graph: Graph;
  readonly feeds: Record<string, NDArray>;
  readonly weights: Map<string, NDArray>;
}

/**
 * Self-attention over x [2, 5, 12] as the models build it (the attention composite): `heads` query
 * heads, and with `kvHeads` grouped-query attention (k and v projected to kvHeads heads).
 */
function selfAttention(heads: number, kvHeads = heads): Case {
  const m = new ModelBuilder();
  const x = m.input('x', 'f32', [2, 5, 12]);
  const kvWidth = (12 / heads) * kvHeads;
  const project = (name: string, width: number) => m.matmul(x, m.param(name, [12, width]));
  const [q, k, v] = [project('wq', 12), project('wk', kvWidth), project('wv', kvWidth)];
  const y = kvHeads === heads ? m.attention(q, k, v, heads) : m.groupedAttention(q, k, v, heads, kvHeads);
  const r = rng(7);
  const weights = new Map([['wq', randomF32([12, 12], r)], ['wk', randomF32([12, kvWidth], r)], ['wv', randomF32([12, kvWidth], r)]] as const);
  return { graph: m.build({ y }), feeds: { x: randomF32([2, 5, 12], r) }, weights };
}

/**
 * GPT-2's shape of it: q, k and v sliced from one projection [2, 5, 36], 3 heads of 4; with
 * `kOutput`, k's slice is also a graph output.
 */
function slicedAttention(kOutput = false): Case {
  const m = new ModelBuilder();
  const x = m.input('x', 'f32', [2, 5, 12]);
  const qkv = m.matmul(x, m.param('w', [12, 36]));
  const [q, k, v] = [0, 12, 24].map((start) => m.slice(qkv, -1, start, start + 12));
  const y = m.attention(q!, k!, v!, 3);
  const r = rng(9);
  return { graph: m.build(kOutput ? { y, k: k! } : { y }), feeds: { x: randomF32([2, 5, 12], r) }, weights: new Map([['w', randomF32([12, 36], r)]]) };
}

/** Attention's result read by the head merge and by something else: itself as a graph output, or a step (exp). */
function attentionReadTwice(): Record<string, Graph> {
  const build = (other: 'output' | 'step') => {
    const b = new GraphBuilder();
    const q = b.input('q', 'f32', [1, 2, 6, 4]);
    const context = b.add('fused_attention', [q, q, q], { scale: 0.5 });
    const merged = b.add('transpose', [context], { perm: [0, 2, 1, 3] });
    return b.build(other === 'output' ? { y: merged, context } : { y: merged, z: b.add('exp', [context]) });
  };
  return { 'a graph output': build('output'), 'another step': build('step') };
}

/** A transpose read by attention as q and also a graph output. */
function transposeReadTwice(): Graph {
  const b = new GraphBuilder();
  const split = b.add('transpose', [b.input('q', 'f32', [1, 6, 2, 4])], { perm: [0, 2, 1, 3] });
  const k = b.input('k', 'f32', [1, 2, 6, 4]);
  return b.build({ y: b.add('fused_attention', [split, k, k], { scale: 0.5 }), split });
}

/** The webgl plan's steps and what foldTransposes makes of them. */
function folded(graph: Graph) {
  const plan = compile(graph, backendCompileOptions('webgl'));
  const steps = plan.steps.map((s) => s.node);
  const of = (op: string) => steps.filter((id) => plan.graph.nodes[id]!.op === op);
  return { graph: plan.graph, transposes: of('transpose'), attention: of('fused_attention')[0]!, ...foldTransposes(plan.graph, steps) };
}

describe('transposes folded into attention', () => {
  it('the head splits of q, k and v fold, with the strides of [B, T, H, D] read as [B, H, T, D]; attention writes the merge after it', () => {
    const { graph, transposes, attention, dropped, views, writes } = folded(selfAttention(3).graph);
    expect(transposes.length).toBe(4);
    expect(dropped).toEqual(new Set(transposes));
    const inputs = views.get(attention)!;
    expect([...inputs.keys()]).toEqual([0, 1, 2]);
    for (const view of inputs.values()) expect(viewStrides(graph, view, new Map())).toEqual([60, 4, 12, 1]); // [2, 5, 3, 4] read as [2, 3, 5, 4]
    expect(writeStrides(graph, writes.get(attention)!, new Map())).toEqual([60, 4, 12, 1]); // [2, 3, 5, 4] written as [2, 5, 3, 4]
  });

  it('grouped-query attention: q split by [0, 2, 3, 1, 4], k and v through a reshape inserting the group axis, the merge by [0, 3, 1, 2, 4]', () => {
    // 4 query heads of 3 in 2 groups: q [2, 5, 12] as [B, KV, G, T, D] = [2, 2, 2, 5, 3]; k, v [2, 5, 6] as [2, 2, 1, 5, 3]
    const { graph, transposes, attention, dropped, views, writes } = folded(selfAttention(4, 2).graph);
    expect(dropped).toEqual(new Set(transposes));
    const [q, k, v] = [0, 1, 2].map((i) => views.get(attention)!.get(i)!);
    expect(q!.unitReshape).toBeUndefined();
    expect(viewStrides(graph, q!, new Map())).toEqual([60, 6, 3, 12, 1]); // from [2, 5, 2, 2, 3]: strides [60, 12, 6, 3, 1]
    for (const kv of [k, v]) {
      expect(kv!.unitReshape).toBeDefined();
      expect(viewStrides(graph, kv!, new Map())).toEqual([30, 3, 0, 6, 1]); // from [2, 5, 2, 3]: strides [30, 6, 3, 1]
    }
    expect(writeStrides(graph, writes.get(attention)!, new Map())).toEqual([60, 6, 3, 12, 1]); // [2, 2, 2, 5, 3] written as [2, 5, 2, 2, 3]
  });

  it("GPT-2's q, k and v slices fold into the views: read at their offsets in the projection, not drawn", () => {
    const { graph, attention, dropped, views } = folded(slicedAttention().graph);
    const inputs = [0, 1, 2].map((i) => views.get(attention)!.get(i)!);
    for (const [i, view] of inputs.entries()) {
      expect(graph.nodes[view.slice!]!.op).toBe('slice');
      expect(dropped.has(view.slice!)).toBe(true);
      expect(graph.nodes[view.source]!.op).not.toBe('slice');
      expect(viewOffset(graph, view, new Map())).toBe(12 * i);
      expect(viewStrides(graph, view, new Map())).toEqual([180, 4, 36, 1]); // [2, 5, 3, 4] of [2, 5, 36] read as [2, 3, 5, 4]
    }
    // a slice something else reads (here a graph output) is drawn, and its view reads it
    const kept = folded(slicedAttention(true).graph);
    const k = kept.views.get(kept.attention)!.get(1)!;
    expect(k.slice).toBeUndefined();
    expect(kept.graph.nodes[k.source]!.op).toBe('slice');
    expect(viewOffset(kept.graph, k, new Map())).toBe(0);
  });

  it('a transpose another node also reads (a graph output) is kept', () => {
    expect(folded(transposeReadTwice()).dropped.size).toBe(0);
  });

  it('a result something else also reads (a graph output, another step) is not written transposed', () => {
    for (const [what, graph] of Object.entries(attentionReadTwice())) {
      const { dropped, writes } = folded(graph);
      expect(dropped.size, what).toBe(0);
      expect(writes.size, what).toBe(0);
    }
  });
});

describe.skipIf(!gl)('transposes folded into attention, on webgl', { timeout: 120_000 }, () => {
  /** Runs `c` on `backend`: the interpreter's values, and the transposes the run drew. */
  async function expectRun(c: Case, backend: WebGlBackend = gl!): Promise<number> {
    const model = await backend.prepare(c.graph, c.weights);
    try {
      expectClose(await model.run(c.feeds), interpret(c.graph, c.feeds, c.weights));
      return (await model.profile(c.feeds)).filter((p) => p.op === 'transpose').length;
    } finally {
      model.dispose();
    }
  }

  it('multi-head and grouped-query attention read and write through the folds: the interpreter\'s values, no transpose drawn', async () => {
    expect(await expectRun(selfAttention(3))).toBe(0);
    expect(await expectRun(selfAttention(4, 2))).toBe(0);
  });

  it("GPT-2's sliced q, k and v: no slice or transpose drawn, the interpreter's values; a slice also read as an output drawn and right", async () => {
    expect(await expectRun(slicedAttention())).toBe(0);
    const model = await gl!.prepare(slicedAttention().graph, slicedAttention().weights);
    const drawn = (await model.profile(slicedAttention().feeds)).map((p) => p.op);
    model.dispose();
    expect(drawn.filter((op) => op === 'slice' || op === 'transpose')).toEqual([]);
    expect(await expectRun(slicedAttention(true))).toBe(0);
  });

  it('long rows, reduced in chunks (the loop budget lowered to 5; heads of 6, so the scores chunk too), read and write the folded layouts right', async () => {
    const tiny = createWebGlBackend({ limits: { maxLoopIterations: 5 } });
    expect(await expectRun(selfAttention(2), tiny)).toBe(0);
    expect(await expectRun(selfAttention(2, 1), tiny)).toBe(0);
  });

  it('the merge written alone (q, k and v given head-major)', async () => {
    const b = new GraphBuilder();
    const q = b.input('q', 'f32', [1, 2, 6, 4]);
    const graph = b.build({ y: b.add('transpose', [b.add('fused_attention', [q, q, q], { scale: 0.5 })], { perm: [0, 2, 1, 3] }) });
    expect(await expectRun({ graph, feeds: { q: randomF32([1, 2, 6, 4], rng(5)) }, weights: new Map() })).toBe(0);
  });

  it('a transpose with another reader: drawn once, the output and the attention both right', async () => {
    const r = rng(3);
    const feeds = { q: randomF32([1, 6, 2, 4], r), k: randomF32([1, 2, 6, 4], r) };
    expect(await expectRun({ graph: transposeReadTwice(), feeds, weights: new Map() })).toBe(1);
  });

  it('a result with another reader: the merge drawn, every output right', async () => {
    const feeds = { q: randomF32([1, 2, 6, 4], rng(4)) };
    for (const graph of Object.values(attentionReadTwice())) expect(await expectRun({ graph, feeds, weights: new Map() })).toBe(1);
  });
});
