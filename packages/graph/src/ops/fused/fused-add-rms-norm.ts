import { z } from 'zod';
import { defineOp, typeRule } from '../../op-def.ts';
import { shapeEquals } from '../../shape.ts';
import { rmsNorm } from '../rms-norm.ts';

/** rms_norm(x + residual) in one pass over each row: the residual add and RMSNorm as one kernel. */
export const fusedAddRmsNorm = defineOp({
  name: 'fused_add_rms_norm',
  category: 'fused',
  summary: 'residual add and RMSNorm in one kernel',
  attrs: z.object({ eps: z.number().positive().default(1e-6), weightOffset: z.number().default(0) }).strict(),
  inputs: ['x', 'residual', 'weight'],
  minInputs: 3,
  infer([x, residual, weight], a) {
    typeRule(residual!.dtype === x!.dtype && shapeEquals(residual!.shape, x!.shape), 'x and residual must have one type');
    return rmsNorm.infer([x!, weight!], a);
  },
  decompose(b, [x, residual, weight], a) {
    return b.add('rms_norm', [b.add('add', [x!, residual!]), weight!], { eps: a.eps, weightOffset: a.weightOffset });
  },
});
