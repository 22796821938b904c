/**
 * Activation recomputation (grad's `recompute`): the same gradients, bit for bit, from a backward
 * pass that computes each block's activations again instead of keeping them; the compiled step
 * holds fewer bytes at its peak and runs more kernels, and the copies survive the compiler (common
 * subexpression elimination must not merge them back into the forward pass).
 */
import { GraphBuilder, interpret, mulberry32, type Graph, type NDArray } from '@loom/graph';
import { describe, expect, it } from 'vitest';
import { compileWithReport, grad, layerBlockOf } from '../../src/index.ts';

const BATCH = 64;
const WIDTH = 32;
const HIDDEN = 128;
const LAYERS = 4;

/** A residual MLP: x + W2 gelu(layer_norm(x) W1), LAYERS times, then a head and a mean-square loss. */
function residualMlp(): Graph {
  const g = new GraphBuilder();
  let x = g.input('x', 'f32', [BATCH, WIDTH]);
  for (let l = 0; l < LAYERS; l++) {
    const p = (name: string, shape: number[]) => g.param(`layers.${l}.${name}`, 'f32', shape);
    const h = g.add('layer_norm', [x, p('norm.weight', [WIDTH]), p('norm.bias', [WIDTH])], { eps: 1e-5 });
    const up = g.add('gelu', [g.add('add', [g.add('matmul', [h, p('fc1.weight', [WIDTH, HIDDEN])]), p('fc1.bias', [HIDDEN])])]);
    x = g.add('add', [x, g.add('matmul', [up, p('fc2.weight', [HIDDEN, WIDTH])])]);
  }
  const y = g.add('matmul', [x, g.param('head.weight', 'f32', [WIDTH, 1])]);
  return g.build({ loss: g.add('reduce_mean', [g.add('mul', [y, y])], { axes: [0, 1] }) });
}

function randomFeeds(graph: Graph): { feeds: Record<string, NDArray>; weights: Map<string, NDArray> } {
  const random = mulberry32(7);
  const weights = new Map<string, NDArray>();
  const feeds: Record<string, NDArray> = {};
  for (const n of graph.nodes) {
    if (n.op !== 'input' && n.op !== 'param') continue;
    const shape = n.type.shape as number[];
    const value: NDArray = { dtype: 'f32', shape, data: Float64Array.from({ length: shape.reduce((a, d) => a * d, 1) }, () => (random() * 2 - 1) * 0.3) };
    if (n.op === 'param') weights.set(n.attrs['name'] as string, value);
    else feeds[n.attrs['name'] as string] = value;
  }
  return { feeds, weights };
}

describe('activation recomputation', () => {
  const graph = residualMlp();
  const kept = grad(graph, { loss: 'loss' });
  const recomputed = grad(graph, { loss: 'loss', recompute: true });

  it('finds the blocks by parameter names', () => {
    expect(layerBlockOf('h.3.attn.c_attn.weight')).toBe('h.3');
    expect(layerBlockOf('encoder.layers.1.self_attn.q.weight')).toBe('encoder.layers.1');
    expect(layerBlockOf('layers.0.mlp.gate_proj.weight')).toBe('layers.0');
    expect(layerBlockOf('wte.weight')).toBeUndefined();
    expect(layerBlockOf('ln_f.bias')).toBeUndefined();
  });

  it('gives the same loss and gradients, bit for bit', () => {
    const { feeds, weights } = randomFeeds(graph);
    const a = interpret(kept, feeds, weights);
    const b = interpret(recomputed, feeds, weights);
    expect(Object.keys(b).sort()).toEqual(Object.keys(a).sort());
    for (const name of Object.keys(a)) expect(Array.from(b[name]!.data), name).toEqual(Array.from(a[name]!.data));
  });

  it('copies each block once, and the compiled step keeps the copies: fewer bytes at the peak, more kernels', () => {
    const marked = recomputed.nodes.filter((n) => n.source?.endsWith('[recomputed]'));
    // every block's forward nodes (layer_norm, matmul, add, gelu, matmul, add) once per block
    expect(marked.filter((n) => n.op === 'layer_norm')).toHaveLength(LAYERS);
    const bindings = {};
    const plain = compileWithReport(kept, { bindings }).plan.stats;
    const lean = compileWithReport(recomputed, { bindings }).plan.stats;
    expect(lean.kernels).toBeGreaterThan(plain.kernels);
    expect(lean.plannedBytes).toBeLessThan(plain.plannedBytes);
  });

  it('takes a function naming each parameter\'s block', () => {
    const everyOther = grad(graph, { loss: 'loss', recompute: (name) => /^layers\.(\d+)\./.exec(name) ? `pair ${Math.floor(Number(/^layers\.(\d+)\./.exec(name)![1]) / 2)}` : undefined });
    expect(everyOther.nodes.filter((n) => n.op === 'layer_norm' && n.source?.endsWith('[recomputed]'))).toHaveLength(LAYERS);
    const { feeds, weights } = randomFeeds(graph);
    expect(Array.from(interpret(everyOther, feeds, weights)['grad.layers.0.fc1.weight']!.data)).toEqual(Array.from(interpret(kept, feeds, weights)['grad.layers.0.fc1.weight']!.data));
  });
});
