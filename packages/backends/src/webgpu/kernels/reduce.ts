import { reductionShape } from '../../reduce-groups.ts';
import { input, OUTPUT, type KernelContext, type KernelLaunch } from '../kernel.ts';
import { entryPoint, linearGrid, Params, rowWorkgroupSize, storageDecl } from '../wgsl.ts';
import { F32_LOWEST, I32_LOWEST, workgroupReduce, workgroupScratch } from './reduce-helpers.ts';

type ReduceOp = 'reduce_sum' | 'reduce_mean' | 'reduce_max';

/** Below this many elements per output, one invocation reduces one output; above, a workgroup does. */
const SERIAL_LIMIT = 64;
const SERIAL_WORKGROUP = 256;


/** WGSL adding the input offset of group coordinates of `index` over `groups` (row-major) to `off`. */
function groupOffsets(index: string, groups: readonly { size: number; stride: number }[], tag: string, params: Params): string[] {
  const lines = [`var ${tag}rem = ${index};`];
  for (let g = groups.length - 1; g >= 0; g--) {
    params.u32(`${tag}stride${g}`, groups[g]!.stride);
    if (g > 0) {
      params.u32(`${tag}size${g}`, groups[g]!.size);
      lines.push(`off += (${tag}rem % p.${tag}size${g}) * p.${tag}stride${g};`, `${tag}rem = ${tag}rem / p.${tag}size${g};`);
    } else lines.push(`off += ${tag}rem * p.${tag}stride0;`);
  }
  return lines;
}

/** reduce_sum / reduce_mean / reduce_max over any set of axes. */
export function reduceKernel(ctx: KernelContext<ReduceOp>): KernelLaunch[] {
  const op = ctx.node.op as ReduceOp;
  const x = ctx.inputs[0]!;
  const { outputs, count, kept, summed } = reductionShape(x.shape, ctx.attrs.axes);
  if (outputs === 0) return [];
  const type = x.dtype;
  const params = new Params().u32('outputs', outputs).u32('count', count);
  const offsetFn = [
    'fn input_offset(o: u32, r: u32) -> u32 {',
    '  var off = 0u;',
    ...groupOffsets('o', kept, 'k', params).map((l) => `  ${l}`),
    ...groupOffsets('r', summed, 'r', params).map((l) => `  ${l}`),
    '  return off;',
    '}',
  ];
  // a max starts from an element of its own row (exact even for rows of -inf); sums from zero
  const init = op === 'reduce_max' ? (count > 0 ? 'x[input_offset(o, 0u)]' : type === 'f32' ? F32_LOWEST : I32_LOWEST) : type === 'f32' ? '0.0' : '0i';
  const combine = (a: string, b: string) => (op === 'reduce_max' ? `max(${a}, ${b})` : `${a} + ${b}`);
  const finish = (v: string) => (op === 'reduce_mean' ? `${v} / f32(p.count)` : v);
  const decls = [storageDecl(0, 'x', type, 'read'), storageDecl(1, 'out', type, 'read_write')];
  const bindings = [{ buffer: input(0) }, { buffer: OUTPUT }];

  if (count < SERIAL_LIMIT) {
    const wgsl = [
      ...decls,
      params.declare(2),
      ...offsetFn,
      entryPoint(SERIAL_WORKGROUP),
      `  let o = wg * ${SERIAL_WORKGROUP}u + lid;`,
      '  if (o >= p.outputs) { return; }',
      `  var acc = ${init};`,
      '  for (var r = 0u; r < p.count; r++) {',
      `    acc = ${combine('acc', 'x[input_offset(o, r)]')};`,
      '  }',
      `  out[o] = ${finish('acc')};`,
      '}',
    ].join('\n');
    return [{ wgsl, workgroups: linearGrid(Math.ceil(outputs / SERIAL_WORKGROUP), ctx.limits, op), bindings, params: params.data() }];
  }
  const wg = rowWorkgroupSize(count, ctx.limits);
  const wgsl = [
    ...decls,
    params.declare(2),
    workgroupScratch('scratch', type, wg),
    ...offsetFn,
    entryPoint(wg),
    '  let o = wg;',
    '  if (o >= p.outputs) { return; }',
    `  var acc = ${init};`,
    `  for (var r = lid; r < p.count; r += ${wg}u) {`,
    `    acc = ${combine('acc', 'x[input_offset(o, r)]')};`,
    '  }',
    ...workgroupReduce('scratch', wg, 'acc', 'total', combine).map((l) => `  ${l}`),
    `  if (lid == 0u) { out[o] = ${finish('total')}; }`,
    '}',
  ].join('\n');
  return [{ wgsl, workgroups: linearGrid(outputs, ctx.limits, op), bindings, params: params.data() }];
}
