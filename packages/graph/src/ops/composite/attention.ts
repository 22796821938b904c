import { z } from 'zod';
import { defineOp, typeRule, type NodeRef, type OpEmitter } from '../../op-def.ts';
import { broadcastShapes, dimEquals, formatShape, type Dim } from '../../shape.ts';
import { attentionExtrasSchema, attentionInputs, checkAttentionExtras, hasAttentionExtras, type AttentionExtras } from '../fused/fused-attention.ts';

/**
 * Multi-head scaled dot-product attention on projected inputs:
 *   q[B, Tq, D], k[B, Tk, Dkv], v[B, Tk, Dkv], mask (additive, broadcast to [B, H, Tq, Tk]) -> [B, Tq, D]
 * with H heads of Dh = D / H. Self-attention passes the same source for q, k and v; cross-attention
 * takes k and v from the encoder. The projections around it are ordinary `linear` nodes.
 *
 * Grouped-query attention (Llama 2/3, Mistral, Qwen2): `kvHeads` key/value heads (Dkv = kvHeads * Dh)
 * shared by groups of H / kvHeads query heads; query head h reads kv head floor(h / (H / kvHeads)).
 * kvHeads 1 is multi-query attention. The decomposition broadcasts each kv head over its group
 * (a [B, kvHeads, 1, Tk, Dh] operand against [B, kvHeads, G, Tq, Dh]): K and V are never repeated.
 *
 * Soft-capping, ALiBi slopes, causal and sliding-window masks computed from positions (inputs
 * qPositions and kPositions [Tq] / [B, Tq] and [Tk] / [B, Tk] with `positions: true`) are the
 * attributes fused_attention documents; with any of them the decomposition is that fused op over
 * the head-split tensors, so no [B, H, Tq, Tk] bias is ever stored.
 */
export const attention = defineOp({
  name: 'attention',
  category: 'composite',
  summary: 'softmax(q k^T * scale + mask) v, split into heads',
  attrs: z.object({ heads: z.number().int().positive(), kvHeads: z.number().int().positive().nullable().default(null), scale: z.number().nullable().default(null), ...attentionExtrasSchema }).strict(),
  inputs: ['q', 'k', 'v', 'mask', 'qPositions', 'kPositions'],
  minInputs: 3,
  infer(types, a) {
    const { q, k, v, mask, qPositions, kPositions } = attentionInputs(types, a);
    typeRule([q, k, v, mask].every((t) => t === undefined || t.dtype === 'f32'), 'needs f32 inputs');
    typeRule([q, k, v].every((t) => t!.shape.length === 3), 'q, k and v must be [B, T, D]');
    const [bq, , d] = q!.shape;
    typeRule(typeof d === 'number' && d % a.heads === 0, `D = ${d} must be static and divisible by heads = ${a.heads}`);
    typeRule(dimEquals(k!.shape[0]!, bq!) && dimEquals(v!.shape[0]!, bq!), 'q, k and v must share the batch axis');
    const kvHeads = a.kvHeads ?? a.heads;
    typeRule(a.heads % kvHeads === 0, `kvHeads = ${kvHeads} must divide heads = ${a.heads}`);
    const dkv = (d / a.heads) * kvHeads;
    typeRule(dimEquals(k!.shape[2]!, dkv) && dimEquals(v!.shape[2]!, dkv), `k and v must have ${kvHeads} heads of ${d / a.heads}: last axis ${dkv}, got ${k!.shape[2]} and ${v!.shape[2]}`);
    typeRule(dimEquals(k!.shape[1]!, v!.shape[1]!), 'k and v must have the same length');
    if (mask) {
      const scores = [bq!, a.heads, q!.shape[1]!, k!.shape[1]!];
      const joined = broadcastShapes(mask.shape, scores);
      typeRule(joined && joined.length === 4 && joined.every((x, i) => dimEquals(x, scores[i]!)), `mask ${formatShape(mask.shape)} does not broadcast to scores ${formatShape(scores)}`);
    }
    // the positions as the head-split tensors see them: [B, heads, Tq, Dh] has the batch first
    checkAttentionExtras({ dtype: 'f32', shape: [bq!, a.heads, q!.shape[1]!, d / a.heads] }, { dtype: 'f32', shape: [bq!, 1, k!.shape[1]!, d / a.heads] }, qPositions, kPositions, a, a.heads);
    return q!;
  },
  decompose(b, inputs, a) {
    const { q, k, v, mask, qPositions, kPositions } = attentionInputs(inputs, a);
    const [batch, tq, d] = b.typeOf(q).shape as [string | number, string | number, number];
    const tk = b.typeOf(k).shape[1]!;
    const dh = d / a.heads;
    const kvHeads = a.kvHeads ?? a.heads;
    if (hasAttentionExtras(a)) return fusedWithExtras(b, { q, k, v, mask, qPositions, kPositions }, a.heads, kvHeads, a.scale ?? 1 / Math.sqrt(dh), a);
    if (kvHeads !== a.heads) return groupedQuery(b, [q, k, v, mask], a.heads, kvHeads, a.scale ?? 1 / Math.sqrt(dh));
    const heads = (x: number, t: string | number) =>
      b.add('transpose', [b.add('reshape', [x], { shape: [batch, t, a.heads, dh] })], { perm: [0, 2, 1, 3] }); // (B, H, T, Dh)
    const qh = heads(q, tq);
    const kh = heads(k, tk);
    const vh = heads(v, tk);
    let scores = b.add('matmul', [qh, kh], { transposeB: true }); // (B, H, Tq, Tk)
    scores = b.add('mul', [scores, b.constant(a.scale ?? 1 / Math.sqrt(dh))]);
    if (mask !== undefined) scores = b.add('add', [scores, mask]);
    const weights = b.add('softmax', [scores], { axis: -1 });
    const context = b.add('matmul', [weights, vh]); // (B, H, Tq, Dh)
    const merged = b.add('transpose', [context], { perm: [0, 2, 1, 3] }); // (B, Tq, H, Dh)
    return b.add('reshape', [merged], { shape: [batch, tq, d] });
  },
});

