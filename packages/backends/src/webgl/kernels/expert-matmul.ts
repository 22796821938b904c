import { f32Literal, int } from '../glsl.ts';
import { input, sample, sizeOfShape, type GlPass, type KernelContext } from '../kernel.ts';
import { PassList, reduce, SUM } from '../reduction.ts';
import { indexStatusPass } from './index-status.ts';

/**
 * expert_matmul: one fragment per output element (row r, column c) sums its x row times column c of
 * the matrix its id picks (in chunks past the loop budget: reduction.ts), so a row reads its own
 * expert's K weights and no other. Ids are integers held in floats; one outside the experts reads
 * expert 0 here and is reported by the status pass (an error naming the op, the node and the position).
 */
export function expertMatmulKernel(ctx: KernelContext<'expert_matmul'>): GlPass[] {
  const [x, w, ids] = ctx.inputs;
  const size = sizeOfShape(ctx.output.shape);
  const [experts, wk, wn] = w!.shape as [number, number, number];
  const [k, n] = ctx.attrs.transposeB ? [wn, wk] : [wk, wn];
  const rows = sizeOfShape(ids!.shape);
  const j = Math.max(ids!.shape[ids!.shape.length - 1]!, 1);
  const shared = sizeOfShape(x!.shape) !== rows * k;
  const budget = ctx.limits.maxLoopIterations;
  const list = new PassList();
  indexStatusPass(list, input(2), rows, (v) => `${v} < 0.0 || ${v} >= ${f32Literal(experts)}`, 'expert_matmul', budget);
  if (size === 0) return list.passes;
  // a fragment per output element: (row r, column c), or with sum (token t, column c) over its J rows' K terms each
  const rowsPer = ctx.attrs.sum ? j : 1;
  const setup = [`int t = row / ${int(n)};`, `int c = row - t * ${int(n)};`];
  const weight = (i: string) => (ctx.attrs.transposeB ? `(e * ${int(n)} + c) * ${int(k)} + ${i}` : `(e * ${int(k)} + ${i}) * ${int(n)} + c`);
  const term = (i: string) => ({
    lines: [
      `int jj = ${i} / ${int(k)};`,
      `int kk = ${i} - jj * ${int(k)};`,
      `int r = t * ${int(rowsPer)} + jj;`,
      `float id = ${sample(2, 'r')};`,
      `int e = id < 0.0 || id >= ${f32Literal(experts)} ? 0 : int(id);`,
      `int xRow = ${shared ? `(r / ${int(j)})` : 'r'} * ${int(k)};`,
    ],
    value: `${sample(0, 'xRow + kk')} * ${sample(1, weight('kk'))}`,
  });
  reduce(list, { what: 'expert_matmul', rows: size, count: k * rowsPer, inputs: [input(0), input(1), input(2)], setup, term, fold: SUM }, budget);
  return list.passes;
}
