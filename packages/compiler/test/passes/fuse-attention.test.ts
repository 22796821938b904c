import { describe, expect, it } from 'vitest';
import type { GraphBuilder, NodeRef } from '@loom/graph';
import { decomposeComposites, fuseAttention, runPipeline } from '../../src/index.ts';
import { buildGraph, expectEquivalent, opsOf, runChecked, values } from '../helpers.ts';

interface Options {
  scale?: 'none' | 'left' | 'right';
  mask?: (b: GraphBuilder) => NodeRef;
  maskLeft?: boolean;
  axis?: number;
  /** Give this intermediate a second reader (an extra output). */
  leak?: 'scores' | 'scaled' | 'masked' | 'probs';
}

/** softmax(q k^T * 0.25 + mask) v, spelled out in primitives, q/k/v [2, 3, 4, 5] (batch, heads, T, Dh). */
function sdpa(o: Options = {}) {
  return buildGraph((b) => {
    const [q, k, v] = ['q', 'k', 'v'].map((n) => b.input(n, 'f32', [2, 3, 4, 5]));
    const scores = b.add('matmul', [q!, k!], { transposeB: true });
    let s = scores;
    if (o.scale !== 'none') s = b.add('mul', o.scale === 'left' ? [b.constant(0.25), s] : [s, b.constant(0.25)]);
    const scaled = s;
    if (o.mask) s = b.add('add', o.maskLeft ? [o.mask(b), s] : [s, o.mask(b)]);
    const probs = b.add('softmax', [s], { axis: o.axis ?? -1 });
    const out: Record<string, NodeRef> = { y: b.add('matmul', [probs, v!]) };
    if (o.leak) out['leak'] = { scores, scaled, masked: s, probs }[o.leak];
    return out;
  });
}

const feeds = { q: values([2, 3, 4, 5], 1), k: values([2, 3, 4, 5], 2), v: values([2, 3, 4, 5], 3) };

/** fused_attention's attributes past the scale, as the op's schema fills them in. */
const NO_EXTRAS = { softcap: null, alibi: null, causal: false, window: null, positions: false };

describe('fuse-attention', () => {
  it('fuses scale, mask and softmax into fused_attention', () => {
    const g = sdpa({ mask: (b) => b.input('mask', 'f32', [4, 4]) });
    const out = runChecked(fuseAttention, g);
    expect(opsOf(out)).toEqual(['fused_attention']);
    expect(out.nodes.at(-1)!.attrs).toEqual({ scale: 0.25, ...NO_EXTRAS });
    expect(out.nodes.at(-1)!.inputs.map((i) => out.nodes[i]!.attrs['name'])).toEqual(['q', 'k', 'v', 'mask']);
    expectEquivalent(g, out, { ...feeds, mask: values([4, 4], 4) });
  });

  it('takes the scale on either side, or 1 when there is none', () => {
    expect(runChecked(fuseAttention, sdpa({ scale: 'left' })).nodes.at(-1)!.attrs).toEqual({ scale: 0.25, ...NO_EXTRAS });
    const none = sdpa({ scale: 'none' });
    const out = runChecked(fuseAttention, none);
    expect(out.nodes.at(-1)!.attrs).toEqual({ scale: 1, ...NO_EXTRAS });
    expectEquivalent(none, out, feeds);
  });

  it('takes masks of any shape that broadcasts to the scores, on either side of the add', () => {
    const shapes = [[4, 4], [2, 1, 1, 4], [1, 3, 4, 4], [4], [2, 3, 4, 4]];
    for (const shape of shapes) {
      const g = sdpa({ mask: (b) => b.input('mask', 'f32', shape), maskLeft: shape.length === 4 });
      const out = runChecked(fuseAttention, g);
      expect(opsOf(out), `mask ${shape}`).toEqual(['fused_attention']);
      expectEquivalent(g, out, { ...feeds, mask: values(shape, 5) });
    }
  });

  it('leaves the pattern when an intermediate has another reader', () => {
    for (const leak of ['scores', 'scaled', 'masked', 'probs'] as const) {
      const g = sdpa({ mask: (b) => b.input('mask', 'f32', [4, 4]), leak });
      expect(opsOf(runChecked(fuseAttention, g)), leak).not.toContain('fused_attention');
    }
  });

  it('leaves softmax over another axis, a mask that widens the scores, and an i32-free mismatch', () => {
    expect(opsOf(runChecked(fuseAttention, sdpa({ axis: 2 })))).not.toContain('fused_attention');
    const wide = sdpa({ mask: (b) => b.input('mask', 'f32', [5, 2, 3, 4, 4]) });
    expect(opsOf(runChecked(fuseAttention, wide))).not.toContain('fused_attention');
    const vector = sdpa({ scale: 'none', mask: (b) => b.constant([0.5, 1, 2, 4], [4]) });
    expect(opsOf(runChecked(fuseAttention, vector))).toEqual(['fused_attention']); // a constant mask is still a mask
  });

  it('fuses k and v that broadcast over q (kv heads of grouped-query attention), but never widens q', () => {
    const attend = (qShape: number[], kvShape: number[]) =>
      buildGraph((b) => {
        const q = b.input('q', 'f32', qShape);
        const kv = b.input('kv', 'f32', kvShape);
        const probs = b.add('softmax', [b.add('matmul', [q, kv], { transposeB: true })]);
        return { y: b.add('matmul', [probs, kv]) };
      });
    expect(opsOf(runChecked(fuseAttention, attend([2, 3, 4, 5], [2, 1, 4, 5])))).toContain('fused_attention');
    // a q of extent 1 against k of 2 would make the output wider than q: left alone
    expect(opsOf(runChecked(fuseAttention, attend([1, 4, 5], [2, 4, 5])))).not.toContain('fused_attention');
  });

  it('finds the attention composite after decomposition, with its causal mask', () => {
    const g = buildGraph((b) => {
      const x = b.input('x', 'f32', ['batch', 'seq', 6]);
      return { y: b.add('attention', [x, x, x, b.add('causal_mask', [x])], { heads: 3 }) };
    });
    const out = runPipeline(g, { passes: [decomposeComposites, fuseAttention], verify: true }).graph;
    expect(out.nodes.filter((n) => n.op === 'fused_attention')).toHaveLength(1);
    expect(opsOf(out)).not.toContain('softmax');
    expectEquivalent(g, out, { x: values([2, 5, 6]) });
  });
});
