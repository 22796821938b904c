import { attentionInputs, broadcastStrides, MASKED, stridesOf, usesPositions } from '@loom/graph';
import { GLSL } from '../../expr/languages/glsl.ts';
import { WebGlKernelError } from '../errors.ts';
import { coordinates, f32Literal, imod, int } from '../glsl.ts';
import { input, sample, sizeOfShape, type GlPass, type KernelContext, type TensorInfo } from '../kernel.ts';
import { loopCost } from '../loops.ts';
import { maxAndSumExp, PassList, reduce, SUM } from '../reduction.ts';
import { attentionShape } from '../../gpu/attention-shape.ts';

/**
 * fused_attention: softmax(q k^T * scale + mask) v in two passes.
 * 1. scores[b, i, j] = q[b, i] . k[b, j] * scale + mask (broadcast): one fragment per score.
 * 2. out[b, i, d] = sum_j e^(s_j - m) v[b, j, d] / sum_j e^(s_j - m), m = max_j s_j: each fragment
 *    reads its row of scores, so the row's softmax is never stored.
 * A fragment shader cannot share work between fragments, so the scores are kept in a texture
 * (Tq x Tk per head) rather than recomputed Dv times. k and v may have extent 1 on leading axes
 * where q does not (grouped-query attention: a kv head serves its group of query heads). Past the
 * loop budget (reduction.ts) the dot products are summed in chunks, and a long row of scores gets
 * its (max, sum) in chunks, then the weighted sum of v in chunks, divided by the sum at the end.
 * The extras (fused_attention's attributes) finish each score: s = cap tanh(s / cap), + mask, + the
 * head's ALiBi slope (kpos - qpos), + MASKED where the key is negative, after the query or out of the
 * window, positions read from their textures (or the queries at the end of the keys).
 * q, k and v may come as views (TensorInfo.strides: a head split the device folded in, so that
 * [B, T, H, D] is read as [B, H, T, D] without a transpose pass): each row then starts at its
 * batch coordinates times the view's strides, after its offset (a folded slice's start); the last
 * axis stays contiguous. The output may be written transposed the same way (the heads merged back
 * to [B, T, H, D] as it is drawn).
 */
