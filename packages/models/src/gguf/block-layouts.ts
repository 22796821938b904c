/**
 * Where GGML's K-quant blocks keep their small integers (ggml-quants.c's layouts), shared by the
 * float32 dequantization (dequantize.ts) and the kept codes (quantized-blocks.ts).
 */
import { halfToFloat } from '@loom/graph';

/** The little-endian float16 at byte `at` (a block's d or dmin). */
export function halfAt(bytes: Uint8Array, at: number): number {
  return halfToFloat(bytes[at]! | (bytes[at + 1]! << 8));
}

/** Q4_K (144 bytes: d, dmin, 12 bytes of scales and mins, 128 of 4-bit values): sub-block j's 6-bit scale and min. */
export function q4kScaleMin(bytes: Uint8Array, block: number, j: number): [scale: number, min: number] {
  const sc = block + 4;
  // scales and mins 0..3: 6 bits of bytes 0..3 and 4..7; 4..7: 4 bits of bytes 8..11 and the top 2 of the first ones
  if (j < 4) return [bytes[sc + j]! & 0x3f, bytes[sc + j + 4]! & 0x3f];
  return [(bytes[sc + j + 4]! & 0x0f) | ((bytes[sc + j - 4]! >> 2) & 0x30), (bytes[sc + j + 4]! >> 4) | ((bytes[sc + j]! >> 2) & 0x30)];
}

/** Q4_K: value l of sub-block j, the low (even j) or high (odd j) nibble of byte 32 (j / 2) + l of the values. */
export function q4kValue(bytes: Uint8Array, block: number, j: number, l: number): number {
  return (bytes[block + 16 + (j >> 1) * 32 + l]! >> ((j & 1) * 4)) & 0x0f;
}

/**
 * Q6_K (210 bytes: 128 of low 4 bits, 64 of high 2 bits, 16 int8 scales, float16 d): value v's 6 bits.
 * Value v of half h = v / 128: 4 low bits in byte h 64 + v % 64 (nibble v / 64 % 2), 2 high bits in
 * byte 128 + h 32 + v % 32 (bits 2 (v / 32 % 4)).
 */
export function q6kValue(bytes: Uint8Array, block: number, v: number): number {
  const h = v >> 7;
  const low = (bytes[block + h * 64 + (v & 63)]! >> (((v >> 6) & 1) * 4)) & 0x0f;
  const high = (bytes[block + 128 + h * 32 + (v & 31)]! >> (((v >> 5) & 3) * 2)) & 0x03;
  return low | (high << 4);
}

/** Q6_K: sub-block g's (16 values) int8 scale. */
export function q6kScale(bytes: Uint8Array, block: number, g: number): number {
  return (bytes[block + 192 + g]! << 24) >> 24;
}
