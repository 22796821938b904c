import { attentionInputs, broadcastStrides, MASKED, usesPositions } from '@loom/graph';
import { WGSL } from '../../expr/languages/wgsl.ts';
import { input, OUTPUT, sizeOfShape, type KernelContext, type KernelLaunch } from '../kernel.ts';
import { entryPoint, f32Literal, linearGrid, Params, storageDecl } from '../wgsl.ts';
import { F32_LOWEST } from './reduce-helpers.ts';
import { attentionShape } from '../../gpu/attention-shape.ts';

/** Keys per tile = invocations per workgroup. */
const KEYS = 64;

/**
 * fused_attention: softmax(q k^T * scale + mask) v with an online softmax, so the Tq x Tk score
 * matrix never exists. One workgroup per (batch, query row): the query row waits in workgroup
 * memory; per tile of 64 keys each invocation scores one key (into workgroup memory), every
 * invocation reads the tile's max to update the running max m, and rescales and accumulates its
 * share of the Dv output columns:
 *   m' = max(m, max_j s_j);  l = l e^(m - m') + sum_j e^(s_j - m');  acc = acc e^(m - m') + sum_j e^(s_j - m') v_j
 * The head sizes Dh and Dv are baked into the source (they are static in every model); the lengths
 * and the mask's broadcast strides are Params. k and v may have extent 1 on leading axes where q
 * does not (grouped-query attention): their batch offsets then come from broadcast strides.
 * The extras (fused_attention's attributes) are in the score: s = cap tanh(s / cap), + mask, + the
 * head's ALiBi slope (kpos - qpos), + MASKED where the key is negative, after the query or out of the
 * window, with positions read from QPos and KPos (or the queries at the end of the keys).
 */
export function attentionKernel(ctx: KernelContext<'fused_attention'>): KernelLaunch[] {
  const { q, k, v, mask, qPositions, kPositions } = attentionInputs(ctx.inputs, ctx.attrs);
  const { rank, tq, dh, tk, dv, batchShape, batches } = attentionShape(q!, k!, v!);
  if (sizeOfShape(ctx.output.shape) === 0) return [];
  const perThread = Math.ceil(dv / KEYS);
  const params = new Params().u32('rows', batches * tq).u32('tq', tq).u32('tk', tk).f32('scale', ctx.attrs.scale);
  const maskLines: string[] = [];
  if (mask) {
    const strides = broadcastStrides(mask.shape, [...batchShape, tq, tk]);
    params.u32('m_sq', strides[rank - 2]!).u32('m_sk', strides[rank - 1]!);
    maskLines.push('var mask_base = qi * p.m_sq;', 'var brem = b;');
    for (let d = rank - 3; d >= 0; d--) {
      params.u32(`m_s${d}`, strides[d]!);
      if (d > 0) {
        params.u32(`bsize${d}`, batchShape[d]!);
        maskLines.push(`mask_base += (brem % p.bsize${d}) * p.m_s${d};`, `brem = brem / p.bsize${d};`);
      } else maskLines.push('mask_base += brem * p.m_s0;');
    }
  }
  // k and v may broadcast leading axes of extent 1 (grouped-query attention: one kv head per group)
  const kvLines: string[] = [];
  const kvStrides = [k!, v!].map((t) => broadcastStrides(t.shape.slice(0, -2), batchShape));
  const dense = broadcastStrides(batchShape, batchShape);
  if (kvStrides.some((st) => st.some((x, d) => x !== dense[d]))) {
    kvLines.push('var k_rows = 0u;', 'var v_rows = 0u;', 'var kvrem = b;');
    for (let d = rank - 3; d >= 0; d--) {
      params.u32(`ks${d}`, kvStrides[0]![d]!).u32(`vs${d}`, kvStrides[1]![d]!);
      if (d > 0) {
        params.u32(`kvsize${d}`, batchShape[d]!);
        kvLines.push(`let kvc${d} = kvrem % p.kvsize${d};`, `kvrem = kvrem / p.kvsize${d};`);
      } else kvLines.push('let kvc0 = kvrem;');
      kvLines.push(`k_rows += kvc${d} * p.ks${d};`, `v_rows += kvc${d} * p.vs${d};`);
    }
    kvLines.push('let k_base = k_rows * p.tk * DH;', 'let v_base = v_rows * p.tk * DV;');
  } else kvLines.push('let k_base = b * p.tk * DH;', 'let v_base = b * p.tk * DV;');
  const names = mask ? ['Q', 'Kt', 'V', 'Mask'] : ['Q', 'Kt', 'V'];
  const positionNames = qPositions ? ['QPos', 'KPos'] : [];
  const extras = scoreExtras(ctx, tq, tk, batchShape, qPositions !== undefined && qPositions.shape.length === 2, kPositions !== undefined && kPositions.shape.length === 2);
  const wgsl = [
    `const DH = ${dh}u;`,
    `const DV = ${dv}u;`,
    ...names.map((n, i) => storageDecl(i, n, 'f32', 'read')),
    ...positionNames.map((n, i) => storageDecl(names.length + i, n, 'i32', 'read')),
    ...extras.declarations,
    storageDecl(names.length + positionNames.length, 'O', 'f32', 'read_write'),
    params.declare(names.length + positionNames.length + 1),
    `var<workgroup> q_row: array<f32, ${Math.max(dh, 1)}>;`,
    `var<workgroup> weights: array<f32, ${KEYS}>;`,
    `var<workgroup> scores: array<f32, ${KEYS}>;`,
    entryPoint(KEYS),
    '  let row = wg;',
    '  if (row >= p.rows) { return; }',
    '  let b = row / p.tq;',
    '  let qi = row % p.tq;',
    '  let q_base = row * DH;',
    ...kvLines.map((l) => `  ${l}`),
    ...maskLines.map((l) => `  ${l}`),
    ...extras.rowLines.map((l) => `  ${l}`),
    `  for (var d = lid; d < DH; d += ${KEYS}u) { q_row[d] = Q[q_base + d]; }`,
    '  workgroupBarrier();',
    `  var m = ${F32_LOWEST};`,
    '  var l = 0.0;',
    `  var acc: array<f32, ${perThread}>;`,
    `  for (var t0 = 0u; t0 < p.tk; t0 += ${KEYS}u) {`,
    '    let key = t0 + lid;',
    `    var s = ${F32_LOWEST};`,
    '    if (key < p.tk) {',
    '      var dot = 0.0;',
    '      let kr = k_base + key * DH;',
    '      for (var d = 0u; d < DH; d++) { dot += q_row[d] * Kt[kr + d]; }',
    '      s = dot * p.scale;',
    ...extras.capLines.map((l) => `      ${l}`),
    ...(mask ? ['      s = s + Mask[mask_base + key * p.m_sk];'] : []),
    ...extras.keyLines.map((l) => `      ${l}`),
    '    }',
    // every invocation reads the tile's scores: 3 barriers per tile instead of a reduction tree
    '    scores[lid] = s;',
    '    workgroupBarrier();',
    `    let count = min(${KEYS}u, p.tk - t0);`,
    '    var tile_max = scores[0];',
    '    for (var j = 1u; j < count; j++) { tile_max = max(tile_max, scores[j]); }',
    '    let m_new = max(m, tile_max);',
    '    weights[lid] = select(0.0, exp(s - m_new), key < p.tk);',
    '    workgroupBarrier();',
    '    let alpha = exp(m - m_new);',
    '    var tile_sum = 0.0;',
    '    for (var j = 0u; j < count; j++) { tile_sum += weights[j]; }',
    '    l = l * alpha + tile_sum;',
    `    for (var c = 0u; c < ${perThread}u; c++) {`,
    `      let d = lid + c * ${KEYS}u;`,
    '      if (d < DV) {',
    '        var sum = 0.0;',
    '        let vr = v_base + t0 * DV + d;',
    '        for (var j = 0u; j < count; j++) { sum += weights[j] * V[vr + j * DV]; }',
    '        acc[c] = acc[c] * alpha + sum;',
    '      }',
    '    }',
    '    m = m_new;',
    '    workgroupBarrier();',
    '  }',
    '  let inv = 1.0 / l;',
    `  for (var c = 0u; c < ${perThread}u; c++) {`,
    `    let d = lid + c * ${KEYS}u;`,
    '    if (d < DV) { O[row * DV + d] = acc[c] * inv; }',
    '  }',
    '}',
  ].join('\n');
  return [
    {
      wgsl,
      workgroups: linearGrid(batches * tq, ctx.limits, 'fused_attention'),
      bindings: [...[...names, ...positionNames].map((_, i) => ({ buffer: input(i) })), { buffer: OUTPUT }],
      params: params.data(),
    },
  ];
}

