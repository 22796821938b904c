import { codesPerWord } from '@loom/graph';
import { isResident, registerArena } from '../kernels/resident-weights.ts';
import type { KernelSettings, WasmRuntime } from './runtime.ts';

/**
 * A quantized weight in the kernels' layout (../wasm/kernels.wat, "quantized weights"): codes in
 * column panels of 8, one byte (8 bits) or half a byte (4 bits) a weight, and per panel and group
 * 8 scales and 8 biases (bias = -scale * zero point; symmetric codes keep no biases: the kernels
 * make them from the scales, and `biases` is 0). Made once per weight from the graph's codes tensor
 * (24 bits a word) and kept in the heap, keyed by that tensor.
 */
export interface QuantizedPanels {
  readonly packed: number;
  readonly scales: number;
  /** The bias table, or 0 for symmetric codes (no zero points). */
  readonly biases: number;
  readonly bits: 8 | 4;
  readonly group: number;
  readonly k: number;
  readonly n: number;
  /** `rows`, or for int8 activations' integer products `pairs` (i32x4.dot_i16x8_s), `quads` (relaxed SIMD's i8 x i7 dot; 8-bit codes as two planes of nibbles) or `bytes` (8-bit codes whole, for a dot that reads them unsigned): K padded to `kp`, a multiple of 4, in the last three. */
  readonly layout: PanelLayout;
  readonly kp: number;
}

export interface QuantizedWeightArrays {
  readonly codes: Int32Array;
  readonly scales: Float32Array;
  readonly zeroPoints: Float32Array | undefined;
  readonly bits: 8 | 4;
  readonly group: number;
  readonly k: number;
  readonly n: number;
}

export type PanelLayout = 'rows' | 'pairs' | 'quads' | 'bytes';

const kept = new WeakMap<Int32Array, Map<PanelLayout, QuantizedPanels>>();
let blocks: number[] = [];
let bytes = 0;
let owner: WasmRuntime | undefined;
const held = new Set<Int32Array>();

registerArena(() => {
  for (const b of blocks) owner?.heap.release(b);
  blocks = [];
  bytes = 0;
  for (const codes of held) kept.delete(codes);
  held.clear();
}, () => bytes);

/** Bytes of the kept layout of a K x N weight: codes, then scales, then biases where there are zero points. */
export function quantizedPanelBytes(bits: 8 | 4, group: number, k: number, n: number, zeroPoints: boolean): number {
  const panels = Math.ceil(n / 8);
  return panels * Math.ceil(k / 4) * 4 * (bits === 8 ? 8 : 4) + (zeroPoints ? 2 : 1) * panels * Math.ceil(k / group) * 32;
}

/**
 * The layout a product reads its weight in: integer products (int8 activations, groups of whole
 * quads) read `quads` where relaxed SIMD's dot is exact (`quadsLayout`), 8-bit codes there as whole
 * bytes (`bytes`) where the dot also reads bytes past 127 unsigned (`bytesLayout`), else as two
 * planes of nibbles where that is the faster way (`planesLayout`): gemv_i4r for one row, gemm_i for
 * more, one layout for both. Without the dot (or for 8-bit codes without bytes or planes) they read
 * `pairs`: gemv_i8 for one row, gemm_i's pairs for more (i16 products, exact in plain SIMD), one
 * layout for both again. Float products read `rows` (gemm_q for more rows). Prepare and run ask
 * the same question.
 */
export function productLayout(bits: 8 | 4, group: number, int8: boolean, s: Pick<KernelSettings, 'quadsLayout' | 'bytesLayout' | 'planesLayout'>): PanelLayout {
  if (!int8 || group % 4 !== 0) return 'rows'; // the integer layouts step by whole quads of rows
  const dot = s.quadsLayout && (bits === 4 || s.bytesLayout || s.planesLayout);
  if (!dot) return 'pairs';
  return bits === 8 && s.bytesLayout ? 'bytes' : 'quads';
}

