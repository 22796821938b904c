import { z } from 'zod';
import { defineOp, typeRule } from '../../op-def.ts';
import { shapeEquals } from '../../shape.ts';
import { layerNorm } from '../layer-norm.ts';

/** The paper's "Add & Norm": LayerNorm(x + sublayer(x)), given x and the sublayer's output. */
export const addNorm = defineOp({
  name: 'add_norm',
  category: 'composite',
  summary: 'layer_norm(x + residual)',
  attrs: z.object({ eps: z.number().positive().default(1e-5) }).strict(),
  inputs: ['x', 'residual', 'gamma', 'beta'],
  minInputs: 4,
  infer([x, residual, gamma, beta], a) {
    typeRule(x!.dtype === 'f32' && residual!.dtype === 'f32', 'needs f32 inputs');
    typeRule(shapeEquals(x!.shape, residual!.shape), 'x and residual must have the same shape');
    // gamma and beta as layer_norm wants them, so a mistake shows here and not after expansion
    return layerNorm.infer([x!, gamma!, beta!], a);
  },
  decompose(b, [x, residual, gamma, beta], a) {
    return b.add('layer_norm', [b.add('add', [x!, residual!]), gamma!, beta!], { eps: a.eps });
  },
});
