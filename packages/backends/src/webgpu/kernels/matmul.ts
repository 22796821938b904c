import { broadcastStrides, codesPerWord, type Expr } from '@loom/graph';
import { UnsupportedOpError, WebGpuLimitError } from '../errors.ts';
import { input, OUTPUT, sizeOfShape, type KernelContext, type KernelLaunch } from '../kernel.ts';
import { WGSL } from '../../expr/languages/wgsl.ts';
import { renderExpr } from '../../expr/render-expr.ts';
import { entryPoint, linearGrid, Params, storageDecl } from '../wgsl.ts';
import { classifyAccess, renderBroadcastOffsets } from './broadcast.ts';

/**
 * Batched matmul, and fused_matmul (the epilogue expression runs on each result before the store).
 *
 * Two kernels:
 * - tiled (M > 32): a workgroup of 16 x 16 invocations computes a 64 x 64 block of the output, each
 *   invocation a 4 x 4 register block (rows ty + 16 i, columns tx + 16 j, so neighbouring invocations
 *   store neighbouring columns). K is walked in slices of 16: both operand slices are staged in
 *   workgroup memory (bounds-checked, zero-filled), then every invocation does 16 FMAs per k from
 *   registers.
 * - skinny (M <= 32: decoding, GEMV): a workgroup covers MB rows (1, 2, 4 or 8) and 256 columns, each
 *   invocation 4 columns; the rows of A are staged in workgroup memory 64 values of K at a time and
 *   B streams from memory once. A 64 x 64 tile would waste up to 63/64 of its work here.
 *
 * A transposed B without batch axes that is larger than one storage binding (GPT-2's tied head,
 * x @ wte^T) is bound in blocks of rows, one launch per block writing its block of output columns.
 *
 * Batches: batch axes broadcast (strides are Params); axes that are contiguous in both operands
 * merge, and the rest is padded to a fixed rank so one pipeline serves every batch layout. When b
 * has no batch of its own (x @ W) and a is dense, the batch folds into M. transposeB is a Param too.
 */
const TILE = 64;
const DEPTH = 16;
const THREADS = 16;
const BLOCK = TILE / THREADS;
const BATCH_RANK = 3;
const SKINNY_ROWS = 8;
/** Up to this M the skinny kernel is used (it streams B once per 8 rows). */
const SKINNY_LIMIT = 32;
const SKINNY_THREADS = 64;
const SKINNY_COLS = 4;
const SKINNY_DEPTH = 64;

export function matmulKernel(ctx: KernelContext<'matmul'>): KernelLaunch[] {
  return renderMatmul(ctx, ctx.attrs.transposeB, undefined);
}

export function fusedMatmulKernel(ctx: KernelContext<'fused_matmul'>): KernelLaunch[] {
  return renderMatmul(ctx, ctx.attrs.transposeB, ctx.attrs.epilogue);
}

/**
 * A product with a quantized weight: the same two kernels, reading B as W^T ([N, K]) through `wq`,
 * which unpacks a code from its 24-bit word and scales it (W = scale * (code - zero point)). The
 * codes (a third of the float32 weight's bytes at 8 bits, a sixth at 4) are what streams.
 */
export function quantizedMatmulKernel(ctx: KernelContext<'quantized_matmul'>): KernelLaunch[] {
  const { bits, group, zeroPoints } = ctx.attrs;
  if (ctx.attrs.activations !== 'f32') throw new UnsupportedOpError('quantized_matmul', `node %${ctx.node.id}: int8 activations reach the WebGPU kernels as quantize_activations and a float product (gpuPipeline's split-activation-rounding); this plan was compiled without it`);
  return renderMatmul(ctx, true, ctx.attrs.epilogue, { bits, group, zeroPoints });
}

interface QuantizedB {
  readonly bits: 8 | 4;
  readonly group: number;
  readonly zeroPoints: boolean;
}

/** WGSL of `wq(n, k)`: weight (k, n) of a quantized B, from Q (codes), S (scales) and Z (zero points). */
function quantizedRead(q: QuantizedB): string[] {
  const per = codesPerWord(q.bits);
  return [
    'fn wq(n: u32, k: u32) -> f32 {',
    `  let word = u32(Q[n * p.q_words + k / ${per}u]);`,
    `  let code = f32((word >> ((k % ${per}u) * ${q.bits}u)) & ${2 ** q.bits - 1}u);`,
    '  let g = n * p.q_groups + k / p.q_group;',
    `  return S[g] * (code - ${q.zeroPoints ? 'Z[g]' : `${2 ** (q.bits - 1)}.0`});`,
    '}',
  ];
}

