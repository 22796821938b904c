/**
 * fused_attention's attributes past scale and mask (soft-capping, ALiBi slopes, causal and sliding
 * window masks made from positions, fed positions with empty slots) on one backend against the
 * reference interpreter, written once and run on cpu, webgpu and webgl (*-attention-extras.test.ts).
 * The graphs use the typed builder's attention as models do (heads split, grouped kv heads), and
 * fused_attention directly at rank 3 with positions per batch row.
 */
import { compile } from '@loom/compiler';
import { GraphBuilder, interpret, ModelBuilder, type Graph, type NDArray } from '@loom/graph';
import { describe, expect, it } from 'vitest';
import type { Backend, BackendName } from '../../src/index.ts';
import { compare, randomF32, rng } from '../webgpu-data.ts';
import { runsOn } from './exclusions.ts';
import { suiteBackend } from './suite-backend.ts';

async function expectReference(backend: Backend, graph: Graph, feeds: Readonly<Record<string, NDArray>>): Promise<void> {
  const model = await backend.prepare(graph, new Map());
  try {
    const got = await model.run(feeds);
    const want = interpret(graph, feeds, new Map());
    for (const [name, w] of Object.entries(want)) {
      const { worst, index } = compare(got[name]!, w, { atol: 2e-5, rtol: 2e-5 });
      if (worst > 1) throw new Error(`${backend.name}: output '${name}' differs at ${index}: ${got[name]!.data[index]} vs reference ${w.data[index]} (${worst.toFixed(1)}x the tolerance)`);
    }
  } finally {
    model.dispose();
  }
}

/** The ALiBi slopes of BLOOM for `heads` (a power of two): 2^(-8 h / heads), h = 1..heads. */
const alibiSlopes = (heads: number) => Array.from({ length: heads }, (_, h) => 2 ** ((-8 * (h + 1)) / heads));

interface Case {
  readonly heads: number;
  readonly kvHeads?: number;
  readonly tq: number;
  readonly tk?: number;
  readonly softcap?: number;
  readonly alibi?: boolean;
  readonly causal?: boolean;
  readonly window?: number;
  /** Feed positions: queries at `qStart + i` per row, keys at their slot's position (negative: empty). */
  readonly positions?: { readonly q: number[][]; readonly k: number[][] };
  readonly paddingMask?: boolean;
}

function attentionGraph(c: Case, dh = 8): Graph {
  const m = new ModelBuilder();
  const tk = c.tk ?? c.tq;
  const kv = c.kvHeads ?? c.heads;
  const q = m.input('q', 'f32', ['batch', c.tq, c.heads * dh]);
  const k = m.input('k', 'f32', ['batch', tk, kv * dh]);
  const v = m.input('v', 'f32', ['batch', tk, kv * dh]);
  const mask = c.paddingMask ? m.input('mask', 'f32', ['batch', 1, 1, tk]) : undefined;
  const qPositions = c.positions ? m.input('qpos', 'i32', ['batch', c.tq]) : undefined;
  const kPositions = c.positions ? m.input('kpos', 'i32', ['batch', tk]) : undefined;
  const out = m.groupedAttention(q, k, v, c.heads, kv, {
    ...(mask ? { mask } : {}),
    ...(c.softcap ? { softcap: c.softcap } : {}),
    ...(c.alibi ? { alibi: alibiSlopes(c.heads) } : {}),
    ...(c.causal ? { causal: true } : {}),
    ...(c.window ? { window: c.window } : {}),
    ...(qPositions && kPositions ? { positions: { q: qPositions, k: kPositions } } : {}),
  });
  return m.build({ out });
}

function feedsFor(c: Case, batch: number, seed: number, dh = 8): Record<string, NDArray> {
  const r = rng(seed);
  const tk = c.tk ?? c.tq;
  const kv = c.kvHeads ?? c.heads;
  const feeds: Record<string, NDArray> = {
    q: randomF32([batch, c.tq, c.heads * dh], r, -2, 2),
    k: randomF32([batch, tk, kv * dh], r, -2, 2),
    v: randomF32([batch, tk, kv * dh], r),
  };
  if (c.paddingMask) feeds['mask'] = { dtype: 'f32', shape: [batch, 1, 1, tk], data: Float32Array.from({ length: batch * tk }, (_, i) => (i % tk === 1 ? -1e30 : 0)) };
  if (c.positions) {
    feeds['qpos'] = { dtype: 'i32', shape: [batch, c.tq], data: Int32Array.from(c.positions.q.flat()) };
    feeds['kpos'] = { dtype: 'i32', shape: [batch, tk], data: Int32Array.from(c.positions.k.flat()) };
  }
  return feeds;
}

