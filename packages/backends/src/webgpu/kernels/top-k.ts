import { OUTPUT, input, sizeOfShape, type KernelContext, type KernelLaunch } from '../kernel.ts';
import { entryPoint, linearGrid, Params, storageDecl } from '../wgsl.ts';

const WORKGROUP = 64;

/**
 * top_k along the last axis: one thread per row makes k passes over it, pass t picking the value
 * that ranks highest among those ranking below pass t-1's pick (larger first, NaN above every
 * number, ties to the lower index: torch.topk's order, ranksAbove in @loom/graph). O(n k) per row
 * and no scratch memory; k is small where top_k is used (a router's experts).
 */
export function topKKernel(ctx: KernelContext<'top_k'>): KernelLaunch[] {
  const x = ctx.inputs[0]!;
  const n = x.shape[x.shape.length - 1]!;
  const { k, output } = ctx.attrs;
  const rows = n === 0 ? 0 : sizeOfShape(x.shape) / n;
  if (rows === 0) return [];
  const params = new Params().u32('rows', rows).u32('n', n).u32('k', k);
  const wgsl = [
    storageDecl(0, 'x', 'f32', 'read'),
    storageDecl(1, 'out', output === 'indices' ? 'i32' : 'f32', 'read_write'),
    params.declare(2),
    'fn ranks_above(a: f32, i: u32, b: f32, j: u32) -> bool {',
    '  if (a != a) { return b == b || i < j; }',
    '  if (b != b) { return false; }',
    '  return a > b || (a == b && i < j);',
    '}',
    entryPoint(WORKGROUP),
    `  let row = wg * ${WORKGROUP}u + lid;`,
    '  if (row >= p.rows) { return; }',
    '  let base = row * p.n;',
    '  var prev_v = 0.0;',
    '  var prev_i = 0u;',
    '  for (var t = 0u; t < p.k; t++) {',
    '    var best_v = 0.0;',
    '    var best_i = p.n;',
    '    for (var j = 0u; j < p.n; j++) {',
    '      let v = x[base + j];',
    '      if (t > 0u && !ranks_above(prev_v, prev_i, v, j)) { continue; }',
    '      if (best_i == p.n || ranks_above(v, j, best_v, best_i)) { best_v = v; best_i = j; }',
    '    }',
    `    out[row * p.k + t] = ${output === 'indices' ? 'i32(best_i)' : 'best_v'};`,
    '    prev_v = best_v;',
    '    prev_i = best_i;',
    '  }',
    '}',
  ].join('\n');
  return [{ wgsl, workgroups: linearGrid(Math.ceil(rows / WORKGROUP), ctx.limits, 'top_k'), bindings: [{ buffer: input(0) }, { buffer: OUTPUT }], params: params.data() }];
}
