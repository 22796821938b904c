import { normalizeAxis, type NodeRef } from '@loom/graph';
import { broadcastTo, inversePerm, reshapeTo, scalar, type GradEmitter } from '../emit.ts';
import type { VjpTable } from '../vjp.ts';

/**
 * Ops that move elements: the cotangent moves back. reshape and transpose invert; concat slices
 * its cotangent apart; slice puts its cotangent back among zeros; gather adds each row's cotangent
 * into the table row it came from (scatter_add); top_k's values put their cotangent back where they
 * were picked (a one-hot over the last axis, summed over the k picks: each index is picked once).
 */

/** Zeros of `like`'s type along `axis`, with `size` there (the other axes as like's). */
function zerosAlong(b: GradEmitter, like: NodeRef, axis: number, start: number, size: number): NodeRef {
  const rank = b.typeOf(like).shape.length;
  const part = b.add('slice', [like], { axis, start, end: start + size });
  return broadcastTo(b, b.constant(0, new Array<number>(rank).fill(1)), part);
}

/**
 * The cotangent of x for y = x[start:end:step] along `axis`: g where the slice took elements, 0
 * elsewhere. A static axis with step 1 is g between zeros (concat); otherwise each position of the
 * axis gathers its row of g, and positions the slice skipped are zeroed.
 */
function unslice(b: GradEmitter, x: NodeRef, g: NodeRef, attrs: { axis: number; start: number; end: number | null; step: number }): NodeRef {
  const shape = b.typeOf(x).shape;
  const rank = shape.length;
  const axis = normalizeAxis(attrs.axis, rank)!;
  const n = shape[axis]!;
  const kept = b.typeOf(g).shape[axis]!;
  // the whole axis (the only slice of a symbolic axis whose extent stays symbolic)
  if (String(kept) === String(n)) return g;
  const m = kept as number;
  if (typeof n === 'number') {
    const start = Math.min(Math.max(attrs.start < 0 ? attrs.start + n : attrs.start, 0), n);
    if (attrs.step === 1) {
      const pieces = [...(start > 0 ? [zerosAlong(b, x, axis, 0, start)] : []), g, ...(start + m < n ? [zerosAlong(b, x, axis, start + m, n - start - m)] : [])];
      return pieces.length === 1 ? g : b.add('concat', pieces, { axis });
    }
  }
  // positions i of the axis: the slice took row k = (i - start) / step when i - start is a multiple of step within its m rows
  const positions = b.add('range', [], { size: n, start: 0, step: 1, dtype: 'i32' });
  let start: NodeRef;
  if (attrs.start >= 0) start = b.constant(attrs.start, [], 'i32');
  else {
    // counted from the back: n + start, with n read off the range (its last value + 1)
    const count = b.add('add', [b.add('reduce_max', [positions], { axes: [0] }), b.constant(1, [], 'i32')]);
    start = b.add('add', [count, b.constant(attrs.start, [], 'i32')]);
  }
  const offset = b.add('sub', [positions, start]);
  const step = b.constant(attrs.step, [], 'i32');
  const row = b.add('div', [offset, step]);
  const taken = b.add('mul', [
    b.add('mul', [b.add('greater_equal', [offset, b.constant(0, [], 'i32')]), b.add('less', [row, b.constant(m, [], 'i32')])]),
    b.add('equal', [b.add('mul', [row, step]), offset]),
  ]);
  const safeRow = b.add('where', [taken, row, b.constant(0, [], 'i32')]);
  // the axis first, so that gather picks whole rows
  const toFront = [axis, ...Array.from({ length: rank }, (_, i) => i).filter((i) => i !== axis)];
  const rows = b.add('gather', [b.add('transpose', [g], { perm: toFront }), safeRow]);
  const mask = reshapeTo(b, taken, [n, ...new Array<number>(rank - 1).fill(1)]);
  const placed = b.add('where', [mask, rows, scalar(b, 0)]);
  return b.add('transpose', [placed], { perm: inversePerm(toFront) });
}

export const MOVEMENT_RULES: VjpTable = {
  reshape: ({ b, inputs, cotangent }) => [reshapeTo(b, cotangent, b.typeOf(inputs[0]!).shape)],
  transpose: ({ b, cotangent, attrs }) => [b.add('transpose', [cotangent], { perm: inversePerm(attrs.perm) })],
  slice: ({ b, inputs, cotangent, attrs }) => [unslice(b, inputs[0]!, cotangent, attrs)],
  concat: ({ b, inputs, cotangent, attrs, needs }) => {
    const axis = normalizeAxis(attrs.axis, b.typeOf(cotangent).shape.length)!;
    let offset = 0;
    return inputs.map((x, i) => {
      const size = b.typeOf(x).shape[axis] as number;
      const part = needs(i) ? b.add('slice', [cotangent], { axis, start: offset, end: offset + size }) : undefined;
      offset += size;
      return part;
    });
  },
  top_k: ({ b, inputs, cotangent, attrs }) => {
    if (attrs.output === 'indices') return [undefined];
    const x = inputs[0]!;
    const shape = b.typeOf(x).shape;
    const n = shape[shape.length - 1]!;
    const lead = shape.slice(0, -1);
    const picked = reshapeTo(b, b.add('top_k', [x], { k: attrs.k, output: 'indices' }), [...lead, attrs.k, 1]); // (..., k, 1)
    const onehot = b.add('cast', [b.add('equal', [picked, b.add('range', [], { size: n, start: 0, step: 1, dtype: 'i32' })])], { dtype: 'f32' }); // (..., k, n)
    const spread = b.add('mul', [onehot, reshapeTo(b, cotangent, [...lead, attrs.k, 1])]);
    return [b.add('reduce_sum', [spread], { axes: [shape.length - 1], keepDims: false })]; // over k: (..., n)
  },
  gather: ({ b, inputs, cotangent }) => {
    const [table, indices] = inputs as [NodeRef, NodeRef];
    return [b.add('scatter_add', [indices, cotangent], { rows: b.typeOf(table).shape[0]! }), undefined];
  },
};
