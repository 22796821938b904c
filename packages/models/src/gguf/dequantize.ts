/**
 * GGML blocks to float32, as ggml.c's dequantize_row_* computes them:
 *   Q8_0: d (float16), then 32 int8 q: x = d q
 *   Q4_0: d (float16), then 16 bytes; value j < 16 is the low nibble of byte j, value j + 16 its high
 *         nibble: x = d (q - 8)
 *   Q4_K: blocks of 256 in 8 sub-blocks of 32, each with a 6-bit scale and min (12 bytes packed):
 *         x = (d sc) q - (dmin m), q a 4-bit value (the low nibbles of 32 bytes, then their high nibbles)
 *   Q6_K: blocks of 256 in 16 sub-blocks of 16, each with an int8 scale: x = (d sc) (q - 32), q 6 bits
 *         (4 low from ql, 2 high from qh)
 * in float32 step by step (Math.fround), as gguf.quants computes them in numpy: its values bit for bit.
 * F16 and BF16 widen exactly; F32 is copied.
 */
import { decodeBF16, decodeF16, halfToFloat } from '@loom/graph';
import type { GgufTypeId } from './gguf-types.ts';

/** `count` values of type `type` from `bytes` (exactly their blocks). */
export function dequantize(type: GgufTypeId, bytes: Uint8Array, count: number): Float32Array {
  // a copy aligned for the typed views (a file's tensor need not start at a multiple of 4 in memory)
  const own = bytes.slice();
  switch (type) {
    case 0:
      return new Float32Array(own.buffer, 0, count);
    case 1:
      return decodeF16(new Uint16Array(own.buffer, 0, count));
    case 30:
      return decodeBF16(new Uint16Array(own.buffer, 0, count));
    case 8:
      return dequantizeQ8_0(own, count);
    case 2:
      return dequantizeQ4_0(own, count);
    case 12:
      return dequantizeQ4K(own, count);
    case 14:
      return dequantizeQ6K(own, count);
  }
}

const f32 = Math.fround;

function dequantizeQ4K(bytes: Uint8Array, count: number): Float32Array {
  const out = new Float32Array(count);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let b = 0; b < count / 256; b++) {
    const at = b * 144;
    const d = halfToFloat(view.getUint16(at, true));
    const dmin = halfToFloat(view.getUint16(at + 2, true));
    const sc = bytes.subarray(at + 4, at + 16);
    const qs = bytes.subarray(at + 16, at + 144);
    for (let j = 0; j < 8; j++) {
      // scales 0..3 and mins 0..3 are 6 bits of bytes 0..3 and 4..7; 4..7 take 4 bits of bytes 8..11 and the top 2 of the first ones
      const scale = j < 4 ? sc[j]! & 0x3f : (sc[j + 4]! & 0x0f) | ((sc[j - 4]! >> 2) & 0x30);
      const min = j < 4 ? sc[j + 4]! & 0x3f : (sc[j + 4]! >> 4) | ((sc[j]! >> 2) & 0x30);
      const [dj, mj] = [f32(d * scale), f32(dmin * min)];
      // sub-block j: the low (even j) or high (odd j) nibbles of bytes 32 (j / 2) .. + 32
      const shift = (j & 1) * 4;
      const base = (j >> 1) * 32;
      for (let l = 0; l < 32; l++) out[b * 256 + j * 32 + l] = f32(f32(dj * ((qs[base + l]! >> shift) & 0x0f)) - mj);
    }
  }
  return out;
}

function dequantizeQ6K(bytes: Uint8Array, count: number): Float32Array {
  const out = new Float32Array(count);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let b = 0; b < count / 256; b++) {
    const at = b * 210;
    const ql = bytes.subarray(at, at + 128);
    const qh = bytes.subarray(at + 128, at + 192);
    const d = halfToFloat(view.getUint16(at + 208, true));
    for (let v = 0; v < 256; v++) {
      // value v of half h: ql byte h 64 + v % 64 (its nibble v / 64 % 2), qh byte h 32 + v % 32 (its bits 2 (v / 32 % 4))
      const h = v >> 7;
      const low = (ql[h * 64 + (v & 63)]! >> (((v >> 6) & 1) * 4)) & 0x0f;
      const high = (qh[h * 32 + (v & 31)]! >> (((v >> 5) & 3) * 2)) & 0x03;
      const scale = view.getInt8(at + 192 + (v >> 4));
      out[b * 256 + v] = f32(f32(d * scale) * ((low | (high << 4)) - 32));
    }
  }
  return out;
}

function dequantizeQ8_0(bytes: Uint8Array, count: number): Float32Array {
  const out = new Float32Array(count);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let b = 0; b < count / 32; b++) {
    const at = b * 34;
    const d = halfToFloat(view.getUint16(at, true));
    for (let j = 0; j < 32; j++) out[b * 32 + j] = d * view.getInt8(at + 2 + j);
  }
  return out;
}

function dequantizeQ4_0(bytes: Uint8Array, count: number): Float32Array {
  const out = new Float32Array(count);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let b = 0; b < count / 32; b++) {
    const at = b * 18;
    const d = halfToFloat(view.getUint16(at, true));
    for (let j = 0; j < 16; j++) {
      const q = bytes[at + 2 + j]!;
      out[b * 32 + j] = d * ((q & 0x0f) - 8);
      out[b * 32 + j + 16] = d * ((q >> 4) - 8);
    }
  }
  return out;
}
