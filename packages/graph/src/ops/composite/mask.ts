import { z } from 'zod';
import { defineOp, typeRule } from '../../op-def.ts';
import { MASKED } from './mask-value.ts';

/**
 * Additive attention masks: 0 where attending is allowed, MASKED where not. They broadcast against
 * scores [B, H, Tq, Tk].
 */

/** Look-ahead mask [T, T] for x[B, T, ...]: query i may see keys 0..i. */
export const causalMask = defineOp({
  name: 'causal_mask',
  category: 'composite',
  summary: 'look-ahead mask [T, T] from the sequence axis (1) of x',
  attrs: z.object({}).strict(),
  inputs: ['x'],
  minInputs: 1,
  infer([x]) {
    typeRule(x!.shape.length >= 2, 'x needs a batch and a sequence axis');
    const t = x!.shape[1]!;
    return { dtype: 'f32', shape: [t, t] };
  },
  decompose(b, [x]) {
    const t = b.typeOf(x!).shape[1]!;
    const rows = b.add('reshape', [b.add('range', [], { size: t })], { shape: [t, 1] });
    const cols = b.add('reshape', [b.add('range', [], { size: t })], { shape: [1, t] });
    const future = b.add('greater', [cols, rows]);
    return b.add('where', [future, b.constant(MASKED), b.constant(0)]);
  },
});

/**
 * Key padding mask [B, 1, 1, T]. With `padId`, `x` holds token ids and positions equal to padId are
 * masked; with padId null, `x` is a 1/0 keep mask (Hugging Face's attention_mask).
 */
export const paddingMask = defineOp({
  name: 'padding_mask',
  category: 'composite',
  summary: 'key padding mask [B, 1, 1, T] from ids or a keep mask',
  attrs: z.object({ padId: z.number().int().nullable().default(null) }).strict(),
  inputs: ['x'],
  minInputs: 1,
  infer([x]) {
    typeRule(x!.dtype === 'i32' && x!.shape.length === 2, `x must be i32 [B, T], got ${x!.dtype} rank ${x!.shape.length}`);
    return { dtype: 'f32', shape: [x!.shape[0]!, 1, 1, x!.shape[1]!] };
  },
  decompose(b, [x], a) {
    const [batch, t] = b.typeOf(x!).shape;
    const masked = a.padId === null ? b.add('equal', [x!, b.constant(0, [], 'i32')]) : b.add('equal', [x!, b.constant(a.padId, [], 'i32')]);
    const additive = b.add('where', [masked, b.constant(MASKED), b.constant(0)]);
    return b.add('reshape', [additive], { shape: [batch!, 1, 1, t!] });
  },
});
