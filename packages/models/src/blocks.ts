/**
 * Small building blocks shared by the models: layers that own named weights, the tied output head and
 * the "last position" selection used by generation graphs.
 *
 * Dimension letters: B batch, T sequence length, D model width, V vocabulary.
 */
import { Tensor, type Dim, type Graph, type ModelBuilder, type Shape } from '@loom/graph';

export type F32<S extends Shape = Shape> = Tensor<'f32', S>;
export type I32<S extends Shape = Shape> = Tensor<'i32', S>;

/** x @ W + b with weights `${name}.weight` [in, out] (stored input-major) and `${name}.bias` [out]. */
export function linear<S extends Shape>(m: ModelBuilder, name: string, x: F32<S>, inDim: number, outDim: number): F32<S> {
  const weight = m.param(`${name}.weight`, [inDim, outDim]);
  const bias = m.param(`${name}.bias`, [outDim]);
  return m.linear(x, weight, bias) as unknown as F32<S>;
}

/** LayerNorm over the last axis with `${name}.weight` (gamma) and `${name}.bias` (beta), both [D]. */
export function layerNorm<S extends Shape>(m: ModelBuilder, name: string, x: F32<S>, d: number, eps: number): F32<S> {
  return m.layerNorm(x, ...normParams(m, name, d), eps);
}

/** The gamma and beta of a LayerNorm, for `add_norm`. */
export function normParams(m: ModelBuilder, name: string, d: number): [F32<readonly [number]>, F32<readonly [number]>] {
  return [m.param(`${name}.weight`, [d]), m.param(`${name}.bias`, [d])];
}

/**
 * The tied output head: logits = x @ table^T, reusing the embedding table [V, D] (no copy, no
 * transpose node: matmul reads the table transposed).
 */
export function tiedHead<S extends readonly ['batch', Dim, number]>(m: ModelBuilder, x: F32<S>, table: F32<readonly [number, number]>): F32<S> {
  return new Tensor(m, m.graph.add('matmul', [x.ref, table.ref], { transposeB: true })); // (B, T, V)
}

/**
 * x[:, last, :] as (B, 1, D), where `last` is each row's last kept position (the largest index where
 * `keep` is 1) or T - 1 for every row without `keep`. Built from a one-hot selection over T because
 * the sequence axis is symbolic; the sum adds exact zeros, so the selected row is copied exactly.
 */
export function lastPosition(m: ModelBuilder, x: F32<readonly ['batch', Dim, number]>, keep?: I32<readonly ['batch', Dim]>): F32<readonly ['batch', 1, number]> {
  const [batch, seq] = x.shape;
  const pos = m.cast(m.range(seq), 'f32'); // (T)
  const node = (op: string, ...inputs: Tensor[]) => new Tensor<'f32', Shape>(m, m.graph.add(op, inputs.map((t) => t.ref)));
  let onehot: I32<Shape>;
  if (keep) {
    const keptPos = new Tensor<'f32', Shape>(m, m.graph.add('where', [keep.ref, pos.ref, m.graph.constant(-1)])); // (B, T): -1 at padding
    const last = m.graph.add('reduce_max', [keptPos.ref], { axes: [1], keepDims: true }); // (B, 1)
    onehot = new Tensor(m, m.graph.add('equal', [keptPos.ref, last])); // (B, T)
  } else {
    const last = m.graph.add('reduce_max', [pos.ref], { axes: [0], keepDims: true }); // (1)
    onehot = new Tensor(m, m.graph.add('equal', [pos.ref, last])); // (T)
  }
  const select = m.reshape(m.cast(onehot, 'f32'), keep ? [batch, seq, 1] : [1, seq, 1]); // (B or 1, T, 1)
  const picked = m.graph.add('reduce_sum', [node('mul', x, select).ref], { axes: [1], keepDims: true }); // (B, 1, D)
  return new Tensor(m, picked);
}

/** The sum of two additive masks whose shapes broadcast against each other, e.g. (T, T) + (B, 1, 1, T) -> (B, 1, T, T). */
export function combineMasks(m: ModelBuilder, a: F32, b: F32): F32 {
  return new Tensor(m, m.graph.add('add', [a.ref, b.ref]));
}

/** Number of weights of a graph: the sum over its params of the product of their (static) shapes. Tied weights are one param. */
export function countParams(...graphs: Graph[]): number {
  const sizes = new Map<string, number>();
  for (const graph of graphs) {
    for (const node of graph.nodes) {
      if (node.op !== 'param') continue;
      const size = node.type.shape.reduce<number>((n, d) => n * (typeof d === 'number' ? d : NaN), 1);
      sizes.set(String(node.attrs['name']), size);
    }
  }
  let total = 0;
  for (const size of sizes.values()) total += size;
  return total;
}
