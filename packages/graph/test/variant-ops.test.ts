/**
 * The ops Llama-family models are made of: rms_norm, rope (both pairings, partial rotary, offsets),
 * grouped- and multi-query attention, glu_ffn. Each is checked against a direct float64 computation
 * written here from the papers' and Hugging Face's formulas (plain loops), and its type rule against
 * wrong shapes.
 */
import { describe, expect, it } from 'vitest';
import { expandOps, graphFromJson, graphToJson, GraphBuilder, interpret, MASKED, type NDArray } from '../src/index.ts';
import { caught, expectClose, f32, i32, inferOp, noise, runOp } from './test-helpers.ts';

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

describe('rms_norm', () => {
  it('is x / sqrt(mean(x^2) + eps) * w, and * (1 + w) with weightOffset 1 (Gemma)', () => {
    const x = noise([2, 3, 5], 1);
    const w = noise([5], 2);
    for (const weightOffset of [0, 1]) {
      const want: number[] = [];
      for (let r = 0; r < 6; r++) {
        const row = Array.from(x.data.subarray(r * 5, r * 5 + 5));
        const inv = 1 / Math.sqrt(row.reduce((s, v) => s + v * v, 0) / 5 + 1e-5);
        row.forEach((v, j) => want.push(v * inv * (w.data[j]! + weightOffset)));
      }
      expectClose(runOp('rms_norm', [x, w], { eps: 1e-5, weightOffset }), want, 1e-12);
    }
  });

  it('refuses a weight that is not [D]', () => {
    expect(caught(() => inferOp('rms_norm', [['f32', ['b', 4]], ['f32', [5]]])).message).toMatch(/weight must have shape \[4\] \(the last axis of x\)/);
  });
});

/** Hugging Face's apply_rotary_pos_emb (halves) or RoFormer's pairs (interleaved), on x[B, T, H, Dh]. */
function ropeReference(x: NDArray, theta: number, style: 'halves' | 'interleaved', rotary: number, offsets: number[]): number[] {
  const [batch, t, heads, dh] = x.shape as number[];
  const out = Array.from(x.data);
  const half = rotary / 2;
  for (let b = 0; b < batch!; b++) {
    for (let p = 0; p < t!; p++) {
      const position = (offsets[offsets.length === 1 ? 0 : b] ?? 0) + p;
      for (let h = 0; h < heads!; h++) {
        const base = ((b * t! + p) * heads! + h) * dh!;
        for (let j = 0; j < half; j++) {
          const angle = position * Math.pow(theta, (-2 * j) / rotary);
          const [i1, i2] = style === 'halves' ? [base + j, base + j + half] : [base + 2 * j, base + 2 * j + 1];
          const [a, c] = [x.data[i1]!, x.data[i2]!];
          out[i1] = a * Math.cos(angle) - c * Math.sin(angle);
          out[i2] = c * Math.cos(angle) + a * Math.sin(angle);
        }
      }
    }
  }
  return out;
}

describe('rope', () => {
  const x = noise([2, 5, 3, 8], 3);

  it('rotates by position * theta^(-2j/Dh) in halves (Hugging Face) and in interleaved pairs (RoFormer)', () => {
    for (const style of ['halves', 'interleaved'] as const) {
      expectClose(runOp('rope', [x], { theta: 10000, style }), ropeReference(x, 10000, style, 8, [0]), 1e-12);
    }
  });

  it('rotates only the first fraction of each head (partial rotary), and starts at a per-row offset', () => {
    const offsets = i32([2], [3, 11]);
    for (const style of ['halves', 'interleaved'] as const) {
      expectClose(runOp('rope', [x, offsets], { theta: 500000, style, fraction: 0.5 }), ropeReference(x, 500000, style, 4, [3, 11]), 1e-12);
    }
    expectClose(runOp('rope', [x, i32([1], [7])], { theta: 100 }), ropeReference(x, 100, 'halves', 8, [7]), 1e-12);
  });

  it('at offset p equals the rows of a longer sequence from p on (what a KV cache relies on)', () => {
    const long = noise([1, 6, 2, 4], 5);
    const tail = f32([1, 2, 2, 4], long.data.subarray(4 * 8));
    const whole = runOp('rope', [long], {});
    expectClose(runOp('rope', [tail, i32([1], [4])], {}), Array.from(whole.data.subarray(4 * 8)), 1e-12);
  });

  it('refuses an odd rotary size, a non-4D x and a wrong offset', () => {
    expect(caught(() => inferOp('rope', [['f32', [1, 2, 3, 6]]], { fraction: 0.5 })).message).toMatch(/rotates 3 features; it must be an even number >= 2/);
    expect(caught(() => inferOp('rope', [['f32', [2, 3, 8]]])).message).toMatch(/x must be f32 \[B, T, H, Dh\]/);
    expect(caught(() => inferOp('rope', [['f32', [2, 3, 1, 8]], ['i32', [3]]])).message).toMatch(/offset must have B = 2 or 1 entries/);
  });
});

