import { z } from 'zod';
import { defineOp, typeRule } from '../../op-def.ts';
import { broadcastShapes, shapeEquals } from '../../shape.ts';
import { matmul } from '../matmul.ts';
import { emitExpr, exprDType, exprSchema, type Expr } from './expr.ts';

/**
 * A matmul whose epilogue (bias, activation, residual add, ...) runs on the result before it is
 * stored. In the epilogue, `{ in: 0 }` is the product and `{ in: k }` is extra input k (broadcast).
 */
export const fusedMatmul = defineOp({
  name: 'fused_matmul',
  category: 'fused',
  summary: 'matmul with a fused elementwise epilogue',
  attrs: z.object({ transposeB: z.boolean().default(false), epilogue: exprSchema }).strict(),
  inputs: ['a', 'b', 'extra0'],
  minInputs: 2,
  variadic: true,
  infer([a, b, ...extras], attrs) {
    const product = matmul.infer([a!, b!], { transposeB: attrs.transposeB });
    for (const e of extras) {
      const joined = broadcastShapes(product.shape, e.shape);
      typeRule(joined && shapeEquals(joined, product.shape), 'epilogue inputs must broadcast to the product');
    }
    const dtype = exprDType(attrs.epilogue, [product.dtype, ...extras.map((e) => e.dtype)]);
    typeRule(dtype === 'f32', 'the epilogue must produce f32');
    return product;
  },
  decompose(b, [x, w, ...extras], attrs) {
    const product = b.add('matmul', [x!, w!], { transposeB: attrs.transposeB });
    return emitExpr(b, attrs.epilogue as Expr, [product, ...extras]);
  },
});
