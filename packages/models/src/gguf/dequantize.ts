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
import { halfAt, q4kScaleMin, q4kValue, q6kScale, q6kValue } from './block-layouts.ts';
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
  for (let b = 0; b < count / 256; b++) {
    const at = b * 144;
    const [d, dmin] = [halfAt(bytes, at), halfAt(bytes, at + 2)];
    for (let j = 0; j < 8; j++) {
      const [scale, min] = q4kScaleMin(bytes, at, j);
      const [dj, mj] = [f32(d * scale), f32(dmin * min)];
      for (let l = 0; l < 32; l++) out[b * 256 + j * 32 + l] = f32(f32(dj * q4kValue(bytes, at, j, l)) - mj);
    }
  }
  return out;
}

function dequantizeQ6K(bytes: Uint8Array, count: number): Float32Array {
  const out = new Float32Array(count);
  for (let b = 0; b < count / 256; b++) {
    const at = b * 210;
    const d = halfAt(bytes, at + 208);
    for (let v = 0; v < 256; v++) out[b * 256 + v] = f32(f32(d * q6kScale(bytes, at, v >> 4)) * (q6kValue(bytes, at, v) - 32));
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
