/**
 * The meaning of attention's extras (soft-capping, ALiBi, causal and sliding-window masks, positions),
 * held to a plain float64 loop written here from the papers' and Hugging Face's definitions:
 * query head h reads kv head floor(h / (H / KV)); score = q.k * scale; Gemma 2 caps it
 * (cap tanh(score / cap)) before the mask; ALiBi adds slope_h (kpos - qpos) (BLOOM); a key is hidden
 * when its position is negative, after the query (causal), or window or more before it (Mistral:
 * query i sees key j iff i - j < window).
 */
import { describe, expect, it } from 'vitest';
import { interpret, ModelBuilder, mulberry32, type NDArray } from '../src/index.ts';

interface Spec {
  heads: number;
  kvHeads: number;
  dh: number;
  tq: number;
  tk: number;
  softcap?: number;
  alibi?: number[];
  causal?: boolean;
  window?: number;
  qpos?: number[][];
  kpos?: number[][];
}

function naive(spec: Spec, q: NDArray, k: NDArray, v: NDArray, batch: number): number[] {
  const { heads, kvHeads, dh, tq, tk } = spec;
  const group = heads / kvHeads;
  const out: number[] = new Array(batch * tq * heads * dh).fill(0);
  for (let b = 0; b < batch; b++) {
    for (let h = 0; h < heads; h++) {
      const g = Math.floor(h / group);
      for (let i = 0; i < tq; i++) {
        const qp = spec.qpos ? spec.qpos[b]![i]! : tk - tq + i;
        const scores = Array.from({ length: tk }, (_, j) => {
          const kp = spec.kpos ? spec.kpos[b]![j]! : j;
          let s = 0;
          for (let d = 0; d < dh; d++) s += q.data[((b * tq + i) * heads + h) * dh + d]! * k.data[((b * tk + j) * kvHeads + g) * dh + d]!;
          s /= Math.sqrt(dh);
          if (spec.softcap) s = spec.softcap * Math.tanh(s / spec.softcap);
          if (spec.alibi) s += spec.alibi[h]! * (kp - qp);
          const hidden = kp < 0 || (spec.causal && kp > qp) || (spec.window !== undefined && qp - kp >= spec.window);
          return hidden ? -Infinity : s;
        });
        const max = Math.max(...scores);
        const w = scores.map((s) => Math.exp(s - max));
        const total = w.reduce((x, y) => x + y, 0);
        for (let d = 0; d < dh; d++) {
          let acc = 0;
          for (let j = 0; j < tk; j++) acc += (w[j]! / total) * v.data[((b * tk + j) * kvHeads + g) * dh + d]!;
          out[((b * tq + i) * heads + h) * dh + d] = acc;
        }
      }
    }
  }
  return out;
}

function run(spec: Spec, batch = 2) {
  const r = mulberry32(spec.tq * 7 + spec.tk);
  const rand = (shape: number[]): NDArray => ({ dtype: 'f32', shape, data: Float64Array.from({ length: shape.reduce((a, d) => a * d, 1) }, () => r() * 4 - 2) as unknown as Float32Array });
  const m = new ModelBuilder();
  const { heads, kvHeads, dh, tq, tk } = spec;
  const q = m.input('q', 'f32', [batch, tq, heads * dh]);
  const k = m.input('k', 'f32', [batch, tk, kvHeads * dh]);
  const v = m.input('v', 'f32', [batch, tk, kvHeads * dh]);
  const qpos = spec.qpos ? m.input('qpos', 'i32', [batch, tq]) : undefined;
  const kpos = spec.kpos ? m.input('kpos', 'i32', [batch, tk]) : undefined;
  const out = m.groupedAttention(q, k, v, heads, kvHeads, {
    ...(spec.softcap ? { softcap: spec.softcap } : {}),
    ...(spec.alibi ? { alibi: spec.alibi } : {}),
    ...(spec.causal ? { causal: true } : {}),
    ...(spec.window !== undefined ? { window: spec.window } : {}),
    ...(qpos && kpos ? { positions: { q: qpos, k: kpos } } : {}),
  });
  const feeds: Record<string, NDArray> = { q: rand([batch, tq, heads * dh]), k: rand([batch, tk, kvHeads * dh]), v: rand([batch, tk, kvHeads * dh]) };
  if (spec.qpos) feeds['qpos'] = { dtype: 'i32', shape: [batch, tq], data: Int32Array.from(spec.qpos.flat()) };
  if (spec.kpos) feeds['kpos'] = { dtype: 'i32', shape: [batch, tk], data: Int32Array.from(spec.kpos.flat()) };
  const got = interpret(m.build({ out }), feeds, new Map())['out']!;
  const want = naive(spec, feeds['q']!, feeds['k']!, feeds['v']!, batch);
  return Math.max(...want.map((w, i) => Math.abs(w - got.data[i]!)));
}

describe('attention extras mean what the models define', () => {
  it.each<[string, Spec]>([
    ['a sliding window of 3 (Mistral: i - j < window)', { heads: 2, kvHeads: 2, dh: 4, tq: 8, tk: 8, causal: true, window: 3 }],
    ['ALiBi slopes, grouped heads (4 on 2)', { heads: 4, kvHeads: 2, dh: 4, tq: 5, tk: 5, causal: true, alibi: [0.5, 0.25, 0.125, 0.0625] }],
    ['soft-capping at 1.5 before the mask', { heads: 2, kvHeads: 1, dh: 4, tq: 6, tk: 6, causal: true, softcap: 1.5 }],
    ['new queries after cached keys (default positions: the last Tq)', { heads: 2, kvHeads: 2, dh: 4, tq: 2, tk: 6, causal: true, window: 4 }],
    ['fed positions with an empty slot, window, ALiBi, soft-capping', { heads: 2, kvHeads: 1, dh: 4, tq: 2, tk: 5, causal: true, window: 3, alibi: [0.3, 0.1], softcap: 2, qpos: [[6, 7], [2, 3]], kpos: [[4, 5, 3, 6, 7], [-1, 0, 1, 2, 3]] }],
  ])('%s', (_, spec) => {
    expect(run(spec)).toBeLessThan(1e-12);
  });

  it('a window needs causal, slopes one per head, positions both inputs: type errors naming them', () => {
    const m = new ModelBuilder();
    const x = m.input('x', 'f32', [1, 4, 8]);
    expect(() => m.attention(x, x, x, 2, { window: 2, causal: false })).toThrow(/sliding window needs causal: true/);
    expect(() => m.attention(x, x, x, 2, { alibi: [0.5] })).toThrow(/alibi needs one slope per query head \(2\), got 1/);
    const p = m.input('p', 'i32', [3, 4]);
    expect(() => m.attention(x, x, x, 2, { causal: true, positions: { q: p, k: p } })).toThrow(/qPositions must be i32 \[4\] or \[1, 4\], got i32 \[3, 4\]/);
  });
});