/**
 * WGSL for the extras: declarations (tanh, the slopes), per query row (its batch row, head and
 * position `qp`), and per key after scaling (`capLines`) and after the mask (`keyLines`, from `kp`).
 */
function scoreExtras(ctx: KernelContext<'fused_attention'>, tq: number, tk: number, batchShape: readonly number[], qPerRow: boolean, kPerRow: boolean) {
  const a = ctx.attrs;
  const declarations: string[] = [];
  const rowLines: string[] = [];
  const capLines: string[] = [];
  const keyLines: string[] = [];
  if (a.softcap !== null) {
    declarations.push(WGSL.helpers.loom_tanh);
    capLines.push(`s = ${f32Literal(a.softcap)} * loom_tanh(s / ${f32Literal(a.softcap)});`);
  }
  if (!usesPositions(a)) return { declarations, rowLines, capLines, keyLines };
  // b counts (batch row, head) pairs: the heads of a row are the axes between the first and the last two
  const headsPerRow = batchShape.slice(1).reduce((p, d) => p * d, 1);
  rowLines.push(`let batch_row = b / ${headsPerRow}u;`);
  if (a.positions) {
    rowLines.push(`let qp = QPos[${qPerRow ? `batch_row * ${tq}u + qi` : 'qi'}];`, `let kp_base = ${kPerRow ? `batch_row * ${tk}u` : '0u'};`);
    keyLines.push('let kp = KPos[kp_base + key];');
  } else {
    rowLines.push(`let qp = i32(qi) + ${tk - tq}i;`);
    keyLines.push('let kp = i32(key);');
  }
  if (a.alibi !== null) {
    declarations.push(`var<private> SLOPES: array<f32, ${a.alibi.length}> = array<f32, ${a.alibi.length}>(${a.alibi.map(f32Literal).join(', ')});`);
    rowLines.push(`let head = b % ${headsPerRow}u;`);
    keyLines.push('s = s + SLOPES[head] * f32(kp - qp);');
  }
  const hidden = ['kp < 0i', ...(a.causal ? ['kp > qp'] : []), ...(a.window !== null ? [`qp - kp >= ${a.window}i`] : [])];
  keyLines.push(`if (${hidden.join(' || ')}) { s = s + ${f32Literal(MASKED)}; }`);
  return { declarations, rowLines, capLines, keyLines };
}
