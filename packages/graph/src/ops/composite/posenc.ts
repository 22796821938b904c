import { z } from 'zod';
import { defineOp, typeRule, type NodeRef, type OpEmitter } from '../../op-def.ts';
import { dimEquals } from '../../shape.ts';
import type { TensorType } from '../../tensor-type.ts';

/**
 * Positional encodings added to x[B, T, D]. Positions are 0..T-1 unless a `positions` input
 * ([T] or [B, T], i32) says otherwise (decoding with a cache starts later than 0).
 */

function checkPositions(x: TensorType, positions: TensorType | undefined): void {
  typeRule(x.dtype === 'f32' && x.shape.length >= 2, 'x must be f32 [..., T, D]');
  if (!positions) return;
  typeRule(positions.dtype === 'i32', `positions must be i32, got ${positions.dtype}`);
  const t = x.shape[x.shape.length - 2]!;
  typeRule(dimEquals(positions.shape[positions.shape.length - 1] ?? -1, t), `positions' last axis must be T = ${t}`);
}

function defaultPositions(b: OpEmitter, x: NodeRef): NodeRef {
  const shape = b.typeOf(x).shape;
  return b.add('range', [], { size: shape[shape.length - 2]!, dtype: 'i32' });
}

/**
 * The paper's sinusoid, with angle_i = p / base^(2i/D) for i < D/2. Layout 'interleaved' (the paper,
 * tensor2tensor): PE[p, 2i] = sin(angle_i), PE[p, 2i+1] = cos(angle_i). Layout 'halves' (Marian,
 * fairseq): PE[p, i] = sin(angle_i), PE[p, D/2 + i] = cos(angle_i).
 */
export const sinusoidalPosenc = defineOp({
  name: 'sinusoidal_posenc',
  category: 'composite',
  summary: "x + the paper's sinusoidal position encoding",
  attrs: z.object({ base: z.number().positive().default(10000), layout: z.enum(['interleaved', 'halves']).default('interleaved') }).strict(),
  inputs: ['x', 'positions'],
  minInputs: 1,
  infer([x, positions]) {
    checkPositions(x!, positions);
    const d = x!.shape[x!.shape.length - 1]!;
    typeRule(typeof d === 'number' && d % 2 === 0, `D must be a static even size, got ${d}`);
    return x!;
  },
  decompose(b, [x, positionsIn], a) {
    const d = b.typeOf(x!).shape.at(-1) as number;
    const positions = positionsIn ?? defaultPositions(b, x!);
    const pos = b.add('cast', [b.add('reshape', [positions], { shape: [...b.typeOf(positions).shape, 1] })], { dtype: 'f32' });
    // column j holds sin or cos (isCos) of angle number i
    const i = (j: number) => (a.layout === 'halves' ? j % (d / 2) : Math.floor(j / 2));
    const isCos = (j: number) => (a.layout === 'halves' ? (j >= d / 2 ? 1 : 0) : j % 2);
    const freq = Array.from({ length: d }, (_, j) => 1 / Math.pow(a.base, (2 * i(j)) / d));
    const odd = Array.from({ length: d }, (_, j) => isCos(j));
    const angle = b.add('mul', [pos, b.constant(freq, [d])]); // (..., T, D)
    const pe = b.add('where', [b.constant(odd, [d], 'i32'), b.add('cos', [angle]), b.add('sin', [angle])]);
    return b.add('add', [x!, pe]);
  },
});

/** Learned positions (GPT-2's wpe): x + table[positions]. */
export const learnedPosenc = defineOp({
  name: 'learned_posenc',
  category: 'composite',
  summary: 'x + a learned position table',
  attrs: z.object({}).strict(),
  inputs: ['x', 'table', 'positions'],
  minInputs: 2,
  infer([x, table, positions]) {
    checkPositions(x!, positions);
    typeRule(table!.dtype === 'f32' && table!.shape.length === 2, 'table must be f32 [positions, D]');
    typeRule(dimEquals(table!.shape[1]!, x!.shape[x!.shape.length - 1]!), "table's D must match x's last axis");
    return x!;
  },
  decompose(b, [x, table, positionsIn]) {
    const positions = positionsIn ?? defaultPositions(b, x!);
    return b.add('add', [x!, b.add('gather', [table!, positions])]);
  },
});
