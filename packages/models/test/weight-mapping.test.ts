/**
 * applyMapping and toCheckpointNames with stacked parts: equal pieces, pieces of given sizes
 * (Phi-3's qkv_proj with fewer kv heads) and parts interleaved per group (GPT-NeoX's per-head
 * query_key_value): each Loom weight takes the right rows, transposed, and the inverse gives back
 * the checkpoint's tensor bit for bit.
 */
import type { NDArray } from '@loom/graph';
import { describe, expect, it } from 'vitest';
import { applyMapping, toCheckpointNames, type WeightMapping } from '../src/weights/mapping.ts';

const iota = (shape: number[]): NDArray => ({ dtype: 'f32', shape, data: Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) => i) });

describe('stacked parts', () => {
  it('interleaved per head (rows [H, 3, Dh]): q takes rows 0..Dh of every head, transposed; the inverse restores the tensor', () => {
    // H = 2 heads, Dh = 2, in = 3: rows are [h0 q0 q1, h0 k0 k1, h0 v0 v1, h1 q0 q1, ...]
    const fused = iota([12, 3]);
    const mapping: WeightMapping = {
      describe: 'test',
      sourceOf: (name) => ({ name: 'qkv', transpose: true, part: { index: 'qkv'.indexOf(name), count: 3, groups: 2 } }),
      ignore: () => false,
    };
    const weights = applyMapping(new Map([['qkv', fused]]), new Map([['q', [3, 4]], ['k', [3, 4]], ['v', [3, 4]]]), mapping);
    // q = rows 0, 1 (head 0) and 6, 7 (head 1) of the [12, 3] matrix, transposed to [3, 4]
    expect(Array.from(weights.get('q')!.data)).toEqual([0, 3, 18, 21, 1, 4, 19, 22, 2, 5, 20, 23]);
    expect(weights.get('k')!.shape).toEqual([3, 4]);
    const back = toCheckpointNames(weights, mapping).get('qkv')!;
    expect(back.shape).toEqual([12, 3]);
    expect(Array.from(back.data)).toEqual(Array.from(fused.data));
  });

  it('pieces of given sizes (q of 4 rows, k and v of 2): each its rows; the inverse restores the tensor', () => {
    const fused = iota([8, 2]);
    const sizes = [4, 2, 2];
    const mapping: WeightMapping = { describe: 'test', sourceOf: (name) => ({ name: 'qkv', part: { index: 'qkv'.indexOf(name), count: 3, sizes } }), ignore: () => false };
    const weights = applyMapping(new Map([['qkv', fused]]), new Map([['q', [4, 2]], ['k', [2, 2]], ['v', [2, 2]]]), mapping);
    expect(Array.from(weights.get('k')!.data)).toEqual([8, 9, 10, 11]);
    expect(Array.from(weights.get('v')!.data)).toEqual([12, 13, 14, 15]);
    expect(Array.from(toCheckpointNames(weights, mapping).get('qkv')!.data)).toEqual(Array.from(fused.data));
  });

  it('a stacked tensor of the wrong size is one WeightsError naming its expected shape', () => {
    const mapping: WeightMapping = { describe: 'test', sourceOf: (name) => ({ name: 'qkv', part: { index: 'qkv'.indexOf(name), count: 3, sizes: [4, 2, 2] } }), ignore: () => false };
    expect(() => applyMapping(new Map([['qkv', iota([9, 2])]]), new Map([['q', [4, 2]], ['k', [2, 2]], ['v', [2, 2]]]), mapping)).toThrow(/qkv.*f32\[8, 2\].*f32\[9, 2\]/s);
  });
});
