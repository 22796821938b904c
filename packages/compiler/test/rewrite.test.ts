import { describe, expect, expectTypeOf, it } from 'vitest';
import { printGraph, type NodeRef } from '@loom/graph';
import { applyRules, matchPattern, pat, rewriteGraph, rule, WorkingGraph, type Captures } from '../src/index.ts';
import { buildGraph, deepFreeze, expectEquivalent, values } from './helpers.ts';

/** x[2, 3] -> neg(x) * 1 + 0, with the constants as separate nodes. */
const small = () =>
  buildGraph((b) => {
    const x = b.input('x', 'f32', [2, 3]);
    const n = b.add('neg', [x]);
    const m = b.add('mul', [n, b.constant(1)]);
    return { y: b.add('add', [b.constant(0), m]) };
  });

describe('patterns', () => {
  const g = small();
  const view = WorkingGraph.from(g);
  const id = (op: string) => g.nodes.findIndex((n) => n.op === op);

  it('match op names and capture inputs', () => {
    expect(matchPattern(pat.op('neg', [pat.var('x')]), id('neg'), view)).toEqual({ x: 0 });
    expect(matchPattern(pat.op('exp', [pat.var('x')]), id('neg'), view)).toBeUndefined();
    expect(matchPattern(pat.op(['exp', 'neg']), id('neg'), view)).toEqual({});
  });

  it('match constants by value and capture them', () => {
    const mul = id('mul');
    expect(matchPattern(pat.op('mul', [pat.var('x'), pat.constant(1, 'one')]), mul, view)).toEqual({ x: id('neg'), one: 2 });
    expect(matchPattern(pat.op('mul', [pat.var('x'), pat.constant(2)]), mul, view)).toBeUndefined();
    expect(matchPattern(pat.op('mul', [pat.var('x'), pat.constant()]), mul, view)).toBeDefined();
  });

  it('try both orders of a commutative op, and not otherwise', () => {
    const add = id('add');
    expect(matchPattern(pat.op('add', [pat.var('x'), pat.constant(0)]), add, view)).toBeUndefined();
    expect(matchPattern(pat.op('add', [pat.var('x'), pat.constant(0)], { commutative: true }), add, view)).toEqual({ x: id('mul') });
  });

  it('require a name captured twice to be the same node', () => {
    const sq = buildGraph((b) => {
      const x = b.input('x', 'f32', [2]);
      const y = b.input('y', 'f32', [2]);
      return { xx: b.add('mul', [x, x]), xy: b.add('mul', [x, y]) };
    });
    const w = WorkingGraph.from(sq);
    const square = pat.op('mul', [pat.var('a'), pat.var('a')]);
    expect(matchPattern(square, 2, w)).toEqual({ a: 0 });
    expect(matchPattern(square, 3, w)).toBeUndefined();
  });

  it('check attributes, categories, use counts and conditions', () => {
    const t = buildGraph((b) => {
      const x = b.input('x', 'f32', [2, 3]);
      const tr = b.add('transpose', [x], { perm: [1, 0] });
      return { a: b.add('exp', [tr]), b: b.add('neg', [tr]) };
    });
    const w = WorkingGraph.from(t);
    expect(matchPattern(pat.op('transpose', [], { attrs: { perm: [1, 0] } }), 1, w)).toBeUndefined(); // [] inputs: arity 0
    expect(matchPattern(pat.op('transpose', undefined, { attrs: { perm: [1, 0] } }), 1, w)).toEqual({});
    expect(matchPattern(pat.op('transpose', undefined, { attrs: { perm: [0, 1] } }), 1, w)).toBeUndefined();
    expect(matchPattern(pat.category('elementwise'), 2, w)).toEqual({});
    expect(matchPattern(pat.category('primitive'), 2, w)).toBeUndefined();
    expect(matchPattern(pat.op('exp', [pat.op('transpose', undefined, { maxUses: 1 })]), 2, w)).toBeUndefined(); // two readers
    expect(matchPattern(pat.op('exp', [pat.op('transpose', undefined, { maxUses: 2 })]), 2, w)).toEqual({});
    expect(matchPattern(pat.op('exp', undefined, { where: (n) => n.type.shape[0] === 3 }), 2, w)).toEqual({});
    expect(matchPattern(pat.op('exp', undefined, { where: (n) => n.type.shape[0] === 2 }), 2, w)).toBeUndefined();
  });

  it('oneOf takes the first alternative that matches, backtracking into the next', () => {
    const p = pat.oneOf(pat.op('mul', [pat.var('x'), pat.constant(1, 'one')]), pat.op('mul', [pat.var('x'), pat.var('y')]));
    expect(matchPattern(p, id('mul'), view)).toEqual({ x: id('neg'), one: 2 });
  });

  it('carry capture names in the type: required unless only some alternatives bind them', () => {
    const p = pat.op('add', [pat.oneOf(pat.op('mul', [pat.var('x'), pat.constant(undefined, 'scale')]), pat.var('x')), pat.var('y')]);
    expectTypeOf<Captures<typeof p>>().toEqualTypeOf<{ readonly x: NodeRef; readonly y: NodeRef } & { readonly scale?: NodeRef }>();
    rule('typed', p, (m) => {
      expectTypeOf(m.x).toEqualTypeOf<NodeRef>();
      expectTypeOf(m.scale).toEqualTypeOf<NodeRef | undefined>();
      // @ts-expect-error: 'z' is not captured by the pattern
      void m.z;
      return undefined;
    });
  });
});

