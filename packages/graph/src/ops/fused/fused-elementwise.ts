import { z } from 'zod';
import { defineOp, typeRule } from '../../op-def.ts';
import { broadcastShapes, type Dim } from '../../shape.ts';
import { emitExpr, exprDType, exprInputs, exprSchema } from './expr.ts';

/** A chain of elementwise ops fused into one kernel: out[i] = expr(inputs broadcast to out). */
export const fusedElementwise = defineOp({
  name: 'fused_elementwise',
  category: 'fused',
  summary: 'one kernel computing an elementwise expression over broadcast inputs',
  attrs: z.object({ expr: exprSchema }).strict(),
  inputs: ['x0', 'x1'],
  minInputs: 1,
  variadic: true,
  infer(inputs, a) {
    const dtype = exprDType(a.expr, inputs.map((t) => t.dtype));
    const used = exprInputs(a.expr);
    typeRule(used.size === inputs.length, `the expression must read every input (reads ${used.size} of ${inputs.length})`);
    let shape: Dim[] | undefined = [];
    for (const t of inputs) shape = shape && broadcastShapes(shape, t.shape);
    typeRule(shape, 'inputs do not broadcast together');
    return { dtype, shape };
  },
  decompose: (b, inputs, a) => emitExpr(b, a.expr, inputs),
});
