/**
 * Quantized weights (the q8 / q4 stores: `dequantize`, and `quantized_matmul`, which the export
 * expands into dequantize + matmul + epilogue) in ONNX, in one of two forms:
 *
 * - onnxruntime's contrib op `com.microsoft::MatMulNBits` (operator set version 1) for a product
 *   whose block size MatMulNBits takes (a power of two >= 16): the codes repacked into its uint8
 *   blobs, the scales as they are, integer zero points packed as uint8 (absent ones are its default,
 *   2^(bits-1): the same as Loom's symmetric codes).
 * - everywhere else (any group, a standalone dequantize, fractional zero points), standard opset-20
 *   ops that dequantize at run time from the same uint8 blobs: Cast, Sub, Mul (4 bits unpacked by
 *   BitwiseAnd and BitShift), so the file keeps the compressed codes. Opset 21's blocked
 *   DequantizeLinear would say the same in one node, but the export's opset is 20 (ONNX_OPSET) and
 *   one model imports one version of the default domain.
 *
 * The blob layout is MatMulNBits' (onnxruntime's ContribOperators.md, and its CPU kernel's checks in
 * matmul_nbits_helper.h): B uint8 [N, k_blocks, blob_size], k_blocks = ceil(K / block), blob_size =
 * block * bits / 8; within a block codes go in K order, at 4 bits two a byte, the first in the low
 * nibble; the last block of a K that is not a multiple is padded with zero codes. Glossary: K the
 * weight's rows (the product's reduction), N its columns, kb = k_blocks.
 */
import { codeAt, codesPerWord, isCodeWord, type Graph, type GraphNode } from '@loom/graph';
import { OnnxDataType, type OnnxModel } from './onnx-model.ts';

/** The contrib operator set MatMulNBits is in, and its version. */
export const MS_DOMAIN = 'com.microsoft';
export const MS_DOMAIN_VERSION = 1;

/** A quantized weight as a dequantize node states it. */
export interface QuantizedLayout {
  readonly bits: 8 | 4;
  /** Weights along K sharing a scale (K itself for one scale per output column). */
  readonly group: number;
  readonly k: number;
  readonly n: number;
}

/** Whether MatMulNBits takes a block of `group` (its kernels' rule: a power of two, at least 16). */
export const matMulNBitsTakes = (group: number): boolean => group >= 16 && (group & (group - 1)) === 0;

/** Bytes of one block of `group` codes: at 4 bits an odd group gets a padding nibble. */
export const blobSize = (bits: 8 | 4, group: number): number => Math.ceil((group * bits) / 8);

/** Bytes of the repacked codes of a weight. */
export const packedCodeBytes = (q: QuantizedLayout): number => q.n * Math.ceil(q.k / q.group) * blobSize(q.bits, q.group);

/** Bytes of MatMulNBits' packed uint8 zero points of a weight ([N, ceil(kb * bits / 8)]). */
export const packedZeroPointBytes = (q: QuantizedLayout): number => q.n * Math.ceil((Math.ceil(q.k / q.group) * q.bits) / 8);

/**
 * The codes (Loom's layout: int32 words, 24 bits of codes each, see quant/weight-quantization.ts) as
 * a uint8 initializer [N, kb, blob] in MatMulNBits' layout. The words are checked now (a word outside
 * [0, 2^24) is `bad`'s message, thrown); the bytes are made only when the model is written.
 */
export function packedCodes(m: OnnxModel, name: string, codes: ArrayLike<number>, q: QuantizedLayout, bad: (message: string) => Error): string {
  for (let i = 0; i < codes.length; i++) {
    const w = codes[i]!;
    if (!isCodeWord(w)) throw bad(`weight '${name}' holds the code word ${w} at position ${i}, outside [0, 2^24) (24 bits of codes a word)`);
  }
  const { bits, group, k, n } = q;
  const blocks = Math.ceil(k / group);
  const blob = blobSize(bits, group);
  const words = Math.ceil(k / codesPerWord(bits));
  const pack = (): Uint8Array => {
    const out = new Uint8Array(n * blocks * blob); // padding codes stay 0
    for (let col = 0; col < n; col++) {
      for (let kk = 0; kk < k; kk++) {
        const block = Math.floor(kk / group);
        const j = kk - block * group; // position in the block
        const at = (col * blocks + block) * blob + (bits === 8 ? j : j >> 1);
        out[at]! |= codeAt(codes, bits, words, col, kk) << (bits === 8 ? 0 : (j & 1) * 4);
      }
    }
    return out;
  };
  return m.uint8s(m.name(`${name}.blocks`), [n, blocks, blob], n * blocks * blob, pack);
}

/**
 * Zero points as MatMulNBits' packed uint8 [N, ceil(kb * bits / 8)] (block j of a column in byte
 * j * bits / 8, at 4 bits the even block in the low nibble; each column starts a byte), or undefined
 * when one is not an integer code (then only the standard form says it).
 */
export function packedZeroPoints(m: OnnxModel, name: string, zeroPoints: ArrayLike<number>, q: QuantizedLayout): string | undefined {
  const blocks = Math.ceil(q.k / q.group);
  const perColumn = Math.ceil((blocks * q.bits) / 8);
  const out = new Uint8Array(q.n * perColumn);
  for (let col = 0; col < q.n; col++) {
    for (let j = 0; j < blocks; j++) {
      const z = zeroPoints[col * blocks + j]!;
      if (!(Number.isInteger(z) && z >= 0 && z < 2 ** q.bits)) return undefined;
      out[col * perColumn + (q.bits === 8 ? j : j >> 1)]! |= z << (q.bits === 8 ? 0 : (j & 1) * 4);
    }
  }
  return m.uint8s(m.name(`${name}.packed`), [q.n, perColumn], out.length, () => out);
}

