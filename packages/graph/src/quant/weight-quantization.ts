import { InputError } from '../errors.ts';
import { roundToHalf } from '../io/half.ts';

/**
 * How a weight matrix is stored in fewer bits (the q8 and q4 weight stores). Each output column's K
 * weights are cut into groups of `group` along K (the reduction axis); a group shares one scale, and
 * with `zeroPoints` one zero point:
 *
 *   W[k, n] = scales[n, g] * (code(n, k) - zeroPoint[n, g]),   g = floor(k / group)
 *
 * Codes are unsigned `bits`-bit integers. Without stored zero points the zero point is 2^(bits-1)
 * (128 or 8): symmetric codes, as llama.cpp's Q8_0 and Q4_0 store them.
 */
export interface WeightQuantization {
  readonly bits: 8 | 4;
  /** Weights along K sharing a scale; `channel`: all K of a column (one scale per output channel). */
  readonly group: number | 'channel';
  /** `f16`: scales rounded to float16 (what GGUF and onnxruntime's MatMulNBits store). */
  readonly scales: 'f32' | 'f16';
  /** Asymmetric: a zero point per group (min and max of the group map onto the code range). */
  readonly zeroPoints: boolean;
  /**
   * `int8`: products round their input rows to int8 per group too (activation-quantization.ts), so a
   * kernel multiplies integers (dynamic quantization, as onnxruntime's int8 models and llama.cpp's
   * Q8_0 dot products do). Default `f32`: the weights alone are quantized.
   */
  readonly activations?: 'f32' | 'int8';
}

/** The `q8` store: int8 codes in groups of 32 with float32 scales, symmetric. */
export const Q8: WeightQuantization = { bits: 8, group: 32, scales: 'f32', zeroPoints: false };
/** The `q4` store: int4 codes in groups of 32 with float32 scales, symmetric (llama.cpp's Q4_0 rule). */
export const Q4: WeightQuantization = { bits: 4, group: 32, scales: 'f32', zeroPoints: false };

/**
 * Codes packed per 32-bit word: 24 bits of each word (3 of 8 bits, 6 of 4 bits), so that a word is
 * an integer every backend holds exactly, WebGL's float textures included (exact to 2^24).
 */
export const codesPerWord = (bits: 8 | 4): number => (bits === 8 ? 3 : 6);

/** A quantized matrix in the layout of the dequantize and quantized_matmul ops. */
export interface QuantizedMatrix {
  readonly bits: 8 | 4;
  /** Group size along K (K itself for per-channel scales). */
  readonly group: number;
  readonly k: number;
  readonly n: number;
  /** [n, ceil(k / codesPerWord)]: column n's codes, k-th in word floor(k / per) at bit (k % per) * bits. */
  readonly codes: Int32Array;
  /** [n, ceil(k / group)] */
  readonly scales: Float32Array;
  /** [n, ceil(k / group)], when stored (asymmetric); else 2^(bits-1) throughout. */
  readonly zeroPoints?: Float32Array;
}

/** The group size of `q` for a K of `k`. */
export function groupSize(q: WeightQuantization, k: number): number {
  return q.group === 'channel' ? k : q.group;
}

/** Checks a quantization's fields; the message names what was wrong. */
export function checkQuantization(q: WeightQuantization): void {
  if (q.bits !== 8 && q.bits !== 4) throw new InputError(`weight quantization: bits must be 8 or 4, got ${String(q.bits)}`);
  if (q.group !== 'channel' && !(Number.isInteger(q.group) && q.group >= 1)) throw new InputError(`weight quantization: group must be a positive integer or 'channel', got ${String(q.group)}`);
  if (q.scales !== 'f32' && q.scales !== 'f16') throw new InputError(`weight quantization: scales must be 'f32' or 'f16', got ${String(q.scales)}`);
  if (q.activations !== undefined && q.activations !== 'f32' && q.activations !== 'int8') throw new InputError(`weight quantization: activations must be 'f32' or 'int8', got ${String(q.activations)}`);
}

/**
 * Quantizes W (float32, [k, n], or [n, k] when `transposed`) column by column along K. Symmetric
 * 8 bits: scale = max|w| / 127, codes 128 + round(w / scale) in [1, 255]. Symmetric 4 bits (Q4_0's
 * rule): the group's value of largest magnitude m gets code 0, scale = m / -8, codes in [0, 15].
 * Asymmetric: the group's range widened to include 0 maps onto [0, 2^bits - 1]. Codes are computed
 * against the stored scale (rounded to float16 first when asked), so dequantizing reproduces them.
 * A non-finite weight is an InputError naming `what` and its position, and so is a group whose scale
 * the store cannot hold (past 65504 in float16: weights beyond about 8.3e6 at 8 bits).
 */
