import { normalizeAxis } from '@loom/graph';
import { input, OUTPUT, sizeOfShape, STATUS, type KernelContext, type KernelLaunch } from '../kernel.ts';
import { entryPoint, linearGrid, Params, reportBadIndex, statusDecl, storageDecl } from '../wgsl.ts';

const WORKGROUP = 256;

/**
 * cache_update: writes `update` into the cache at [position, position + T) along `axis`, one
 * invocation per update element. When the plan updates a state in place (the output buffer is the
 * cache's), only the block is written; otherwise the cache is copied to the output first. A position
 * that does not fit is counted in the status buffer and turned into an InputError by the runtime.
 * With `count`, each row writes its first count update rows; `rolling` writes row t at slot
 * (position + t) mod capacity, only the last `capacity` of them (no two invocations write one slot).
 */
export function cacheUpdateKernel(ctx: KernelContext<'cache_update'>): KernelLaunch[] {
  const [cache, update, position, count] = ctx.inputs;
  const rolling = ctx.attrs.rolling;
  const shape = cache!.shape;
  const axis = normalizeAxis(ctx.attrs.axis, shape.length)!;
  const launches: KernelLaunch[] = [];
  const dtype = cache!.dtype;
  if (!ctx.inPlace && sizeOfShape(shape) > 0) {
    const total = sizeOfShape(shape);
    const params = new Params().u32('n', total);
    launches.push({
      wgsl: [
        storageDecl(0, 'x', dtype, 'read'),
        storageDecl(1, 'out', dtype, 'read_write'),
        params.declare(2),
        entryPoint(WORKGROUP),
        `  let i = wg * ${WORKGROUP}u + lid;`,
        '  if (i < p.n) { out[i] = x[i]; }',
        '}',
      ].join('\n'),
      workgroups: linearGrid(Math.ceil(total / WORKGROUP), ctx.limits, 'cache_update'),
      bindings: [{ buffer: input(0) }, { buffer: OUTPUT }],
      params: params.data(),
    });
  }
  const total = sizeOfShape(update!.shape);
  if (total === 0) return launches;
  const capacity = shape[axis]!;
  const t = update!.shape[axis]!;
  const inner = sizeOfShape(shape.slice(axis + 1));
  const outer = sizeOfShape(shape.slice(0, axis));
  const rows = Math.max(shape[0]!, 1);
  const params = new Params()
    .u32('n', total)
    .u32('t', t)
    .u32('inner', inner)
    .u32('capacity', capacity)
    .u32('outer_per_row', Math.max(outer / rows, 1))
    .u32('positions', sizeOfShape(position!.shape))
    .u32('counts', count ? sizeOfShape(count.shape) : 0)
    .u32('slot', ctx.statusSlot * 2);
  const wgsl = [
    storageDecl(0, 'update', dtype, 'read'),
    storageDecl(1, 'position', 'i32', 'read'),
    storageDecl(2, 'out', dtype, 'read_write'),
    statusDecl(3),
    ...(count ? [storageDecl(4, 'count', 'i32', 'read')] : []),
    params.declare(count ? 5 : 4),
    entryPoint(WORKGROUP),
    `  let i = wg * ${WORKGROUP}u + lid;`,
    '  if (i >= p.n) { return; }',
    '  let o = i / (p.t * p.inner);',
    '  let rest = i % (p.t * p.inner);',
    '  let k = rest / p.inner;',
    '  let row = o / p.outer_per_row;',
    '  let start = position[select(row, 0u, p.positions == 1u)];',
    `  let n = ${count ? 'count[select(row, 0u, p.counts == 1u)]' : 'i32(p.t)'};`,
    `  if (start < 0i || n < 0i || u32(n) > p.t${rolling ? ' || (p.capacity == 0u && n > 0i)' : ' || u32(start) + u32(n) > p.capacity'}) {`,
    `    if (i == 0u || rest == 0u) { ${reportBadIndex('row')} }`,
    '    return;',
    '  }',
    ...(rolling
      ? ['  if (i32(k) >= n || i32(k) + i32(p.capacity) < n) { return; }', '  let at = (u32(start) + k) % p.capacity;', '  out[(o * p.capacity + at) * p.inner + rest % p.inner] = update[i];']
      : ['  if (i32(k) >= n) { return; }', '  out[(o * p.capacity + u32(start)) * p.inner + rest] = update[i];']),
    '}',
  ].join('\n');
  launches.push({
    wgsl,
    workgroups: linearGrid(Math.ceil(total / WORKGROUP), ctx.limits, 'cache_update'),
    bindings: [{ buffer: input(1) }, { buffer: input(2) }, { buffer: OUTPUT }, { buffer: STATUS }, ...(count ? [{ buffer: input(3) }] : [])],
    params: params.data(),
  });
  return launches;
}
