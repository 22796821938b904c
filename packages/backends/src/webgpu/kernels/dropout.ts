import { input, OUTPUT, sizeOfShape, type KernelContext, type KernelLaunch } from '../kernel.ts';
import { dropoutHashHelpers, dropoutThreshold, type Word24Syntax } from '../../training-kernels.ts';
import { entryPoint, linearGrid, Params, storageDecl } from '../wgsl.ts';

const WORKGROUP = 256;

/** The hash's 24-bit words as u32: a sum or product mod 2^32, masked, is the same value mod 2^24. */
const WORD24: Word24Syntax = {
  fn: (name, params, body) => [`fn ${name}(${params.map((q) => `${q}: u32`).join(', ')}) -> u32 {`, ...body.map((l) => `  ${l}`), '}'].join('\n'),
  var: (name, value) => `var ${name} = ${value};`,
  literal: (n) => `${n}u`,
  add: (a, b) => `((${a} + ${b}) & 0xffffffu)`,
  mul: (a, b) => `((${a} * ${b}) & 0xffffffu)`,
  shr11: (x) => `(${x} >> 11u)`,
  helpers: [],
};

const HASH = dropoutHashHelpers(WORD24).join('\n');

/**
 * Inverted dropout, one thread per element: kept where the hash of (seed, stream, index) reaches
 * the threshold, scaled by 1 / (1 - p); the mask is the reference's bit for bit. The seed's two's
 * complement bits mod 2^24 are the reference's seed mod 2^24 (2^32 is a multiple of 2^24).
 */
export function dropoutKernel(ctx: KernelContext<'dropout'>): KernelLaunch[] {
  const total = sizeOfShape(ctx.output.shape);
  if (total === 0) return [];
  const params = new Params().u32('n', total).u32('stream', ctx.attrs.stream).u32('threshold', dropoutThreshold(ctx.attrs.p)).f32('scale', 1 / (1 - ctx.attrs.p));
  const wgsl = [
    storageDecl(0, 'x', 'f32', 'read'),
    storageDecl(1, 'seed', 'i32', 'read'),
    storageDecl(2, 'out', 'f32', 'read_write'),
    params.declare(3),
    HASH,
    entryPoint(WORKGROUP),
    `  let i = wg * ${WORKGROUP}u + lid;`,
    '  if (i >= p.n) { return; }',
    '  let h = loom_dropout_hash(bitcast<u32>(seed[0]) & 0xffffffu, p.stream, i & 0xffffffu, i >> 24u);',
    '  out[i] = select(0.0, x[i] * p.scale, h >= p.threshold);',
    '}',
  ].join('\n');
  return [
    {
      wgsl,
      workgroups: linearGrid(Math.ceil(total / WORKGROUP), ctx.limits, 'dropout'),
      bindings: [{ buffer: input(0) }, { buffer: input(1) }, { buffer: OUTPUT }],
      params: params.data(),
    },
  ];
}
