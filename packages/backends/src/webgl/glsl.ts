import { broadcastStrides, type DType } from '@loom/graph';
import { f32Digits, withPoint } from '../expr/float-literal.ts';
import { WebGlUnsupportedOpError } from './errors.ts';
import { sizeOfShape } from './kernel.ts';

/**
 * Small pieces every GLSL renderer uses: literals and integer index arithmetic. Shapes are baked into
 * the source (a kernel is compiled per shape signature), so every size below is a literal and loops
 * have the constant bounds GLSL ES 1.00 demands. Index arithmetic is int (32-bit highp), exact for
 * any tensor a texture can hold; only the values are floats.
 */

/** The largest finite float32: GLSL has no literal for infinity (as in the WGSL renderer). */
const F32_MAX = '3.4028235e38';

/** The shortest decimal that rounds to the same float32, as a GLSL float expression. */
export function f32Literal(value: number): string {
  const f = Math.fround(value);
  if (Number.isNaN(f)) throw new WebGlUnsupportedOpError('constant', 'NaN cannot be a GLSL constant');
  if (f === Infinity) return F32_MAX;
  if (f === -Infinity) return `(-${F32_MAX})`;
  if (Object.is(f, -0)) return '(-0.0)';
  const text = withPoint(f32Digits(f));
  return f < 0 ? `(-${text})` : text;
}

/** A value of either dtype as a GLSL float literal (i32 values are integers held in floats). */
export function literal(value: number, dtype: DType): string {
  return f32Literal(dtype === 'i32' ? Math.trunc(value) : value);
}

/** An int literal. */
export function int(value: number): string {
  if (!Number.isInteger(value) || Math.abs(value) >= 2 ** 31) throw new WebGlUnsupportedOpError('index', `index value ${value} does not fit a 32-bit int`);
  return value < 0 ? `(${value})` : `${value}`;
}

/** `a mod b` for non-negative ints (GLSL ES 1.00 has no integer %). */
export function imod(a: string, b: number | string): string {
  const d = typeof b === 'number' ? int(b) : b;
  return `(${a} - (${a} / ${d}) * ${d})`;
}

/**
 * Statements declaring `int <tag>c<d>` for every axis d of `shape`: the coordinates of the linear
 * index `index` (row-major). Axes of extent 1 get coordinate 0 without arithmetic.
 */
export function coordinates(index: string, shape: readonly number[], tag: string): string[] {
  const lines = [`int ${tag}rem = ${index};`];
  for (let d = shape.length - 1; d >= 0; d--) {
    const extent = shape[d]!;
    if (extent === 1) lines.push(`int ${tag}c${d} = 0;`);
    else if (d === 0) lines.push(`int ${tag}c0 = ${tag}rem;`);
    else lines.push(`int ${tag}c${d} = ${imod(`${tag}rem`, extent)};`, `${tag}rem = ${tag}rem / ${int(extent)};`);
  }
  return lines;
}

/**
 * The offset into an input of `shape` for output position `index` over `outShape`, broadcasting as
 * the reference does. Returns statements and the int expression of the offset; the common cases
 * (same shape, scalar, trailing-axes row) cost no coordinate arithmetic.
 */
export function broadcastOffset(index: string, shape: readonly number[], outShape: readonly number[], tag: string): { lines: string[]; offset: string } {
  const size = sizeOfShape(shape);
  if (size === 1) return { lines: [], offset: '0' };
  if (size === sizeOfShape(outShape)) return { lines: [], offset: index };
  // a row broadcast over leading axes (a bias): the input is the output's trailing axes
  let first = 0;
  while (first < shape.length && shape[first] === 1) first++;
  const row = shape.slice(first);
  if (row.every((d, k) => d === outShape[outShape.length - row.length + k])) return { lines: [], offset: imod(index, size) };
  const lines = coordinates(index, outShape, tag);
  const terms = strideTerms(broadcastStrides(shape, outShape), outShape, tag);
  return { lines, offset: terms.length > 0 ? terms.join(' + ') : '0' };
}

/**
 * The terms `<tag>c<d> * stride` of an offset over the coordinates `coordinates` declared for
 * `shape`, leaving out axes that add nothing (a zero stride: broadcast; an extent of 1).
 */
export function strideTerms(strides: readonly number[], shape: readonly number[], tag: string): string[] {
  return strides.map((s, d) => (s === 0 || shape[d] === 1 ? '' : s === 1 ? `${tag}c${d}` : `${tag}c${d} * ${int(s)}`)).filter((t) => t);
}
