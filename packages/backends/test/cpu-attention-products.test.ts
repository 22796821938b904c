/**
 * Attention over many query rows (a prefill, an encoder) runs on the cpu as two products per head
 * (kernels.wat `attention_gemm`: S = Q K^T and O = P V on the GEMM's kernel, the softmax between them
 * as the row kernel makes it). Random sizes around the kernel's edges (row blocks of 4, panels of 8,
 * head sizes below and above a vector), masks that hide some keys, every key of a row, or the keys
 * after each query, and q, k, v read in place as column slices of one packed projection: the answers
 * must be the float64 reference's, and 1 and 2 threads must give the same bits.
 */
import fc from 'fast-check';
import { GraphBuilder, interpret, maxAbsDiff, type Graph, type NDArray } from '@loom/graph';
import { describe, expect, it } from 'vitest';
import { outputsOnOneAndTwoThreads } from './one-and-two-threads.ts';
import { seededValues as values, seededF32 as f32 } from './seeded-values.ts';

interface Case {
  readonly batch: number;
  readonly heads: number;
  readonly tq: number;
  readonly tk: number;
  readonly dh: number;
  readonly dv: number;
  readonly mask: 'none' | 'some keys' | 'rows without keys' | 'causal' | 'cache' | 'keys of a batch row' | 'rows' | 'per head';
  readonly packed: boolean;
  /** k and v one head that every query head reads (grouped-query attention). */
  readonly sharedKv: boolean;
  readonly seed: number;
}

/** The mask's shape: [batch, 1, tq, tk], one per head, or broadcast over the rows (a batch row's keys) or the keys (a row hidden or not). */
function maskShape(c: Case): number[] {
  return c.mask === 'keys of a batch row' ? [c.batch, 1, 1, c.tk] : c.mask === 'rows' ? [c.batch, 1, c.tq, 1] : c.mask === 'per head' ? [c.batch, c.heads, c.tq, c.tk] : [c.batch, 1, c.tq, c.tk];
}

/** 0 and -1e30 as the case's kind says ('cache': a prompt's rows in a longer cache, causal, the slots past them hidden). */
function maskOf(c: Case): NDArray {
  const [, heads, rows, keys] = maskShape(c) as [number, number, number, number];
  const data = new Float32Array(c.batch * heads * rows * keys);
  const noise = values(data.length, c.seed + 7);
  for (let bh = 0; bh < c.batch * heads; bh++) {
    for (let i = 0; i < rows; i++) {
      for (let j = 0; j < keys; j++) {
        const at = (bh * rows + i) * keys + j;
        const hidden =
          c.mask === 'some keys' || c.mask === 'keys of a batch row' ? noise[at]! > 0.3
          : c.mask === 'rows without keys' ? i % 3 === 1 || noise[at]! > 0.6
          : c.mask === 'rows' ? i % 4 === 2
          : c.mask === 'causal' ? j > i + c.tk - c.tq
          : c.mask === 'cache' ? j > i
          : c.mask === 'per head' ? j > i + (bh % heads) * 3 || noise[at]! > 0.7 // each head its own last open keys
          : false;
        data[at] = hidden ? -1e30 : 0;
      }
    }
  }
  return { dtype: 'f32', shape: maskShape(c), data };
}

