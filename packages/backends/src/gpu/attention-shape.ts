/** The sizes a fused attention step works on, read from q [..., Tq, Dh], k [..., Tk, Dh] and v [..., Tk, Dv]. */
export interface AttentionShape {
  readonly rank: number;
  readonly tq: number;
  readonly dh: number;
  readonly tk: number;
  readonly dv: number;
  /** q's leading axes (batch, heads); k and v may have extent 1 where q does not (grouped-query attention). */
  readonly batchShape: number[];
  /** Their product: the independent (Tq x Tk) score matrices. */
  readonly batches: number;
}

export function attentionShape(q: { readonly shape: readonly number[] }, k: { readonly shape: readonly number[] }, v: { readonly shape: readonly number[] }): AttentionShape {
  const rank = q.shape.length;
  const [tq, dh] = q.shape.slice(-2) as [number, number];
  const batchShape = q.shape.slice(0, -2);
  return { rank, tq, dh, tk: k.shape[rank - 2]!, dv: v.shape[rank - 1]!, batchShape, batches: batchShape.reduce((p, d) => p * d, 1) };
}
