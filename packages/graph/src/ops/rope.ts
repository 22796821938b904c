import { z } from 'zod';
import { allocStorage } from '../ndarray.ts';
import { defineOp, typeRule } from '../op-def.ts';
import { dimEquals } from '../shape.ts';

/**
 * Rotary position embedding (Su et al., RoFormer) on x[B, T, H, Dh], per head: the first
 * R = fraction * Dh features of each head are rotated in pairs by the angle p * theta^(-2j/R) of
 * position p; the rest pass through (partial rotary, GPT-NeoX / Phi). Two pairings:
 * - `halves` (Hugging Face Llama, GPT-NeoX): pair j is (x[j], x[j + R/2]);
 * - `interleaved` (the RoFormer paper, GPT-J): pair j is (x[2j], x[2j + 1]).
 * Positions are offset + 0..T-1, with `offset` an i32 input of shape [B] or [1] (where decoding with
 * a cache starts); without it, 0..T-1. A pair (a, b) becomes (a cos - b sin, b cos + a sin).
 */
export const ROPE_STYLES = ['halves', 'interleaved'] as const;
export type RopeStyle = (typeof ROPE_STYLES)[number];

/** The rotated feature count of a head of `dh` features. */
export function rotaryDims(dh: number, fraction: number): number {
  return Math.floor(dh * fraction);
}

/** theta^(-2j/R) for the R/2 pairs: the frequencies the decomposition's constant holds. */
export function ropeFrequencies(theta: number, rotary: number): number[] {
  return Array.from({ length: rotary / 2 }, (_, j) => Math.pow(theta, (-2 * j) / rotary));
}

export const rope = defineOp({
  name: 'rope',
  category: 'primitive',
  summary: 'rotary position embedding of x[B, T, H, Dh]',
  attrs: z
    .object({
      theta: z.number().positive().default(10000),
      style: z.enum(ROPE_STYLES).default('halves'),
      fraction: z.number().gt(0).lte(1).default(1),
    })
    .strict(),
  inputs: ['x', 'offset'],
  minInputs: 1,
  infer([x, offset], a) {
    typeRule(x!.dtype === 'f32' && x!.shape.length === 4, `x must be f32 [B, T, H, Dh], got ${x!.dtype} of rank ${x!.shape.length}`);
    const dh = x!.shape[3]!;
    typeRule(typeof dh === 'number', `the head size Dh must be static, got ${dh}`);
    const rotary = rotaryDims(dh as number, a.fraction);
    typeRule(rotary >= 2 && rotary % 2 === 0, `fraction ${a.fraction} of Dh = ${dh} rotates ${rotary} features; it must be an even number >= 2`);
    if (offset) {
      typeRule(offset.dtype === 'i32' && offset.shape.length === 1, `offset must be i32 [B] or [1], got ${offset.dtype} [${offset.shape.join(', ')}]`);
      typeRule(dimEquals(offset.shape[0]!, 1) || dimEquals(offset.shape[0]!, x!.shape[0]!), `offset must have B = ${x!.shape[0]} or 1 entries, got ${offset.shape[0]}`);
    }
    return x!;
  },
  evaluate([x, offset], a, ctx) {
    const [batch, t, heads, dh] = ctx.outShape as [number, number, number, number];
    const rotary = rotaryDims(dh, a.fraction);
    const half = rotary / 2;
    const freq = ropeFrequencies(a.theta, rotary);
    const src = x!.data;
    const out = allocStorage('f32', src.length, ctx.precision);
    out.set(src);
    for (let bi = 0; bi < batch; bi++) {
      const start = offset ? offset.data[offset.data.length === 1 ? 0 : bi]! : 0;
      for (let ti = 0; ti < t; ti++) {
        for (let h = 0; h < heads; h++) {
          const base = ((bi * t + ti) * heads + h) * dh;
          for (let j = 0; j < half; j++) {
            const angle = (start + ti) * freq[j]!;
            const [i1, i2] = a.style === 'halves' ? [base + j, base + j + half] : [base + 2 * j, base + 2 * j + 1];
            const [p, q] = [src[i1]!, src[i2]!];
            out[i1] = p * Math.cos(angle) - q * Math.sin(angle);
            out[i2] = q * Math.cos(angle) + p * Math.sin(angle);
          }
        }
      }
    }
    return { dtype: 'f32', shape: ctx.outShape, data: out };
  },
  decompose(b, [x, offset], a) {
    const [batch, t, heads, dh] = b.typeOf(x!).shape as [string | number, string | number, number, number];
    const rotary = rotaryDims(dh, a.fraction);
    const half = rotary / 2;
    // positions [B or 1, T, 1, 1] as f32
    let positions = b.add('reshape', [b.add('range', [], { size: t, dtype: 'i32' })], { shape: [1, t] });
    if (offset) positions = b.add('add', [b.add('reshape', [offset], { shape: [b.typeOf(offset).shape[0]!, 1] }), positions]);
    const pos = b.add('cast', [b.add('reshape', [positions], { shape: [b.typeOf(positions).shape[0]!, t, 1, 1] })], { dtype: 'f32' });
    const angle = b.add('mul', [pos, b.constant(ropeFrequencies(a.theta, rotary), [half])]); // [B, T, 1, R/2]
    const cos = b.add('cos', [angle]);
    const sin = b.add('sin', [angle]);
    const rotate = (first: number, second: number) => [
      b.add('sub', [b.add('mul', [first, cos]), b.add('mul', [second, sin])]),
      b.add('add', [b.add('mul', [second, cos]), b.add('mul', [first, sin])]),
    ];
    let rotated: number;
    if (a.style === 'halves') {
      const [x1, x2] = [b.add('slice', [x!], { axis: 3, start: 0, end: half }), b.add('slice', [x!], { axis: 3, start: half, end: rotary })];
      rotated = b.add('concat', rotate(x1, x2), { axis: 3 });
    } else {
      const pairs = b.add('reshape', [rotary === dh ? x! : b.add('slice', [x!], { axis: 3, start: 0, end: rotary })], { shape: [batch, t, heads, half, 2] });
      const [even, odd] = [0, 1].map((k) => b.add('reshape', [b.add('slice', [pairs], { axis: 4, start: k, end: k + 1 })], { shape: [batch, t, heads, half] }));
      const [e, o] = rotate(even!, odd!);
      const stacked = b.add('concat', [b.add('reshape', [e!], { shape: [batch, t, heads, half, 1] }), b.add('reshape', [o!], { shape: [batch, t, heads, half, 1] })], { axis: 4 });
      rotated = b.add('reshape', [stacked], { shape: [batch, t, heads, rotary] });
    }
    if (rotary === dh) return rotated;
    return b.add('concat', [rotated, b.add('slice', [x!], { axis: 3, start: rotary, end: dh })], { axis: 3 });
  },
});