/** softmax(q k^T / sqrt(Dh) + mask) v per query head h, reading kv head floor(h / (H / KV)). */
function groupedReference(q: NDArray, k: NDArray, v: NDArray, heads: number, kvHeads: number, mask?: (i: number, j: number) => number): number[] {
  const [batch, tq, d] = q.shape as number[];
  const tk = k.shape[1]!;
  const dh = d! / heads;
  const dkv = dh * kvHeads;
  const out = new Array<number>(batch! * tq! * d!).fill(0);
  for (let b = 0; b < batch!; b++) {
    for (let h = 0; h < heads; h++) {
      const g = Math.floor(h / (heads / kvHeads));
      for (let i = 0; i < tq!; i++) {
        const scores = Array.from({ length: tk }, (_, j) => {
          let s = 0;
          for (let c = 0; c < dh; c++) s += q.data[(b * tq! + i) * d! + h * dh + c]! * k.data[(b * tk + j) * dkv + g * dh + c]!;
          return s / Math.sqrt(dh) + (mask ? mask(i, j) : 0);
        });
        const m = Math.max(...scores);
        const e = scores.map((s) => Math.exp(s - m));
        const sum = e.reduce((p, c) => p + c, 0);
        for (let c = 0; c < dh; c++) {
          let acc = 0;
          for (let j = 0; j < tk; j++) acc += (e[j]! / sum) * v.data[(b * tk + j) * dkv + g * dh + c]!;
          out[(b * tq! + i) * d! + h * dh + c] = acc;
        }
      }
    }
  }
  return out;
}