interface BatchLayout {
  /** Batch extents (outermost first), merged and padded to at least BATCH_RANK. */
  readonly sizes: number[];
  readonly aStrides: number[];
  readonly bStrides: number[];
  readonly count: number;
  readonly M: number;
}

/** Batch axes of the product: broadcast strides, folded into M or merged where possible. */
function batchLayout(aShape: readonly number[], bShape: readonly number[], out: readonly number[], K: number): BatchLayout {
  const rank = out.length;
  const [M0, N] = [out[rank - 2]!, out[rank - 1]!];
  const batchShape = out.slice(0, -2);
  const count = sizeOfShape(batchShape);
  const a = broadcastStrides(aShape.slice(0, -2), batchShape).map((s) => s * M0 * K);
  const b = broadcastStrides(bShape.slice(0, -2), batchShape).map((s) => s * K * N);
  const pad = (xs: number[], fill: number) => [...new Array<number>(Math.max(0, BATCH_RANK - xs.length)).fill(fill), ...xs];
  if (count > 1 && b.every((s) => s === 0) && sizeOfShape(aShape.slice(0, -2)) === count) {
    return { sizes: pad([], 1), aStrides: pad([], 0), bStrides: pad([], 0), count: 1, M: M0 * count };
  }
  const axes: { size: number; a: number; b: number }[] = [];
  batchShape.forEach((size, i) => {
    if (size === 1) return;
    const last = axes[axes.length - 1];
    // merge with the previous axis when it is exactly `size` steps of this one in both operands
    if (last && last.a === a[i]! * size && last.b === b[i]! * size) {
      last.size *= size;
      last.a = a[i]!;
      last.b = b[i]!;
    } else axes.push({ size, a: a[i]!, b: b[i]! });
  });
  return {
    sizes: pad(axes.map((x) => x.size), 1),
    aStrides: pad(axes.map((x) => x.a), 0),
    bStrides: pad(axes.map((x) => x.b), 0),
    count,
    M: M0,
  };
}

/** WGSL computing `a_off` and `b_off` for batch index `batch` (sizes and strides in Params). */
function batchOffsets(layout: BatchLayout, params: Params): string[] {
  const lines = ['var a_off = 0u;', 'var b_off = 0u;', 'var brem = batch;'];
  const rank = layout.sizes.length;
  for (let d = rank - 1; d >= 0; d--) {
    params.u32(`as${d}`, layout.aStrides[d]!).u32(`bs${d}`, layout.bStrides[d]!);
    if (d > 0) {
      params.u32(`bsize${d}`, layout.sizes[d]!);
      lines.push(`let bc${d} = brem % p.bsize${d};`, `brem = brem / p.bsize${d};`);
    } else lines.push('let bc0 = brem;');
    lines.push(`a_off += bc${d} * p.as${d};`, `b_off += bc${d} * p.bs${d};`);
  }
  return lines;
}

