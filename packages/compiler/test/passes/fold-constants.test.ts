import { describe, expect, it } from 'vitest';
import { expandOps } from '@loom/graph';
import { foldConstants, MAX_FOLDED_ELEMENTS } from '../../src/index.ts';
import { buildGraph, expectEquivalent, opsOf, runChecked, values } from '../helpers.ts';

describe('fold-constants', () => {
  it('evaluates a chain of constant arithmetic into one constant', () => {
    const g = buildGraph((b) => {
      const c = b.add('exp', [b.add('mul', [b.constant([1, 2, 3], [3]), b.constant(0.5)])]);
      return { y: b.add('add', [b.input('x', 'f32', [2, 3]), c]) };
    });
    const out = runChecked(foldConstants, g);
    expect(opsOf(out)).toEqual(['add']);
    expect(out.nodes.find((n) => n.op === 'constant')!.attrs['values']).toEqual([0.5, 1, 1.5].map(Math.exp));
    expectEquivalent(g, out, { x: values([2, 3]) });
  });

  it('folds static ranges and what is computed from them (a causal mask of static length)', () => {
    const g = buildGraph((b) => ({ y: b.add('add', [b.input('s', 'f32', [4, 4]), b.add('causal_mask', [b.input('x', 'f32', [1, 4, 2])])]) }));
    expect(opsOf(runChecked(foldConstants, g))).toContain('causal_mask'); // composites have no reference kernel: decompose first
    const out = runChecked(foldConstants, expandOps(g, (d) => d.category === 'composite'));
    expect(opsOf(out)).toEqual(['add']);
    expectEquivalent(g, out, { s: values([4, 4]), x: values([1, 4, 2]) });
  });

  it('stores a result of one value as a filled constant', () => {
    const g = buildGraph((b) => ({ y: b.add('mul', [b.input('x', 'f32', [3]), b.add('add', [b.constant(1, [3]), b.constant(1)])]) }));
    const c = runChecked(foldConstants, g).nodes.find((n) => n.op === 'constant')!;
    expect(c.attrs).toEqual({ dtype: 'f32', shape: [3], values: [2] });
  });

  it('folds integer ops in i32', () => {
    const g = buildGraph((b) => ({ y: b.add('add', [b.input('i', 'i32', [2]), b.add('div', [b.constant([7, -7], [2], 'i32'), b.constant(2, [], 'i32')])]) }));
    const c = runChecked(foldConstants, g).nodes.find((n) => n.op === 'constant')!;
    expect(c.attrs).toEqual({ dtype: 'i32', shape: [2], values: [3, -3] });
  });

  it('never folds inputs or params, nor what reads them', () => {
    const g = buildGraph((b) => ({ y: b.add('exp', [b.param('w', 'f32', [2])]), z: b.add('neg', [b.input('x', 'f32', [2])]) }));
    expect(opsOf(runChecked(foldConstants, g))).toEqual(['exp', 'neg']);
  });

  it(`leaves results over ${MAX_FOLDED_ELEMENTS} elements and symbolic shapes to run time`, () => {
    const big = buildGraph((b) => ({ y: b.add('exp', [b.constant(0.5, [MAX_FOLDED_ELEMENTS + 1])]) }));
    expect(opsOf(runChecked(foldConstants, big))).toEqual(['exp']);
    const symbolic = buildGraph((b) => ({ y: b.add('range', [], { size: 'seq' }), z: b.input('x', 'f32', ['seq']) }));
    expect(opsOf(runChecked(foldConstants, symbolic))).toEqual(['range']);
    const justFits = buildGraph((b) => ({ y: b.add('exp', [b.constant(0.5, [MAX_FOLDED_ELEMENTS])]) }));
    expect(opsOf(runChecked(foldConstants, justFits))).toEqual([]);
  });

  it('leaves a node whose evaluation fails or overflows, so the problem shows at run time', () => {
    const g = buildGraph((b) => ({
      bad: b.add('gather', [b.constant([1, 2], [2, 1]), b.constant([5], [1], 'i32')]),
      inf: b.add('exp', [b.constant(1000)]),
    }));
    expect(opsOf(runChecked(foldConstants, g))).toEqual(['gather', 'exp']);
  });

  it('does not evaluate fused ops or composites (no reference kernel)', () => {
    const g = buildGraph((b) => ({ y: b.add('fused_elementwise', [b.constant([1, 2], [2])], { expr: { op: 'neg', args: [{ in: 0 }] } }) }));
    expect(opsOf(runChecked(foldConstants, g))).toEqual(['fused_elementwise']);
  });
});
