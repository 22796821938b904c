import { z } from 'zod';
import { defineOp, typeRule } from '../../op-def.ts';
import { broadcastShapes, dimEquals, formatShape, shapeEquals } from '../../shape.ts';

/**
 * softmax(q k^T * scale + mask) v in one kernel, over head-split tensors:
 *   q[..., Tq, Dh], k[..., Tk, Dh], v[..., Tk, Dv], mask broadcast to [..., Tq, Tk] -> [..., Tq, Dv]
 * k's and v's leading axes each equal q's or are 1: a kv head of grouped-query attention
 * ([B, KV, 1, Tk, Dh]) serves every query head of its group ([B, KV, G, Tq, Dh]) without a copy.
 * Kernels use an online softmax so the Tq x Tk score matrix is never stored.
 */
export const fusedAttention = defineOp({
  name: 'fused_attention',
  category: 'fused',
  summary: 'scaled dot-product attention with mask and softmax in one kernel',
  attrs: z.object({ scale: z.number() }).strict(),
  inputs: ['q', 'k', 'v', 'mask'],
  minInputs: 3,
  infer([q, k, v, mask]) {
    typeRule([q, k, v, mask].every((t) => t === undefined || t.dtype === 'f32'), 'needs f32 inputs');
    const rank = q!.shape.length;
    typeRule(rank >= 2 && k!.shape.length === rank && v!.shape.length === rank, 'q, k and v need the same rank >= 2');
    const batch = q!.shape.slice(0, -2);
    const broadcasts = (t: typeof q) => t!.shape.slice(0, -2).every((d, i) => dimEquals(d, 1) || dimEquals(d, batch[i]!));
    typeRule(broadcasts(k) && broadcasts(v), `k's and v's leading axes must each equal q's or be 1: q [${q!.shape.join(', ')}], k [${k!.shape.join(', ')}], v [${v!.shape.join(', ')}]`);
    const [tq, dh] = q!.shape.slice(-2);
    const [tk, dk] = k!.shape.slice(-2);
    typeRule(dimEquals(dh!, dk!), `q and k head sizes differ (${dh} and ${dk})`);
    typeRule(dimEquals(v!.shape[rank - 2]!, tk!), 'k and v lengths differ');
    if (mask) {
      const scores = [...batch, tq!, tk!];
      const joined = broadcastShapes(mask.shape, scores);
      typeRule(joined && shapeEquals(joined, scores), `mask ${formatShape(mask.shape)} does not broadcast to ${formatShape(scores)}`);
    }
    return { dtype: 'f32', shape: [...batch, tq!, v!.shape[rank - 1]!] };
  },
  decompose(b, [q, k, v, mask], a) {
    let scores = b.add('mul', [b.add('matmul', [q!, k!], { transposeB: true }), b.constant(a.scale)]);
    if (mask !== undefined) scores = b.add('add', [scores, mask]);
    return b.add('matmul', [b.add('softmax', [scores], { axis: -1 }), v!]);
  },
});
