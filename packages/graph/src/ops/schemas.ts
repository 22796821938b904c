import { z } from 'zod';
import { DTYPES } from '../dtype.ts';
import { isValidDim } from '../shape.ts';

/** Attribute pieces shared by several ops' schemas. */
export const dtypeSchema = z.enum(DTYPES);
export const dimSchema = z.union([
  z.number().int().nonnegative(),
  z.string().refine(isValidDim, { message: "a dimension is an integer or symbols joined by '*'" }),
]);
export const staticShapeSchema = z.array(z.number().int().nonnegative());
export const shapeSchema = z.array(dimSchema);
export const axisSchema = z.number().int();
/** Any JS number, NaN and +-Infinity included (z.number() rejects them): constant values, e.g. -Infinity. */
export const valueSchema = z.custom<number>((v) => typeof v === 'number', { message: 'expected a number' });
