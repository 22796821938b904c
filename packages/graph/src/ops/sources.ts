import { z } from 'zod';
import { InputError } from '../errors.ts';
import { allocStorage, sizeOf } from '../ndarray.ts';
import { defineOp, typeRule } from '../op-def.ts';
import { dimSchema, dtypeSchema, shapeSchema, staticShapeSchema, valueSchema } from './schemas.ts';

/** Graph inputs and weights: their values come from outside the graph at run time. */
const namedValueAttrs = z.object({ name: z.string().min(1), dtype: dtypeSchema, shape: shapeSchema }).strict();

export const input = defineOp({
  name: 'input',
  category: 'source',
  summary: 'a named graph input; symbolic dimensions are bound from the value given at run time',
  attrs: namedValueAttrs,
  inputs: [],
  minInputs: 0,
  infer: (_, a) => ({ dtype: a.dtype, shape: a.shape }),
});

export const param = defineOp({
  name: 'param',
  category: 'source',
  summary: 'a named weight tensor',
  attrs: namedValueAttrs,
  inputs: [],
  minInputs: 0,
  infer: (_, a) => ({ dtype: a.dtype, shape: a.shape }),
});

export const constant = defineOp({
  name: 'constant',
  category: 'source',
  summary: 'a constant tensor: one value (filled) or one value per element',
  attrs: z
    .object({
      dtype: dtypeSchema.default('f32'),
      shape: staticShapeSchema.default([]),
      values: z.array(valueSchema).min(1),
    })
    .strict(),
  inputs: [],
  minInputs: 0,
  infer(_, a) {
    const size = sizeOf(a.shape);
    typeRule(a.values.length === 1 || a.values.length === size, `${a.values.length} values for shape [${a.shape.join(', ')}] (needs 1 or ${size})`);
    typeRule(a.dtype === 'f32' || a.values.every(Number.isInteger), 'an i32 constant needs integer values');
    return { dtype: a.dtype, shape: a.shape };
  },
  evaluate(_, a, ctx) {
    const out = allocStorage(a.dtype, sizeOf(ctx.outShape), ctx.precision);
    if (a.values.length === 1) out.fill(a.values[0]!);
    else out.set(a.values);
    return { dtype: a.dtype, shape: ctx.outShape, data: out };
  },
});

export const range = defineOp({
  name: 'range',
  category: 'source',
  summary: 'start, start + step, ... (size values); size may be symbolic',
  attrs: z
    .object({ size: dimSchema, start: z.number().default(0), step: z.number().default(1), dtype: dtypeSchema.default('i32') })
    .strict(),
  inputs: [],
  minInputs: 0,
  infer(_, a) {
    typeRule(a.dtype === 'f32' || (Number.isInteger(a.start) && Number.isInteger(a.step)), 'an i32 range needs integer start and step');
    return { dtype: a.dtype, shape: [a.size] };
  },
  evaluate(_, a, ctx) {
    const n = ctx.outShape[0]!;
    if (n > 1 << 28) throw new InputError(`range: size ${n} is too large`);
    const out = allocStorage(a.dtype, n, ctx.precision);
    for (let i = 0; i < n; i++) out[i] = a.start + i * a.step;
    return { dtype: a.dtype, shape: ctx.outShape, data: out };
  },
});