describe('rewriteGraph', () => {
  const dropMulOne = rule('mul-one', pat.op('mul', [pat.var('x'), pat.constant(1)]), ({ x }) => x);
  const dropAddZero = rule('add-zero', pat.op('add', [pat.constant(0), pat.var('x')]), ({ x }) => x);

  it('applies rules to a fixpoint and drops what they orphaned', () => {
    const g = deepFreeze(small());
    const out = rewriteGraph(g, [dropMulOne, dropAddZero]);
    expect(printGraph(out)).toBe(['%0 = input "x" : f32[2, 3]  # ' + g.nodes[0]!.source, '%1 = neg(%0) : f32[2, 3]  # ' + g.nodes[1]!.source, 'return y = %1'].join('\n'));
    expectEquivalent(g, out, { x: values([2, 3]) });
  });

  it('is "no match" by default: with nothing to rewrite, a clean graph comes back as it is', () => {
    const g = deepFreeze(small());
    expect(rewriteGraph(g, [])).toBe(g);
    expect(rewriteGraph(g, [rule('never', pat.op('neg'), () => undefined)])).toBe(g);
  });

  it('rebuilds a graph with dead nodes even when no rule fires', () => {
    const g = buildGraph((b) => {
      b.add('exp', [b.input('x', 'f32', [2])]);
      return { y: b.input('z', 'f32', [2]) };
    });
    const out = rewriteGraph(g, []);
    expect(out).not.toBe(g);
    expect(out.nodes.map((n) => n.op)).toEqual(['input', 'input']);
  });

  it('keeps each node its source; new nodes take the source of the node they replace', () => {
    const g = buildGraph((b) => {
      const x = b.input('x', 'f32', [2]);
      return { y: b.add('exp', [b.add('neg', [x], {}, 'model.ts:1')], {}, 'model.ts:2') };
    });
    const fuse = rule('exp-neg', pat.op('exp', [pat.op('neg', [pat.var('x')])]), ({ x }, ctx) => ctx.add('fused_elementwise', [x], { expr: { op: 'exp', args: [{ op: 'neg', args: [{ in: 0 }] }] } }));
    const out = rewriteGraph(g, [fuse]);
    expect(out.nodes.map((n) => [n.op, n.source])).toEqual([
      ['input', g.nodes[0]!.source],
      ['fused_elementwise', 'model.ts:2'],
    ]);
  });

  it('rebuilds compact, topologically ordered ids, and keeps unread graph inputs', () => {
    const g = buildGraph((b) => {
      const x = b.input('x', 'f32', [2]);
      b.input('unused', 'f32', [3]);
      b.param('dead', 'f32', [4]);
      const t = b.add('exp', [x]);
      return { y: b.add('neg', [b.add('neg', [t])]) };
    });
    const negNeg = rule('neg-neg', pat.op('neg', [pat.op('neg', [pat.var('x')])]), ({ x }) => x);
    const out = rewriteGraph(g, [negNeg]);
    expect(out.nodes.map((n) => n.op)).toEqual(['input', 'input', 'exp']);
    out.nodes.forEach((n, i) => {
      expect(n.id).toBe(i);
      for (const input of n.inputs) expect(input).toBeLessThan(i);
    });
  });

  it('rewrites inputs first, so a rule sees its operands already simplified', () => {
    // neg(neg(neg(neg(neg(x))))) -> neg(x) in one sweep
    const g = buildGraph((b) => {
      let v = b.input('x', 'f32', [2]);
      for (let i = 0; i < 5; i++) v = b.add('neg', [v]);
      return { y: v };
    });
    const seen: string[] = [];
    const out = rewriteGraph(g, [rule('neg-neg', pat.op('neg', [pat.op('neg', [pat.var('x')])]), ({ x }) => x)], { onRewrite: (r) => seen.push(r) });
    expect(out.nodes.map((n) => n.op)).toEqual(['input', 'neg']);
    expect(seen).toEqual(['neg-neg', 'neg-neg']);
  });

  it('counts readers as rules fire, and sweeps again: a node freed by one rewrite can be fused by the next', () => {
    // t = |x| is read by exp(t) and by t * 0; only once the product is gone may exp absorb t
    const g = buildGraph((b) => {
      const x = b.input('x', 'f32', [2]);
      const t = b.add('abs', [x]);
      return { y: b.add('exp', [t]), z: b.add('mul', [t, b.constant(0)]) };
    });
    const expOfAbs = rule('exp-abs', pat.op('exp', [pat.op('abs', [pat.var('x')], { maxUses: 1 })]), ({ x }, ctx) =>
      ctx.add('fused_elementwise', [x], { expr: { op: 'exp', args: [{ op: 'abs', args: [{ in: 0 }] }] } }),
    );
    const timesZero = rule('times-zero', pat.op('mul', [pat.any(), pat.constant(0)]), (_, ctx) => ctx.constant(0, [2]));
    expect(rewriteGraph(g, [expOfAbs]).nodes.map((n) => n.op)).not.toContain('fused_elementwise');
    const w = WorkingGraph.from(g);
    expect(w.uses(1)).toBe(2);
    expect(applyRules(w, [expOfAbs, timesZero])).toBe(2);
    expect(w.toGraph().nodes.map((n) => n.op)).toEqual(['input', 'fused_elementwise', 'constant']);
  });

  it('rejects a rule that changes a type', () => {
    const g = buildGraph((b) => ({ y: b.add('reduce_sum', [b.input('x', 'f32', [2, 3])], { axes: [1] }) }));
    const bad = rule('bad', pat.op('reduce_sum', [pat.var('x')]), ({ x }) => x);
    expect(() => rewriteGraph(g, [bad])).toThrow(/rewrite changed a type: f32\[2\] -> f32\[2, 3\]/);
  });

  it('reports rules that never settle', () => {
    const g = small();
    const flip = rule('flip', pat.op('neg', [pat.var('x')]), ({ x }, ctx) => ctx.add('neg', [x]));
    expect(() => rewriteGraph(g, [flip])).toThrow(/do not terminate/);
  });

  it('drops nodes a rule built but did not use', () => {
    const g = small();
    const wasteful = rule('wasteful', pat.op('neg', [pat.var('x')]), ({ x }, ctx) => {
      ctx.add('exp', [x]);
      return undefined;
    });
    expect(rewriteGraph(g, [wasteful])).toEqual(g);
  });
});
