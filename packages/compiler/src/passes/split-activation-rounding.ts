import { pat } from '../rewrite/pattern.ts';
import { rule } from '../rewrite/rewrite-graph.ts';
import { rewritePass } from './pass.ts';

/**
 * quantized_matmul with int8 activations -> quantize_activations, then a quantized_matmul of float
 * activations: the GPU backends' form (their shaders multiply floats, and a kernel that rounds its
 * own input rows would need each group's maximum before its first product). The same function: the
 * product of the rounded floats is the integers' product scaled. The cpu keeps the one op and
 * multiplies the integers.
 */
const splitRounding = rule('split-activation-rounding', pat.op('quantized_matmul'), (_, ctx) => {
  const node = ctx.node(ctx.root);
  if (node.attrs['activations'] !== 'int8') return undefined;
  const rounded = ctx.add('quantize_activations', [node.inputs[0]!], { group: node.attrs['group'] });
  return ctx.add('quantized_matmul', [rounded, ...node.inputs.slice(1)], { ...node.attrs, activations: 'f32' });
});

export const splitActivationRoundingRules = [splitRounding];

export const splitActivationRounding = rewritePass('split-activation-rounding', 'int8-activation products as a rounding and a float product (GPU backends)', splitActivationRoundingRules);