function renderMatmul(ctx: KernelContext, transposeB: boolean, epilogue: Expr | undefined, quantized?: QuantizedB): KernelLaunch[] {
  const operands = quantized ? (quantized.zeroPoints ? 4 : 3) : 2;
  const [a, b] = ctx.inputs;
  const extras = ctx.inputs.slice(operands);
  const out = ctx.output.shape;
  const rank = out.length;
  const N = out[rank - 1]!;
  const K = a!.shape[a!.shape.length - 1]!;
  if (sizeOfShape(out) === 0) return [];
  // a quantized B is one [N, K] matrix, read transposed through wq
  const layout = batchLayout(a!.shape, quantized ? [N, K] : b!.shape, out, K);
  const M = layout.M;
  const skinny = M <= SKINNY_LIMIT;
  const rowsPerGroup = skinny ? Math.min(nextPow2(M), SKINNY_ROWS) : TILE;
  const colsPerGroup = skinny ? SKINNY_THREADS * SKINNY_COLS : TILE;
  const mGroups = Math.ceil(M / rowsPerGroup);
  const rowGroups = linearGrid(layout.count * mGroups, ctx.limits, 'matmul');

  // x @ W^T with W larger than one storage binding (a tied LM head): one launch per block of W's rows
  const rowBytes = K * 4;
  let chunk = N;
  if (quantized) {
    const bytes = sizeOfShape(b!.shape) * 4;
    if (bytes > ctx.limits.maxStorageBufferBindingSize) throw new WebGpuLimitError(`quantized_matmul (node %${ctx.node.id}): the codes of ${b!.label} (${bytes} bytes) exceed the device's maxStorageBufferBindingSize`);
  } else if (transposeB && sizeOfShape(b!.shape.slice(0, -2)) === 1 && N * rowBytes > ctx.limits.maxStorageBufferBindingSize) {
    const alignment = ctx.limits.minStorageBufferOffsetAlignment;
    const step = alignment / gcd(rowBytes, alignment);
    chunk = Math.floor(Math.floor(ctx.limits.maxStorageBufferBindingSize / rowBytes) / step) * step;
    if (chunk === 0) throw new WebGpuLimitError(`matmul (node %${ctx.node.id}): one row of ${b!.label} (${rowBytes} bytes) exceeds the device's maxStorageBufferBindingSize`);
  }

  const launches: KernelLaunch[] = [];
  let wgsl = '';
  for (let first = 0; first < N; first += chunk) {
    const count = Math.min(chunk, N - first);
    const nGroups = Math.ceil(count / colsPerGroup);
    const max = ctx.limits.maxComputeWorkgroupsPerDimension;
    if (nGroups > max) throw new WebGpuLimitError(`matmul (node %${ctx.node.id}): N = ${N} needs ${nGroups} column tiles, more than the device's ${max} workgroups per dimension`);
    const params = new Params()
      .u32('M', M)
      .u32('N', N)
      .u32('K', K)
      .u32('n_offset', first)
      .u32('n_count', count)
      .u32('m_groups', mGroups)
      .u32('row_groups', layout.count * mGroups)
      .u32('transpose_b', transposeB ? 1 : 0);
    if (quantized) params.u32('q_words', b!.shape[1]!).u32('q_groups', ctx.inputs[2]!.shape[1]!).u32('q_group', quantized.group);
    const batchLines = batchOffsets(layout, params);
    // epilogue: extra inputs broadcast against the output; offsets from the linear output index `oi`
    const extraAccess = extras.map((x) => ({ shape: x!.shape, access: classifyAccess(x!.shape, out) }));
    const extraOffsets = renderBroadcastOffsets('oi', extraAccess, out, params, 'x');
    const rendered = epilogue
      ? renderExpr(WGSL, epilogue, [{ value: 'v', dtype: 'f32' }, ...extras.map((x, k) => ({ value: `xv${k}`, dtype: x!.dtype }))])
      : undefined;
    // `col` counts columns of this launch's block; the output row is N wide
    const store = (value: string): string[] =>
      rendered
        ? [
            `let v = ${value};`,
            'let oi = out_base + row * p.N + p.n_offset + col;',
            ...extraOffsets,
            ...extras.map((_, k) => `let xv${k} = X${k}[xo${k}];`),
            ...rendered.statements,
            `C[oi] = ${rendered.result};`,
          ]
        : [`C[out_base + row * p.N + p.n_offset + col] = ${value};`];
    if (!wgsl) {
      const weight = quantized
        ? [storageDecl(1, 'Q', 'i32', 'read'), storageDecl(2, 'S', 'f32', 'read'), ...(quantized.zeroPoints ? [storageDecl(3, 'Z', 'f32', 'read')] : [])]
        : [storageDecl(1, 'B', 'f32', 'read')];
      const head = [
        storageDecl(0, 'A', 'f32', 'read'),
        ...weight,
        ...extras.map((x, k) => storageDecl(operands + k, `X${k}`, x!.dtype, 'read')),
        storageDecl(operands + extras.length, 'C', 'f32', 'read_write'),
        params.declare(operands + 1 + extras.length),
        ...(rendered?.helpers ?? []),
        ...(quantized ? quantizedRead(quantized) : []),
      ];
      wgsl = [...head, ...(skinny ? skinnyBody(rowsPerGroup, batchLines, store, Boolean(quantized)) : tiledBody(batchLines, store, Boolean(quantized)))].join('\n');
    }
    launches.push({
      wgsl,
      workgroups: [nGroups, rowGroups[0], rowGroups[1]],
      bindings: [
        { buffer: input(0) },
        ...(quantized
          ? Array.from({ length: operands - 1 }, (_, k) => ({ buffer: input(1 + k) }))
          : [chunk === N ? { buffer: input(1) } : { buffer: input(1), offset: first * rowBytes, size: count * rowBytes }]),
        ...extras.map((_, k) => ({ buffer: input(operands + k) })),
        { buffer: OUTPUT },
      ],
      params: params.data(),
    });
  }
  return launches;
}

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

