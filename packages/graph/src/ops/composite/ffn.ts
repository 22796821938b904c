import { z } from 'zod';
import { defineOp, typeRule, type NodeRef, type OpEmitter } from '../../op-def.ts';
import { dimEquals } from '../../shape.ts';

/** silu(x) = x * sigmoid(x) (swish: Marian, the SwiGLU gate). */
export const ACTIVATIONS = ['relu', 'gelu', 'gelu_tanh', 'silu'] as const;
export type Activation = (typeof ACTIVATIONS)[number];

/** act(x) in primitives: silu as x * sigmoid(x), the others are primitives themselves. */
export function activate(b: OpEmitter, activation: Activation, x: NodeRef): NodeRef {
  return activation === 'silu' ? b.add('mul', [x, b.add('sigmoid', [x])]) : b.add(activation, [x]);
}

/** Position-wise feed-forward network: act(x @ W1 + b1) @ W2 + b2. */
export const ffn = defineOp({
  name: 'ffn',
  category: 'composite',
  summary: 'two linear layers with an activation between',
  attrs: z.object({ activation: z.enum(ACTIVATIONS).default('relu') }).strict(),
  inputs: ['x', 'w1', 'b1', 'w2', 'b2'],
  minInputs: 5,
  infer([x, w1, b1, w2, b2]) {
    typeRule([x, w1, b1, w2, b2].every((t) => t!.dtype === 'f32'), 'needs f32 inputs');
    typeRule(w1!.shape.length === 2 && w2!.shape.length === 2, 'w1 and w2 must be [in, out]');
    const d = x!.shape[x!.shape.length - 1]!;
    typeRule(dimEquals(w1!.shape[0]!, d), `w1 must be [${d}, d_ff]`);
    typeRule(dimEquals(w2!.shape[0]!, w1!.shape[1]!) && dimEquals(w2!.shape[1]!, d), `w2 must be [${w1!.shape[1]}, ${d}]`);
    typeRule(dimEquals(b1!.shape[0]!, w1!.shape[1]!) && dimEquals(b2!.shape[0]!, d), 'biases must match the layer widths');
    return x!;
  },
  decompose(b, [x, w1, b1, w2, b2], a) {
    const hidden = activate(b, a.activation, b.add('linear', [x!, w1!, b1!]));
    return b.add('linear', [hidden, w2!, b2!]);
  },
});
