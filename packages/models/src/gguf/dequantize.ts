/**
 * GGML blocks to float32, as ggml.c's dequantize_row_* computes them:
 *   Q8_0: d (float16), then 32 int8 q: x = d q
 *   Q4_0: d (float16), then 16 bytes; value j < 16 is the low nibble of byte j, value j + 16 its high
 *         nibble: x = d (q - 8)
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
  }
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
