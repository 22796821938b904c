import { int } from '../glsl.ts';
import { input, sample, sizeOfShape, type GlPass, type KernelContext } from '../kernel.ts';

/** torch.topk's order (ranksAbove in @loom/graph): larger first, NaN above every number, ties to the lower index. */
const RANKS_ABOVE = [
  'bool loom_ranks_above(float a, float i, float b, float j) {',
  '  if (!(a == a)) { return !(b == b) ? i < j : true; }',
  '  if (!(b == b)) { return false; }',
  '  return a > b || (a == b && i < j);',
  '}',
].join('\n');

/**
 * top_k along the last axis: the fragment of output (row, t) makes t + 1 passes over its row, pass s
 * picking the value that ranks highest among those ranking below pass s-1's pick; it returns the
 * last pick. O(n k) per fragment, no scratch texture; the loop budget refuses rows past it by name.
 */
export function topKKernel(ctx: KernelContext<'top_k'>): GlPass[] {
  const x = ctx.inputs[0]!;
  const n = x.shape[x.shape.length - 1]!;
  const { k, output } = ctx.attrs;
  const size = sizeOfShape(ctx.output.shape);
  if (size === 0) return [];
  const body = [
    `int row = i / ${int(k)};`,
    `int t = i - row * ${int(k)};`,
    'float prevV = 0.0;',
    'float prevI = -1.0;',
    `for (int s = 0; s < ${k}; s++) {`,
    '  float bestV = 0.0;',
    '  float bestI = -1.0;',
    `  for (int j = 0; j < ${n}; j++) {`,
    `    float v = ${sample(0, `row * ${int(n)} + j`)};`,
    '    float fj = float(j);',
    '    bool below = prevI < 0.0 || loom_ranks_above(prevV, prevI, v, fj);',
    '    if (below && (bestI < 0.0 || loom_ranks_above(v, fj, bestV, bestI))) { bestV = v; bestI = fj; }',
    '  }',
    `  if (s == t) { return ${output === 'indices' ? 'bestI' : 'bestV'}; }`,
    '  prevV = bestV;',
    '  prevI = bestI;',
    '}',
    'return 0.0;',
  ];
  return [{ inputs: [input(0)], size, helpers: [RANKS_ABOVE], body, what: 'top_k' }];
}
