import { GraphBuilder, type Graph, type NDArray } from '@loom/graph';
import { expect } from 'vitest';
import { compare, randomF32, randomI32, rng } from '../webgpu-data.ts';

/** Token ids -> embedding -> linear -> softmax, with symbolic batch and sequence: what the runtime suites run. */
export function smallModel(): { graph: Graph; weights: Map<string, NDArray> } {
  const r = rng(1);
  const b = new GraphBuilder();
  const ids = b.input('ids', 'i32', ['batch', 'seq']);
  const x = b.add('gather', [b.param('emb', 'f32', [40, 16]), ids]);
  const h = b.add('add', [b.add('matmul', [x, b.param('w', 'f32', [16, 24])]), b.param('bias', 'f32', [24])]);
  const graph = b.build({ probs: b.add('softmax', [b.add('gelu', [h])], { axis: -1 }), total: b.add('reduce_sum', [h], { axes: [1] }) });
  const weights = new Map([['emb', randomF32([40, 16], r)], ['w', randomF32([16, 24], r)], ['bias', randomF32([24], r)]]);
  return { graph, weights };
}

/** Token ids for smallModel's table (rows 0..39). */
export const smallModelIds = (batch: number, seq: number, seed: number): NDArray => randomI32([batch, seq], rng(seed), 0, 39);

export function expectClose(got: Record<string, NDArray>, want: Record<string, NDArray>, atol = 1e-5): void {
  for (const name of Object.keys(want)) expect(compare(got[name]!, want[name]!, { atol }).worst).toBeLessThanOrEqual(1);
}
