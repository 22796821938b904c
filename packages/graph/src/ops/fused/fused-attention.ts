import { z } from 'zod';
import type { DType } from '../../dtype.ts';
import { defineOp, typeRule, type NodeRef, type OpEmitter } from '../../op-def.ts';
import { broadcastShapes, dimEquals, formatShape, shapeEquals, type Dim } from '../../shape.ts';
import type { TensorType } from '../../tensor-type.ts';
import { MASKED } from '../composite/mask-value.ts';

/**
 * What attention adds to its scores besides a mask, computed in the kernel from positions rather
 * than read from a [B, H, Tq, Tk] tensor:
 * - `softcap` c: scores become c tanh(scores / c) after scaling (Gemma 2's logit soft-capping);
 * - `alibi`: one slope per query head; key j adds slope (kpos_j - qpos_i) (BLOOM, MPT);
 * - `causal`: keys after the query (kpos > qpos) are hidden;
 * - `window` w: keys w or more positions before the query (qpos - kpos >= w) are hidden (Mistral's
 *   sliding window, Gemma 2's local layers);
 * and a key at a negative position is always hidden (an empty slot of a rolling KV cache). Hidden
 * keys get MASKED added, as a mask hides them. Positions are the inputs `qPositions` [Tq] or [B, Tq]
 * and `kPositions` [Tk] or [B, Tk] when `positions` is set, else queries sit at the end of the keys
 * (query i at Tk - Tq + i, key j at j: a full sequence, or new tokens after a cache of all the keys).
 */
export const attentionExtrasSchema = {
  softcap: z.number().positive().nullable().default(null),
  alibi: z.array(z.number()).nullable().default(null),
  causal: z.boolean().default(false),
  window: z.number().int().positive().nullable().default(null),
  positions: z.boolean().default(false),
};

export interface AttentionExtras {
  readonly softcap: number | null;
  readonly alibi: readonly number[] | null;
  readonly causal: boolean;
  readonly window: number | null;
  readonly positions: boolean;
}

/** Whether an attention adds anything to its scores besides scale and mask. */
export function hasAttentionExtras(a: AttentionExtras): boolean {
  return a.softcap !== null || a.alibi !== null || a.causal || a.window !== null || a.positions;
}

/** Whether the kernel needs the query and key positions (masks and slopes computed from them). */
export function usesPositions(a: AttentionExtras): boolean {
  return a.alibi !== null || a.causal || a.window !== null || a.positions;
}

/** An attention's inputs by role: the mask is optional and the positions come last when `positions` is set. */
export function attentionInputs<T>(inputs: readonly T[], a: { readonly positions: boolean }): { q: T; k: T; v: T; mask?: T; qPositions?: T; kPositions?: T } {
  const [q, k, v] = inputs as [T, T, T];
  const extra = inputs.slice(3);
  const positions = a.positions ? extra.slice(-2) : [];
  const mask = extra.length > positions.length ? extra[0] : undefined;
  return { q, k, v, ...(mask !== undefined ? { mask } : {}), ...(a.positions ? { qPositions: positions[0], kPositions: positions[1] } : {}) };
}

/** Type rules of the positions and slopes, for the head-split tensors q [B, ..., Tq, Dh] and k [.., Tk, Dh]. */
export function checkAttentionExtras(q: TensorType, k: TensorType, qPositions: TensorType | undefined, kPositions: TensorType | undefined, a: AttentionExtras, heads: number | undefined): void {
  typeRule(a.window === null || a.causal, 'a sliding window needs causal: true (keys in the window before and at the query)');
  if (a.positions) {
    typeRule(qPositions !== undefined && kPositions !== undefined, 'positions: true needs the inputs qPositions and kPositions');
    const batch = q.shape[0]!;
    const check = (t: TensorType, length: Dim, name: string) =>
      typeRule(
        t.dtype === 'i32' && (t.shape.length === 1 ? dimEquals(t.shape[0]!, length) : t.shape.length === 2 && dimEquals(t.shape[0]!, batch) && dimEquals(t.shape[1]!, length)),
        `${name} must be i32 [${length}] or [${batch}, ${length}], got ${t.dtype} ${formatShape(t.shape)}`,
      );
    check(qPositions!, q.shape[q.shape.length - 2]!, 'qPositions');
    check(kPositions!, k.shape[k.shape.length - 2]!, 'kPositions');
  }
  if (a.alibi !== null) typeRule(heads !== undefined && a.alibi.length === heads, `alibi needs one slope per query head (${heads ?? 'q has no head axes'}), got ${a.alibi.length}`);
}

