/**
 * Fused attention: out = softmax(q k^T * scale + mask) v, one query row at a time with an online
 * softmax (running max and sum, rescaling the accumulator when the max grows), so no Tq x Tk score
 * matrix exists. Keys masked with MASKED (-1e30) are skipped when the row has any unmasked key: their
 * weight exp(-1e30 - max) is exactly 0 then, so skipping changes nothing (causal masks halve the work). q[..., Tq, Dh], k[..., Tk, Dh], v[..., Tk, Dv]; the mask arrives with strides that
 * broadcast it to [..., Tq, Tk] (0 along broadcast axes).
 */
/** Mask values at or below this hide a key (MASKED is -1e30; any real score is far above). */
const MASKED_BELOW = -1e29;

export function attentionOnline(
  q: Float32Array,
  k: Float32Array,
  v: Float32Array,
  mask: Float32Array | undefined,
  maskStrides: readonly number[] | undefined,
  out: Float32Array,
  outShape: readonly number[],
  tk: number,
  dh: number,
  scale: number,
): void {
  const rank = outShape.length;
  const tq = outShape[rank - 2]!;
  const dv = outShape[rank - 1]!;
  const batches = out.length / Math.max(tq * dv, 1);
  const acc = new Float64Array(dv);
  const batchShape = outShape.slice(0, -2);
  for (let batch = 0; batch < batches; batch++) {
    let maskBatch = 0;
    if (mask && maskStrides) {
      let rem = batch;
      for (let d = batchShape.length - 1; d >= 0; d--) {
        const idx = rem % batchShape[d]!;
        rem = (rem - idx) / batchShape[d]!;
        maskBatch += idx * maskStrides[d]!;
      }
    }
    const kBase = batch * tk * dh;
    const vBase = batch * tk * dv;
    for (let i = 0; i < tq; i++) {
      const qRow = (batch * tq + i) * dh;
      const maskRow = maskStrides ? maskBatch + i * maskStrides[rank - 2]! : 0;
      const maskStep = maskStrides ? maskStrides[rank - 1]! : 0;
      let max = -Infinity;
      let sum = 0;
      acc.fill(0);
      let anyOpen = false;
      if (mask) for (let j = 0; j < tk && !anyOpen; j++) anyOpen = mask[maskRow + j * maskStep]! > MASKED_BELOW;
      for (let j = 0; j < tk; j++) {
        if (anyOpen && mask![maskRow + j * maskStep]! <= MASKED_BELOW) continue;
        const kRow = kBase + j * dh;
        let s = 0;
        for (let d = 0; d < dh; d++) s += q[qRow + d]! * k[kRow + d]!;
        s *= scale;
        if (mask) s += mask[maskRow + j * maskStep]!;
        if (s > max) {
          const correction = Math.exp(max - s);
          sum *= correction;
          for (let d = 0; d < dv; d++) acc[d]! *= correction;
          max = s;
        }
        const p = Math.exp(s - max);
        sum += p;
        const vRow = vBase + j * dv;
        for (let d = 0; d < dv; d++) acc[d]! += p * v[vRow + d]!;
      }
      const outRow = (batch * tq + i) * dv;
      const inv = 1 / sum;
      for (let d = 0; d < dv; d++) out[outRow + d] = acc[d]! * inv;
    }
  }
}