export function attentionKernel(ctx: KernelContext<'fused_attention'>): GlPass[] {
  const { q, k, v, mask, qPositions, kPositions } = attentionInputs(ctx.inputs, ctx.attrs);
  const { rank, tq, dh, tk, dv, batchShape } = attentionShape(q!, k!, v!);
  const outSize = sizeOfShape(ctx.output.shape);
  if (outSize === 0) return [];
  const scoreShape = [...batchShape, tq, tk];
  const scoreSize = sizeOfShape(scoreShape);
  // the batch index of k and v for the flattened batch index `batch` of q (broadcast axes: stride 0)
  const kvBatch = (t: typeof k, tag: string): string[] => {
    const strides = broadcastStrides(t!.shape.slice(0, -2), batchShape);
    const dense = broadcastStrides(batchShape, batchShape);
    if (strides.every((x, d) => x === dense[d])) return [`int ${tag} = batch;`];
    const lines = coordinates('batch', batchShape, `${tag}_`);
    const terms = strides.map((x, d) => (x === 0 || batchShape[d] === 1 ? '' : `${tag}_c${d} * ${int(x)}`)).filter((term) => term);
    return [...lines, `int ${tag} = ${terms.length > 0 ? terms.join(' + ') : '0'};`];
  };
  const budget = ctx.limits.maxLoopIterations;
  const list = new PassList();
  const views = [q!, k!, v!].some((t) => t.strides !== undefined);
  // a score: row = (batch * Tq + qi) * Tk + kj
  const scoreSetup = views
    ? [`int qRow = row / ${int(tk)};`, `int kj = row - qRow * ${int(tk)};`, `int batch = qRow / ${int(tq)};`, `int qi = qRow - batch * ${int(tq)};`, ...coordinates('batch', batchShape, 'b'), `int qBase = ${rowStart(q!, batchShape, 'qi')};`, `int kBase = ${rowStart(k!, batchShape, 'kj')};`]
    : [`int qRow = row / ${int(tk)};`, `int kj = row - qRow * ${int(tk)};`, `int batch = qRow / ${int(tq)};`, ...kvBatch(k, 'kb'), `int qBase = qRow * ${int(dh)};`, `int kBase = (kb * ${int(tk)} + kj) * ${int(dh)};`];
  const maskTerms = mask ? broadcastStrides(mask.shape, scoreShape).map((s, d) => (s === 0 || scoreShape[d] === 1 ? '' : `mc${d} * ${int(s)}`)).filter((t) => t) : [];
  const a = ctx.attrs;
  // finish inputs: the mask, then the positions (graph inputs 3 and 4, or 4 and 5 after a mask)
  const positionSlot = mask ? 1 : 0;
  const positionInputs = qPositions ? [input(mask ? 4 : 3), input(mask ? 5 : 4)] : [];
  const scaled = (at: (k: number, index: string) => string) => [
    `float s = acc * ${f32Literal(a.scale)};`,
    ...(a.softcap !== null ? [`s = ${f32Literal(a.softcap)} * loom_tanh(s / ${f32Literal(a.softcap)});`] : []),
    ...(mask ? [...coordinates('row', scoreShape, 'm'), `s = s + ${at(0, maskTerms.length > 0 ? maskTerms.join(' + ') : '0')};`] : []),
    ...(usesPositions(a) ? positionalTerms(ctx, tq, tk, batchShape, (slot, index) => at(positionSlot + slot, index), qPositions?.shape.length === 2, kPositions?.shape.length === 2) : []),
    'return s;',
  ];
  const scores = reduce(
    list,
    {
      what: 'fused_attention scores',
      rows: scoreSize,
      count: dh,
      inputs: [input(0), input(1)],
      setup: scoreSetup,
      term: (j) => `${sample(0, `qBase + ${j}`)} * ${sample(1, `kBase + ${j}`)}`,
      fold: SUM,
      finish: scaled,
      finishInputs: [...(mask ? [input(3)] : []), ...positionInputs],
      helpers: a.softcap !== null ? [GLSL.helpers.loom_tanh] : [],
    },
    budget,
  );
  // the softmax x v pass's fragment `row`: its element of the output, the row of scores and v's column.
  // An output written transposed (ctx.output.strides: the heads merged as it is drawn) is indexed
  // in its texture's order: each coordinate is the index over its stride, mod its extent.
  const written = ctx.output.strides;
  const outAxis = (axis: number) => (ctx.output.shape[axis] === 1 ? '0' : imod(`(row / ${int(written![axis]!)})`, ctx.output.shape[axis]!));
  const batchStrides = stridesOf(batchShape);
  const writtenScoreRow = () => `(${[...batchShape.map((extent, d) => (extent === 1 ? '' : `${outAxis(d)} * ${int(batchStrides[d]! * tq)}`)).filter((t) => t), outAxis(rank - 2)].join(' + ')})`;
  // strided reads or writes take the general setup; contiguous ones keep the one unfolded graphs
  // always had (their shaders, and Mesa's caches of them, unchanged)
  const strided = views || written !== undefined;
  const outSetup = strided
    ? [
        ...(written
          ? [`int d = ${outAxis(rank - 1)};`, ...batchShape.map((_, d) => `int bc${d} = ${outAxis(d)};`), `int sRow = ${writtenScoreRow()};`]
          : [`int sRow = row / ${int(dv)};`, `int d = row - sRow * ${int(dv)};`, `int batch = sRow / ${int(tq)};`, ...coordinates('batch', batchShape, 'b')]),
        `int sBase = sRow * ${int(tk)};`,
        `int vBase = ${rowStart(v!, batchShape, '0')} + d;`,
      ]
    : [`int sRow = row / ${int(dv)};`, `int d = row - sRow * ${int(dv)};`, `int batch = sRow / ${int(tq)};`, ...kvBatch(v, 'vb'), `int sBase = sRow * ${int(tk)};`, `int vBase = vb * ${int(tk * dv)} + d;`];
  // elements between v's rows
  const vStep = strided ? rowStride(v!) : dv;
  if (loopCost(tk - 1) + loopCost(tk) <= budget) {
    const outBody = [
      'int row = i;',
      ...outSetup,
      `float m = ${sample(0, 'sBase')};`,
      `for (int j = 1; j < ${int(tk)}; j++) { m = max(m, ${sample(0, 'sBase + j')}); }`,
      'float l = 0.0;',
      'float acc = 0.0;',
      `for (int j = 0; j < ${int(tk)}; j++) {`,
      `  float w = exp(${sample(0, 'sBase + j')} - m);`,
      '  l += w;',
      `  acc += w * ${sample(1, `vBase + j * ${int(vStep)}`)};`,
      '}',
      'return acc / l;',
    ];
    list.add({ inputs: [scores, input(2)], size: outSize, helpers: [], body: outBody, what: 'fused_attention softmax x v' });
    return list.passes;
  }
  // a long row of scores: its (max, sum) in chunks, then the weighted sum of v in chunks
  const stats = maxAndSumExp(
    list,
    { what: 'fused_attention row max and sum', rows: scoreSize / tk, count: tk, inputs: [scores], setup: [`int base = row * ${int(tk)};`], value: (j) => sample(0, `base + ${j}`) },
    budget,
  );
  reduce(
    list,
    {
      what: 'fused_attention softmax x v',
      rows: outSize,
      count: tk,
      inputs: [scores, input(2), stats],
      setup: [...outSetup, `float m = ${sample(2, 'sRow * 2')};`],
      term: (j) => `exp(${sample(0, `sBase + ${j}`)} - m) * ${sample(1, `vBase + ${j} * ${int(vStep)}`)}`,
      fold: SUM,
      finish: (at) => [`return acc / ${at(0, `${written ? writtenScoreRow() : `(row / ${int(dv)})`} * 2 + 1`)};`],
      finishInputs: [stats],
    },
    budget,
  );
  return list.passes;
}

