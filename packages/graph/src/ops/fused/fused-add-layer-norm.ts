import { z } from 'zod';
import { defineOp } from '../../op-def.ts';
import { addNorm } from '../composite/add-norm.ts';

/** layer_norm(x + residual) in one pass over each row (the post-norm "Add & Norm"). */
export const fusedAddLayerNorm = defineOp({
  name: 'fused_add_layer_norm',
  category: 'fused',
  summary: 'residual add and layer norm in one kernel',
  attrs: z.object({ eps: z.number().positive().default(1e-5) }).strict(),
  inputs: ['x', 'residual', 'gamma', 'beta'],
  minInputs: 4,
  infer: (inputs, a) => addNorm.infer(inputs, a),
  decompose(b, [x, residual, gamma, beta], a) {
    return b.add('layer_norm', [b.add('add', [x!, residual!]), gamma!, beta!], { eps: a.eps });
  },
});
