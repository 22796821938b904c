import { describe, expect, it } from 'vitest';
import type { GraphBuilder, NodeRef } from '@loom/graph';
import { rewriteGraph, simplifyAlgebra, simplifyAlgebraRules } from '../../src/index.ts';
import { buildGraph, expectEquivalent, opsOf, runChecked, values } from '../helpers.ts';

/** Runs simplify-algebra on y = f(x) for x[2, 3] and returns the rules that fired and the ops left. */
function simplify(f: (b: GraphBuilder, x: NodeRef) => NodeRef, shape: readonly (number | string)[] = [2, 3]) {
  const g = buildGraph((b) => ({ y: f(b, b.input('x', 'f32', shape)) }));
  const fired: string[] = [];
  const out = rewriteGraph(g, simplifyAlgebraRules, { onRewrite: (r) => fired.push(r) });
  runChecked(simplifyAlgebra, g);
  if (shape.every((d) => typeof d === 'number')) expectEquivalent(g, out, { x: values(shape as number[]) });
  return { fired, ops: opsOf(out), out };
}

describe('simplify-algebra', () => {
  describe('transpose', () => {
    it('of a transpose composes the permutations', () => {
      const r = simplify((b, x) => b.add('transpose', [b.add('transpose', [x], { perm: [1, 2, 0] })], { perm: [1, 2, 0] }), [2, 3, 5]);
      expect(r.fired).toEqual(['transpose-of-transpose']);
      expect(r.out.nodes.at(-1)!.attrs['perm']).toEqual([2, 0, 1]);
    });
    it('of its inverse disappears', () => {
      const r = simplify((b, x) => b.add('transpose', [b.add('transpose', [x], { perm: [1, 2, 0] })], { perm: [2, 0, 1] }), [2, 3, 5]);
      expect(r.ops).toEqual([]);
    });
    it('by the identity permutation disappears; any other stays', () => {
      expect(simplify((b, x) => b.add('transpose', [x], { perm: [0, 1] })).ops).toEqual([]);
      expect(simplify((b, x) => b.add('transpose', [x], { perm: [1, 0] })).ops).toEqual(['transpose']);
    });
  });

  describe('reshape', () => {
    it('chains collapse into the last reshape', () => {
      const r = simplify((b, x) => b.add('reshape', [b.add('reshape', [b.add('reshape', [x], { shape: [6] })], { shape: [3, 2] })], { shape: [-1, 1] }));
      expect(r.ops).toEqual(['reshape']);
      expect(r.out.nodes.at(-1)!.type.shape).toEqual([6, 1]);
    });
    it('to the same shape disappears, symbolic dims and -1 included', () => {
      expect(simplify((b, x) => b.add('reshape', [x], { shape: ['batch', -1] }), ['batch', 3]).ops).toEqual([]);
      expect(simplify((b, x) => b.add('reshape', [b.add('reshape', [x], { shape: [6] })], { shape: [2, 3] })).ops).toEqual([]);
    });
    it('to another shape stays', () => {
      expect(simplify((b, x) => b.add('reshape', [x], { shape: [3, 2] })).ops).toEqual(['reshape']);
    });
  });

  describe('identities', () => {
    const cases: [string, (b: GraphBuilder, x: NodeRef) => NodeRef][] = [
      ['mul-by-one', (b, x) => b.add('mul', [x, b.constant(1)])],
      ['mul-by-one', (b, x) => b.add('mul', [b.constant(1), x])],
      ['mul-by-one', (b, x) => b.add('mul', [x, b.constant(1, [2, 3])])],
      ['add-zero', (b, x) => b.add('add', [x, b.constant(0)])],
      ['add-zero', (b, x) => b.add('add', [b.constant(0, [3]), x])],
      ['add-zero', (b, x) => b.add('add', [x, b.constant(-0)])], // x + -0 is x, bit for bit
      ['sub-zero', (b, x) => b.add('sub', [x, b.constant(0)])],
      ['div-by-one', (b, x) => b.add('div', [x, b.constant(1)])],
      ['identity-cast', (b, x) => b.add('cast', [x], { dtype: 'f32' })],
      ['whole-slice', (b, x) => b.add('slice', [x], { axis: 1 })],
      ['whole-slice', (b, x) => b.add('slice', [x], { axis: 0, start: -2, end: 2 })],
      ['concat-of-one', (b, x) => b.add('concat', [x], { axis: 0 })],
    ];
    for (const [name, f] of cases) {
      it(`${name}: ${String(f).replace(/^.*=> /, '')}`, () => {
        const r = simplify(f);
        expect(r.fired).toEqual([name]);
        expect(r.ops).toEqual([]);
      });
    }

    it('keep ops that are not identities', () => {
      const kept: [string, (b: GraphBuilder, x: NodeRef) => NodeRef][] = [
        ['mul', (b, x) => b.add('mul', [x, b.constant(2)])],
        ['mul', (b, x) => b.add('mul', [x, b.constant([1, 1, 2], [3])])],
        ['sub', (b, x) => b.add('sub', [b.constant(0), x])], // 0 - x is -x
        ['div', (b, x) => b.add('div', [b.constant(1), x])], // 1 / x
        ['slice', (b, x) => b.add('slice', [x], { axis: 1, start: 1 })],
        ['slice', (b, x) => b.add('slice', [x], { axis: 0, step: 2 })],
        ['concat', (b, x) => b.add('concat', [x, x], { axis: 0 })],
      ];
      for (const [op, f] of kept) expect(simplify(f).ops, String(f)).toEqual([op]);
    });

    it('keep an identity that broadcasts: x[3] * ones[2, 3] still has work to do', () => {
      expect(simplify((b, x) => b.add('mul', [x, b.constant(1, [2, 3])]), [3]).ops).toEqual(['mul']);
      expect(simplify((b, x) => b.add('add', [x, b.constant(0, [1, 1, 1])]), [2, 3]).ops).toEqual(['add']);
    });

    it('keep a cast that changes the dtype', () => {
      const g = buildGraph((b) => ({ y: b.add('cast', [b.input('x', 'i32', [2])], { dtype: 'f32' }) }));
      expect(opsOf(simplifyAlgebra.run(g))).toEqual(['cast']);
    });
  });

  describe('matmul of a transpose', () => {
    it('reads the operand transposed instead (x @ W^T)', () => {
      const g = buildGraph((b) => {
        const x = b.input('x', 'f32', [2, 3]);
        const w = b.param('w', 'f32', [5, 3]);
        return { y: b.add('matmul', [x, b.add('transpose', [w], { perm: [1, 0] })]) };
      });
      const out = simplifyAlgebra.run(g);
      expect(opsOf(out)).toEqual(['matmul']);
      expect(out.nodes.at(-1)!.attrs['transposeB']).toBe(true);
      expectEquivalent(g, out, { x: values([2, 3]) }, new Map([['w', values([5, 3], 2)]]));
    });
    it('undoes transposeB for a transposed operand, with batch axes', () => {
      const g = buildGraph((b) => {
        const x = b.input('x', 'f32', [4, 2, 3]);
        const k = b.input('k', 'f32', [4, 3, 5]);
        return { y: b.add('matmul', [x, b.add('transpose', [k], { perm: [0, 2, 1] })], { transposeB: true }) };
      });
      const out = simplifyAlgebra.run(g);
      expect(opsOf(out)).toEqual(['matmul']);
      expect(out.nodes.at(-1)!.attrs['transposeB']).toBe(false);
      expectEquivalent(g, out, { x: values([4, 2, 3]), k: values([4, 3, 5], 3) });
    });
    it('leaves a transpose that moves batch axes', () => {
      const g = buildGraph((b) => {
        const x = b.input('x', 'f32', [3, 2, 3]);
        const k = b.input('k', 'f32', [3, 3, 3]);
        return { y: b.add('matmul', [x, b.add('transpose', [k], { perm: [2, 1, 0] })]) };
      });
      expect(opsOf(simplifyAlgebra.run(g))).toEqual(['transpose', 'matmul']);
    });
  });
});
