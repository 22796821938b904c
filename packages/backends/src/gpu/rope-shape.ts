import { ropeFrequencies, rotaryDims } from '@loom/graph';

/** What a rope step rotates, read from x [B, T, H, Dh] and its attributes: the first `rotary` dims of each head, in pairs. */
export interface RopeShape {
  readonly t: number;
  readonly heads: number;
  readonly dh: number;
  /** Elements of x. */
  readonly size: number;
  readonly rotary: number;
  readonly half: number;
  /** One frequency per pair of rotated dims. */
  readonly freq: number[];
}

export function ropeShape(shape: readonly number[], attrs: { readonly theta: number; readonly fraction: number }): RopeShape {
  const [, t, heads, dh] = shape as [number, number, number, number];
  const rotary = rotaryDims(dh, attrs.fraction);
  return { t, heads, dh, size: shape.reduce((p, d) => p * d, 1), rotary, half: rotary / 2, freq: ropeFrequencies(attrs.theta, rotary) };
}
