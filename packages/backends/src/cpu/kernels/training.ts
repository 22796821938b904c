import { dropoutKeeps, InputError } from '@loom/graph';

/**
 * Two training ops on the cpu, in plain JavaScript over float32 storage, computing as the reference
 * kernels of @loom/graph do (so the cpu equals the float32 interpreter bit for bit): scatter_add adds
 * into the float32 table in position order, dropout draws its mask from the same hash. A bad index is
 * an InputError naming the position (the program adds the kernel's node and model line).
 * softmax_cross_entropy runs on the WebAssembly kernels (softmax.ts).
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

/** Inverted dropout with the mask of @loom/graph's dropout hash for (seed, stream, flat index). */
export function dropoutInto(x: Float32Array, seed: Int32Array, out: Float32Array, p: number, stream: number): void {
  const s = seed[0]!;
  const scale = 1 / (1 - p);
  for (let i = 0; i < out.length; i++) out[i] = dropoutKeeps(s, stream, i, p) ? x[i]! * scale : 0;
}