/**
 * The panels of a quantized weight, made after `check` (which may throw): kept, and made once, when
 * its codes are a weight (resident); else (codes fed at run time) in a block the caller releases.
 */
export function quantizedPanels(rt: WasmRuntime, w: QuantizedWeightArrays, check: () => void, layout: PanelLayout = 'rows'): QuantizedPanels & { readonly temporary: boolean } {
  const known = kept.get(w.codes)?.get(layout);
  if (known) return { ...known, temporary: false };
  check();
  const temporary = !isResident(w.codes);
  if (!temporary) owner = rt;
  const { bits, group, k, n } = w;
  const panels = Math.ceil(n / 8);
  const groups = Math.ceil(k / group);
  const rowBytes = bits === 8 ? 8 : 4;
  const kp = layout === 'rows' ? k : Math.ceil(k / 4) * 4;
  const codeBytes = panels * kp * rowBytes;
  const tableBytes = panels * groups * 32;
  const tables = w.zeroPoints ? 2 : 1;
  const packed = rt.heap.alloc(codeBytes + tables * tableBytes);
  const scales = packed + codeBytes;
  const biases = w.zeroPoints ? scales + tableBytes : 0;
  const codeView = new Uint8Array(rt.heap.memory.buffer, packed, codeBytes);
  codeView.fill(0);
  const scaleView = new Float32Array(rt.heap.memory.buffer, scales, tables * tableBytes / 4);
  scaleView.fill(0); // columns past n: zero scale and bias
  const biasView = w.zeroPoints ? scaleView.subarray(tableBytes / 4) : undefined;
  const per = codesPerWord(bits);
  const words = Math.ceil(k / per);
  const mask = 2 ** bits - 1;
  for (let col = 0; col < n; col++) {
    const p = col >> 3;
    const j = col & 7;
    const panel = p * kp * rowBytes;
    for (let word = 0; word < words; word++) {
      const value = w.codes[col * words + word]!;
      for (let t = 0; t < per; t++) {
        const kk = word * per + t;
        if (kk >= k) break;
        const code = (value >> (t * bits)) & mask;
        if (layout === 'bytes') codeView[panel + (kk >> 2) * 32 + (j >> 2) * 16 + (j & 3) * 4 + (kk & 3)] = code;
        else if (layout === 'quads' && bits === 8) {
          // the low nibbles as 4-bit quads, then the high nibbles (32 bytes a quad of rows)
          const at = panel + (kk >> 2) * 32 + (j & 3) * 4 + (kk & 3);
          codeView[at]! |= j < 4 ? code & 15 : (code & 15) << 4;
          codeView[at + 16]! |= j < 4 ? code >> 4 : (code >> 4) << 4;
        } else if (layout === 'quads') codeView[panel + (kk >> 2) * 16 + (j & 3) * 4 + (kk & 3)]! |= j < 4 ? code : code << 4;
        else if (layout === 'pairs' && bits === 8) codeView[panel + (kk >> 1) * 16 + j * 2 + (kk & 1)] = code;
        else if (layout === 'pairs') codeView[panel + (kk >> 2) * 16 + j * 2 + (kk & 1)]! |= code << (((kk >> 1) & 1) * 4);
        else if (bits === 8) codeView[panel + kk * 8 + j] = code;
        else codeView[panel + kk * 4 + (j & 3)]! |= j < 4 ? code : code << 4;
      }
    }
    for (let g = 0; g < groups; g++) {
      const scale = w.scales[col * groups + g]!;
      scaleView[(p * groups + g) * 8 + j] = scale;
      if (biasView) biasView[(p * groups + g) * 8 + j] = -scale * w.zeroPoints![col * groups + g]!;
    }
  }
  const result: QuantizedPanels = { packed, scales, biases, bits, group, k, n, layout, kp };
  if (temporary) return { ...result, temporary };
  if (!kept.has(w.codes)) kept.set(w.codes, new Map());
  kept.get(w.codes)!.set(layout, result);
  held.add(w.codes);
  blocks.push(packed);
  bytes += codeBytes + tables * tableBytes;
  return { ...result, temporary };
}
