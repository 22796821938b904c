/** Row-wise kernels over the last axis (or one axis): softmax, RMSNorm, reductions (layer norm: layer-norm.ts). */

export function softmaxAxis(x: Float32Array, out: Float32Array, shape: readonly number[], axis: number): void {
  const n = shape[axis]!;
  let inner = 1;
  for (let d = axis + 1; d < shape.length; d++) inner *= shape[d]!;
  const outer = x.length / Math.max(n * inner, 1);
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      const base = o * n * inner + i;
      let max = -Infinity;
      for (let k = 0; k < n; k++) max = Math.max(max, x[base + k * inner]!);
      let sum = 0;
      for (let k = 0; k < n; k++) {
        const e = Math.exp(x[base + k * inner]! - max);
        out[base + k * inner] = e;
        sum += e;
      }
      const inv = 1 / sum;
      for (let k = 0; k < n; k++) out[base + k * inner]! *= inv;
    }
  }
}

/**
 * RMSNorm over rows of d: v / sqrt(mean(v^2) + eps) * (weight + offset), with v = x, or x + residual
 * rounded to float32 as a stored sum would be (fused_add_rms_norm). Safe with out = x.
 */
export function rmsNormRows(x: Float32Array, weight: Float32Array, out: Float32Array, d: number, eps: number, offset: number, residual?: Float32Array): void {
  const value = residual ? (i: number) => Math.fround(x[i]! + residual[i]!) : (i: number) => x[i]!;
  for (let base = 0; base < x.length; base += d) {
    let squares = 0;
    for (let i = 0; i < d; i++) squares += value(base + i) ** 2;
    const inv = 1 / Math.sqrt(squares / d + eps);
    for (let i = 0; i < d; i++) out[base + i] = value(base + i) * inv * (weight[i]! + offset);
  }
}

/** sum / mean / max over sorted `axes` of x (shape), into out (the reduced elements in order). */
export function reduceAxes(kind: 'sum' | 'mean' | 'max', x: Float32Array | Int32Array, out: Float32Array | Int32Array, shape: readonly number[], axes: readonly number[]): void {
  const rank = shape.length;
  const keep = shape.map((d, i) => (axes.includes(i) ? 1 : d));
  const outStrides = new Array<number>(rank);
  let s = 1;
  for (let i = rank - 1; i >= 0; i--) {
    outStrides[i] = keep[i] === 1 && axes.includes(i) ? 0 : s;
    s *= keep[i]!;
  }
  const acc = new Float64Array(out.length).fill(kind === 'max' ? -Infinity : 0);
  const lastReduced = axes.includes(rank - 1);
  const n = shape[rank - 1] ?? 1;
  const rows = x.length / Math.max(n, 1);
  const counter = new Array<number>(Math.max(rank - 1, 0)).fill(0);
  let outBase = 0;
  for (let r = 0; r < rows; r++) {
    const base = r * n;
    if (lastReduced) {
      let v = kind === 'max' ? -Infinity : 0;
      if (kind === 'max') for (let j = 0; j < n; j++) v = Math.max(v, x[base + j]!);
      else for (let j = 0; j < n; j++) v += x[base + j]!;
      acc[outBase] = kind === 'max' ? Math.max(acc[outBase]!, v) : acc[outBase]! + v;
    } else if (kind === 'max') for (let j = 0; j < n; j++) acc[outBase + j] = Math.max(acc[outBase + j]!, x[base + j]!);
    else for (let j = 0; j < n; j++) acc[outBase + j]! += x[base + j]!;
    // advance the row odometer over the leading axes and track the output offset
    for (let ax = rank - 2; ax >= 0; ax--) {
      counter[ax]!++;
      outBase += outStrides[ax]!;
      if (counter[ax]! < shape[ax]!) break;
      outBase -= outStrides[ax]! * shape[ax]!;
      counter[ax] = 0;
    }
  }
  const count = x.length / Math.max(out.length, 1);
  for (let i = 0; i < out.length; i++) out[i] = kind === 'mean' ? acc[i]! / count : acc[i]!;
}
