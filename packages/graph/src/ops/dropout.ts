import { z } from 'zod';
import { allocStorage } from '../ndarray.ts';
import { defineOp, typeRule } from '../op-def.ts';
import { dropoutKeeps } from './dropout-hash.ts';

/**
 * Inverted dropout: each element kept with probability 1 - p and scaled by 1 / (1 - p), or zeroed.
 *   x f32[...], seed i32[] or i32[1] -> f32[...]
 * Which elements are kept is a hash of (seed, stream, flat index) (dropout-hash.ts): no state, the
 * same mask on every backend, and the same mask again for the gradient (dropout of the cotangent
 * with the same seed and stream). Give each dropout of a model its own stream.
 */
export const dropout = defineOp({
  name: 'dropout',
  category: 'primitive',
  summary: 'zero each element with probability p (a seeded counter-based hash), scale the others by 1/(1-p)',
  attrs: z.object({ p: z.number().min(0).lt(1), stream: z.number().int().min(0).max(2 ** 24 - 1).default(0) }).strict(),
  inputs: ['x', 'seed'],
  minInputs: 2,
  infer([x, seed]) {
    typeRule(x!.dtype === 'f32', `x must be f32, got ${x!.dtype}`);
    typeRule(seed!.dtype === 'i32' && (seed!.shape.length === 0 || (seed!.shape.length === 1 && seed!.shape[0] === 1)), 'seed must be an i32 scalar ([] or [1])');
    return x!;
  },
  evaluate([x, seed], a, ctx) {
    const out = allocStorage('f32', x!.data.length, ctx.precision);
    const s = seed!.data[0]!;
    const scale = 1 / (1 - a.p);
    for (let i = 0; i < out.length; i++) if (dropoutKeeps(s, a.stream, i, a.p)) out[i] = x!.data[i]! * scale;
    return { dtype: 'f32', shape: ctx.outShape, data: out };
  },
});
