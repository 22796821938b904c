import { z } from 'zod';
import { InputError } from '../errors.ts';
import { allocStorage } from '../ndarray.ts';
import { defineOp, typeRule } from '../op-def.ts';
import { dimEquals } from '../shape.ts';

/**
 * Per-position cross-entropy of softmax(logits) against integer labels, as PyTorch's
 * cross_entropy(reduction='none'):
 *   logits f32[..., V], labels i32[...] -> f32[...]
 *   loss = logsumexp(x) - ((1 - s) x[label] + s/V sum(x)), with label smoothing s;
 *   0 where the label is ignoreIndex (PyTorch's -100 by default; null: none is ignored).
 * A label outside 0..V-1 that is not ignored is an InputError naming it.
 */
export const softmaxCrossEntropy = defineOp({
  name: 'softmax_cross_entropy',
  category: 'primitive',
  summary: 'cross-entropy of softmax(logits) against i32 labels per position, with an ignore index and label smoothing',
  attrs: z.object({ ignoreIndex: z.number().int().nullable().default(-100), labelSmoothing: z.number().min(0).max(1).default(0) }).strict(),
  inputs: ['logits', 'labels'],
  minInputs: 2,
  infer([logits, labels]) {
    typeRule(logits!.dtype === 'f32', `logits must be f32, got ${logits!.dtype}`);
    typeRule(labels!.dtype === 'i32', `labels must be i32, got ${labels!.dtype}`);
    const lead = logits!.shape.slice(0, -1);
    typeRule(logits!.shape.length >= 1 && labels!.shape.length === lead.length && lead.every((d, i) => dimEquals(d, labels!.shape[i]!)), `labels must have the shape of logits without its last axis [${lead.join(', ')}]`);
    return { dtype: 'f32', shape: lead };
  },
  evaluate([logits, labels], a, ctx) {
    const v = logits!.shape[logits!.shape.length - 1]!;
    const rows = labels!.data.length;
    const out = allocStorage('f32', rows, ctx.precision);
    const x = logits!.data;
    for (let r = 0; r < rows; r++) {
      const label = labels!.data[r]!;
      if (a.ignoreIndex !== null && label === a.ignoreIndex) continue;
      if (!(label >= 0 && label < v)) throw new InputError(`softmax_cross_entropy: label ${label} at position ${r} is outside the ${v} classes (and not the ignore index ${a.ignoreIndex})`);
      const base = r * v;
      let max = -Infinity;
      for (let k = 0; k < v; k++) max = Math.max(max, x[base + k]!);
      let sum = 0;
      let all = 0;
      for (let k = 0; k < v; k++) {
        sum += Math.exp(x[base + k]! - max);
        all += x[base + k]!;
      }
      const lse = max + Math.log(sum);
      out[r] = lse - ((1 - a.labelSmoothing) * x[base + label]! + (a.labelSmoothing / v) * all);
    }
    return { dtype: 'f32', shape: ctx.outShape, data: out };
  },
});
