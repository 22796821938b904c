/**
 * GGML's quantized matrices kept as codes: each type's blocks are one of Loom's quantized layouts
 * (W = scale (code - zero point) per group along K), so a product reads the file's codes and scales,
 * not a float32 copy:
 *   Q8_0: groups of 32, x = d q (q int8): 8-bit code q + 128 about zero point 128
 *   Q4_0: groups of 32, x = d (q - 8): 4-bit code q about zero point 8
 *   Q4_K: groups of 32 (8 in a block of 256), x = (d sc) q - (dmin m): 4-bit code q, scale d sc and
 *         zero point (dmin m) / (d sc) (a stored zero point; when d sc is 0 the group is the constant
 *         -dmin m: codes 0, scale dmin m, zero point 1)
 *   Q6_K: groups of 16 (16 in a block of 256), x = (d sc) (q - 32), q 6 bits: 8-bit code q + 96 about
 *         zero point 128
 * Scales are float32 products of the file's float16 and its small integers, as ggml computes them.
 * Rows of a GGUF weight are output features, each along K: the columns of Loom's quantized matrix.
 */
import { codesPerWord, type QuantizedMatrix } from '@loom/graph';
import { halfAt, q4kScaleMin, q4kValue, q6kScale, q6kValue } from './block-layouts.ts';
import { readGgufBytes, type GgufFile } from './read-gguf.ts';

/** How one GGML type's blocks unpack: `unpack` writes a block's codes and its groups' scales (and zero points). */
interface KeptType {
  readonly bits: 8 | 4;
  readonly group: number;
  /** Values per block and its bytes. */
  readonly values: number;
  readonly bytes: number;
  readonly zeroPoints: boolean;
  unpack(bytes: Uint8Array, at: number, codes: Uint8Array, scales: Float32Array, zeros: Float32Array): void;
}

const f32 = Math.fround;

const Q8_0: KeptType = {
  bits: 8, group: 32, values: 32, bytes: 34, zeroPoints: false,
  unpack(bytes, at, codes, scales) {
    scales[0] = halfAt(bytes, at);
    for (let j = 0; j < 32; j++) codes[j] = ((bytes[at + 2 + j]! << 24) >> 24) + 128;
  },
};

const Q4_0: KeptType = {
  bits: 4, group: 32, values: 32, bytes: 18, zeroPoints: false,
  unpack(bytes, at, codes, scales) {
    scales[0] = halfAt(bytes, at);
    // value j < 16 is the low nibble of byte j, value j + 16 its high nibble
    for (let j = 0; j < 16; j++) {
      codes[j] = bytes[at + 2 + j]! & 15;
      codes[j + 16] = bytes[at + 2 + j]! >> 4;
    }
  },
};

const Q4_K: KeptType = {
  bits: 4, group: 32, values: 256, bytes: 144, zeroPoints: true,
  unpack(bytes, at, codes, scales, zeros) {
    const [d, dmin] = [halfAt(bytes, at), halfAt(bytes, at + 2)];
    for (let j = 0; j < 8; j++) {
      const [scale, min] = q4kScaleMin(bytes, at, j);
      const [step, offset] = [f32(d * scale), f32(dmin * min)];
      const constant = step === 0;
      scales[j] = constant ? offset : step;
      zeros[j] = constant ? 1 : offset / step;
      for (let l = 0; l < 32; l++) codes[j * 32 + l] = constant ? 0 : q4kValue(bytes, at, j, l);
    }
  },
};

const Q6_K: KeptType = {
  bits: 8, group: 16, values: 256, bytes: 210, zeroPoints: false,
  unpack(bytes, at, codes, scales) {
    const d = halfAt(bytes, at + 208);
    for (let g = 0; g < 16; g++) scales[g] = f32(d * q6kScale(bytes, at, g));
    for (let v = 0; v < 256; v++) codes[v] = q6kValue(bytes, at, v) + 96;
  },
};

/** The GGML types kept as quantized matrices, by type id. */
const KEPT: Readonly<Record<number, KeptType>> = { 8: Q8_0, 2: Q4_0, 12: Q4_K, 14: Q6_K };

/** Whether tensor `name` is stored in blocks Loom keeps (a weight matrix of Q8_0, Q4_0, Q4_K or Q6_K). */
export function keepsBlocks(file: GgufFile, name: string): boolean {
  const t = file.tensors.get(name);
  return t !== undefined && t.shape.length === 2 && KEPT[t.typeId] !== undefined;
}

/** The bytes Loom holds for a kept matrix: its codes in 32-bit words, a float32 scale (and zero point) per group. */
export function keptMatrixBytes(file: GgufFile, name: string): number {
  const t = file.tensors.get(name)!;
  const kept = KEPT[t.typeId]!;
  const [n, k] = t.shape as [number, number];
  return n * (Math.ceil(k / codesPerWord(kept.bits)) * 4 + (k / kept.group) * 4 * (kept.zeroPoints ? 2 : 1));
}

/** A kept matrix [rows, K] as a quantized matrix of n = rows columns along K, its rows in `order` (source row per row; default as stored). */
export function ggufQuantizedMatrix(file: GgufFile, name: string, order?: readonly number[]): QuantizedMatrix {
  const { tensor, bytes } = readGgufBytes(file, name);
  const kept = KEPT[tensor.typeId]!;
  const [n, k] = tensor.shape as [number, number];
  const [blocks, groups] = [k / kept.values, k / kept.group]; // whole blocks: checked with the header
  const per = codesPerWord(kept.bits);
  const words = Math.ceil(k / per);
  const codes = new Int32Array(n * words);
  const scales = new Float32Array(n * groups);
  const zeroPoints = kept.zeroPoints ? new Float32Array(n * groups) : undefined;
  const rowCodes = new Uint8Array(k);
  const groupsPerBlock = kept.values / kept.group;
  const noZeros = new Float32Array(groupsPerBlock);
  for (let row = 0; row < n; row++) {
    const from = order ? order[row]! : row;
    for (let b = 0; b < blocks; b++) {
      const g = row * groups + b * groupsPerBlock;
      kept.unpack(bytes, (from * blocks + b) * kept.bytes, rowCodes.subarray(b * kept.values), scales.subarray(g, g + groupsPerBlock), zeroPoints ? zeroPoints.subarray(g, g + groupsPerBlock) : noZeros);
    }
    for (let kk = 0; kk < k; kk++) {
      const word = row * words + Math.floor(kk / per);
      codes[word] = codes[word]! | (rowCodes[kk]! << ((kk % per) * kept.bits));
    }
  }
  return { bits: kept.bits, group: kept.group, k, n, codes, scales, ...(zeroPoints ? { zeroPoints } : {}) };
}