/** `quantized`: B is read as W^T through wq (only the transposed branch is emitted). */
function tiledBody(batchLines: string[], store: (value: string) => string[], quantized: boolean): string[] {
  const indent = (lines: string[], by: string) => lines.map((l) => by + l);
  return [
    `const TILE = ${TILE}u;`,
    `const DEPTH = ${DEPTH}u;`,
    `const THREADS = ${THREADS}u;`,
    // rows of TILE + 1 floats: the transposing stores (16 neighbouring invocations, one column, 16 rows) hit 16 banks
    `const STRIDE = ${TILE + 1}u;`,
    `var<workgroup> As: array<f32, ${(TILE + 1) * DEPTH}>;`,
    `var<workgroup> Bs: array<f32, ${(TILE + 1) * DEPTH}>;`,
    entryPoint(THREADS * THREADS),
    '  let group = wid.z * nwg.y + wid.y;',
    '  if (group >= p.row_groups) { return; }',
    '  let batch = group / p.m_groups;',
    '  let tile_m = (group % p.m_groups) * TILE;',
    '  let tile_n = wid.x * TILE;',
    '  let tx = lid % THREADS;',
    '  let ty = lid / THREADS;',
    ...indent(batchLines, '  '),
    '  let out_base = batch * p.M * p.N;',
    ...Array.from({ length: BLOCK }, (_, i) => `  var acc${i} = vec4<f32>();`),
    '  for (var k0 = 0u; k0 < p.K; k0 += DEPTH) {',
    `    for (var r = 0u; r < ${(TILE * DEPTH) / (THREADS * THREADS)}u; r++) {`,
    `      let idx = lid + r * ${THREADS * THREADS}u;`,
    '      let am = idx / DEPTH; let ak = idx % DEPTH;',
    '      var av = 0.0;',
    '      if (tile_m + am < p.M && k0 + ak < p.K) { av = A[a_off + (tile_m + am) * p.K + k0 + ak]; }',
    '      As[ak * STRIDE + am] = av;',
    '      var bv = 0.0;',
    ...(quantized
      ? [
          '      let bn = idx / DEPTH; let bk = idx % DEPTH;',
          '      if (tile_n + bn < p.n_count && k0 + bk < p.K) { bv = wq(tile_n + bn, k0 + bk); }',
          '      Bs[bk * STRIDE + bn] = bv;',
        ]
      : [
          '      if (p.transpose_b == 1u) {',
          '        let bn = idx / DEPTH; let bk = idx % DEPTH;',
          '        if (tile_n + bn < p.n_count && k0 + bk < p.K) { bv = B[b_off + (tile_n + bn) * p.K + k0 + bk]; }',
          '        Bs[bk * STRIDE + bn] = bv;',
          '      } else {',
          '        let bk = idx / TILE; let bn = idx % TILE;',
          '        if (tile_n + bn < p.n_count && k0 + bk < p.K) { bv = B[b_off + (k0 + bk) * p.N + tile_n + bn]; }',
          '        Bs[bk * STRIDE + bn] = bv;',
          '      }',
        ]),
    '    }',
    '    workgroupBarrier();',
    '    for (var k = 0u; k < DEPTH; k++) {',
    `      let bv = vec4<f32>(${[0, 1, 2, 3].map((j) => `Bs[k * STRIDE + tx + ${j * THREADS}u]`).join(', ')});`,
    ...Array.from({ length: BLOCK }, (_, i) => `      acc${i} += As[k * STRIDE + ty + ${i * THREADS}u] * bv;`),
    '    }',
    '    workgroupBarrier();',
    '  }',
    ...Array.from({ length: BLOCK }, (_, i) => [
      '  {',
      `    let row = tile_m + ty + ${i * THREADS}u;`,
      '    if (row < p.M) {',
      `      for (var j = 0u; j < ${BLOCK}u; j++) {`,
      '        let col = tile_n + tx + j * THREADS;',
      '        if (col < p.n_count) {',
      ...indent(store(`acc${i}[j]`), '          '),
      '        }',
      '      }',
      '    }',
      '  }',
    ]).flat(),
    '}',
  ];
}

