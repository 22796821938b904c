import { describe, expect, it } from 'vitest';
import { getOp } from '@loom/graph';
import { decomposeComposites, decomposeOps } from '../../src/index.ts';
import { buildGraph, expectEquivalent, opsOf, runChecked, values } from '../helpers.ts';

describe('decompose-composites', () => {
  const g = () =>
    buildGraph((b) => {
      const x = b.input('x', 'f32', [2, 3, 4]);
      const mask = b.add('causal_mask', [x], {}, 'model.ts:1');
      const a = b.add('attention', [x, x, x, mask], { heads: 2 }, 'model.ts:2');
      const f = b.add('ffn', [a, b.param('w1', 'f32', [4, 5]), b.param('b1', 'f32', [5]), b.param('w2', 'f32', [5, 4]), b.param('b2', 'f32', [4])], { activation: 'gelu_tanh' }, 'model.ts:3');
      return { y: b.add('add_norm', [a, f, b.param('g', 'f32', [4]), b.param('b', 'f32', [4])], {}, 'model.ts:4') };
    });
  const weights = new Map([
    ['w1', values([4, 5], 1)],
    ['b1', values([5], 2)],
    ['w2', values([5, 4], 3)],
    ['b2', values([4], 4)],
    ['g', values([4], 5)],
    ['b', values([4], 6)],
  ]);

  it('expands every composite into primitives, recursively, computing the same', () => {
    const out = runChecked(decomposeComposites, g());
    expect(out.nodes.every((n) => getOp(n.op).category !== 'composite')).toBe(true);
    expect(opsOf(out)).toContain('softmax');
    expect(opsOf(out)).toContain('layer_norm'); // a primitive, kept
    expectEquivalent(g(), out, { x: values([2, 3, 4]) }, weights);
  });

  it("gives every emitted node its composite's source line", () => {
    const out = decomposeComposites.run(g());
    const ln = out.nodes.find((n) => n.op === 'layer_norm')!;
    expect(ln.source).toBe('model.ts:4');
    expect(out.nodes.find((n) => n.op === 'softmax')!.source).toBe('model.ts:2');
    expect(out.nodes.find((n) => n.op === 'gelu_tanh')!.source).toBe('model.ts:3');
  });

  it('leaves fused ops alone; decomposeOps(predicate) can expand them', () => {
    const fused = buildGraph((b) => ({ y: b.add('fused_add_layer_norm', [b.input('x', 'f32', [4]), b.input('r', 'f32', [4]), b.param('g', 'f32', [4]), b.param('b', 'f32', [4])]) }));
    expect(opsOf(decomposeComposites.run(fused))).toEqual(['fused_add_layer_norm']);
    expect(opsOf(decomposeOps((d) => d.category === 'fused').run(fused))).toEqual(['add', 'layer_norm']);
  });
});
