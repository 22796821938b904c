import { dropoutKeeps, InputError } from '@loom/graph';

/**
 * The training ops on the cpu, in plain JavaScript over float32 storage, computing as the reference
 * kernels of @loom/graph do (so the cpu equals the float32 interpreter bit for bit): scatter_add adds
 * into the float32 table in position order, softmax_cross_entropy keeps its row sums in float64 and
 * rounds the loss once, dropout draws its mask from the same hash. A bad index or label is an
 * InputError naming the position (the program adds the kernel's node and model line).
 */

/** out[r] = sum of updates[i] over the positions i with indices[i] = r, in position order. */
export function scatterAddRows(indices: Int32Array, updates: Float32Array, out: Float32Array, rows: number, width: number): void {
  out.fill(0);
  for (let i = 0; i < indices.length; i++) {
    const r = indices[i]!;
    if (!(r >= 0 && r < rows)) throw new InputError(`scatter_add: index ${r} at position ${i} is outside the table's ${rows} rows`);
    const [to, from] = [r * width, i * width];
    for (let j = 0; j < width; j++) out[to + j]! += updates[from + j]!;
  }
}

/**
 * Per row of `classes` logits: logsumexp(x) - ((1 - s) x[label] + s/V sum(x)), 0 where the label is
 * the ignore index (null: none is).
 */
export function softmaxCrossEntropyRows(logits: Float32Array, labels: Int32Array, out: Float32Array, classes: number, ignoreIndex: number | null, smoothing: number): void {
  for (let r = 0; r < labels.length; r++) {
    const label = labels[r]!;
    out[r] = 0;
    if (ignoreIndex !== null && label === ignoreIndex) continue;
    if (!(label >= 0 && label < classes)) throw new InputError(`softmax_cross_entropy: label ${label} at position ${r} is outside the ${classes} classes (and not the ignore index ${ignoreIndex})`);
    const base = r * classes;
    let max = -Infinity;
    for (let k = 0; k < classes; k++) max = Math.max(max, logits[base + k]!);
    let sum = 0;
    let all = 0;
    for (let k = 0; k < classes; k++) {
      sum += Math.exp(logits[base + k]! - max);
      all += logits[base + k]!;
    }
    out[r] = max + Math.log(sum) - ((1 - smoothing) * logits[base + label]! + (smoothing / classes) * all);
  }
}

/** Inverted dropout with the mask of @loom/graph's dropout hash for (seed, stream, flat index). */
export function dropoutInto(x: Float32Array, seed: Int32Array, out: Float32Array, p: number, stream: number): void {
  const s = seed[0]!;
  const scale = 1 / (1 - p);
  for (let i = 0; i < out.length; i++) out[i] = dropoutKeeps(s, stream, i, p) ? x[i]! * scale : 0;
}