/** fused_attention on q, k, v fed as they are ([B, H, T, D]) or, with `packed`, cut from one [B, T, H (2 Dh + Dv)] input. */
function graphOf(c: Case): { graph: Graph; feeds: Record<string, NDArray> } {
  const b = new GraphBuilder();
  const feeds: Record<string, NDArray> = {};
  const heads = (x: ReturnType<GraphBuilder['input']>, t: number, d: number) => b.add('transpose', [b.add('reshape', [x], { shape: [c.batch, t, c.heads, d] })], { perm: [0, 2, 1, 3] });
  let q, k, v;
  if (c.packed) {
    // queries and keys of one length here: the projection's rows hold q, k and v side by side
    const width = c.heads * (2 * c.dh + c.dv);
    const x = b.input('x', 'f32', [c.batch, c.tq, width]);
    feeds['x'] = f32([c.batch, c.tq, width], c.seed);
    const columns = (start: number, end: number) => b.add('slice', [x], { axis: 2, start, end, step: 1 });
    q = heads(columns(0, c.heads * c.dh), c.tq, c.dh);
    k = heads(columns(c.heads * c.dh, 2 * c.heads * c.dh), c.tq, c.dh);
    v = heads(columns(2 * c.heads * c.dh, width), c.tq, c.dv);
  } else {
    const kvHeads = c.sharedKv ? 1 : c.heads;
    q = b.input('q', 'f32', [c.batch, c.heads, c.tq, c.dh]);
    k = b.input('k', 'f32', [c.batch, kvHeads, c.tk, c.dh]);
    v = b.input('v', 'f32', [c.batch, kvHeads, c.tk, c.dv]);
    Object.assign(feeds, { q: f32([c.batch, c.heads, c.tq, c.dh], c.seed), k: f32([c.batch, kvHeads, c.tk, c.dh], c.seed + 1), v: f32([c.batch, kvHeads, c.tk, c.dv], c.seed + 2) });
  }
  const inputs = [q, k, v];
  if (c.mask !== 'none') {
    inputs.push(b.input('mask', 'f32', maskShape(c)));
    feeds['mask'] = maskOf(c);
  }
  return { graph: b.build({ y: b.add('fused_attention', inputs, { scale: 1 / Math.sqrt(c.dh) }) }), feeds };
}

function casesOf(sizes: { tqFrom: number; tq: number; tkFrom?: number; tk: number; d: number }): fc.Arbitrary<Case> {
  return fc
    .record({
      batch: fc.integer({ min: 1, max: 2 }),
      heads: fc.integer({ min: 1, max: 3 }),
      tq: fc.integer({ min: sizes.tqFrom, max: sizes.tq }),
      tk: fc.integer({ min: sizes.tkFrom ?? 1, max: sizes.tk }),
      dh: fc.integer({ min: 1, max: sizes.d }),
      dv: fc.integer({ min: 1, max: sizes.d }),
      mask: fc.constantFrom('none', 'some keys', 'rows without keys', 'causal', 'cache', 'keys of a batch row', 'rows', 'per head') as fc.Arbitrary<Case['mask']>,
      packed: fc.boolean(),
      sharedKv: fc.boolean(),
      seed: fc.integer({ min: 1, max: 1 << 20 }),
    })
    .map((c) => {
      // one projection gives queries and keys of one length; causal and cache masks need tk >= tq
      if (c.packed) return { ...c, tk: c.tq, sharedKv: false, mask: c.mask === 'cache' ? ('causal' as const) : c.mask };
      return c.mask === 'causal' || c.mask === 'cache' ? { ...c, tk: Math.max(c.tk, c.tq) } : c;
    });
}

/** The case's model on 1 and 2 threads against the float64 reference. */
async function check(c: Case): Promise<void> {
  const { graph, feeds } = graphOf(c);
  const want = interpret(graph, feeds, new Map())['y']!;
  const results = await outputsOnOneAndTwoThreads(graph, new Map(), feeds);
  expect(results[0]!.shape).toEqual(want.shape);
  expect(maxAbsDiff(results[0]!.data, want.data)).toBeLessThan(3e-5);
  expect(results[1]!.data).toEqual(results[0]!.data);
}

describe('cpu: attention over many query rows as two products per head', () => {
  it('equals the float64 reference, with the same bits on 1 and 2 threads', async () => {
    await fc.assert(fc.asyncProperty(casesOf({ tqFrom: 8, tq: 37, tk: 41, d: 36 }), check), { numRuns: 60, seed: 2026_12_07 });
  });

  it('past the kernels\' blocks: more than 128 query rows, more than 512 keys (three of the GEMM\'s k blocks), long heads', async () => {
    await fc.assert(fc.asyncProperty(casesOf({ tqFrom: 129, tq: 140, tkFrom: 513, tk: 560, d: 80 }), check), { numRuns: 8, seed: 2026_12_08 });
  });
});
