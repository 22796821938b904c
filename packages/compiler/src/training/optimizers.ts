import type { NodeRef, TensorType } from '@loom/graph';
import type { GradEmitter } from '../autodiff/emit.ts';

/**
 * Optimizers as graph code: given a parameter, its gradient, the learning rate and the step number
 * (t = 1 for the first update), the next parameter and the next value of each of the optimizer's
 * states for it (moments: `m`, `v`, momentum `buf`), each of the parameter's type. The formulas are
 * PyTorch's (torch.optim.SGD, Adam, AdamW), so a step here matches a step there.
 */
export type OptimizerSpec =
  | { readonly kind: 'sgd'; readonly momentum?: number; readonly nesterov?: boolean; readonly weightDecay?: number }
  | { readonly kind: 'adam'; readonly betas?: readonly [number, number]; readonly eps?: number; readonly weightDecay?: number }
  | { readonly kind: 'adamw'; readonly betas?: readonly [number, number]; readonly eps?: number; readonly weightDecay?: number };

/** The states an optimizer keeps per parameter, by suffix (`m`, `v`, `buf`): zeros before the first step. */
export function optimizerStates(spec: OptimizerSpec): readonly string[] {
  if (spec.kind === 'sgd') return (spec.momentum ?? 0) > 0 ? ['buf'] : [];
  return ['m', 'v'];
}

export interface ParamUpdate {
  readonly param: NodeRef;
  readonly grad: NodeRef;
  /** The optimizer's states for this parameter, by suffix (optimizerStates). */
  readonly states: Readonly<Record<string, NodeRef>>;
  /** Whether weight decay applies to this parameter (decayed(name): none on norms and biases by default). */
  readonly decay: boolean;
}

export interface UpdateResult {
  readonly param: NodeRef;
  readonly states: Readonly<Record<string, NodeRef>>;
}

/** One parameter's update; `lr` and `t` are f32 [1]. */
export function optimizerUpdate(b: GradEmitter, spec: OptimizerSpec, u: ParamUpdate, lr: NodeRef, t: NodeRef): UpdateResult {
  const c = (v: number) => b.constant(v);
  const mul = (...xs: NodeRef[]) => xs.reduce((p, x) => b.add('mul', [p, x]));
  const add = (x: NodeRef, y: NodeRef) => b.add('add', [x, y]);
  const sub = (x: NodeRef, y: NodeRef) => b.add('sub', [x, y]);
  const wd = u.decay ? (spec.weightDecay ?? (spec.kind === 'adamw' ? 0.01 : 0)) : 0;
  if (spec.kind === 'sgd') {
    // coupled L2: g + wd p; momentum: buf = mu buf + g; nesterov steps along g + mu buf
    const g = wd > 0 ? add(u.grad, mul(u.param, c(wd))) : u.grad;
    const mu = spec.momentum ?? 0;
    if (mu === 0) return { param: sub(u.param, mul(g, lr)), states: {} };
    const buf = add(mul(u.states['buf']!, c(mu)), g);
    const direction = spec.nesterov ? add(g, mul(buf, c(mu))) : buf;
    return { param: sub(u.param, mul(direction, lr)), states: { buf } };
  }
  const [beta1, beta2] = spec.betas ?? [0.9, 0.999];
  const eps = spec.eps ?? 1e-8;
  // Adam's weight decay is coupled (added to the gradient); AdamW's decoupled (the parameter shrinks by lr wd)
  const g = spec.kind === 'adam' && wd > 0 ? add(u.grad, mul(u.param, c(wd))) : u.grad;
  const m = add(mul(u.states['m']!, c(beta1)), mul(g, c(1 - beta1)));
  const v = add(mul(u.states['v']!, c(beta2)), mul(g, g, c(1 - beta2)));
  const correction = (beta: number) => sub(c(1), b.add('pow', [c(beta), t]));
  const mHat = b.add('div', [m, correction(beta1)]);
  const vHat = b.add('div', [v, correction(beta2)]);
  const step = mul(b.add('div', [mHat, add(b.add('sqrt', [vHat]), c(eps))]), lr);
  const shrunk = spec.kind === 'adamw' && wd > 0 ? mul(u.param, sub(c(1), mul(lr, c(wd)))) : u.param;
  return { param: sub(shrunk, step), states: { m, v } };
}

/** The default weight-decay mask: matrices decay; vectors (norm scales, biases) do not. */
export function decaysByDefault(type: TensorType): boolean {
  return type.shape.length >= 2;
}
