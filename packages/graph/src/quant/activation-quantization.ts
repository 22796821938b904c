/**
 * int8 activations: each row of x (length k) in groups of `group` along it, a group's values rounded
 * to integers q in [-127, 127] against one scale s:
 *
 *   s = fround(fround(max |x|) / 127),   q = clamp(round-half-even(fround(x / s)), -127, 127),   x~ = s q
 *
 * (q passes 127 before the clamp only when max |x| is subnormal: s then keeps too few bits.)
 * every step in float32 (Math.fround), so a kernel computing in float32 gets the same integers, bit
 * for bit, and a product's sum of q w scaled by s is what float64 computes from x~. A group of zeros
 * has s = 0 and q = 0.
 */

/** The float32 scale of a group whose largest magnitude is `max`. */
export function activationScale(max: number): number {
  return Math.fround(Math.fround(max) / 127);
}

/** Rounds half to even (WebAssembly's f32x4.nearest, WGSL's round). */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** The integer of x against scale s (s > 0). */
export function activationCode(x: number, s: number): number {
  return Math.max(-127, Math.min(127, roundHalfEven(Math.fround(Math.fround(x) / s))));
}

/** out = x~ for every row of `k` values of x (x and out may be the same array). */
export function roundActivations(x: ArrayLike<number>, out: { [i: number]: number; length: number }, k: number, group: number): void {
  for (let row = 0; row + k <= x.length && k > 0; row += k) {
    for (let g = row; g < row + k; g += group) {
      const end = Math.min(g + group, row + k);
      let max = 0;
      for (let i = g; i < end; i++) max = Math.max(max, Math.abs(x[i]!));
      const s = activationScale(max);
      for (let i = g; i < end; i++) out[i] = s === 0 ? 0 : s * activationCode(x[i]!, s);
    }
  }
}
