import { input, OUTPUT, sizeOfShape, STATUS, type KernelContext, type KernelLaunch } from '../kernel.ts';
import { scatterAddSizes } from '../../training-kernels.ts';
import { entryPoint, linearGrid, Params, reportBadIndex, statusDecl, storageDecl } from '../wgsl.ts';

const WORKGROUP = 256;

/**
 * out[r, j] = sum of updates[k, j] over the positions k whose index is r. Output-stationary: each
 * thread owns one output element and walks every position in order, so the sum is added in position
 * order as the reference adds it, the same bits every run, without atomics (the cost is positions
 * reads per output element: meant for gradients of embedding tables of modest size). Thread k also
 * checks position k: an index outside the table is counted in the status buffer (count, first
 * position), which the runtime turns into an error naming the op, the node and the position.
 */
export function scatterAddKernel(ctx: KernelContext<'scatter_add'>): KernelLaunch[] {
  const [indices, updates] = ctx.inputs as [typeof ctx.inputs[0], typeof ctx.inputs[0]];
  const { positions, width, rows } = scatterAddSizes(indices!.shape, updates!.shape, ctx.output.shape);
  const total = sizeOfShape(ctx.output.shape);
  const threads = Math.max(total, positions);
  if (threads === 0) return [];
  const params = new Params().u32('n', total).u32('positions', positions).u32('width', width).u32('rows', rows).u32('slot', ctx.statusSlot * 2);
  const wgsl = [
    storageDecl(0, 'ids', 'i32', 'read'),
    storageDecl(1, 'updates', 'f32', 'read'),
    storageDecl(2, 'out', 'f32', 'read_write'),
    statusDecl(3),
    params.declare(4),
    entryPoint(WORKGROUP),
    `  let i = wg * ${WORKGROUP}u + lid;`,
    '  if (i < p.positions) {',
    '    let id = ids[i];',
    `    if (id < 0i || u32(id) >= p.rows) { ${reportBadIndex('i')} }`,
    '  }',
    '  if (i >= p.n) { return; }',
    '  let row = i32(i / p.width);',
    '  let column = i % p.width;',
    '  var sum = 0.0;',
    '  for (var k = 0u; k < p.positions; k++) {',
    '    if (ids[k] == row) { sum += updates[k * p.width + column]; }',
    '  }',
    '  out[i] = sum;',
    '}',
  ].join('\n');
  return [
    {
      wgsl,
      workgroups: linearGrid(Math.ceil(threads / WORKGROUP), ctx.limits, 'scatter_add'),
      bindings: [{ buffer: input(0) }, { buffer: input(1) }, { buffer: OUTPUT }, { buffer: STATUS }],
      params: params.data(),
    },
  ];
}
