/** multiplyAdds on compiled plans: a mixture of experts costs k experts per token, not E. */
import { ModelBuilder } from '@loom/graph';
import { describe, expect, it } from 'vitest';
import { compile, multiplyAdds } from '../src/index.ts';

const [D, F] = [16, 24];

function moe(experts: number, k: number) {
  const m = new ModelBuilder();
  const x = m.input('x', 'f32', ['tokens', D]);
  const y = m.moeFfn(x, m.param('router', [D, experts]), m.param('gate', [experts, D, F]), m.param('up', [experts, D, F]), m.param('down', [experts, F, D]), { k });
  return compile(m.build({ y })).graph;
}

function denseGlu(width: number) {
  const m = new ModelBuilder();
  const x = m.input('x', 'f32', ['tokens', D]);
  return compile(m.build({ y: m.gluFfn(x, m.param('gate', [D, width]), m.param('up', [D, width]), m.param('down', [width, D])) })).graph;
}

describe('multiplyAdds', () => {
  const tokens = new Map([['tokens', 10]]);

  it('a mixture of experts: the router (D E per token) plus k experts (3 D F each), whatever E is', () => {
    for (const [experts, k] of [[8, 2], [4, 2], [16, 2], [8, 1], [8, 4]] as const) {
      expect(multiplyAdds(moe(experts, k), tokens), `${experts} experts, top ${k}`).toBe(10 * (D * experts + 3 * k * D * F));
    }
  });

  it('equals a dense GLU with the same active parameters (width k F), plus the router', () => {
    expect(multiplyAdds(moe(8, 2), tokens) - 10 * D * 8).toBe(multiplyAdds(denseGlu(2 * F), tokens));
  });

  it('attention: q.k and the weighted sum of v, per batch and head', () => {
    const m = new ModelBuilder();
    const q = m.input('q', 'f32', [2, 5, 8]);
    const kv = m.input('kv', 'f32', [2, 7, 8]);
    const graph = compile(m.build({ y: m.attention(q, kv, kv, 2) })).graph;
    expect(multiplyAdds(graph)).toBe(2 * 2 * 5 * 7 * (4 + 4));
  });
});
