/**
 * The counter-based generator behind dropout: a hash of (seed, stream, element index) to a uniform
 * 24-bit value, with no state to carry between elements or runs, so every backend draws the same mask
 * for the same element in any order. It uses only sums and products of 12-bit limbs, which are
 * exact in float32 (below 2^24): GLSL ES 1.00 has no integers, and WebGL must draw the same bits as
 * the cpu and WebGPU. Each round multiplies by an odd constant, adds, and folds the high half into
 * the low (x + floor(x / 2^11)).
 */

const LIMB = 4096; // 2^12
const MOD = LIMB * LIMB; // 2^24

/** (a + b) mod 2^24 for a, b in [0, 2^24), by limbs (the plain sum may pass 2^24, where float32 loses odd integers). */
export function add24(a: number, b: number): number {
  const lo = (a % LIMB) + (b % LIMB);
  const hi = Math.floor(a / LIMB) + Math.floor(b / LIMB) + Math.floor(lo / LIMB);
  return (hi % LIMB) * LIMB + (lo % LIMB);
}

/** (a * b) mod 2^24 for a, b in [0, 2^24), by 12-bit limbs (each partial product stays below 2^24). */
export function mul24(a: number, b: number): number {
  const [aLo, aHi, bLo, bHi] = [a % LIMB, Math.floor(a / LIMB), b % LIMB, Math.floor(b / LIMB)];
  const lo = aLo * bLo;
  const cross = (((aHi * bLo) % LIMB) + ((aLo * bHi) % LIMB)) % LIMB;
  const hi = (Math.floor(lo / LIMB) + cross) % LIMB;
  return hi * LIMB + (lo % LIMB);
}

/** Odd multipliers and increments of the rounds (24-bit). */
export const DROPOUT_CONSTANTS = { seedMul: 0x9e3779, streamMul: 0x7f4a7d, rounds: [0xb5297b, 0x68e31d, 0x1b8735], adds: [0x3c6ef3, 0xa54ff5, 0x510e52] } as const;

/** A 24-bit value in [0, 2^24) for element `index` (0 <= index < 2^31) of stream `stream` under `seed` (any int32). */
export function dropoutHash(seed: number, stream: number, index: number): number {
  const seed24 = ((seed % MOD) + MOD) % MOD;
  const k = DROPOUT_CONSTANTS;
  let x = add24(index % MOD, mul24(seed24, k.seedMul));
  x = add24(x, mul24(add24(Math.floor(index / MOD), stream % MOD), k.streamMul));
  for (let r = 0; r < k.rounds.length; r++) {
    x = add24(mul24(x, k.rounds[r]!), k.adds[r]!);
    x = add24(x, Math.floor(x / 2048));
  }
  return x;
}

/** Whether dropout with drop probability p keeps element `index`: its hash, as a fraction of 2^24, is at least p. */
export function dropoutKeeps(seed: number, stream: number, index: number, p: number): boolean {
  return dropoutHash(seed, stream, index) >= p * MOD;
}