export function quantizeMatrix(w: ArrayLike<number>, k: number, n: number, transposed: boolean, q: WeightQuantization, what = 'weight'): QuantizedMatrix {
  checkQuantization(q);
  const group = groupSize(q, k);
  const groups = Math.ceil(k / group);
  const per = codesPerWord(q.bits);
  const words = Math.ceil(k / per);
  const top = 2 ** q.bits - 1;
  const middle = 2 ** (q.bits - 1);
  const codes = new Int32Array(n * words);
  const scales = new Float32Array(n * groups);
  const zeroPoints = q.zeroPoints ? new Float32Array(n * groups) : undefined;
  // element (kk, col) at base + kk * step: a column's K values, contiguous when transposed
  const step = transposed ? 1 : n;
  const stored = (x: number) => Math.fround(q.scales === 'f16' ? roundToHalf(x) : x);
  for (let col = 0; col < n; col++) {
    const base = transposed ? col * k : col;
    for (let g = 0; g < groups; g++) {
      const k0 = g * group;
      const k1 = Math.min(k, k0 + group);
      let min = 0;
      let max = 0;
      let extreme = 0;
      for (let kk = k0, at = base + k0 * step; kk < k1; kk++, at += step) {
        const x = w[at]!;
        if (x < min) min = x;
        else if (x > max) max = x;
        else if (!(x === x && x - x === 0)) throw new InputError(`${what}: cannot quantize the non-finite value ${x} at [${transposed ? `${col}, ${kk}` : `${kk}, ${col}`}]`);
        if (Math.abs(x) > Math.abs(extreme)) extreme = x;
      }
      if (!Number.isFinite(min) || !Number.isFinite(max)) {
        const bad = Number.isFinite(min) ? max : min;
        for (let kk = k0; kk < k1; kk++) if (w[base + kk * step] === bad) throw new InputError(`${what}: cannot quantize the non-finite value ${bad} at [${transposed ? `${col}, ${kk}` : `${kk}, ${col}`}]`);
      }
      let scale: number;
      let zero: number;
      if (zeroPoints) {
        scale = stored((max - min) / top);
        zero = scale === 0 ? 0 : Math.min(top, Math.max(0, Math.round(-min / scale)));
        zeroPoints[col * groups + g] = zero;
      } else {
        scale = stored(q.bits === 8 ? Math.abs(extreme) / 127 : extreme / -8);
        zero = middle;
      }
      // a scale past what the store holds (float16's 65504) is Infinity, and Infinity * 0 makes the whole group NaN
      if (!Number.isFinite(scale)) throw new InputError(`${what}: output column ${col}, K ${k0} to ${k1 - 1} (largest magnitude ${Math.max(max, -min)}) needs a scale beyond what ${q.scales} scales hold`);
      scales[col * groups + g] = scale;
      // codes packed as they come: word and bit position advance together
      let word = col * words + Math.floor(k0 / per);
      let slot = k0 % per;
      for (let kk = k0, at = base + k0 * step; kk < k1; kk++, at += step) {
        let code = zero;
        if (scale !== 0) {
          code = Math.round(w[at]! / scale) + zero;
          if (code < 0) code = 0;
          else if (code > top) code = top;
        }
        codes[word] = codes[word]! | (code << (slot * q.bits));
        if (++slot === per) {
          slot = 0;
          word++;
        }
      }
    }
  }
  return { bits: q.bits, group, k, n, codes, scales, ...(zeroPoints ? { zeroPoints } : {}) };
}

/** Code k of column `col` (no range checks: callers validated the words). */
export function codeAt(codes: ArrayLike<number>, bits: 8 | 4, words: number, col: number, kk: number): number {
  const per = codesPerWord(bits);
  return (codes[col * words + Math.floor(kk / per)]! >> ((kk % per) * bits)) & (2 ** bits - 1);
}

/**
 * The float values a quantized matrix stands for, [k, n] (or [n, k] with `transposed`), into
 * float64: the reference every backend's quantized product is checked against.
 */
export function dequantizeMatrix(m: QuantizedMatrix, transposed = false): Float64Array {
  const out = new Float64Array(m.k * m.n);
  dequantizeInto(m, transposed, out);
  return out;
}

/** dequantizeMatrix into `out` (k * n values; float32 or float64), the one loop the interpreter and the cpu share. */
export function dequantizeInto(m: Pick<QuantizedMatrix, 'bits' | 'group' | 'k' | 'n' | 'codes' | 'scales' | 'zeroPoints'>, transposed: boolean, out: { [i: number]: number }): void {
  const { bits, group, k, n } = m;
  const words = Math.ceil(k / codesPerWord(bits));
  const groups = Math.ceil(k / group);
  for (let col = 0; col < n; col++) {
    for (let kk = 0; kk < k; kk++) {
      const g = col * groups + Math.floor(kk / group);
      const zero = m.zeroPoints ? m.zeroPoints[g]! : 2 ** (bits - 1);
      out[transposed ? col * k + kk : kk * n + col] = m.scales[g]! * (codeAt(m.codes, bits, words, col, kk) - zero);
    }
  }
}