describe('grouped- and multi-query attention', () => {
  it('query head h reads kv head floor(h / (H / KV)), with a causal mask; kvHeads 1 is multi-query', () => {
    for (const kvHeads of [2, 1]) {
      const q = noise([2, 4, 12], 7);
      const k = noise([2, 4, kvHeads * 3], 8);
      const v = noise([2, 4, kvHeads * 3], 9);
      const causal = f32([4, 4], Array.from({ length: 16 }, (_, n) => (n % 4 <= Math.floor(n / 4) ? 0 : MASKED)));
      const got = runOp('attention', [q, k, v, causal], { heads: 4, kvHeads });
      expectClose(got, groupedReference(q, k, v, 4, kvHeads, (i, j) => (j <= i ? 0 : MASKED)), 1e-12);
    }
  });

  it('with a per-head mask [B, H, Tq, Tk], and kvHeads = heads equal to plain multi-head attention', () => {
    const q = noise([1, 3, 8], 10);
    const k = noise([1, 5, 4], 11);
    const v = noise([1, 5, 4], 12);
    const maskValues = Array.from({ length: 4 * 3 * 5 }, (_, n) => ((n * 7) % 5 === 0 ? MASKED : 0));
    const mask = f32([1, 4, 3, 5], maskValues);
    const at = (h: number) => (i: number, j: number) => maskValues[(h * 3 + i) * 5 + j]!;
    const got = runOp('attention', [q, k, v, mask], { heads: 4, kvHeads: 2 });
    const want: number[] = new Array(24).fill(0);
    for (let h = 0; h < 4; h++) {
      // one query head at a time through the reference, with its own mask rows
      const one = groupedReference(q, k, v, 4, 2, at(h));
      for (let i = 0; i < 3; i++) for (let c = 0; c < 2; c++) want[i * 8 + h * 2 + c] = one[i * 8 + h * 2 + c]!;
    }
    expectClose(got, want, 1e-12);
    const full = noise([1, 5, 8], 13);
    expectClose(runOp('attention', [q, full, full], { heads: 4, kvHeads: 4 }), Array.from(runOp('attention', [q, full, full], { heads: 4 }).data), 0);
  });

  it('never repeats K or V: the products read kv operands of kvHeads heads', () => {
    const b = new GraphBuilder();
    const q = b.input('q', 'f32', [1, 16, 64]);
    const kv = b.input('kv', 'f32', [1, 16, 8]);
    const graph = b.build({ y: b.add('attention', [q, kv, kv], { heads: 8, kvHeads: 1 }) });
    const expanded = expandOps(graph);
    const products = expanded.nodes.filter((n) => n.op === 'matmul');
    expect(products.length).toBe(2);
    // q k^T and weights v: the second operand is the 1 kv head (16 x 8 = 128 values), never 8 heads' worth
    for (const p of products) expect(expanded.nodes[p.inputs[1]!]!.type.shape.reduce((n: number, d) => n * (d as number), 1)).toBe(128);
    const out = interpret(graph, { q: noise([1, 16, 64], 1), kv: noise([1, 16, 8], 2) }, new Map());
    expect(out['y']!.shape).toEqual([1, 16, 64]);
    const b2 = new GraphBuilder();
    expect(caught(() => b2.add('attention', [b2.input('q', 'f32', [1, 2, 12]), b2.input('k', 'f32', [1, 2, 6]), b2.input('v', 'f32', [1, 2, 6])], { heads: 4, kvHeads: 3 })).message).toMatch(/kvHeads = 3 must divide heads = 4/);
    expect(caught(() => inferOp('attention', [['f32', [1, 2, 12]], ['f32', [1, 2, 12]], ['f32', [1, 2, 12]]], { heads: 4, kvHeads: 2 })).message).toMatch(/k and v must have 2 heads of 3: last axis 6, got 12 and 12/);
  });
});

describe('glu_ffn', () => {
  it('is (act(x Wg) * (x Wu)) Wd with silu, gelu or gelu_tanh', () => {
    const x = noise([2, 3, 4], 20);
    const [wg, wu, wd] = [noise([4, 6], 21), noise([4, 6], 22), noise([6, 4], 23)];
    const gelu = (z: number) => 0.5 * z * (1 + erfApprox(z / Math.SQRT2));
    for (const [activation, act] of [['silu', (z: number) => z * sigmoid(z)], ['gelu', gelu]] as const) {
      const want: number[] = [];
      for (let r = 0; r < 6; r++) {
        const hidden = Array.from({ length: 6 }, (_, f) => {
          let g = 0;
          let u = 0;
          for (let c = 0; c < 4; c++) {
            g += x.data[r * 4 + c]! * wg.data[c * 6 + f]!;
            u += x.data[r * 4 + c]! * wu.data[c * 6 + f]!;
          }
          return act(g) * u;
        });
        for (let c = 0; c < 4; c++) want.push(hidden.reduce((s, hv, f) => s + hv * wd.data[f * 4 + c]!, 0));
      }
      expectClose(runOp('glu_ffn', [x, wg, wu, wd], { activation }), want, activation === 'gelu' ? 1e-6 : 1e-12);
    }
  });

  it('refuses mismatched weights', () => {
    expect(caught(() => inferOp('glu_ffn', [['f32', [2, 4]], ['f32', [4, 6]], ['f32', [4, 5]], ['f32', [6, 4]]])).message).toMatch(/w_up must be \[4, 6\] like w_gate, got \[4, 5\]/);
    expect(caught(() => inferOp('glu_ffn', [['f32', [2, 4]], ['f32', [4, 6]], ['f32', [4, 6]], ['f32', [6, 3]]])).message).toMatch(/w_down must be \[6, 4\], got \[6, 3\]/);
  });
});

