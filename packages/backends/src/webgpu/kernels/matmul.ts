import { broadcastStrides, type Expr } from '@loom/graph';
import { GpuLimitError } from '../errors.ts';
import { input, OUTPUT, sizeOfShape, type KernelContext, type KernelLaunch } from '../kernel.ts';
import { renderExpr } from '../wgsl-expr.ts';
import { entryPoint, linearGrid, Params, storageDecl } from '../wgsl.ts';
import { classifyAccess, renderBroadcastOffsets } from './broadcast.ts';

/**
 * Batched matmul (and fused_matmul: the epilogue expression runs on each result before the store).
 *
 * Tiling: a workgroup of 16 x 16 invocations computes a TILE x TILE block of the output, each
 * invocation a 4 x 4 register block (rows ty + 16 i, columns tx + 16 j, so neighbouring invocations
 * store neighbouring columns). The K axis is walked in slices of DEPTH: both operand slices are
 * staged in workgroup memory (bounds-checked, zero-filled), then every invocation does its 16 FMAs
 * per step of k from registers.
 *
 * Batches: batch axes broadcast (strides come as Params). When b has no batch of its own (x @ W)
 * and a is dense, the batch folds into M, so one [B*T, K] @ [K, N] product fills the tiles.
 */
const TILE = 64;
const DEPTH = 16;
const THREADS = 16;
const BLOCK = TILE / THREADS;

export function matmulKernel(ctx: KernelContext<'matmul'>): KernelLaunch[] {
  return renderMatmul(ctx, ctx.attrs.transposeB, undefined);
}

export function fusedMatmulKernel(ctx: KernelContext<'fused_matmul'>): KernelLaunch[] {
  return renderMatmul(ctx, ctx.attrs.transposeB, ctx.attrs.epilogue);
}