/** a [..., K] @ W [K, N] as MatMulNBits, W given by its packed codes, scales [N, kb] and packed zero points. */
export function matMulNBits(m: OnnxModel, a: string, blocks: string, scales: string, zeroPoints: string | undefined, q: QuantizedLayout): string {
  const attrs = { K: { int: q.k }, N: { int: q.n }, bits: { int: q.bits }, block_size: { int: q.group } };
  // accuracy_level left unset (0): A is not quantized or downcast, the product is float32's
  return m.domainNode(MS_DOMAIN, MS_DOMAIN_VERSION, 'MatMulNBits', zeroPoints ? [a, blocks, scales, zeroPoints] : [a, blocks, scales], attrs);
}

/**
 * The float matrix of packed codes in standard ops: [K, N], or [N, K] with `transpose` (the
 * dequantize op's meaning), W = scale * (code - zero point); `zeroPoints` is the f32 [N, kb] value,
 * else the zero point is 2^(bits-1).
 */
export function dequantizeStandard(m: OnnxModel, blocks: string, scales: string, zeroPoints: string | undefined, q: QuantizedLayout & { readonly transpose: boolean }): string {
  const { bits, group, k, n } = q;
  const kb = Math.ceil(k / group);
  const blob = blobSize(bits, group);
  const slice = (x: string, axis: number, end: number) => m.node('Slice', [x, m.int64s([0]), m.int64s([end]), m.int64s([axis])]);
  const unsqueeze = (x: string, axis: number) => m.node('Unsqueeze', [x, m.int64s([axis])]);
  let codes = blocks; // uint8 [N, kb, blob]
  if (bits === 4) {
    const byte = (v: number) => m.uint8s(m.name('u8'), [], 1, () => Uint8Array.of(v));
    const low = m.node('BitwiseAnd', [blocks, byte(0x0f)]);
    const high = m.node('BitShift', [blocks, byte(4)], { direction: { string: 'RIGHT' } });
    const pairs = m.node('Concat', [unsqueeze(low, 3), unsqueeze(high, 3)], { axis: { int: 3 } }); // [N, kb, blob, 2]: codes 2i, 2i + 1
    codes = m.node('Reshape', [pairs, m.int64s([n, kb, 2 * blob])]);
    if (2 * blob !== group) codes = slice(codes, 2, group); // an odd group's padding nibble
  }
  const zero = zeroPoints ? unsqueeze(zeroPoints, 2) : m.tensor(m.name('zero_point'), { dtype: 'f32', shape: [], data: Float32Array.of(2 ** (bits - 1)) });
  const values = m.node('Cast', [codes], { to: { int: OnnxDataType.FLOAT } });
  let w = m.node('Mul', [unsqueeze(scales, 2), m.node('Sub', [values, zero])]); // [N, kb, group]
  w = m.node('Reshape', [w, m.int64s([n, kb * group])]);
  if (kb * group !== k) w = slice(w, 1, k); // the last block's padding
  return q.transpose ? w : m.node('Transpose', [w], { perm: { ints: [1, 0] } }); // [N, K] or [K, N]
}

/**
 * Bytes the export writes for the params that only quantized weights read, by param id: repacked
 * codes, and zero points at MatMulNBits' packed size (the least either form writes). From the graph
 * alone, before the expansion and without a weight: what onnxWeightBytes counts for them.
 */
export function quantizedParamBytes(graph: Graph): Map<number, number> {
  const bytes = new Map<number, number>();
  const plain = new Set<number>(graph.outputs.map((o) => o.node));
  for (const node of graph.nodes) {
    const roles = quantizedOperands(graph, node);
    node.inputs.forEach((id, i) => {
      const role = roles?.get(i);
      if (!role) plain.add(id);
      else bytes.set(id, Math.max(bytes.get(id) ?? 0, role.codes ? packedCodeBytes(role.layout) : packedZeroPointBytes(role.layout)));
    });
  }
  for (const id of plain) bytes.delete(id);
  return bytes;
}

/** A dequantize's or quantized_matmul's codes and zero points: input index -> what it is, and the weight's layout. */
function quantizedOperands(graph: Graph, node: GraphNode): Map<number, { codes: boolean; layout: QuantizedLayout }> | undefined {
  if (node.op !== 'dequantize' && node.op !== 'quantized_matmul') return undefined;
  const first = node.op === 'dequantize' ? 0 : 1; // quantized_matmul's a comes first
  const a = graph.nodes[node.inputs[0]!]!.type.shape;
  const k = node.op === 'dequantize' ? node.attrs['k'] : a[a.length - 1];
  const n = graph.nodes[node.inputs[first]!]!.type.shape[0];
  if (typeof k !== 'number' || typeof n !== 'number') return undefined;
  const layout: QuantizedLayout = { bits: node.attrs['bits'] as 8 | 4, group: node.attrs['group'] as number, k, n };
  const roles = new Map([[first, { codes: true, layout }]]);
  if (node.attrs['zeroPoints']) roles.set(first + 2, { codes: false, layout });
  return roles;
}
