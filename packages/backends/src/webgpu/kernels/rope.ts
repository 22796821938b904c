import { WGSL } from '../../expr/languages/wgsl.ts';
import { input, OUTPUT, sizeOfShape, type KernelContext, type KernelLaunch } from '../kernel.ts';
import { entryPoint, f32Literal, linearGrid, Params, storageDecl } from '../wgsl.ts';
import { ropeShape } from '../../gpu/rope-shape.ts';

const WORKGROUP = 256;

/**
 * rope on x[B, T, H, Dh], one invocation per element: it reads its own value and its pair partner
 * (halves: j +- R/2; interleaved: j +- 1) and rotates by float32(position) * frequency, the
 * frequencies baked into the source (Dh, R and the pairing are static; T and B are Params).
 */
export function ropeKernel(ctx: KernelContext<'rope'>): KernelLaunch[] {
  const [x, offset] = ctx.inputs;
  const { t, heads, dh, size: total, rotary, half, freq } = ropeShape(x!.shape, ctx.attrs);
  if (total === 0) return [];
  const params = new Params().u32('n', total).u32('t', t).u32('offsets', offset ? sizeOfShape(offset.shape) : 0);
  const halves = ctx.attrs.style === 'halves';
  const decls = offset
    ? [storageDecl(0, 'x', 'f32', 'read'), storageDecl(1, 'offset', 'i32', 'read'), storageDecl(2, 'out', 'f32', 'read_write')]
    : [storageDecl(0, 'x', 'f32', 'read'), storageDecl(1, 'out', 'f32', 'read_write')];
  const wgsl = [
    ...decls,
    params.declare(decls.length),
    WGSL.helpers.loom_sincos,
    `var<private> FREQ: array<f32, ${half}> = array<f32, ${half}>(${freq.map(f32Literal).join(', ')});`,
    entryPoint(WORKGROUP),
    `  let i = wg * ${WORKGROUP}u + lid;`,
    '  if (i >= p.n) { return; }',
    `  let j = i % ${dh}u;`,
    `  if (j >= ${rotary}u) { out[i] = x[i]; return; }`,
    `  let ti = (i / ${heads * dh}u) % p.t;`,
    `  let bi = i / (${heads * dh}u * p.t);`,
    halves ? `  let first = j < ${half}u;` : '  let first = (j % 2u) == 0u;',
    halves ? `  let pair = j % ${half}u;` : '  let pair = j / 2u;',
    halves ? `  let partner = select(i - ${half}u, i + ${half}u, first);` : '  let partner = select(i - 1u, i + 1u, first);',
    offset ? '  let position = f32(offset[select(bi, 0u, p.offsets == 1u)] + i32(ti));' : '  let position = f32(ti);',
    '  let angle = position * FREQ[pair];',
    '  let c = loom_sincos(angle, true);',
    '  let s = loom_sincos(angle, false);',
    '  let a = x[i];',
    '  let b = x[partner];',
    '  out[i] = select(a * c + b * s, a * c - b * s, first);',
    '}',
  ].join('\n');
  return [
    {
      wgsl,
      workgroups: linearGrid(Math.ceil(total / WORKGROUP), ctx.limits, 'rope'),
      bindings: [...ctx.inputs.map((_, k) => ({ buffer: input(k) })), { buffer: OUTPUT }],
      params: params.data(),
    },
  ];
}