function renderMatmul(ctx: KernelContext, transposeB: boolean, epilogue: Expr | undefined): KernelLaunch[] {
  const [a, b, ...extras] = ctx.inputs;
  const out = ctx.output.shape;
  const rank = out.length;
  const M0 = out[rank - 2]!;
  const N = out[rank - 1]!;
  const K = a!.shape[a!.shape.length - 1]!;
  if (sizeOfShape(out) === 0) return [];
  const batchShape = out.slice(0, -2);
  const batches0 = sizeOfShape(batchShape);
  let aStrides = broadcastStrides(a!.shape.slice(0, -2), batchShape).map((s) => s * M0 * K);
  let bStrides = broadcastStrides(b!.shape.slice(0, -2), batchShape).map((s) => s * K * N);
  const aDense = sizeOfShape(a!.shape.slice(0, -2)) === batches0;
  const fold = batches0 > 1 && bStrides.every((s) => s === 0) && aDense;
  const M = fold ? M0 * batches0 : M0;
  let batch = fold ? [] : batchShape;
  if (fold) aStrides = bStrides = [];
  // drop batch axes of extent 1
  const keep = batch.map((d) => d !== 1);
  batch = batch.filter((_, i) => keep[i]);
  aStrides = aStrides.filter((_, i) => keep[i]);
  bStrides = bStrides.filter((_, i) => keep[i]);
  const batches = sizeOfShape(batch);

  const mTiles = Math.ceil(M / TILE);
  const nTiles = Math.ceil(N / TILE);
  const max = ctx.limits.maxComputeWorkgroupsPerDimension;
  if (nTiles > max) throw new GpuLimitError(`matmul (node %${ctx.node.id}): N = ${N} needs ${nTiles} column tiles, more than the device's ${max} workgroups per dimension`);
  const rowGroups = linearGrid(batches * mTiles, ctx.limits, 'matmul');

  const params = new Params().u32('M', M).u32('N', N).u32('K', K).u32('m_tiles', mTiles).u32('row_groups', batches * mTiles);
  const batchLines: string[] = ['var a_off = 0u;', 'var b_off = 0u;'];
  if (batch.length > 0) {
    batchLines.push('var brem = batch;');
    for (let d = batch.length - 1; d >= 0; d--) {
      params.u32(`as${d}`, aStrides[d]!).u32(`bs${d}`, bStrides[d]!);
      if (d > 0) {
        params.u32(`bsize${d}`, batch[d]!);
        batchLines.push(`let bc${d} = brem % p.bsize${d};`, `brem = brem / p.bsize${d};`);
      } else batchLines.push('let bc0 = brem;');
      batchLines.push(`a_off += bc${d} * p.as${d};`, `b_off += bc${d} * p.bs${d};`);
    }
  }

  // epilogue: extra inputs broadcast against the (unfolded) output; offsets from the linear output index
  const extraAccess = extras.map((x) => ({ shape: x!.shape, access: classifyAccess(x!.shape, out) }));
  const extraOffsets = renderBroadcastOffsets('oi', extraAccess, out, params, 'x');
  const rendered = epilogue
    ? renderExpr(epilogue, [{ value: 'v', dtype: 'f32' }, ...extras.map((x, k) => ({ value: `xv${k}`, dtype: x!.dtype }))])
    : undefined;

  const bLoad = transposeB
    ? ['let n = idx / DEPTH; let k = idx % DEPTH;', 'let gn = tile_n + n; let gk = k0 + k;', 'var v = 0.0;', 'if (gn < p.N && gk < p.K) { v = B[b_off + gn * p.K + gk]; }', 'Bs[k * TILE + n] = v;']
    : ['let k = idx / TILE; let n = idx % TILE;', 'let gn = tile_n + n; let gk = k0 + k;', 'var v = 0.0;', 'if (gn < p.N && gk < p.K) { v = B[b_off + gk * p.N + gn]; }', 'Bs[k * TILE + n] = v;'];

  const store = rendered
    ? [
        'let oi = out_base + row * p.N + col;',
        ...extraOffsets,
        ...extras.map((_, k) => `let xv${k} = X${k}[xo${k}];`),
        ...rendered.statements,
        `C[oi] = ${rendered.result};`,
      ]
    : ['C[out_base + row * p.N + col] = v;'];

  const wgsl = [
    `const TILE = ${TILE}u;`,
    `const DEPTH = ${DEPTH}u;`,
    `const THREADS = ${THREADS}u;`,
    storageDecl(0, 'A', 'f32', 'read'),
    storageDecl(1, 'B', 'f32', 'read'),
    ...extras.map((x, k) => storageDecl(2 + k, `X${k}`, x!.dtype, 'read')),
    storageDecl(2 + extras.length, 'C', 'f32', 'read_write'),
    params.declare(3 + extras.length),
    ...(rendered?.helpers ?? []),
    `var<workgroup> As: array<f32, ${TILE * DEPTH}>;`,
    `var<workgroup> Bs: array<f32, ${TILE * DEPTH}>;`,
    entryPoint(THREADS * THREADS),
    '  let group = wid.z * nwg.y + wid.y;',
    '  if (group >= p.row_groups) { return; }',
    '  let batch = group / p.m_tiles;',
    '  let tile_m = (group % p.m_tiles) * TILE;',
    '  let tile_n = wid.x * TILE;',
    '  let tx = lid % THREADS;',
    '  let ty = lid / THREADS;',
    ...batchLines.map((l) => `  ${l}`),
    '  let out_base = batch * p.M * p.N;',
    `  var acc: array<vec4<f32>, ${BLOCK}>;`,
    '  for (var k0 = 0u; k0 < p.K; k0 += DEPTH) {',
    `    for (var r = 0u; r < ${(TILE * DEPTH) / (THREADS * THREADS)}u; r++) {`,
    `      let idx = lid + r * ${THREADS * THREADS}u;`,
    '      {',
    '        let m = idx / DEPTH; let k = idx % DEPTH;',
    '        let gm = tile_m + m; let gk = k0 + k;',
    '        var v = 0.0;',
    '        if (gm < p.M && gk < p.K) { v = A[a_off + gm * p.K + gk]; }',
    '        As[k * TILE + m] = v;',
    '      }',
    '      {',
    ...bLoad.map((l) => `        ${l}`),
    '      }',
    '    }',
    '    workgroupBarrier();',
    '    for (var k = 0u; k < DEPTH; k++) {',
    `      let bv = vec4<f32>(${[0, 1, 2, 3].map((j) => `Bs[k * TILE + tx + ${j * THREADS}u]`).join(', ')});`,
    ...Array.from({ length: BLOCK }, (_, i) => `      acc[${i}] += As[k * TILE + ty + ${i * THREADS}u] * bv;`),
    '    }',
    '    workgroupBarrier();',
    '  }',
    `  for (var i = 0u; i < ${BLOCK}u; i++) {`,
    '    let row = tile_m + ty + i * THREADS;',
    '    if (row >= p.M) { break; }',
    `    for (var j = 0u; j < ${BLOCK}u; j++) {`,
    '      let col = tile_n + tx + j * THREADS;',
    '      if (col >= p.N) { break; }',
    '      let v = acc[i][j];',
    ...store.map((l) => `      ${l}`),
    '    }',
    '  }',
    '}',
  ].join('\n');
  return [
    {
      wgsl,
      workgroups: [nTiles, rowGroups[0], rowGroups[1]],
      bindings: [{ buffer: input(0) }, { buffer: input(1) }, ...extras.map((_, k) => ({ buffer: input(2 + k) })), { buffer: OUTPUT }],
      params: params.data(),
    },
  ];
}
