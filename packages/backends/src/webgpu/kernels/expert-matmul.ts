import { input, OUTPUT, sizeOfShape, STATUS, type KernelContext, type KernelLaunch } from '../kernel.ts';
import { entryPoint, linearGrid, Params, reportBadIndex, statusDecl, storageDecl } from '../wgsl.ts';

const WORKGROUP = 256;

/**
 * expert_matmul: one invocation per output element (row r, column c) takes the dot product of its x
 * row with column c of the matrix its id picks, so each row costs its own expert's K multiply-adds and
 * no other expert is read (decoding's shape: few rows, each a matrix-vector product). An id outside
 * the experts is counted in the status buffer (the runtime's error names the op, the node and the
 * position) and its row written as zeros.
 */
export function expertMatmulKernel(ctx: KernelContext<'expert_matmul'>): KernelLaunch[] {
  const [x, w, ids] = ctx.inputs;
  const total = sizeOfShape(ctx.output.shape);
  if (total === 0) return [];
  const [experts, wk, wn] = w!.shape as [number, number, number];
  const [k, n] = ctx.attrs.transposeB ? [wn, wk] : [wk, wn];
  const rows = sizeOfShape(ids!.shape);
  const j = ids!.shape[ids!.shape.length - 1]!;
  const shared = sizeOfShape(x!.shape) !== rows * k; // x's row axis is 1: every id of a token reads its one row
  const params = new Params().u32('n', total).u32('cols', n).u32('k', k).u32('experts', experts).u32('j', Math.max(j, 1)).u32('slot', ctx.statusSlot * 2);
  const weightAt = ctx.attrs.transposeB ? '(u32(e) * p.cols + c) * p.k + i' : '(u32(e) * p.k + i) * p.cols + c';
  // an invocation per output element: (row r, column c), or with sum (token t, column c) over its J rows
  const wgsl = [
    storageDecl(0, 'x', 'f32', 'read'),
    storageDecl(1, 'w', 'f32', 'read'),
    storageDecl(2, 'ids', 'i32', 'read'),
    storageDecl(3, 'out', 'f32', 'read_write'),
    statusDecl(4),
    params.declare(5),
    entryPoint(WORKGROUP),
    `  let o = wg * ${WORKGROUP}u + lid;`,
    '  if (o >= p.n) { return; }',
    '  let t = o / p.cols;',
    '  let c = o % p.cols;',
    '  var total = 0.0;',
    `  for (var jj = 0u; jj < ${ctx.attrs.sum ? 'p.j' : '1u'}; jj++) {`,
    `    let r = ${ctx.attrs.sum ? 't * p.j + jj' : 't'};`,
    '    let e = ids[r];',
    '    if (e < 0i || u32(e) >= p.experts) {',
    `      if (c == 0u) { ${reportBadIndex('r')} }`,
    '      continue;',
    '    }',
    `    let x_row = ${shared ? 'r / p.j' : 'r'} * p.k;`,
    '    var sum = 0.0;',
    `    for (var i = 0u; i < p.k; i++) { sum += x[x_row + i] * w[${weightAt}]; }`,
    '    total += sum;',
    '  }',
    '  out[o] = total;',
    '}',
  ].join('\n');
  return [
    {
      wgsl,
      workgroups: linearGrid(Math.ceil(total / WORKGROUP), ctx.limits, 'expert_matmul'),
      bindings: [{ buffer: input(0) }, { buffer: input(1) }, { buffer: input(2) }, { buffer: OUTPUT }, { buffer: STATUS }],
      params: params.data(),
    },
  ];
}
