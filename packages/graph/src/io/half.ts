/** Decoding of 16-bit floats (IEEE binary16 and bfloat16) into float32. */

/** IEEE 754 binary16 bits to a number: exact, since every half value is a float32 value. */
export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const fraction = h & 0x3ff;
  if (exponent === 0) return sign * fraction * 2 ** -24; // zero and subnormals
  if (exponent === 0x1f) return fraction === 0 ? sign * Infinity : NaN;
  return sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
}

/** binary16 values to float32. */
export function decodeF16(bits: Uint16Array): Float32Array {
  const out = new Float32Array(bits.length);
  for (let i = 0; i < bits.length; i++) out[i] = halfToFloat(bits[i]!);
  return out;
}

/** bfloat16 is the top half of a float32: widening is a 16-bit shift, NaN payloads included. */
export function decodeBF16(bits: Uint16Array): Float32Array {
  const out = new Float32Array(bits.length);
  const outBits = new Uint32Array(out.buffer);
  for (let i = 0; i < bits.length; i++) outBits[i] = bits[i]! << 16;
  return out;
}

/**
 * The binary16 value nearest to x (ties to even), as a number: what storing x as float16 keeps.
 * Past the largest half (65504) it is +-Infinity, below the smallest subnormal (2^-24) zero.
 */
export function roundToHalf(x: number): number {
  if (!Number.isFinite(x) || x === 0) return x;
  const magnitude = Math.abs(x);
  // the spacing of halves near x: 2^(e - 10) for normal halves, 2^-24 for subnormals
  const exponent = Math.max(Math.floor(Math.log2(magnitude)), -14);
  let step = 2 ** (exponent - 10);
  // log2 may be off by one near powers of two: keep step consistent with magnitude's binade
  if (magnitude >= 2 ** (exponent + 1)) step *= 2;
  const units = magnitude / step;
  let rounded = Math.round(units);
  if (rounded - units === 0.5 && rounded % 2 === 1) rounded -= 1; // Math.round rounds .5 up: ties to even
  const value = rounded * step;
  return Math.sign(x) * (value > 65504 ? Infinity : value);
}
