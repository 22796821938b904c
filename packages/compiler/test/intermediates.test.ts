/** withIntermediates (attention weights and chosen nodes as outputs) and diffPass (what a pass absorbed). */
import { interpret, ModelBuilder, type Graph, type NDArray } from '@loom/graph';
import { describe, expect, it } from 'vitest';
import { compile, compileWithReport, diffPass, IntermediateError, withIntermediates } from '../src/index.ts';

/** Two causal self-attention blocks over an embedding (4 heads of 4). */
function twoBlocks(): { graph: Graph; embedding: number } {
  const m = new ModelBuilder();
  const ids = m.input('ids', 'i32', ['batch', 'seq'] as const);
  let x = m.embed(ids, m.param('emb', [10, 16] as const));
  const embedding = x.ref;
  for (let l = 0; l < 2; l++) {
    const attn = m.attention(x, x, x, 4, m.causalMask(ids));
    x = m.addNorm(x, attn, m.param(`ln${l}.g`, [16] as const), m.param(`ln${l}.b`, [16] as const));
  }
  return { graph: m.build({ y: x }), embedding };
}

function weightsOf(graph: Graph): Map<string, NDArray> {
  let s = 1;
  const next = () => ((s = (s * 16807) % 2147483647) / 2147483647) * 2 - 1;
  return new Map(graph.nodes.filter((n) => n.op === 'param').map((n) => {
    const size = n.type.shape.reduce<number>((a, d) => a * (d as number), 1);
    return [n.attrs['name'] as string, { dtype: 'f32', shape: n.type.shape as number[], data: Float32Array.from({ length: size }, next) }];
  }));
}

