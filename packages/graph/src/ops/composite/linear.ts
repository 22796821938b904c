import { z } from 'zod';
import { defineOp, typeRule } from '../../op-def.ts';
import { dimEquals } from '../../shape.ts';

/** x[..., in] @ weight[in, out] + bias[out]. Weights are stored [in, out] (PyTorch's Linear is transposed on load). */
export const linear = defineOp({
  name: 'linear',
  category: 'composite',
  summary: 'affine map x @ W + b',
  attrs: z.object({}).strict(),
  inputs: ['x', 'weight', 'bias'],
  minInputs: 2,
  infer([x, w, b]) {
    typeRule([x, w, b].every((t) => t === undefined || t.dtype === 'f32'), 'needs f32 inputs');
    typeRule(w!.shape.length === 2, `weight must be [in, out], got rank ${w!.shape.length}`);
    const d = x!.shape[x!.shape.length - 1];
    typeRule(d !== undefined && dimEquals(d, w!.shape[0]!), `x's last axis (${d}) must equal the weight's in (${w!.shape[0]})`);
    if (b) typeRule(b.shape.length === 1 && dimEquals(b.shape[0]!, w!.shape[1]!), `bias must have shape [${w!.shape[1]}]`);
    return { dtype: 'f32', shape: [...x!.shape.slice(0, -1), w!.shape[1]!] };
  },
  decompose(b, [x, w, bias]) {
    // matmul needs rank >= 2; a rank-1 x is lifted to one row and dropped back
    const xType = b.typeOf(x!);
    const lifted = xType.shape.length === 1 ? b.add('reshape', [x!], { shape: [1, xType.shape[0]!] }) : x!;
    let y = b.add('matmul', [lifted, w!]);
    if (bias !== undefined) y = b.add('add', [y, bias]);
    return xType.shape.length === 1 ? b.add('reshape', [y], { shape: [b.typeOf(w!).shape[1]!] }) : y;
  },
});
