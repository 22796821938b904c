import type { NodeRef } from '@loom/graph';
import { axisCount, broadcastTo, scalar, withKeptAxes } from '../emit.ts';
import type { VjpTable } from '../vjp.ts';

/**
 * Reductions: each input element gets the cotangent of the output element it went into (sum), that
 * divided by the count (mean), or, for max, only the elements equal to the maximum, split evenly
 * between ties (as PyTorch's amax).
 */
export const REDUCE_RULES: VjpTable = {
  reduce_sum: ({ b, inputs, cotangent, attrs }) => {
    const x = inputs[0]!;
    return [broadcastTo(b, withKeptAxes(b, cotangent, b.typeOf(x), attrs.axes, attrs.keepDims), x)];
  },
  reduce_mean: ({ b, inputs, cotangent, attrs }) => {
    const x = inputs[0]!;
    const kept = withKeptAxes(b, cotangent, b.typeOf(x), attrs.axes, attrs.keepDims);
    return [broadcastTo(b, b.add('div', [kept, axisCount(b, x, attrs.axes)]), x)];
  },
  reduce_max: ({ b, inputs, output, cotangent, attrs }) => {
    const x = inputs[0]!;
    const type = b.typeOf(x);
    const winner = b.add('equal', [x, withKeptAxes(b, output, type, attrs.axes, attrs.keepDims)]);
    const ties = b.add('reduce_sum', [b.add('cast', [winner], { dtype: 'f32' })], { axes: [...attrs.axes], keepDims: true });
    const share: NodeRef = b.add('div', [withKeptAxes(b, cotangent, type, attrs.axes, attrs.keepDims), ties]);
    return [b.add('where', [winner, share, scalar(b, 0)])];
  },
};