const CASES: readonly [string, Case][] = [
  ['causal, no mask', { heads: 2, tq: 7, causal: true }],
  ['a sliding window of 3 over 9 tokens', { heads: 2, tq: 9, causal: true, window: 3 }],
  ['ALiBi slopes per head, causal', { heads: 4, tq: 6, alibi: true, causal: true }],
  ['soft-capping at 2 (Gemma 2 caps at 50; 2 bends these scores)', { heads: 2, tq: 5, softcap: 2, causal: true }],
  ['everything with grouped kv heads and a padding mask', { heads: 4, kvHeads: 2, tq: 6, alibi: true, causal: true, window: 4, softcap: 3, paddingMask: true }],
  ['new tokens after a cache (Tq 2 of Tk 7, default positions)', { heads: 2, tq: 2, tk: 7, causal: true, window: 4 }],
  [
    'fed positions: a rolling cache of 4 slots (one empty, -1) and 2 new tokens per row',
    {
      heads: 4,
      kvHeads: 1,
      tq: 2,
      tk: 6,
      causal: true,
      window: 4,
      alibi: true,
      positions: {
        q: [[9, 10], [3, 4]],
        k: [[8, 5, 6, 7, 9, 10], [-1, 1, 2, 0, 3, 4]],
      },
    },
  ],
];

export async function attentionExtrasSuite(name: BackendName): Promise<void> {
  if (!runsOn('attention extras', name)) return;
  const backend = await suiteBackend(name);
  describe.skipIf(!backend)(`${name} fused attention with soft-capping, ALiBi, causal and window masks from positions`, { timeout: 180_000 }, () => {
    const b = backend!;

    it.each(CASES)('%s', async (_, c) => {
      const graph = attentionGraph(c);
      // the extras reach the kernel: one fused_attention carries them, no score matrix in the plan
      const fused = compile(graph).graph.nodes.filter((n) => n.op === 'fused_attention');
      expect(fused).toHaveLength(1);
      expect(fused[0]!.attrs).toMatchObject({ causal: c.causal ?? false, window: c.window ?? null, softcap: c.softcap ?? null });
      expect(compile(graph).graph.nodes.some((n) => n.op === 'softmax')).toBe(false);
      await expectReference(b, graph, feedsFor(c, 2, c.tq * 31 + (c.tk ?? 0)));
    });

    it('cache_update as a ring (a window\'s KV cache): slot (position + t) mod size, only each row\'s first count rows, the last size of them', async () => {
      const g = new GraphBuilder();
      const cache = g.input('cache', 'f32', [2, 4, 3]);
      const update = g.input('update', 'f32', [2, 6, 3]);
      const position = g.input('position', 'i32', [2]);
      const count = g.input('count', 'i32', [2]);
      const graph = g.build({ ring: g.add('cache_update', [cache, update, position, count], { axis: 1, rolling: true }), plain: g.add('cache_update', [cache, update, g.constant([0, 1], [2], 'i32'), g.constant([3, 2], [2], 'i32')], { axis: 1 }) });
      const feeds = {
        cache: { dtype: 'f32' as const, shape: [2, 4, 3], data: Float32Array.from({ length: 24 }, (_, i) => -1 - i) },
        update: { dtype: 'f32' as const, shape: [2, 6, 3], data: Float32Array.from({ length: 36 }, (_, i) => i) },
        position: { dtype: 'i32' as const, shape: [2], data: Int32Array.from([7, 2]) },
        count: { dtype: 'i32' as const, shape: [2], data: Int32Array.from([6, 1]) },
      };
      const model = await b.prepare(graph, new Map());
      try {
        const got = await model.run(feeds);
        const want = interpret(graph, feeds, new Map());
        expect(Array.from(got['ring']!.data)).toEqual(Array.from(want['ring']!.data));
        // row 0: positions 7..12, the last 4 (9..12) in slots 1, 2, 3, 0; row 1: position 2 only, in slot 2
        const row0 = Array.from(got['ring']!.data.slice(0, 12));
        expect(row0).toEqual([15, 16, 17, 6, 7, 8, 9, 10, 11, 12, 13, 14]);
        expect(Array.from(got['ring']!.data.slice(12))).toEqual([-13, -14, -15, -16, -17, -18, 18, 19, 20, -22, -23, -24]);
        expect(Array.from(got['plain']!.data)).toEqual(Array.from(want['plain']!.data));
      } finally {
        model.dispose();
      }
    });

    it('rank 3 (batch rows as heads): positions per row, a window and ALiBi with one slope', async () => {
      const g = new GraphBuilder();
      const q = g.input('q', 'f32', [3, 4, 8]);
      const k = g.input('k', 'f32', [3, 5, 8]);
      const v = g.input('v', 'f32', [3, 5, 8]);
      const qpos = g.input('qpos', 'i32', [3, 4]);
      const kpos = g.input('kpos', 'i32', [3, 5]);
      const out = g.add('fused_attention', [q, k, v, qpos, kpos], { scale: 0.3, causal: true, window: 3, alibi: [0.5], positions: true });
      const graph = g.build({ out });
      const r = rng(5);
      await expectReference(b, graph, {
        q: randomF32([3, 4, 8], r, -2, 2),
        k: randomF32([3, 5, 8], r, -2, 2),
        v: randomF32([3, 5, 8], r),
        qpos: { dtype: 'i32', shape: [3, 4], data: Int32Array.from([1, 2, 3, 4, 4, 5, 6, 7, 0, 1, 2, 3]) },
        kpos: { dtype: 'i32', shape: [3, 5], data: Int32Array.from([0, 1, 2, 3, 4, 3, 4, 5, 6, 7, -1, 0, 1, 2, 3]) },
      });
    });
  });
}
