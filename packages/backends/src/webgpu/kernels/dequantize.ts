import { codesPerWord } from '@loom/graph';
import { input, OUTPUT, sizeOfShape, type KernelContext, type KernelLaunch } from '../kernel.ts';
import { entryPoint, linearGrid, Params, storageDecl } from '../wgsl.ts';

const WORKGROUP = 256;

/**
 * The float matrix of a quantized weight, one invocation per element (quantized_matmul never needs
 * it: this serves a graph that reads the matrix itself).
 */
export function dequantizeKernel(ctx: KernelContext<'dequantize'>): KernelLaunch[] {
  const total = sizeOfShape(ctx.output.shape);
  if (total === 0) return [];
  const { bits, group, k, transpose, zeroPoints } = ctx.attrs;
  const [codes, scales] = ctx.inputs;
  const n = codes!.shape[0]!;
  const per = codesPerWord(bits);
  const params = new Params().u32('total', total).u32('k', k).u32('n', n).u32('words', codes!.shape[1]!).u32('groups', scales!.shape[1]!).u32('group', group);
  const operands = zeroPoints ? 3 : 2;
  const wgsl = [
    storageDecl(0, 'Q', 'i32', 'read'),
    storageDecl(1, 'S', 'f32', 'read'),
    ...(zeroPoints ? [storageDecl(2, 'Z', 'f32', 'read')] : []),
    storageDecl(operands, 'out', 'f32', 'read_write'),
    params.declare(operands + 1),
    entryPoint(WORKGROUP),
    `  let i = wg * ${WORKGROUP}u + lid;`,
    '  if (i >= p.total) { return; }',
    // element i of [K, N] (or [N, K] transposed): its column n and row k of W
    transpose ? '  let col = i / p.k; let row = i % p.k;' : '  let row = i / p.n; let col = i % p.n;',
    `  let word = u32(Q[col * p.words + row / ${per}u]);`,
    `  let code = f32((word >> ((row % ${per}u) * ${bits}u)) & ${2 ** bits - 1}u);`,
    '  let g = col * p.groups + row / p.group;',
    `  out[i] = S[g] * (code - ${zeroPoints ? 'Z[g]' : `${2 ** (bits - 1)}.0`});`,
    '}',
  ].join('\n');
  return [
    {
      wgsl,
      workgroups: linearGrid(Math.ceil(total / WORKGROUP), ctx.limits, 'dequantize'),
      bindings: [...Array.from({ length: operands }, (_, k) => ({ buffer: input(k) })), { buffer: OUTPUT }],
      params: params.data(),
    },
  ];
}
