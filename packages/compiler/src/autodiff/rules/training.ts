import type { NodeRef } from '@loom/graph';
import { scalar } from '../emit.ts';
import type { VjpTable } from '../vjp.ts';

/**
 * The ops training adds: scatter_add (gather's gradient) passes each update the cotangent of the
 * row it went into; softmax cross-entropy's gradient is softmax(x) minus the (smoothed) one-hot
 * target, per position, zero where the label is ignored; dropout's is dropout of the cotangent with
 * the same seed and stream (the same mask, the same scale).
 */
export const TRAINING_RULES: VjpTable = {
  scatter_add: ({ b, inputs, cotangent }) => [undefined, b.add('gather', [cotangent, inputs[0]!])],
  softmax_cross_entropy: ({ b, inputs, cotangent, attrs }) => {
    const [logits, labels] = inputs as [NodeRef, NodeRef];
    const shape = b.typeOf(logits).shape;
    const v = shape[shape.length - 1] as number;
    const column = (x: NodeRef) => b.add('reshape', [x], { shape: [...b.typeOf(x).shape, 1] });
    const classes = b.add('range', [], { size: v, start: 0, step: 1, dtype: 'i32' });
    const oneHot = b.add('cast', [b.add('equal', [classes, column(labels)])], { dtype: 'f32' });
    const s = attrs.labelSmoothing;
    const target = s === 0 ? oneHot : b.add('add', [b.add('mul', [oneHot, scalar(b, 1 - s)]), scalar(b, s / v)]);
    let g = column(cotangent);
    if (attrs.ignoreIndex !== null) g = b.add('where', [column(b.add('not_equal', [labels, b.constant(attrs.ignoreIndex, [], 'i32')])), g, scalar(b, 0)]);
    return [b.add('mul', [b.add('sub', [b.add('softmax', [logits], { axis: -1 }), target]), g]), undefined];
  },
  dropout: ({ b, inputs, cotangent, attrs }) => [b.add('dropout', [cotangent, inputs[1]!], { p: attrs.p, stream: attrs.stream }), undefined],
};
