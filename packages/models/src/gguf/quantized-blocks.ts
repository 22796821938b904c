/**
 * Q8_0 and Q4_0 tensors kept as they are: their blocks of 32 are exactly Loom's 8- and 4-bit stores
 * with groups of 32 and float16 scales (Q8_0: x = d q, q int8, so code q + 128 about zero point 128;
 * Q4_0: x = d (q - 8), code q about zero point 8), so a product reads the file's codes and scales, not
 * a float32 copy. Rows of a GGUF weight are output features, each along K: the columns of Loom's
 * quantized matrix. The K-quants (Q4_K, Q6_K: sub-block scales and mins) have no such form yet and are
 * dequantized to float32.
 */
import { codesPerWord, halfToFloat, type QuantizedMatrix } from '@loom/graph';
import { readGgufBytes, type GgufFile } from './read-gguf.ts';

/** The GGML types kept as quantized matrices: their type id, bits and bytes per block of 32. */
const KEPT: Readonly<Record<number, { bits: 8 | 4; blockBytes: number }>> = { 8: { bits: 8, blockBytes: 34 }, 2: { bits: 4, blockBytes: 18 } };

/** Whether tensor `name` is stored in blocks Loom keeps (a weight matrix of Q8_0 or Q4_0). */
export function keepsBlocks(file: GgufFile, name: string): boolean {
  const t = file.tensors.get(name);
  return t !== undefined && t.shape.length === 2 && KEPT[t.typeId] !== undefined;
}

/** A Q8_0 / Q4_0 matrix [rows, K] as a quantized matrix of n = rows columns along K, its rows in `order` (source row per row; default as stored). */
export function ggufQuantizedMatrix(file: GgufFile, name: string, order?: readonly number[]): QuantizedMatrix {
  const { tensor, bytes } = readGgufBytes(file, name);
  const kept = KEPT[tensor.typeId]!;
  const [n, k] = tensor.shape as [number, number];
  const groups = k / 32; // whole blocks: checked with the header
  const per = codesPerWord(kept.bits);
  const words = Math.ceil(k / per);
  const codes = new Int32Array(n * words);
  const scales = new Float32Array(n * groups);
  for (let row = 0; row < n; row++) {
    const from = order ? order[row]! : row;
    for (let g = 0; g < groups; g++) {
      const at = (from * groups + g) * kept.blockBytes;
      scales[row * groups + g] = halfToFloat(bytes[at]! | (bytes[at + 1]! << 8));
      for (let j = 0; j < 32; j++) {
        // Q8_0: int8 q -> q + 128; Q4_0: value j < 16 the low nibble of byte j, j + 16 its high nibble
        const code = kept.bits === 8 ? (((bytes[at + 2 + j]! << 24) >> 24) + 128) : j < 16 ? bytes[at + 2 + j]! & 15 : bytes[at + 2 + j - 16]! >> 4;
        const kk = g * 32 + j;
        const word = row * words + Math.floor(kk / per);
        codes[word] = codes[word]! | (code << ((kk % per) * kept.bits));
      }
    }
  }
  return { bits: kept.bits, group: 32, k, n, codes, scales };
}