it('the four ops survive a JSON round trip', () => {
  const b = new GraphBuilder();
  const x = b.input('x', 'f32', ['batch', 'seq', 8]);
  const heads = b.add('reshape', [x], { shape: ['batch', 'seq', 2, 4] });
  const rotated = b.add('reshape', [b.add('rope', [heads, b.input('offset', 'i32', [1])], { theta: 500000, style: 'interleaved', fraction: 0.5 })], { shape: ['batch', 'seq', 8] });
  const kv = b.input('kv', 'f32', ['batch', 'seq', 4]);
  const attended = b.add('attention', [rotated, kv, kv], { heads: 2, kvHeads: 1 });
  const normed = b.add('rms_norm', [attended, b.param('g', 'f32', [8])], { eps: 1e-5, weightOffset: 1 });
  const graph = b.build({ y: b.add('glu_ffn', [normed, b.param('wg', 'f32', [8, 6]), b.param('wu', 'f32', [8, 6]), b.param('wd', 'f32', [6, 8])], { activation: 'gelu_tanh' }) });
  const again = graphFromJson(graphToJson(graph));
  const feeds = { x: noise([2, 3, 8], 1), offset: i32([1], [2]), kv: noise([2, 3, 4], 2) };
  const weights = new Map([['g', noise([8], 3)], ['wg', noise([8, 6], 4)], ['wu', noise([8, 6], 5)], ['wd', noise([6, 8], 6)]]);
  expect(Array.from(interpret(again, feeds, weights)['y']!.data)).toEqual(Array.from(interpret(graph, feeds, weights)['y']!.data));
});

/** Abramowitz & Stegun 7.1.26 is not enough for 1e-12: a series and continued fraction would be; 1e-6 is what this test asks of gelu. */
function erfApprox(z: number): number {
  const t = 1 / (1 + 0.3275911 * Math.abs(z));
  const y = 1 - t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429)))) * Math.exp(-z * z);
  return z >= 0 ? y : -y;
}

describe('fused_add_rms_norm and fused_matmul_rope (the fusions rotary models compile to)', () => {
  it('fused_add_rms_norm is rms_norm(x + residual)', () => {
    const [x, r, w] = [noise([2, 3, 4], 5), noise([2, 3, 4], 6), noise([4], 7)];
    const sum = f32([2, 3, 4], Array.from(x.data, (v, i) => v + r.data[i]!));
    const want = Array.from(runOp('rms_norm', [sum, w], { eps: 1e-3, weightOffset: 1 }).data);
    expectClose(runOp('fused_add_rms_norm', [x, r, w], { eps: 1e-3, weightOffset: 1 }), want, 1e-12);
    expect(caught(() => inferOp('fused_add_rms_norm', [['f32', [2, 4]], ['f32', [4]], ['f32', [4]]])).message).toMatch(/x and residual must have one type/);
  });

  it('fused_matmul_rope is the epilogue of a @ b, then rope on its heads, at an offset', () => {
    const [a, b, bias] = [noise([2, 3, 4], 8), noise([4, 8], 9), noise([8], 10)];
    const offset = i32([2], [0, 5]);
    const attrs = { theta: 100, style: 'interleaved', fraction: 1 };
    const product = runOp('linear', [a, b, bias]);
    const heads = f32([2, 3, 2, 4], Array.from(product.data));
    const want = Array.from(runOp('rope', [heads, offset], attrs).data);
    const epilogue = { op: 'add', args: [{ in: 0 }, { in: 1 }] };
    expectClose(runOp('fused_matmul_rope', [a, b, bias, offset], { transposeB: false, epilogue, heads: 2, ...attrs, offset: true }), want, 1e-12);
    expect(caught(() => inferOp('fused_matmul_rope', [['f32', [2, 3, 4]], ['f32', [4, 6]]], { transposeB: false, epilogue: { in: 0 }, heads: 2, ...attrs, offset: false })).message).toMatch(/heads \* Dh\] with an even Dh/);
  });
});