/**
 * softmax(q k^T * scale + mask) v in one kernel, over head-split tensors:
 *   q[B, ..., Tq, Dh], k[..., Tk, Dh], v[..., Tk, Dv], mask broadcast to [..., Tq, Tk] -> [..., Tq, Dv]
 * k's and v's leading axes each equal q's or are 1: a kv head of grouped-query attention
 * ([B, KV, 1, Tk, Dh]) serves every query head of its group ([B, KV, G, Tq, Dh]) without a copy.
 * The axes between the first (B) and the last two are the heads, numbered in row-major order (an
 * alibi slope per head, positions per B). Kernels use an online softmax so the Tq x Tk score matrix
 * is never stored. See attentionExtrasSchema for soft-capping, ALiBi, causality and windows.
 */
export const fusedAttention = defineOp({
  name: 'fused_attention',
  category: 'fused',
  summary: 'scaled dot-product attention with mask, soft-capping, ALiBi, causal and window masks and softmax in one kernel',
  attrs: z.object({ scale: z.number(), ...attentionExtrasSchema }).strict(),
  inputs: ['q', 'k', 'v', 'mask', 'qPositions', 'kPositions'],
  minInputs: 3,
  infer(types, a) {
    const { q, k, v, mask, qPositions, kPositions } = attentionInputs(types, a);
    typeRule([q, k, v, mask].every((t) => t === undefined || t.dtype === 'f32'), 'needs f32 q, k, v and mask');
    const rank = q.shape.length;
    typeRule(rank >= 2 && k.shape.length === rank && v.shape.length === rank, 'q, k and v need the same rank >= 2');
    const batch = q.shape.slice(0, -2);
    const broadcasts = (t: TensorType) => t.shape.slice(0, -2).every((d, i) => dimEquals(d, 1) || dimEquals(d, batch[i]!));
    typeRule(broadcasts(k) && broadcasts(v), `k's and v's leading axes must each equal q's or be 1: q [${q.shape.join(', ')}], k [${k.shape.join(', ')}], v [${v.shape.join(', ')}]`);
    const [tq, dh] = q.shape.slice(-2);
    const [tk, dk] = k.shape.slice(-2);
    typeRule(dimEquals(dh!, dk!), `q and k head sizes differ (${dh} and ${dk})`);
    typeRule(dimEquals(v.shape[rank - 2]!, tk!), 'k and v lengths differ');
    if (mask) {
      const scores = [...batch, tq!, tk!];
      const joined = broadcastShapes(mask.shape, scores);
      typeRule(joined && shapeEquals(joined, scores), `mask ${formatShape(mask.shape)} does not broadcast to ${formatShape(scores)}`);
    }
    checkAttentionExtras(q, k, qPositions, kPositions, a, headCount(q.shape));
    return { dtype: 'f32', shape: [...batch, tq!, v.shape[rank - 1]!] };
  },
  decompose(b, inputs, a) {
    const { q, k, v, mask, qPositions, kPositions } = attentionInputs(inputs, a);
    let scores = b.add('mul', [b.add('matmul', [q, k], { transposeB: true }), b.constant(a.scale)]);
    if (a.softcap !== null) scores = b.add('mul', [b.add('tanh', [b.add('mul', [scores, b.constant(1 / a.softcap)])]), b.constant(a.softcap)]);
    if (mask !== undefined) scores = b.add('add', [scores, mask]);
    if (usesPositions(a)) scores = addPositionalTerms(b, scores, q, k, qPositions, kPositions, a);
    return b.add('matmul', [b.add('softmax', [scores], { axis: -1 }), v]);
  },
});

