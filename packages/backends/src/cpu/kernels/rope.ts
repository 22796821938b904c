import { ropeFrequencies, rotaryDims } from '@loom/graph';

/**
 * Rotary position embedding of x[B, T, H, Dh] (the `rope` op): pairs (halves or interleaved) of the
 * first R features of each head rotated by float32(position) * frequency, positions offset + 0..T-1.
 * Safe in place: each pair is read whole before it is written.
 */
export function ropeInto(x: Float32Array, offset: Int32Array | undefined, out: Float32Array, shape: readonly number[], theta: number, style: string, fraction: number): void {
  const [batch, t, heads, dh] = shape as [number, number, number, number];
  const rotary = rotaryDims(dh, fraction);
  const half = rotary / 2;
  const freq = ropeFrequencies(theta, rotary).map(Math.fround);
  if (out !== x) out.set(x);
  for (let b = 0; b < batch; b++) {
    const start = offset ? offset[offset.length === 1 ? 0 : b]! : 0;
    for (let ti = 0; ti < t; ti++) {
      const position = start + ti;
      for (let h = 0; h < heads; h++) {
        const base = ((b * t + ti) * heads + h) * dh;
        for (let j = 0; j < half; j++) {
          const angle = Math.fround(position * freq[j]!);
          const [c, s] = [Math.cos(angle), Math.sin(angle)];
          const [i1, i2] = style === 'halves' ? [base + j, base + j + half] : [base + 2 * j, base + 2 * j + 1];
          const [p, q] = [x[i1]!, x[i2]!];
          out[i1] = p * c - q * s;
          out[i2] = q * c + p * s;
        }
      }
    }
  }
}