describe('withIntermediates', () => {
  it('outputs each attention\'s weights (causal: zero above the diagonal, rows summing to 1) and chosen nodes', () => {
    const { graph, embedding } = twoBlocks();
    const { graph: g, intermediates } = withIntermediates(graph, { attentionWeights: true, nodes: { embedding } });
    expect(intermediates.map((i) => [i.name, i.kind])).toEqual([['embedding', 'node'], ['attention.0', 'attention'], ['attention.1', 'attention']]);
    expect(intermediates[1]!.shape).toEqual(['batch', 4, 'seq', 'seq']);
    expect(intermediates[1]!.cross).toBe(false);
    // the nearest parameter upstream of the queries names the block: here the embedding, then the first norm
    expect(intermediates.map((i) => i.block)).toEqual([undefined, 'emb', 'ln0']);
    const out = interpret(g, { ids: { dtype: 'i32', shape: [1, 5], data: Int32Array.from([1, 2, 3, 4, 5]) } }, weightsOf(graph));
    const w = out['attention.1']!;
    for (let h = 0; h < 4; h++) {
      for (let q = 0; q < 5; q++) {
        let sum = 0;
        for (let k = 0; k < 5; k++) {
          const v = w.data[(h * 5 + q) * 5 + k]!;
          if (k > q) expect(v).toBe(0);
          sum += v;
        }
        expect(sum).toBeCloseTo(1, 10);
      }
    }
    expect(out['embedding']!.shape).toEqual([1, 5, 16]);
  });

  it('finds the weights of an attention with extras (a sliding window, soft-capping, ALiBi): zero outside the window', () => {
    const m = new ModelBuilder();
    const ids = m.input('ids', 'i32', ['batch', 'seq'] as const);
    const x = m.embed(ids, m.param('emb', [10, 16] as const));
    const y = m.attention(x, x, x, 4, { window: 2, softcap: 5, alibi: [0.5, 0.25, 0.125, 0.0625] });
    const graph = m.build({ y });
    const { graph: g, intermediates } = withIntermediates(graph, { attentionWeights: true });
    expect(intermediates.map((i) => i.name)).toEqual(['attention.0']);
    const w = interpret(g, { ids: { dtype: 'i32', shape: [1, 5], data: Int32Array.from([1, 2, 3, 4, 5]) } }, weightsOf(graph))['attention.0']!;
    for (let q = 0; q < 5; q++) {
      for (let k = 0; k < 5; k++) {
        const v = w.data[(2 * 5 + q) * 5 + k]!;
        if (k > q || q - k >= 2) expect(v).toBe(0);
        else expect(v).toBeGreaterThan(0);
      }
    }
  });

  it('the compile option keeps the asked-for attentions unfused, and only those plans', () => {
    const { graph } = twoBlocks();
    const fused = (g: Graph | undefined, opts = {}) => compile(g!, opts).steps.filter((s) => compile(g!, opts).graph.nodes[s.node]!.op === 'fused_attention').length;
    expect(fused(graph)).toBe(2);
    expect(fused(graph, { intermediates: { attentionWeights: true } })).toBe(0);
    expect(compile(graph, { intermediates: { attentionWeights: true } }).graph.outputs.map((o) => o.name)).toEqual(['y', 'attention.0', 'attention.1']);
  });

  it('bad requests are IntermediateErrors naming the output or the node', () => {
    const { graph } = twoBlocks();
    expect(() => withIntermediates(graph, { nodes: { y: 3 } })).toThrow(IntermediateError);
    expect(() => withIntermediates(graph, { nodes: { y: 3 } })).toThrow(/would hide the graph's output of that name/);
    expect(() => withIntermediates(graph, { nodes: { e: 9999 } })).toThrow(/node %9999 is not a node of the graph/);
  });
});

describe('diffPass', () => {
  it('names what fuse-attention absorbed into each fused_attention', () => {
    const { graph } = twoBlocks();
    const snapshots: { name: string; graph: Graph }[] = [{ name: 'source', graph }];
    compileWithReport(graph, { onPass: (pass, g) => snapshots.push({ name: pass.name, graph: g }) });
    const i = snapshots.findIndex((s) => s.name === 'fuse-attention');
    const diff = diffPass(snapshots[i - 1]!.graph, snapshots[i]!.graph);
    const after = snapshots[i]!.graph;
    const before = snapshots[i - 1]!.graph;
    expect(diff.added.map((id) => after.nodes[id]!.op)).toEqual(['fused_attention', 'fused_attention']);
    for (const id of diff.added) {
      const ops = diff.absorbedInto.get(id)!.map((r) => before.nodes[r]!.op).filter((op) => op !== 'constant').sort();
      // q kᵀ, the scale, the mask, softmax, the product with v (and the scale's constant, shared by both, goes to the first)
      expect(ops).toEqual(['add', 'matmul', 'matmul', 'mul', 'softmax']);
    }
    // an unchanged graph has nothing removed or added
    expect(diffPass(after, after)).toMatchObject({ removed: [], added: [] });
  });
});

describe('withIntermediates: the steps inside an attention', () => {
  it('names each step of an attention with extras (scale, soft-capping, ALiBi and a window added), and the cap is c tanh(x / c) of the scaled scores', () => {
    const m = new ModelBuilder();
    const ids = m.input('ids', 'i32', ['batch', 'seq'] as const);
    const x = m.embed(ids, m.param('emb', [10, 16] as const));
    const graph = m.build({ y: m.attention(x, x, x, 4, { softcap: 5, alibi: [0.5, 0.25, 0.125, 0.0625], window: 2 }) });
    const { graph: g, intermediates } = withIntermediates(graph, { attentionSteps: [0] });
    expect(intermediates.filter((i) => i.kind === 'attention-step').map((i) => i.step)).toEqual(['q', 'k', 'v', 'scores', 'scaled', 'capped', 'masked', 'context']);
    const out = interpret(g, { ids: { dtype: 'i32', shape: [1, 5], data: Int32Array.from([1, 2, 3, 4, 5]) } }, weightsOf(graph));
    const [scaled, capped] = [out['attention.0.scaled']!.data, out['attention.0.capped']!.data];
    for (let i = 0; i < scaled.length; i++) expect(capped[i]!).toBeCloseTo(5 * Math.tanh(scaled[i]! / 5), 5);
    expect(out['attention.0.scores']!.data.some((s, i) => Math.abs(s / 2 - scaled[i]!) > 1e-6)).toBe(false); // 1/sqrt(4)
    // every step belongs to the attention node of the given graph (its decomposition was expanded); the embedding is itself
    const attention = graph.nodes.find((n) => n.op === 'attention')!;
    expect(new Set(intermediates.map((i) => i.origin))).toEqual(new Set([attention.id]));
    const embedding = graph.nodes.find((n) => n.op === 'embed')!.id;
    expect(withIntermediates(graph, { nodes: { e: embedding }, attentionWeights: true }).intermediates.find((i) => i.name === 'e')!.origin).toBe(embedding);
    expect(withIntermediates(graph, { nodes: { e: embedding } }).intermediates[0]!.origin).toBe(embedding);
  });
});
