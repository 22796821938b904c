import type { NodeRef } from '@loom/graph';
import type { GradEmitter } from '../autodiff/emit.ts';

/**
 * Learning-rate schedules, as graph code over the step number t (1 for the first update), so that
 * the rate is computed inside the step's plan:
 * - `constant`: `lr`;
 * - `inverse-sqrt`: the paper's warm-up then decay, lr = scale * dModel^-0.5 * min(t^-0.5, t * warmup^-1.5)
 *   ("Attention Is All You Need", section 5.3: scale 1, warmup 4000);
 * - `cosine`: linear warm-up to `lr` over `warmup` steps, then a half cosine down to `min` at `total`
 *   (and `min` after).
 */
export type LrSchedule =
  | { readonly kind: 'constant'; readonly lr: number }
  | { readonly kind: 'inverse-sqrt'; readonly dModel: number; readonly warmup: number; readonly scale?: number }
  | { readonly kind: 'cosine'; readonly lr: number; readonly warmup: number; readonly total: number; readonly min?: number };

/** The schedule's rate at step t (a [1] f32 node), as [1] f32. */
export function learningRate(b: GradEmitter, schedule: LrSchedule, t: NodeRef): NodeRef {
  const c = (v: number) => b.constant(v);
  switch (schedule.kind) {
    case 'constant':
      return b.add('broadcast_like', [c(schedule.lr), t]);
    case 'inverse-sqrt': {
      const decay = b.add('rsqrt', [t]);
      const warm = b.add('mul', [t, c(schedule.warmup ** -1.5)]);
      return b.add('mul', [b.add('minimum', [decay, warm]), c((schedule.scale ?? 1) * schedule.dModel ** -0.5)]);
    }
    case 'cosine': {
      const min = schedule.min ?? 0;
      const warm = b.add('mul', [t, c(schedule.lr / Math.max(schedule.warmup, 1))]);
      const progress = b.add('minimum', [b.add('div', [b.add('sub', [t, c(schedule.warmup)]), c(Math.max(schedule.total - schedule.warmup, 1))]), c(1)]);
      const cosine = b.add('add', [c(min), b.add('mul', [c((schedule.lr - min) / 2), b.add('add', [c(1), b.add('cos', [b.add('mul', [progress, c(Math.PI)])])])])]);
      return b.add('where', [b.add('less_equal', [t, c(schedule.warmup)]), warm, cosine]);
    }
  }
}

/** The schedule's rate at step t on the host (for reports and tests): the same formulas in float64. */
export function learningRateAt(schedule: LrSchedule, t: number): number {
  switch (schedule.kind) {
    case 'constant':
      return schedule.lr;
    case 'inverse-sqrt':
      return (schedule.scale ?? 1) * schedule.dModel ** -0.5 * Math.min(t ** -0.5, t * schedule.warmup ** -1.5);
    case 'cosine': {
      const min = schedule.min ?? 0;
      if (t <= schedule.warmup) return (t * schedule.lr) / Math.max(schedule.warmup, 1);
      const progress = Math.min((t - schedule.warmup) / Math.max(schedule.total - schedule.warmup, 1), 1);
      return min + ((schedule.lr - min) / 2) * (1 + Math.cos(progress * Math.PI));
    }
  }
}