/**
 * GLSL adding the positional terms to score `s` of fragment `row` ((batch * Tq + qi) * Tk + kj):
 * the head's ALiBi slope (kpos - qpos), and MASKED where the key is hidden. `at(0 | 1, index)` reads
 * the query or key positions (integers held in floats) where they are fed.
 */
function positionalTerms(ctx: KernelContext<'fused_attention'>, tq: number, tk: number, batchShape: readonly number[], at: (slot: number, index: string) => string, qPerRow: boolean, kPerRow: boolean): string[] {
  const a = ctx.attrs;
  const headsPerRow = batchShape.slice(1).reduce((p, d) => p * d, 1);
  const lines = [
    `int pRow = row / ${int(tk)};`,
    `int pKey = row - pRow * ${int(tk)};`,
    `int pBatch = pRow / ${int(tq)};`,
    `int pQuery = pRow - pBatch * ${int(tq)};`,
    `int pBatchRow = pBatch / ${int(headsPerRow)};`,
    `int pHead = ${imod('pBatch', headsPerRow)};`,
  ];
  if (a.positions) {
    lines.push(`float qp = ${at(0, qPerRow ? `pBatchRow * ${int(tq)} + pQuery` : 'pQuery')};`, `float kp = ${at(1, kPerRow ? `pBatchRow * ${int(tk)} + pKey` : 'pKey')};`);
  } else lines.push(`float qp = float(pQuery + ${int(tk - tq)});`, 'float kp = float(pKey);');
  if (a.alibi !== null) {
    // GLSL ES 1.00 has no array initializers: the slope by comparisons
    lines.push('float slope = 0.0;', ...a.alibi.map((slope, h) => `if (pHead == ${int(h)}) { slope = ${f32Literal(slope)}; }`), 's = s + slope * (kp - qp);');
  }
  const hidden = ['kp < 0.0', ...(a.causal ? ['kp > qp'] : []), ...(a.window !== null ? [`qp - kp >= ${f32Literal(a.window)}`] : [])];
  lines.push(`if (${hidden.join(' || ')}) { s = s + ${f32Literal(MASKED)}; }`);
  return lines;
}

/** A view's (or a contiguous tensor's) strides; the last axis must be contiguous, as the passes read it. */
function operandStrides(t: TensorInfo): readonly number[] {
  const strides = t.strides ?? stridesOf(t.shape);
  if (strides[strides.length - 1] !== 1 && t.shape[t.shape.length - 1] !== 1) throw new WebGlKernelError(`fused_attention: ${t.label} is read through a view whose last axis is not contiguous (a device bug)`);
  return strides;
}

/** Elements between consecutive rows (the second-last axis) of an operand. */
function rowStride(t: TensorInfo): number {
  const strides = operandStrides(t);
  return strides[strides.length - 2]!;
}

/**
 * GLSL for the element where `row` of operand `t` starts, in the batch whose coordinates are
 * `bc<d>` (coordinates over `batchShape`); an axis where t has extent 1 is broadcast (read at 0).
 */
function rowStart(t: TensorInfo, batchShape: readonly number[], row: string): string {
  const strides = operandStrides(t);
  const terms = batchShape.map((extent, d) => (extent === 1 || t.shape[d] === 1 ? '' : `bc${d} * ${int(strides[d]!)}`)).filter((term) => term);
  return [...terms, `${row} * ${int(rowStride(t))}`, ...(t.offset ? [int(t.offset)] : [])].join(' + ');
}
