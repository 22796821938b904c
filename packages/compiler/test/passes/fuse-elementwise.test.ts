import { describe, expect, it } from 'vitest';
import { exprSize, type Expr } from '@loom/graph';
import { MAX_EXPR_OPS, MAX_KERNEL_INPUTS, RECOMPUTED_MOST_OPS, eliminateDeadCode, fuseCheapProducers, fuseElementwise } from '../../src/index.ts';
import { buildGraph, expectEquivalent, opsOf, runChecked, values } from '../helpers.ts';

const fuse = (g: Parameters<typeof runChecked>[1]) => runChecked(fuseElementwise, g);

describe('fuse-elementwise', () => {
  it('fuses a chain into one kernel over its external inputs, scalar constants inlined', () => {
    const g = buildGraph((b) => {
      const x = b.input('x', 'f32', [2, 3]);
      const bias = b.param('bias', 'f32', [3]);
      const t = b.add('gelu_tanh', [b.add('add', [b.add('mul', [x, b.constant(0.5)]), bias])]);
      return { y: b.add('where', [b.add('greater', [t, b.constant(0)]), t, b.constant(-1)]) };
    });
    const out = fuse(g);
    // t is read twice (by greater and where): it stays a kernel and the where-chain fuses on its own
    expect(opsOf(out)).toEqual(['fused_elementwise', 'fused_elementwise']);
    const first = out.nodes.find((n) => n.op === 'fused_elementwise')!;
    expect(first.inputs.map((i) => out.nodes[i]!.op)).toEqual(['input', 'param']);
    expect(first.attrs['expr']).toEqual({
      op: 'gelu_tanh',
      args: [{ op: 'add', args: [{ op: 'mul', args: [{ in: 0 }, { const: 0.5, dtype: 'f32' }] }, { in: 1 }] }],
    });
    expectEquivalent(g, out, { x: values([2, 3]) }, new Map([['bias', values([3], 2)]]));
  });

  it('reads an input used twice once, and handles casts, comparisons and i32', () => {
    const g = buildGraph((b) => {
      const i = b.input('i', 'i32', [4]);
      const f = b.add('cast', [b.add('mul', [i, i])], { dtype: 'f32' });
      return { y: b.add('sqrt', [b.add('add', [f, b.constant(1)])]) };
    });
    const out = fuse(g);
    expect(opsOf(out)).toEqual(['fused_elementwise']);
    expect(out.nodes.at(-1)!.inputs).toHaveLength(1);
    expectEquivalent(g, out, { i: { dtype: 'i32', shape: [4], data: Int32Array.from([0, 1, -2, 3]) } });
  });

  it('absorbs an existing fused kernel', () => {
    const g = buildGraph((b) => {
      const x = b.input('x', 'f32', [3]);
      const f = b.add('fused_elementwise', [x], { expr: { op: 'exp', args: [{ in: 0 }] } });
      return { y: b.add('neg', [f]) };
    });
    const out = fuse(g);
    expect(out.nodes.at(-1)!.attrs['expr']).toEqual({ op: 'neg', args: [{ op: 'exp', args: [{ in: 0 }] }] });
  });

  it('does not recompute: a producer read twice, or an output, stays a kernel of its own', () => {
    const twice = buildGraph((b) => {
      const e = b.add('exp', [b.input('x', 'f32', [3])]);
      return { y: b.add('neg', [e]), z: b.add('abs', [e]) };
    });
    expect(opsOf(fuse(twice))).toEqual(['exp', 'neg', 'abs']);
    const output = buildGraph((b) => {
      const e = b.add('exp', [b.input('x', 'f32', [3])]);
      return { e, y: b.add('neg', [e]) };
    });
    expect(opsOf(fuse(output))).toEqual(['exp', 'neg']);
  });

  it('does not inline a producer that the consumer broadcasts to a larger shape', () => {
    const g = buildGraph((b) => {
      const v = b.input('v', 'f32', [2, 1]);
      const x = b.input('x', 'f32', [2, 5]);
      return { y: b.add('mul', [x, b.add('rsqrt', [b.add('add', [v, b.constant(1e-5)])])]) };
    });
    const out = fuse(g);
    expect(opsOf(out)).toEqual(['fused_elementwise', 'mul']); // rsqrt(v + eps) once per row, not per element
    expect(out.nodes.find((n) => n.op === 'fused_elementwise')!.type.shape).toEqual([2, 1]);
  });

  it('keeps a lone elementwise op a primitive', () => {
    const g = buildGraph((b) => ({ y: b.add('mul', [b.input('x', 'f32', [3]), b.constant(2)]) }));
    expect(opsOf(fuse(g))).toEqual(['mul']);
  });

  it('keeps a constant that shapes the output as an input, not a literal', () => {
    const g = buildGraph((b) => ({ y: b.add('exp', [b.add('add', [b.input('x', 'f32', [3]), b.constant(0.5, [2, 1])])]) }));
    const out = fuse(g);
    const k = out.nodes.at(-1)!;
    expect(k.type.shape).toEqual([2, 3]);
    expect(k.inputs.map((i) => out.nodes[i]!.op)).toEqual(['input', 'constant']);
    expectEquivalent(g, out, { x: values([3]) });
  });

  it(`reads at most ${MAX_KERNEL_INPUTS} inputs per kernel`, () => {
    const g = buildGraph((b) => {
      let acc = b.input('x0', 'f32', [2]);
      for (let i = 1; i < 10; i++) acc = b.add('add', [acc, b.input(`x${i}`, 'f32', [2])]);
      return { y: acc };
    });
    const out = fuse(g);
    for (const n of out.nodes) expect(n.inputs.length).toBeLessThanOrEqual(MAX_KERNEL_INPUTS);
    expect(opsOf(out)).toEqual(['fused_elementwise', 'fused_elementwise']);
    expectEquivalent(g, out, Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`x${i}`, values([2], i)])));
  });

  it(`holds at most ${MAX_EXPR_OPS} ops per kernel: a longer chain becomes several (expressions are walked recursively)`, () => {
    const length = 2 * MAX_EXPR_OPS + 5;
    const g = buildGraph((b) => {
      let x = b.input('x', 'f32', [3]);
      for (let i = 0; i < length; i++) x = b.add(i % 2 ? 'neg' : 'tanh', [x]);
      return { y: x };
    });
    const out = fuse(g);
    const sizes = out.nodes.filter((n) => n.op === 'fused_elementwise').map((n) => exprSize(n.attrs['expr'] as Expr));
    expect(sizes.every((s) => s <= MAX_EXPR_OPS)).toBe(true);
    expect(sizes.reduce((a, s) => a + s, 0)).toBe(length);
    expect(sizes).toHaveLength(Math.ceil(length / MAX_EXPR_OPS));
    expectEquivalent(g, out, { x: values([3]) });
  });

  it('does not fuse through non-elementwise ops', () => {
    const g = buildGraph((b) => ({ y: b.add('exp', [b.add('softmax', [b.add('neg', [b.input('x', 'f32', [3])])])]) }));
    expect(opsOf(fuse(g))).toEqual(['neg', 'softmax', 'exp']);
  });
});

