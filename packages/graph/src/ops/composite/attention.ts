import { z } from 'zod';
import { defineOp, typeRule } from '../../op-def.ts';
import { broadcastShapes, dimEquals, formatShape } from '../../shape.ts';

/**
 * Multi-head scaled dot-product attention on projected inputs:
 *   q[B, Tq, D], k[B, Tk, D], v[B, Tk, D], mask (additive, broadcast to [B, H, Tq, Tk]) -> [B, Tq, D]
 * Self-attention passes the same source for q, k and v; cross-attention takes k and v from the
 * encoder. The projections around it are ordinary `linear` nodes.
 */
export const attention = defineOp({
  name: 'attention',
  category: 'composite',
  summary: 'softmax(q k^T * scale + mask) v, split into heads',
  attrs: z.object({ heads: z.number().int().positive(), scale: z.number().nullable().default(null) }).strict(),
  inputs: ['q', 'k', 'v', 'mask'],
  minInputs: 3,
  infer([q, k, v, mask], a) {
    typeRule([q, k, v, mask].every((t) => t === undefined || t.dtype === 'f32'), 'needs f32 inputs');
    typeRule([q, k, v].every((t) => t!.shape.length === 3), 'q, k and v must be [B, T, D]');
    const [bq, , d] = q!.shape;
    typeRule(typeof d === 'number' && d % a.heads === 0, `D = ${d} must be static and divisible by heads = ${a.heads}`);
    typeRule(dimEquals(k!.shape[0]!, bq!) && dimEquals(v!.shape[0]!, bq!), 'q, k and v must share the batch axis');
    typeRule(dimEquals(k!.shape[2]!, d) && dimEquals(v!.shape[2]!, d), `k and v must have D = ${d}`);
    typeRule(dimEquals(k!.shape[1]!, v!.shape[1]!), 'k and v must have the same length');
    if (mask) {
      const scores = [bq!, a.heads, q!.shape[1]!, k!.shape[1]!];
      const joined = broadcastShapes(mask.shape, scores);
      typeRule(joined && joined.length === 4 && joined.every((x, i) => dimEquals(x, scores[i]!)), `mask ${formatShape(mask.shape)} does not broadcast to scores ${formatShape(scores)}`);
    }
    return q!;
  },
  decompose(b, [q, k, v, mask], a) {
    const [batch, tq, d] = b.typeOf(q!).shape as [string | number, string | number, number];
    const tk = b.typeOf(k!).shape[1]!;
    const dh = d / a.heads;
    const heads = (x: number, t: string | number) =>
      b.add('transpose', [b.add('reshape', [x], { shape: [batch, t, a.heads, dh] })], { perm: [0, 2, 1, 3] }); // (B, H, T, Dh)
    const qh = heads(q!, tq);
    const kh = heads(k!, tk);
    const vh = heads(v!, tk);
    let scores = b.add('matmul', [qh, kh], { transposeB: true }); // (B, H, Tq, Tk)
    scores = b.add('mul', [scores, b.constant(a.scale ?? 1 / Math.sqrt(dh))]);
    if (mask !== undefined) scores = b.add('add', [scores, mask]);
    const weights = b.add('softmax', [scores], { axis: -1 });
    const context = b.add('matmul', [weights, vh]); // (B, H, Tq, Dh)
    const merged = b.add('transpose', [context], { perm: [0, 2, 1, 3] }); // (B, Tq, H, Dh)
    return b.add('reshape', [merged], { shape: [batch, tq, d] });
  },
});