/** `quantized`: B is read as W^T through wq (only the transposed branch is emitted). */
function skinnyBody(rows: number, batchLines: string[], store: (value: string) => string[], quantized: boolean): string[] {
  const indent = (lines: string[], by: string) => lines.map((l) => by + l);
  const cols = [0, 1, 2, 3].slice(0, SKINNY_COLS);
  const colIndex = (c: number) => `min(n0 + ${c * SKINNY_THREADS}u, p.n_count - 1u)`;
  return [
    `const MB = ${rows}u;`,
    `const KC = ${SKINNY_DEPTH}u;`,
    `var<workgroup> As: array<f32, ${rows * SKINNY_DEPTH}>;`,
    entryPoint(SKINNY_THREADS),
    '  let group = wid.z * nwg.y + wid.y;',
    '  if (group >= p.row_groups) { return; }',
    '  let batch = group / p.m_groups;',
    '  let m0 = (group % p.m_groups) * MB;',
    `  let n0 = wid.x * ${SKINNY_THREADS * SKINNY_COLS}u + lid;`,
    ...indent(batchLines, '  '),
    '  let out_base = batch * p.M * p.N;',
    ...Array.from({ length: rows }, (_, m) => `  var acc${m} = vec4<f32>();`),
    '  for (var k0 = 0u; k0 < p.K; k0 += KC) {',
    `    for (var i = lid; i < MB * KC; i += ${SKINNY_THREADS}u) {`,
    '      let m = i / KC; let k = i % KC;',
    '      var av = 0.0;',
    '      if (m0 + m < p.M && k0 + k < p.K) { av = A[a_off + (m0 + m) * p.K + k0 + k]; }',
    '      As[i] = av;',
    '    }',
    '    workgroupBarrier();',
    '    let kn = min(KC, p.K - k0);',
    ...(quantized
      ? [
          ...cols.map((c) => `    let n${c} = ${colIndex(c)};`),
          '    for (var k = 0u; k < kn; k++) {',
          `      let bv = vec4<f32>(${cols.map((c) => `wq(n${c}, k0 + k)`).join(', ')});`,
          ...Array.from({ length: rows }, (_, m) => `      acc${m} += As[${m}u * KC + k] * bv;`),
          '    }',
        ]
      : [
          '    if (p.transpose_b == 1u) {',
          ...cols.map((c) => `      let r${c} = b_off + ${colIndex(c)} * p.K + k0;`),
          '      for (var k = 0u; k < kn; k++) {',
          `        let bv = vec4<f32>(${cols.map((c) => `B[r${c} + k]`).join(', ')});`,
          ...Array.from({ length: rows }, (_, m) => `        acc${m} += As[${m}u * KC + k] * bv;`),
          '      }',
          '    } else {',
          '      for (var k = 0u; k < kn; k++) {',
          '        let r = b_off + (k0 + k) * p.N;',
          `        let bv = vec4<f32>(${cols.map((c) => `B[r + ${colIndex(c)}]`).join(', ')});`,
          ...Array.from({ length: rows }, (_, m) => `        acc${m} += As[${m}u * KC + k] * bv;`),
          '      }',
          '    }',
        ]),
    '    workgroupBarrier();',
    '  }',
    ...Array.from({ length: rows }, (_, m) => [
      '  {',
      `    let row = m0 + ${m}u;`,
      '    if (row < p.M) {',
      `      for (var c = 0u; c < ${SKINNY_COLS}u; c++) {`,
      `        let col = n0 + c * ${SKINNY_THREADS}u;`,
      '        if (col < p.n_count) {',
      ...indent(store(`acc${m}[c]`), '          '),
      '        }',
      '      }',
      '    }',
      '  }',
    ]).flat(),
    '}',
  ];
}

function nextPow2(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}
