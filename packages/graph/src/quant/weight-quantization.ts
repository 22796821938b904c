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
  const words = Math.ceil(k / codesPerWord(q.bits));
  const out = { bits: q.bits, group, k, n, codes: new Int32Array(n * words), scales: new Float32Array(n * groups), ...(q.zeroPoints ? { zeroPoints: new Float32Array(n * groups) } : {}) };
  // a block of columns copied out contiguous along K (as float64: the values exactly), so that each
  // column is read in order (not one row apart) and the loops below see one kind of array
  const columns = Math.min(n, COLUMN_BLOCK);
  const block = new Float64Array(columns * k);
  for (let col0 = 0; col0 < n; col0 += columns) {
    const width = Math.min(columns, n - col0);
    if (transposed) for (let i = 0, from = col0 * k; i < width * k; i++) block[i] = w[from + i]!;
    else {
      for (let kk = 0; kk < k; kk++) {
        const row = kk * n + col0;
        for (let j = 0; j < width; j++) block[j * k + kk] = w[row + j]!;
      }
    }
    for (let j = 0; j < width; j++) quantizeColumn(block, j * k, col0 + j, out, q, what, transposed);
  }
  return out;
}

/** Columns quantized together (a block of 64 x 3072 float64 is 1.5 MB). */
const COLUMN_BLOCK = 64;

/** Column `col`'s K values (at `values[base + kk]`) into `out`'s codes, scales and zero points. */
function quantizeColumn(values: Float64Array, base: number, col: number, out: QuantizedMatrix, q: WeightQuantization, what: string, transposed: boolean): void {
  const { k, group, codes, scales, zeroPoints } = out;
  const bits = q.bits;
  const groups = Math.ceil(k / group);
  const per = codesPerWord(bits);
  const words = Math.ceil(k / per);
  const top = 2 ** bits - 1;
  const middle = 2 ** (bits - 1);
  const at = (kk: number) => (transposed ? `${col}, ${kk}` : `${kk}, ${col}`);
  for (let g = 0; g < groups; g++) {
    const k0 = g * group;
    const k1 = Math.min(k, k0 + group);
    // the range with Math.min / Math.max (no branch on the data: twice as fast on random weights);
    // a NaN or an infinity makes it non-finite
    let min = 0;
    let max = 0;
    for (let kk = k0; kk < k1; kk++) {
      const x = values[base + kk]!;
      min = Math.min(min, x);
      max = Math.max(max, x);
    }
    if (!Number.isFinite(min) || !Number.isFinite(max)) throw nonFinite(values, base, k0, k1, `${what}: cannot quantize the non-finite value`, at);
    // the value of largest magnitude: the first of +m and -m where they tie (Q4_0's scale has its sign)
    let extreme = max >= -min ? max : min; // +0 over -0 (Math.min(0, -0) is -0): the old scan's zero
    if (max === -min && max !== 0) {
      for (let kk = k0; kk < k1; kk++) {
        if (Math.abs(values[base + kk]!) === max) {
          extreme = values[base + kk]!;
          break;
        }
      }
    }
    let scale: number;
    let zero: number;
    if (zeroPoints) {
      scale = storedScale((max - min) / top, q);
      zero = scale === 0 ? 0 : Math.min(top, Math.max(0, Math.round(-min / scale)));
      zeroPoints[col * groups + g] = zero;
    } else {
      scale = storedScale(bits === 8 ? Math.abs(extreme) / 127 : extreme / -8, q);
      zero = middle;
    }
    // a scale past what the store holds (float16's 65504) is Infinity, and Infinity * 0 makes the whole group NaN
    if (!Number.isFinite(scale)) throw new InputError(`${what}: output column ${col}, K ${k0} to ${k1 - 1} (largest magnitude ${Math.max(max, -min)}) needs a scale beyond what ${q.scales} scales hold`);
    scales[col * groups + g] = scale;
    // codes packed as they come, a word at a time (a group may start inside a word the previous one
    // began; the words after it are still zero)
    let word = col * words + Math.floor(k0 / per);
    let slot = k0 % per;
    let packed = codes[word]!;
    for (let kk = k0; kk < k1; kk++) {
      let code = zero;
      if (scale !== 0) {
        // Math.round(x) (half up) as floor(x + 0.5), corrected where x + 0.5 rounded up to the next
        // integer (x just below a half): the same integers without Math.round's branch on the data
        const x = values[base + kk]! / scale;
        let rounded = Math.floor(x + 0.5);
        if (rounded - 0.5 > x) rounded -= 1;
        code = rounded + zero;
        code = code < 0 ? 0 : code > top ? top : code;
      }
      packed |= code << (slot * bits);
      if (++slot === per) {
        codes[word++] = packed;
        packed = 0;
        slot = 0;
      }
    }
    if (slot !== 0) codes[word] = packed;
  }
}

/**
 * The error for a group with a non-finite value, naming the one the scan in order names: the first
 * NaN or repeated infinity (neither below the range's minimum nor above its maximum so far), else the
 * first infinity of the sign that left the range non-finite.
 */
function nonFinite(values: Float64Array, base: number, k0: number, k1: number, message: string, at: (kk: number) => string): InputError {
  const named = (kk: number) => new InputError(`${message} ${values[base + kk]!} at [${at(kk)}]`);
  let min = 0;
  let max = 0;
  for (let kk = k0; kk < k1; kk++) {
    const x = values[base + kk]!;
    if (x < min) min = x;
    else if (x > max) max = x;
    else if (!(x === x && x - x === 0)) return named(kk);
  }
  const bad = Number.isFinite(min) ? max : min;
  let kk = k0;
  while (kk < k1 - 1 && values[base + kk] !== bad) kk++;
  return named(kk);
}

const storedScale = (x: number, q: WeightQuantization): number => Math.fround(q.scales === 'f16' ? roundToHalf(x) : x);

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
