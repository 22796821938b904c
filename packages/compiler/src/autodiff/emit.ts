import { dimEquals, normalizeAxis, type Dim, type DType, type NodeRef, type OpName, type TensorType } from '@loom/graph';

/**
 * What a VJP rule emits into: the gradient graph under construction. Every node a rule adds takes
 * the source line of the forward node it differentiates, so a backward kernel points at the model
 * line whose gradient it computes.
 */
export interface GradEmitter {
  add(op: OpName, inputs: readonly NodeRef[], attrs?: Record<string, unknown>): NodeRef;
  constant(value: number | readonly number[], shape?: readonly Dim[], dtype?: DType): NodeRef;
  typeOf(ref: NodeRef): TensorType;
}

/** A scalar f32 constant. */
export function scalar(b: GradEmitter, value: number): NodeRef {
  return b.constant(value);
}

/** `g` broadcast to the shape of `like` (g's shape must broadcast to it; like's values are not read). */
export function broadcastTo(b: GradEmitter, g: NodeRef, like: NodeRef): NodeRef {
  const [from, to] = [b.typeOf(g).shape, b.typeOf(like).shape];
  if (from.length === to.length && from.every((d, i) => dimEquals(d, to[i]!))) return g;
  return b.add('broadcast_like', [g, like]);
}

/**
 * The cotangent of an input that an elementwise op broadcast to the output's shape: summed over the
 * axes the input was broadcast along, then shaped as the input (numpy's rule, right-aligned).
 */
export function unbroadcast(b: GradEmitter, g: NodeRef, to: TensorType): NodeRef {
  const out = b.typeOf(g).shape;
  const shape = to.shape;
  const lead = out.length - shape.length;
  const axes: number[] = [];
  for (let i = 0; i < out.length; i++) {
    const want = i < lead ? 1 : shape[i - lead]!;
    if (i < lead || (want === 1 && out[i] !== 1)) axes.push(i);
  }
  let summed = axes.length > 0 ? b.add('reduce_sum', [g], { axes, keepDims: true }) : g;
  if (!sameShape(b.typeOf(summed).shape, shape)) summed = b.add('reshape', [summed], { shape: [...shape] });
  return summed;
}

/** `x` reshaped to `shape`, or `x` when it already has it. */
export function reshapeTo(b: GradEmitter, x: NodeRef, shape: readonly Dim[]): NodeRef {
  return sameShape(b.typeOf(x).shape, shape) ? x : b.add('reshape', [x], { shape: [...shape] });
}

/** A reduction's output with its reduced axes put back as 1 (what keepDims gives), to broadcast against the input. */
export function withKeptAxes(b: GradEmitter, g: NodeRef, input: TensorType, axes: readonly number[], keepDims: boolean): NodeRef {
  if (keepDims) return g;
  const rank = input.shape.length;
  const normalized = new Set(axes.map((a) => normalizeAxis(a, rank)!));
  return reshapeTo(b, g, input.shape.map((d, i) => (normalized.has(i) ? 1 : d)));
}

/** The element count of the given axes of `x`: a constant when they are static, else counted at run time. */
export function axisCount(b: GradEmitter, x: NodeRef, axes: readonly number[]): NodeRef {
  const shape = b.typeOf(x).shape;
  const dims = axes.map((a) => shape[normalizeAxis(a, shape.length)!]!);
  if (dims.every((d): d is number => typeof d === 'number')) return scalar(b, dims.reduce((p, d) => p * d, 1));
  // a symbolic extent: sum ones over the axes
  const ones = broadcastTo(b, b.constant(1, shape.map(() => 1)), x);
  return b.add('reduce_sum', [ones], { axes: [...axes], keepDims: true });
}

export function sameShape(a: readonly Dim[], b: readonly Dim[]): boolean {
  return a.length === b.length && a.every((d, i) => dimEquals(d, b[i]!));
}

/** The permutation that undoes `perm`. */
export function inversePerm(perm: readonly number[]): number[] {
  const inverse = new Array<number>(perm.length);
  perm.forEach((p, i) => (inverse[p] = i));
  return inverse;
}
