import { describe, expect, it } from 'vitest';
import { eliminateCommonSubexpressions } from '../../src/index.ts';
import { buildGraph, expectEquivalent, opsOf, runChecked, values } from '../helpers.ts';

const cse = (g: Parameters<typeof runChecked>[1]) => runChecked(eliminateCommonSubexpressions, g);

describe('eliminate-common-subexpressions', () => {
  it('merges nodes with the same op, inputs and attributes, transitively', () => {
    const g = buildGraph((b) => {
      const x = b.input('x', 'f32', [2, 3]);
      const a = b.add('exp', [b.add('transpose', [x], { perm: [1, 0] })]);
      const c = b.add('exp', [b.add('transpose', [x], { perm: [1, 0] })]);
      return { y: b.add('add', [a, c]) };
    });
    const out = cse(g);
    expect(opsOf(out)).toEqual(['transpose', 'exp', 'add']);
    expect(out.nodes.at(-1)!.inputs).toEqual([2, 2]);
    expectEquivalent(g, out, { x: values([2, 3]) });
  });

  it('keeps nodes whose attributes differ', () => {
    const g = buildGraph((b) => {
      const x = b.input('x', 'f32', [2, 3]);
      return { a: b.add('reduce_sum', [x], { axes: [0] }), b: b.add('reduce_sum', [x], { axes: [1] }), c: b.add('reduce_sum', [x], { axes: [1], keepDims: true }) };
    });
    expect(opsOf(cse(g))).toEqual(['reduce_sum', 'reduce_sum', 'reduce_sum']);
  });

  it('merges constants by value: filled and spelled out are one; 0 and -0 are two', () => {
    const g = buildGraph((b) => {
      const x = b.input('x', 'f32', [3]);
      return {
        a: b.add('mul', [x, b.constant(2, [3])]),
        b: b.add('mul', [x, b.constant([2, 2, 2], [3])]),
        c: b.add('mul', [x, b.constant(0)]),
        d: b.add('mul', [x, b.constant(-0)]),
      };
    });
    const out = cse(g);
    expect(out.nodes.filter((n) => n.op === 'constant').map((n) => n.attrs['values'])).toEqual([[2], [0], [-0]]);
    expect(out.outputs[0]!.node).toBe(out.outputs[1]!.node);
  });

  it('merges commutative ops with swapped inputs, not others', () => {
    const g = buildGraph((b) => {
      const x = b.input('x', 'f32', [3]);
      const y = b.input('y', 'f32', [3]);
      return { a: b.add('add', [x, y]), b: b.add('add', [y, x]), c: b.add('sub', [x, y]), d: b.add('sub', [y, x]), e: b.add('maximum', [y, x]), f: b.add('maximum', [x, y]) };
    });
    expect(opsOf(cse(g))).toEqual(['add', 'sub', 'sub', 'maximum']);
  });

  it('never merges inputs or params, and keeps every output name', () => {
    const g = buildGraph((b) => ({ p: b.param('p', 'f32', [2]), q: b.param('q', 'f32', [2]), x: b.input('x', 'f32', [2]), y: b.input('y', 'f32', [2]) }));
    const out = cse(g);
    expect(out.nodes).toHaveLength(4);
    expect(out.outputs.map((o) => o.name)).toEqual(['p', 'q', 'x', 'y']);
  });

  it('merges the same mask built for every layer', () => {
    const g = buildGraph((b) => {
      const x = b.input('x', 'f32', [2, 'seq', 4]);
      let h = x;
      for (let i = 0; i < 3; i++) h = b.add('attention', [h, h, h, b.add('causal_mask', [x])], { heads: 2 });
      return { y: h };
    });
    expect(cse(g).nodes.filter((n) => n.op === 'causal_mask')).toHaveLength(1);
  });
});
