import { input, OUTPUT, STATUS, type KernelContext, type KernelLaunch } from '../kernel.ts';
import { crossEntropyLoss, crossEntropySizes } from '../../training-kernels.ts';
import { entryPoint, f32Literal, i32Literal, linearGrid, Params, reportBadIndex, rowWorkgroupSize, statusDecl, storageDecl } from '../wgsl.ts';
import { rowMaxAndSumExp, workgroupReduce, workgroupScratch } from './reduce-helpers.ts';

/**
 * Per-position cross-entropy of softmax(logits) against labels, one workgroup per row of V classes
 * as the softmax kernel: the maximum, then the sums of exp(x - max) and (with label smoothing) of
 * max - x, each reduced over the workgroup in float32. 0 where the label is the ignore index; a
 * label outside 0..V-1 that is not is counted in the status buffer (count, first position) and
 * becomes an error naming the op, the node and the position.
 */
export function softmaxCrossEntropyKernel(ctx: KernelContext<'softmax_cross_entropy'>): KernelLaunch[] {
  const { rows, classes } = crossEntropySizes(ctx.inputs[0]!.shape);
  if (rows === 0) return [];
  const { ignoreIndex, labelSmoothing } = ctx.attrs;
  const wg = rowWorkgroupSize(classes, ctx.limits);
  const params = new Params().u32('rows', rows).u32('v', classes).u32('slot', ctx.statusSlot * 2);
  const gaps = labelSmoothing > 0
    ? ['  var g = 0.0;', `  for (var k = lid; k < p.v; k += ${wg}u) { g += row_max - x[base + k]; }`, ...workgroupReduce('scratch', wg, 'g', 'row_gaps', (a, b) => `${a} + ${b}`).map((l) => `  ${l}`)]
    : [];
  const loss = crossEntropyLoss({ sumExp: 'row_sum', labelGap: 'row_max - x[base + u32(label)]', gaps: 'row_gaps' }, labelSmoothing, classes, f32Literal);
  const wgsl = [
    storageDecl(0, 'x', 'f32', 'read'),
    storageDecl(1, 'labels', 'i32', 'read'),
    storageDecl(2, 'out', 'f32', 'read_write'),
    statusDecl(3),
    params.declare(4),
    workgroupScratch('scratch', 'f32', wg),
    entryPoint(wg),
    '  let row = wg;',
    '  if (row >= p.rows) { return; }',
    '  let base = row * p.v;',
    ...rowMaxAndSumExp('scratch', wg, 'p.v', (k) => `x[base + ${k}]`),
    ...gaps,
    '  if (lid != 0u) { return; }',
    '  let label = labels[row];',
    ...(ignoreIndex === null ? [] : [`  if (label == ${i32Literal(ignoreIndex)}) { out[row] = 0.0; return; }`]),
    '  if (label < 0i || u32(label) >= p.v) {',
    `    ${reportBadIndex('row')}`,
    '    out[row] = 0.0;',
    '    return;',
    '  }',
    `  out[row] = ${loss};`,
    '}',
  ].join('\n');
  return [
    {
      wgsl,
      workgroups: linearGrid(rows, ctx.limits, 'softmax_cross_entropy'),
      bindings: [{ buffer: input(0) }, { buffer: input(1) }, { buffer: OUTPUT }, { buffer: STATUS }],
      params: params.data(),
    },
  ];
}