/** The number of query heads: the product of q's axes between the first and the last two (undefined below rank 3). */
export function headCount(shape: readonly Dim[]): number | undefined {
  if (shape.length < 3) return undefined;
  let n = 1;
  for (const d of shape.slice(1, -2)) {
    if (typeof d !== 'number') return undefined;
    n *= d;
  }
  return n;
}

/** Scores plus ALiBi's slope (kpos - qpos) and MASKED where a key is hidden (negative, after the query, out of the window). */
function addPositionalTerms(b: OpEmitter, scores: NodeRef, q: NodeRef, k: NodeRef, qPositions: NodeRef | undefined, kPositions: NodeRef | undefined, a: AttentionExtras): NodeRef {
  const qShape = b.typeOf(q).shape;
  const rank = qShape.length;
  const [tq, tk] = [qShape[rank - 2]!, b.typeOf(k).shape[rank - 2]!];
  const i32 = (v: number) => b.constant(v, [], 'i32' as DType);
  // positions as [B or 1, 1, ..., 1, Tq, 1] and [B or 1, 1, ..., 1, 1, Tk]
  const aligned = (p: NodeRef, length: Dim, axis: 'rows' | 'columns') => {
    const s = b.typeOf(p).shape;
    const lead = s.length === 2 ? [s[0]!] : rank > 2 ? [1] : [];
    const middle = new Array<Dim>(Math.max(rank - 3, 0)).fill(1);
    return b.add('reshape', [p], { shape: [...lead, ...middle, ...(axis === 'rows' ? [length, 1] : [1, length])] });
  };
  let qp: NodeRef;
  let kp: NodeRef;
  if (qPositions !== undefined && kPositions !== undefined) {
    qp = aligned(qPositions, tq, 'rows');
    kp = aligned(kPositions, tk, 'columns');
  } else {
    kp = aligned(b.add('range', [], { size: tk }), tk, 'columns');
    qp = aligned(b.add('add', [b.add('range', [], { size: tq }), queryOffset(b, tq, tk)]), tq, 'rows');
  }
  const diff = b.add('sub', [qp, kp]); // qpos - kpos: [B or 1, 1.., Tq, Tk]
  let hidden = b.add('less', [kp, i32(0)]);
  if (a.causal) hidden = b.add('logical_or', [hidden, b.add('less', [diff, i32(0)])]);
  if (a.window !== null) hidden = b.add('logical_or', [hidden, b.add('greater_equal', [diff, i32(a.window)])]);
  if (a.alibi !== null) {
    const heads = qShape.slice(1, -2);
    const slopes = b.constant(a.alibi, [1, ...heads, 1, 1]);
    scores = b.add('add', [scores, b.add('mul', [slopes, b.add('cast', [b.add('neg', [diff])], { dtype: 'f32' })])]);
  }
  return b.add('add', [scores, b.add('where', [hidden, b.constant(MASKED), b.constant(0)])]);
}

/** Tk - Tq as an i32 scalar: a constant where both are known, else counted from ranges. */
function queryOffset(b: OpEmitter, tq: Dim, tk: Dim): NodeRef {
  if (typeof tq === 'number' && typeof tk === 'number') return b.constant(tk - tq, [], 'i32');
  if (dimEquals(tq, tk)) return b.constant(0, [], 'i32');
  const count = (t: Dim) => b.add('add', [b.add('reduce_max', [b.add('range', [], { size: t })], { axes: [0] }), b.constant(1, [], 'i32')]);
  return b.add('sub', [count(tk), count(tq)]);
}
