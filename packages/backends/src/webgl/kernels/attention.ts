import { broadcastStrides } from '@loom/graph';
import { coordinates, f32Literal, int } from '../glsl.ts';
import { input, pass, sample, sizeOfShape, type GlPass, type KernelContext } from '../kernel.ts';

/**
 * fused_attention: softmax(q k^T * scale + mask) v in two passes.
 * 1. scores[b, i, j] = q[b, i] . k[b, j] * scale + mask (broadcast): one fragment per score.
 * 2. out[b, i, d] = sum_j e^(s_j - m) v[b, j, d] / sum_j e^(s_j - m), m = max_j s_j: each fragment
 *    reads its row of scores, so the row's softmax is never stored.
 * A fragment shader cannot share work between fragments, so the scores are kept in a texture
 * (Tq x Tk per head) rather than recomputed Dv times. k and v may have extent 1 on leading axes
 * where q does not (grouped-query attention: a kv head serves its group of query heads).
 */
export function attentionKernel(ctx: KernelContext<'fused_attention'>): GlPass[] {
  const [q, k, v, mask] = ctx.inputs;
  const rank = q!.shape.length;
  const [tq, dh] = q!.shape.slice(-2) as [number, number];
  const tk = k!.shape[rank - 2]!;
  const dv = v!.shape[rank - 1]!;
  const batchShape = q!.shape.slice(0, -2);
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
  const scoreBody = [
    ...coordinates('i', scoreShape, 's'),
    // i = (batch * Tq + qi) * Tk + kj
    `int row = i / ${int(tk)};`,
    `int kj = ${`sc${rank - 1}`};`,
    `int batch = row / ${int(tq)};`,
    ...kvBatch(k, 'kb'),
    `int qBase = row * ${int(dh)};`,
    `int kBase = (kb * ${int(tk)} + kj) * ${int(dh)};`,
    'float dot = 0.0;',
    `for (int d = 0; d < ${int(dh)}; d++) {`,
    `  dot += ${sample(0, 'qBase + d')} * ${sample(1, 'kBase + d')};`,
    '}',
  ];
  const scoreInputs = [input(0), input(1)];
  if (mask) {
    const strides = broadcastStrides(mask.shape, scoreShape);
    const terms = strides.map((s, d) => (s === 0 || scoreShape[d] === 1 ? '' : `sc${d} * ${int(s)}`)).filter((t) => t);
    scoreBody.push(`return dot * ${f32Literal(ctx.attrs.scale)} + ${sample(2, terms.length > 0 ? terms.join(' + ') : '0')};`);
    scoreInputs.push(input(3));
  } else scoreBody.push(`return dot * ${f32Literal(ctx.attrs.scale)};`);
  const outBody = [
    `int row = i / ${int(dv)};`,
    `int d = i - row * ${int(dv)};`,
    `int batch = row / ${int(tq)};`,
    ...kvBatch(v, 'vb'),
    `int sBase = row * ${int(tk)};`,
    `int vBase = vb * ${int(tk * dv)} + d;`,
    `float m = ${sample(0, 'sBase')};`,
    `for (int j = 1; j < ${int(tk)}; j++) { m = max(m, ${sample(0, 'sBase + j')}); }`,
    'float l = 0.0;',
    'float acc = 0.0;',
    `for (int j = 0; j < ${int(tk)}; j++) {`,
    `  float w = exp(${sample(0, 'sBase + j')} - m);`,
    '  l += w;',
    `  acc += w * ${sample(1, `vBase + j * ${int(dv)}`)};`,
    '}',
    'return acc / l;',
  ];
  return [
    { inputs: scoreInputs, size: scoreSize, helpers: [], body: scoreBody, what: 'fused_attention scores' },
    { inputs: [pass(0), input(2)], size: outSize, helpers: [], body: outBody, what: 'fused_attention softmax x v' },
  ];
}