describe('fuse-cheap-producers (the GPU backends)', () => {
  const recompute = (g: Parameters<typeof runChecked>[1]) => runChecked(fuseCheapProducers, g);

  it('recomputes what fuse-elementwise leaves: a producer read by two nodes, read twice, read broadcast', () => {
    const g = buildGraph((b) => {
      const x = b.input('x', 'f32', [2, 1]);
      const e = b.add('exp', [x]); // [2, 1], read broadcast to [2, 3] and by two nodes
      const s = b.add('mul', [b.input('y', 'f32', [2, 3]), e]);
      return { y: b.add('where', [b.add('greater', [s, b.constant(0)]), s, e]), z: b.add('neg', [e]) };
    });
    const kept = runChecked(fuseElementwise, g);
    expect(opsOf(kept)).toEqual(['exp', 'mul', 'fused_elementwise', 'neg']);
    const out = recompute(kept);
    // both readers compute exp themselves, the where reads x and y: no kernel of exp or mul left
    expect(opsOf(runChecked(eliminateDeadCode, out))).toEqual(['fused_elementwise', 'fused_elementwise']);
    const feeds = { x: values([2, 1]), y: values([2, 3], 3) };
    expectEquivalent(g, out, feeds);
  });

  it('does not recompute a producer that stays a kernel anyway (a reduction or an output reads it too): no kernel saved', () => {
    const g = buildGraph((b) => {
      const e = b.add('exp', [b.input('x', 'f32', [2, 1])]);
      return { y: b.add('mul', [e, b.input('z', 'f32', [2, 3])]), s: b.add('reduce_sum', [e], { axes: [0], keepDims: false }) };
    });
    expect(opsOf(recompute(runChecked(fuseElementwise, g)))).toEqual(['exp', 'mul', 'reduce_sum']);
    const output = buildGraph((b) => {
      const e = b.add('exp', [b.input('x', 'f32', [2, 1])]);
      return { e, y: b.add('mul', [e, b.input('z', 'f32', [2, 3])]) };
    });
    expect(opsOf(recompute(runChecked(fuseElementwise, output)))).toEqual(['exp', 'mul']);
    // the same producer with only elementwise readers is computed by each of them
    const elementwise = buildGraph((b) => {
      const e = b.add('exp', [b.input('x', 'f32', [2, 1])]);
      return { y: b.add('mul', [e, b.input('z', 'f32', [2, 3])]), w: b.add('neg', [b.add('add', [e, b.input('v', 'f32', [2, 3])])]) };
    });
    expect(opsOf(runChecked(eliminateDeadCode, recompute(runChecked(fuseElementwise, elementwise))))).toEqual(['fused_elementwise', 'fused_elementwise']);
    // a kernel this pass rebuilt (p, after absorbing exp) keeps its reduction reader: neg still reads it
    const rebuilt = buildGraph((b) => {
      const q = b.add('exp', [b.input('x', 'f32', [2, 1])]);
      const p = b.add('mul', [q, b.input('z', 'f32', [2, 3])]);
      return { r: b.add('neg', [p]), s: b.add('reduce_sum', [p], { axes: [0], keepDims: false }), t: b.add('abs', [q]) };
    });
    const out = runChecked(eliminateDeadCode, recompute(runChecked(fuseElementwise, rebuilt)));
    expect(opsOf(out)).toContain('neg');
    expectEquivalent(rebuilt, out, { x: values([2, 1]), z: values([2, 3], 4) });
  });

  it('leaves a costly producer, and one a non-elementwise node reads, a kernel', () => {
    const g = buildGraph((b) => {
      const x = b.input('x', 'f32', [4]);
      let costly = x;
      for (let k = 0; k <= RECOMPUTED_MOST_OPS; k++) costly = b.add(k % 2 ? 'exp' : 'tanh', [costly]);
      return { y: b.add('add', [costly, costly]), z: b.add('reduce_sum', [costly], { axes: [0], keepDims: false }) };
    });
    const out = recompute(runChecked(fuseElementwise, g));
    // the chain (9 ops, one kernel) is read twice by the add and by the reduction: it stays
    const chain = out.nodes.filter((n) => n.op === 'fused_elementwise' && exprSize(n.attrs['expr'] as Expr) > RECOMPUTED_MOST_OPS);
    expect(chain).toHaveLength(1);
    expectEquivalent(g, out, { x: values([4]) });
  });

  it("stays within a kernel's inputs and ops", () => {
    // four producers of two fresh inputs each, added into a base: absorbing all would read 9 inputs
    const wide = buildGraph((b) => {
      let acc = b.input('base', 'f32', [3, 2]);
      for (let k = 0; k < 4; k++) {
        const p = b.add('mul', [b.input(`x${k}`, 'f32', [3, 1]), b.input(`y${k}`, 'f32', [3, 1])]);
        acc = b.add('add', [acc, b.add('neg', [p])]);
        acc = b.add('add', [acc, p]); // read twice, and broadcast: fuse-elementwise leaves it
      }
      return { y: acc };
    });
    const wideOut = recompute(runChecked(fuseElementwise, wide));
    // an 8-op producer read four times by one expression: absorbing it would make 36 ops
    const deep = buildGraph((b) => {
      const x = b.input('x', 'f32', [3]);
      let p = x;
      for (let k = 0; k < RECOMPUTED_MOST_OPS; k++) p = b.add(k % 2 ? 'sin' : 'cos', [p]);
      let acc = b.input('y', 'f32', [3]);
      for (let k = 0; k < 4; k++) acc = b.add('add', [acc, p]);
      return { y: acc };
    });
    const deepOut = recompute(runChecked(fuseElementwise, deep));
    for (const out of [wideOut, deepOut]) {
      for (const n of out.nodes.filter((n) => n.op === 'fused_elementwise')) {
        expect(n.inputs.length).toBeLessThanOrEqual(MAX_KERNEL_INPUTS);
        expect(exprSize(n.attrs['expr'] as Expr)).toBeLessThanOrEqual(MAX_EXPR_OPS);
      }
    }
    // each took what fitted: some producers absorbed, the rest kept as kernels
    expect(opsOf(runChecked(eliminateDeadCode, wideOut)).length).toBeGreaterThan(1);
    expect(opsOf(runChecked(eliminateDeadCode, deepOut)).length).toBeGreaterThan(1);
    const feeds = Object.fromEntries([...[0, 1, 2, 3].flatMap((k) => [[`x${k}`, values([3, 1], k + 1)] as const, [`y${k}`, values([3, 1], k + 5)] as const]), ['base', values([3, 2], 9)] as const]);
    expectEquivalent(wide, wideOut, feeds);
    expectEquivalent(deep, deepOut, { x: values([3]), y: values([3], 2) });
  });
});