/** Grouped-query attention: query heads as [B, KV, G, Tq, Dh] against kv heads as [B, KV, 1, Tk, Dh]. */
function groupedQuery(b: OpEmitter, [q, k, v, mask]: [NodeRef, NodeRef, NodeRef, NodeRef | undefined], heads: number, kvHeads: number, scale: number): NodeRef {
  const [batch, tq, d] = b.typeOf(q).shape as [Dim, Dim, number];
  const tk = b.typeOf(k).shape[1]!;
  const dh = d / heads;
  const group = heads / kvHeads;
  const qh = b.add('transpose', [b.add('reshape', [q], { shape: [batch, tq, kvHeads, group, dh] })], { perm: [0, 2, 3, 1, 4] }); // (B, KV, G, Tq, Dh)
  const kvh = (x: NodeRef) => b.add('reshape', [b.add('transpose', [b.add('reshape', [x], { shape: [batch, tk, kvHeads, dh] })], { perm: [0, 2, 1, 3] })], { shape: [batch, kvHeads, 1, tk, dh] });
  let scores = b.add('mul', [b.add('matmul', [qh, kvh(k)], { transposeB: true }), b.constant(scale)]); // (B, KV, G, Tq, Tk)
  if (mask !== undefined) {
    // the mask broadcasts to [B, H, Tq, Tk]: split its head axis like the queries'
    const m = b.typeOf(mask).shape;
    const [mb, mh, mq, mk] = [...new Array<Dim>(4 - m.length).fill(1), ...m];
    const split = mh === 1 ? [mb!, 1, 1, mq!, mk!] : [mb!, kvHeads, group, mq!, mk!];
    scores = b.add('add', [scores, b.add('reshape', [mask], { shape: split })]);
  }
  const context = b.add('matmul', [b.add('softmax', [scores], { axis: -1 }), kvh(v)]); // (B, KV, G, Tq, Dh)
  const merged = b.add('transpose', [context], { perm: [0, 3, 1, 2, 4] }); // (B, Tq, KV, G, Dh)
  return b.add('reshape', [merged], { shape: [batch, tq, d] });
}

/**
 * The attention as one fused_attention over head-split tensors ([B, H, T, Dh], or [B, KV, G, T, Dh]
 * against kv heads [B, KV, 1, T, Dh] when grouped), carrying soft-capping, ALiBi and the positional
 * masks to the kernel; the mask's head axis is split like the queries'.
 */
function fusedWithExtras(
  b: OpEmitter,
  x: { q: NodeRef; k: NodeRef; v: NodeRef; mask?: NodeRef | undefined; qPositions?: NodeRef | undefined; kPositions?: NodeRef | undefined },
  heads: number,
  kvHeads: number,
  scale: number,
  extras: AttentionExtras,
): NodeRef {
  const [batch, tq, d] = b.typeOf(x.q).shape as [Dim, Dim, number];
  const tk = b.typeOf(x.k).shape[1]!;
  const dh = d / heads;
  const group = heads / kvHeads;
  const grouped = kvHeads !== heads;
  const qh = grouped
    ? b.add('transpose', [b.add('reshape', [x.q], { shape: [batch, tq, kvHeads, group, dh] })], { perm: [0, 2, 3, 1, 4] }) // (B, KV, G, Tq, Dh)
    : b.add('transpose', [b.add('reshape', [x.q], { shape: [batch, tq, heads, dh] })], { perm: [0, 2, 1, 3] }); // (B, H, Tq, Dh)
  const kvh = (t: NodeRef) => {
    const split = b.add('transpose', [b.add('reshape', [t], { shape: [batch, tk, kvHeads, dh] })], { perm: [0, 2, 1, 3] }); // (B, KV, Tk, Dh)
    return grouped ? b.add('reshape', [split], { shape: [batch, kvHeads, 1, tk, dh] }) : split;
  };
  const inputs = [qh, kvh(x.k), kvh(x.v)];
  if (x.mask !== undefined) {
    if (grouped) {
      const m = b.typeOf(x.mask).shape;
      const [mb, mh, mq, mk] = [...new Array<Dim>(4 - m.length).fill(1), ...m];
      inputs.push(b.add('reshape', [x.mask], { shape: mh === 1 ? [mb!, 1, 1, mq!, mk!] : [mb!, kvHeads, group, mq!, mk!] }));
    } else inputs.push(x.mask);
  }
  if (extras.positions) inputs.push(x.qPositions!, x.kPositions!);
  const context = b.add('fused_attention', inputs, { scale, softcap: extras.softcap, alibi: extras.alibi, causal: extras.causal, window: extras.window, positions: extras.positions });
  const merged = b.add('transpose', [context], { perm: grouped ? [0, 3, 1, 2, 4] : [0, 2, 1, 3] }); // (B, Tq, [KV, G | H], Dh)
  return b.add('reshape', [merged], { shape: [batch, tq, d] });
}
