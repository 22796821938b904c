import { interpret, mulberry32, nodeName, graphParams, type Graph, type NDArray } from '@loom/graph';
import { grad, gradName } from './grad.ts';

/**
 * How gradients are held to central finite differences of the float64 interpreter, stated once:
 * the step, and the tolerance |analytic - numeric| <= atol + rtol * max(|analytic|, |numeric|).
 * With a step of 1e-6 the difference's own error (h^2 f''' plus rounding, 1e-16 |f| / h) stays
 * near 1e-10 for the tame values property tests draw.
 */
export const GRADIENT_CHECK = { step: 1e-6, rtol: 1e-5, atol: 1e-7 } as const;

export interface GradientCheckOptions {
  /** The f32 scalar output to differentiate. */
  readonly loss: string;
  readonly feeds: Readonly<Record<string, NDArray>>;
  readonly weights: ReadonlyMap<string, NDArray>;
  /** Parameters to check (default: every f32 parameter). */
  readonly wrt?: readonly string[];
  /** Elements checked per parameter, drawn with `seed` (default 4; every element when fewer). */
  readonly samples?: number;
  readonly seed?: number;
}

export interface GradientMismatch {
  readonly param: string;
  readonly index: number;
  readonly analytic: number;
  readonly numeric: number;
}

export interface GradientCheck {
  /** Elements compared (those at a kink, where the one-sided differences disagree, are left out). */
  readonly checked: number;
  readonly kinks: number;
  /** The worst |analytic - numeric| as a multiple of its tolerance (<= 1 passes). */
  readonly worst: number;
  readonly mismatches: readonly GradientMismatch[];
}

/**
 * Checks the gradient graph of `graph` (grad()) against central finite differences: for a few
 * elements of each parameter, (loss(w + h) - loss(w - h)) / 2h in float64. An element where the
 * loss has a kink within the step (relu at 0, max at a tie: the one-sided differences disagree) is
 * skipped and counted, since no derivative exists there to compare.
 */
export function checkGradients(graph: Graph, options: GradientCheckOptions): GradientCheck {
  const params = (options.wrt ?? graphParams(graph).filter((p) => p.type.dtype === 'f32').map((p) => nodeName(p)!)).filter((name) => options.weights.has(name));
  const gradients = interpret(grad(graph, { loss: options.loss, wrt: params }), options.feeds, options.weights);
  const lossAt = (weights: ReadonlyMap<string, NDArray>) => interpret(graph, options.feeds, weights)[options.loss]!.data[0]!;
  const f0 = lossAt(options.weights);
  const random = mulberry32(options.seed ?? 1);
  const h = GRADIENT_CHECK.step;
  const mismatches: GradientMismatch[] = [];
  let [checked, kinks, worst] = [0, 0, 0];
  for (const param of params) {
    const w = options.weights.get(param)!;
    const analytic = gradients[gradName(param)]!.data;
    const count = Math.min(options.samples ?? 4, w.data.length);
    const indices = count === w.data.length ? [...w.data.keys()] : Array.from({ length: count }, () => Math.floor(random() * w.data.length));
    for (const index of indices) {
      const shifted = (delta: number) => {
        const data = Float64Array.from(w.data);
        data[index]! += delta;
        return lossAt(new Map(options.weights).set(param, { ...w, data }));
      };
      const [plus, minus] = [shifted(h), shifted(-h)];
      const numeric = (plus - minus) / (2 * h);
      const [right, left] = [(plus - f0) / h, (f0 - minus) / h];
      if (Math.abs(right - left) > tolerance(right, left) * 10) {
        kinks++;
        continue;
      }
      checked++;
      const a = analytic[index]!;
      const excess = Math.abs(a - numeric) / tolerance(a, numeric);
      if (!(excess <= 1)) mismatches.push({ param, index, analytic: a, numeric });
      worst = Math.max(worst, Number.isNaN(excess) ? Infinity : excess);
    }
  }
  return { checked, kinks, worst, mismatches };
}

function tolerance(a: number, b: number): number {
  return GRADIENT_CHECK.atol + GRADIENT_CHECK.rtol * Math.max(Math.abs(a), Math.abs(b));
}
