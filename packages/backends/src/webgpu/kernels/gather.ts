import { WebGpuLimitError } from '../errors.ts';
import { input, OUTPUT, sizeOfShape, STATUS, type KernelContext, type KernelLaunch } from '../kernel.ts';
import { entryPoint, linearGrid, Params, reportBadIndex, statusDecl, storageDecl } from '../wgsl.ts';

const WORKGROUP = 256;

/**
 * out[i, ...] = table[ids[i], ...]. An id outside the table writes zeros and is counted in the
 * status buffer (count, first position), which the runtime turns into an error naming the table;
 * ids that come straight from a graph input are also checked on the host before upload.
 * A table larger than one storage binding is read in row chunks, one launch per chunk.
 */
export function gatherKernel(ctx: KernelContext<'gather'>): KernelLaunch[] {
  const [table, ids] = ctx.inputs as [typeof ctx.inputs[0], typeof ctx.inputs[0]];
  const total = sizeOfShape(ctx.output.shape);
  if (total === 0) return [];
  const rows = table!.shape[0]!;
  const width = sizeOfShape(table!.shape.slice(1));
  const rowBytes = width * 4;
  const tableBytes = rows * rowBytes;
  const limit = ctx.limits.maxStorageBufferBindingSize;
  let chunkRows = rows;
  if (tableBytes > limit) {
    const alignment = ctx.limits.minStorageBufferOffsetAlignment;
    // chunk starts must be aligned: a multiple of `step` rows
    const step = alignment / gcd(rowBytes, alignment);
    chunkRows = Math.floor(Math.floor(limit / rowBytes) / step) * step;
    if (chunkRows === 0) throw new WebGpuLimitError(`gather (node %${ctx.node.id}): one row of ${table!.label} (${rowBytes} bytes) exceeds the device's maxStorageBufferBindingSize (${limit})`);
  }
  const launches: KernelLaunch[] = [];
  for (let first = 0, chunk = 0; first < Math.max(rows, 1); first += chunkRows, chunk++) {
    const count = Math.min(chunkRows, rows - first);
    const params = new Params().u32('n', total).u32('width', width).u32('rows', rows).u32('first', first).u32('count', count).u32('slot', ctx.statusSlot * 2);
    const wgsl = [
      storageDecl(0, 'table', table!.dtype, 'read'),
      storageDecl(1, 'ids', 'i32', 'read'),
      storageDecl(2, 'out', table!.dtype, 'read_write'),
      statusDecl(3),
      params.declare(4),
      entryPoint(WORKGROUP),
      `  let i = wg * ${WORKGROUP}u + lid;`,
      '  if (i >= p.n) { return; }',
      '  let position = i / p.width;',
      '  let id = ids[position];',
      '  if (id < 0i || u32(id) >= p.rows) {',
      '    if (p.first == 0u) {',
      `      out[i] = ${table!.dtype}(0);`,
      `      if (i % p.width == 0u) { ${reportBadIndex('position')} }`,
      '    }',
      '    return;',
      '  }',
      '  let row = u32(id);',
      '  if (row < p.first || row >= p.first + p.count) { return; }',
      '  out[i] = table[(row - p.first) * p.width + i % p.width];',
      '}',
    ].join('\n');
    launches.push({
      wgsl,
      workgroups: linearGrid(Math.ceil(total / WORKGROUP), ctx.limits, 'gather'),
      bindings: [
        chunkRows === rows ? { buffer: input(0) } : { buffer: input(0), offset: first * rowBytes, size: Math.max(4, count * rowBytes) },
        { buffer: input(1) },
        { buffer: OUTPUT },
        { buffer: STATUS },
      ],
      params: params.data(),
    });
    if (rows === 0) break;
  }
  return launches;
}

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}
