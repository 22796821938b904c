import { z } from 'zod';
import { defineOp, typeRule } from '../../op-def.ts';

/** Token embedding: table[ids] * scale (the paper scales by sqrt(d_model); GPT-2 does not). */
export const embed = defineOp({
  name: 'embed',
  category: 'composite',
  summary: 'embedding lookup with an optional scale',
  attrs: z.object({ scale: z.number().default(1) }).strict(),
  inputs: ['ids', 'table'],
  minInputs: 2,
  infer([ids, table]) {
    typeRule(ids!.dtype === 'i32', `ids must be i32, got ${ids!.dtype}`);
    typeRule(table!.dtype === 'f32' && table!.shape.length === 2, 'table must be f32 [vocab, d]');
    return { dtype: 'f32', shape: [...ids!.shape, table!.shape[1]!] };
  },
  decompose(b, [ids, table], a) {
    const rows = b.add('gather', [table!, ids!]);
    return a.scale === 1 ? rows : b.add('mul', [rows, b.constant(a.scale)]);
  },
});
