import { input, OUTPUT, sizeOfShape, type KernelContext, type KernelLaunch } from '../kernel.ts';
import { entryPoint, linearGrid, Params, storageDecl } from '../wgsl.ts';

const WORKGROUP = 64;

/**
 * x rounded to int8 per group along the last axis, one invocation per group: its largest magnitude,
 * then each value against the group's scale (round() is half to even, as the reference's). WGSL's
 * division may differ from float32's correctly rounded one by an ulp, so a value a hair from a half
 * may round the other way: one step of the group's scale, within the op's stated tolerance.
 */
export function quantizeActivationsKernel(ctx: KernelContext<'quantize_activations'>): KernelLaunch[] {
  const total = sizeOfShape(ctx.output.shape);
  if (total === 0) return [];
  const shape = ctx.inputs[0]!.shape;
  const k = shape[shape.length - 1]!;
  const groups = Math.ceil(k / ctx.attrs.group);
  const count = (total / k) * groups;
  const params = new Params().u32('count', count).u32('k', k).u32('groups', groups).u32('group', ctx.attrs.group);
  const wgsl = [
    storageDecl(0, 'X', 'f32', 'read'),
    storageDecl(1, 'out', 'f32', 'read_write'),
    params.declare(2),
    entryPoint(WORKGROUP),
    `  let gi = wg * ${WORKGROUP}u + lid;`,
    '  if (gi >= p.count) { return; }',
    '  let row = gi / p.groups;',
    '  let start = row * p.k + (gi % p.groups) * p.group;',
    '  let end = min(start + p.group, row * p.k + p.k);',
    '  var m = 0.0;',
    '  for (var i = start; i < end; i++) { m = max(m, abs(X[i])); }',
    '  let s = m / 127.0;',
    '  for (var i = start; i < end; i++) { out[i] = select(s * clamp(round(X[i] / s), -127.0, 127.0), 0.0, s == 0.0); }',
    '}',
  ].join('\n');
  return [{ wgsl, workgroups: linearGrid(Math.ceil(count / WORKGROUP), ctx.limits, 'quantize_activations'), bindings: [{ buffer: input(0) }, { buffer: OUTPUT }], params: params.data() }];
}
