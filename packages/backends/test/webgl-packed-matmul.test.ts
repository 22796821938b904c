import fc from 'fast-check';
import gpujs from 'gpu.js';
import { GraphBuilder, interpret, type NDArray, type NodeRef } from '@loom/graph';
import { f32Budget, firstMismatch } from '@loom/graph/testing';
import { describe, expect, it, vi } from 'vitest';
import { createWebGlBackend, type WebGlBackend, type WebGlModel } from '../src/webgl/index.ts';
import { packedMatrix, packTexels, unpackTexels } from '../src/webgl/packed.ts';
import { requireBackend } from './require-backend.ts';
import { randomF32, rng } from './webgpu-data.ts';

/**
 * Packed matmul (webgl/packed.ts, kernels/packed-matmul.ts): operands as 2x2 blocks in RGBA texels,
 * B packed once when it is a weight, results unpacked only where a step reads them. With the
 * texture size lowered to 16, small shapes reach every layout: block rows folded into strips, and a
 * result too wide for a texture row wrapped. Each case is checked against the float64 interpreter
 * and by the passes it ran (the profile names them), so a product drawn element by element (the
 * path for shapes that do not fit) cannot pass for a packed one.
 */

const gl = (await requireBackend('webgl')).backend as WebGlBackend | undefined;
const SMALL = 16;
const small = gl ? createWebGlBackend({ limits: { maxTextureSize: SMALL } }) : undefined;

interface Case {
  readonly batchA: number[];
  readonly batchB: number[];
  readonly m: number;
  readonly k: number;
  readonly n: number;
  readonly transposeB: boolean;
  readonly weightB: boolean;
  readonly epilogue: boolean;
}

/** Batch axes that broadcast: each axis 1 in one operand or equal in both. */
const batches = fc.array(fc.tuple(fc.integer({ min: 1, max: 3 }), fc.constantFrom('both', 'a', 'b')), { maxLength: 2 }).map((axes) => ({
  batchA: axes.map(([d, who]) => (who === 'b' ? 1 : d)),
  batchB: axes.map(([d, who]) => (who === 'a' ? 1 : d)),
}));

const cases: fc.Arbitrary<Case> = fc
  .record({ batch: batches, m: fc.integer({ min: 1, max: 9 }), k: fc.integer({ min: 1, max: 30 }), n: fc.integer({ min: 1, max: 40 }), transposeB: fc.boolean(), weightB: fc.boolean(), epilogue: fc.boolean() })
  .map(({ batch, ...rest }) => ({ ...batch, ...rest }))
  // every tensor fits a 16 x 16 texture at one float per texel
  .filter((c) => fits([...c.batchA, c.m, c.k]) && fits([...c.batchB, c.k, c.n]) && fits([...outBatch(c), c.m, c.n]));

/** Whether a tensor of `shape` fits the lowered texture size at one float per texel (as gpu.js lays it out). */
function fits(shape: readonly number[]): boolean {
  const squares = (gpujs.utils as unknown as { closestSquareDimensions(n: number): Int32Array }).closestSquareDimensions;
  const [w, h] = squares(shape.reduce((p, d) => p * d, 1)) as unknown as [number, number];
  return w <= SMALL && h <= SMALL;
}

function outBatch(c: Case): number[] {
  return c.batchA.map((d, i) => Math.max(d, c.batchB[i]!));
}

function build(c: Case, seed: number) {
  const b = new GraphBuilder();
  const r = rng(seed);
  const bShape = [...c.batchB, ...(c.transposeB ? [c.n, c.k] : [c.k, c.n])];
  const a = b.input('a', 'f32', [...c.batchA, c.m, c.k]);
  const w = c.weightB ? b.param('w', 'f32', bShape) : b.input('w', 'f32', bShape);
  let y: NodeRef = b.add('matmul', [a, w], { transposeB: c.transposeB });
  // a bias and tanh fuse into the product's epilogue (fused_matmul), run by the unpacking pass
  if (c.epilogue) y = b.add('tanh', [b.add('add', [y, b.param('bias', 'f32', [c.n])])]);
  const graph = b.build({ y });
  const feeds: Record<string, NDArray> = { a: randomF32([...c.batchA, c.m, c.k], r) };
  const weights = new Map<string, NDArray>();
  if (c.weightB) weights.set('w', randomF32(bShape, r));
  else feeds['w'] = randomF32(bShape, r);
  if (c.epilogue) weights.set('bias', randomF32([c.n], r));
  return { graph, feeds, weights };
}

/** Runs twice (profiling the second run) and checks both against the float64 interpreter; returns the second run's pass names. */
async function checked(backend: WebGlBackend, c: Case, seed: number): Promise<string[]> {
  const { graph, feeds, weights } = build(c, seed);
  const model = (await backend.prepare(graph, weights)) as WebGlModel;
  try {
    const want = interpret(graph, feeds, weights)['y']!;
    const f32 = interpret(graph, feeds, weights, { precision: 'f32' })['y']!;
    const slack = Array.from(want.data, (e, i) => 2 * Math.abs(f32.data[i]! - e));
    const first = (await model.run(feeds))['y']!;
    expect(firstMismatch(first, want, f32Budget(graph), slack), `first run of ${JSON.stringify(c)}`).toBeUndefined();
    const again = await model.run(feeds);
    expect(firstMismatch(again['y']!, want, f32Budget(graph), slack), `second run of ${JSON.stringify(c)}`).toBeUndefined();
    return (await model.profile(feeds)).map((p) => p.what);
  } finally {
    model.dispose();
  }
}

describe.skipIf(!gl)('webgl packed matmul', { timeout: 180_000 }, () => {
  it('random shapes, broadcast batches, transposed B, weights or fed, epilogues: equal to the float64 interpreter, on packed passes (property)', async () => {
    const reached = { strips: 0, wrapped: 0 };
    await fc.assert(
      fc.asyncProperty(cases, fc.integer({ min: 1, max: 1000 }), async (c, seed) => {
        const a = packedMatrix(c.batchA.reduce((p, d) => p * d, 1), c.m, c.k, SMALL, true);
        const bt = packedMatrix(c.batchB.reduce((p, d) => p * d, 1), c.n, c.k, SMALL, true);
        const result = packedMatrix(outBatch(c).reduce((p, d) => p * d, 1), c.m, c.n, SMALL, false);
        // a one-row product (rowPass) reads B's strips but draws no packed result
        if ([a, bt].some((x) => x && x.width > x.blockCols)) reached.strips++;
        if (result?.wrapped && c.m > 1) reached.wrapped++;
        const passes = await checked(small!, c, seed);
        const all = passes.join('; ');
        // one row per matrix (decoding's products): the row against B's packed blocks, one pass
        expect(passes.some((w) => w.endsWith(c.m === 1 ? 'one row by blocks' : '2x2 blocks')), all).toBe(true);
        // a weight B is packed at the first run only; a fed B every run
        expect(passes.some((w) => w.includes(' B, packed')), all).toBe(!c.weightB);
        // a fed matrix read as it is is packed on the host, never by a pass (B^T of a fed B is a pass)
        expect(passes.some((w) => w.endsWith('A, packed on the host')), all).toBe(c.m > 1);
        expect(passes.some((w) => w.endsWith('A, packed')), all).toBe(false);
        expect(passes.some((w) => w.endsWith('B, packed on the host')), all).toBe(!c.weightB && c.transposeB);
        // the result is only read back: no unpacking pass unless an epilogue runs in it
        expect(passes.some((w) => w.endsWith(', unpacked')), all).toBe(c.m > 1 && c.epilogue);
      }),
      { numRuns: 60, seed: 24 },
    );
    // the runs reached both folded layouts (strips of an operand, a wrapped result)
    expect(reached.strips).toBeGreaterThan(0);
    expect(reached.wrapped).toBeGreaterThan(0);
  });

  it('reaches both texture layouts at the lowered size: block rows in strips, and a wide result wrapped', () => {
    // B^T of a [6, 40] weight: 20 block rows over a 16-texel height, two strips side by side
    expect(packedMatrix(1, 40, 6, SMALL, true)).toEqual({ blockRows: 20, blockCols: 3, height: 10, width: 6, wrapped: false });
    // two strips of 9 blocks would be 18 texels wide: a walked operand cannot wrap, a result can
    expect(packedMatrix(1, 40, 18, SMALL, true)).toBeUndefined();
    expect(packedMatrix(1, 40, 18, SMALL, false)).toEqual({ blockRows: 20, blockCols: 9, height: 12, width: 16, wrapped: true });
    // a 1 x 40 result: one block row of 20 blocks, wrapped at 10 texels
    expect(packedMatrix(1, 1, 40, SMALL, false)).toEqual({ blockRows: 1, blockCols: 20, height: 2, width: 10, wrapped: true });
  });

  it('unpackTexels reads back each layout row-major (odd edges dropped)', () => {
    for (const [batch, rows, cols, max] of [[2, 3, 5, 16], [1, 1, 40, 16], [3, 5, 4, 8], [1, 40, 18, 16]] as const) {
      const layout = packedMatrix(batch, rows, cols, max, false)!;
      const shape = [batch, rows, cols];
      const want = Float32Array.from({ length: batch * rows * cols }, (_, i) => i + 1);
      // the texels as a pack pass would draw them
      const rgba = new Float32Array(layout.width * layout.height * 4);
      for (let r = 0; r < layout.blockRows; r++) {
        for (let c = 0; c < layout.blockCols; c++) {
          const texel = layout.wrapped ? r * layout.blockCols + c : (r % layout.height) * layout.width + Math.floor(r / layout.height) * layout.blockCols + c;
          const [matrix, top] = [Math.floor(r / Math.ceil(rows / 2)), (r % Math.ceil(rows / 2)) * 2];
          for (let q = 0; q < 4; q++) {
            const [row, col] = [top + (q >> 1), c * 2 + (q & 1)];
            rgba[texel * 4 + q] = row < rows && col < cols ? want[(matrix * rows + row) * cols + col]! : 0;
          }
        }
      }
      expect(Array.from(unpackTexels(rgba, { layout, shape }))).toEqual(Array.from(want));
    }
  });

  it("GPT-2-sized shapes at the context's own limits: the tied head ([1, 64] and [2, 64] x [50257, 64]^T, a wrapped result) and a 96-wide K", async () => {
    for (const c of [
      { batchA: [], batchB: [], m: 1, k: 64, n: 50257, transposeB: true, weightB: true, epilogue: false },
      { batchA: [], batchB: [], m: 2, k: 64, n: 50257, transposeB: true, weightB: true, epilogue: false },
      { batchA: [2], batchB: [], m: 7, k: 96, n: 33, transposeB: false, weightB: true, epilogue: true },
      // a wrapped result unpacked on the GPU (the epilogue runs in the unpacking pass, which reads it by readBlock)
      { batchA: [], batchB: [], m: 3, k: 16, n: 40000, transposeB: true, weightB: true, epilogue: true },
    ]) {
      const result = packedMatrix(1, c.m, c.n, (await gl!.runtime()).limits.maxTextureSize, false);
      if (c.n === 40000) expect(result?.wrapped).toBe(true);
      const passes = await checked(gl!, c, 7);
      // one row of a wide product: the blocked product (the one-row pass takes up to 2^18 products a row)
      expect(passes.some((w) => w.endsWith('2x2 blocks')), passes.join('; ')).toBe(true);
    }
  });

  it('a result read by another step is unpacked for it; one only read back is not', async () => {
    const b = new GraphBuilder();
    const h = b.add('matmul', [b.input('x', 'f32', [3, 6]), b.param('w1', 'f32', [6, 5])]);
    const y = b.add('matmul', [h, b.param('w2', 'f32', [5, 4])]);
    const graph = b.build({ y });
    const r = rng(9);
    const weights = new Map([['w1', randomF32([6, 5], r)], ['w2', randomF32([5, 4], r)]]);
    const feeds = { x: randomF32([3, 6], r) };
    const model = (await gl!.prepare(graph, weights)) as WebGlModel;
    await model.run(feeds);
    const passes = (await model.profile(feeds)).map((p) => p.what.split(': ').pop());
    model.dispose();
    // both B are weights, packed at the first run; the first product is unpacked for the second to read
    expect(passes).toEqual(['matmul A, packed on the host', 'matmul, 2x2 blocks', 'matmul, unpacked', 'matmul A, packed', 'matmul, 2x2 blocks']);
  });

  it('packTexels lays out what a pack pass draws, as unpackTexels reads it back: every walked layout, odd edges zero', () => {
    for (const [batch, rows, cols, max] of [[2, 3, 5, 16], [1, 40, 6, 16], [3, 5, 4, 8], [1, 7, 7, 4], [1, 1, 1, 16]] as const) {
      const layout = packedMatrix(batch, rows, cols, max, true)!;
      const shape = [batch, rows, cols];
      const data = Float32Array.from({ length: batch * rows * cols }, (_, i) => i + 1);
      const rgba = packTexels(data, shape, layout);
      expect(rgba.length).toBe(layout.width * layout.height * 4);
      expect(Array.from(unpackTexels(rgba, { layout, shape })), JSON.stringify(layout)).toEqual(Array.from(data));
      // every value once, and zeros elsewhere (past odd edges, texels past the last block)
      expect(rgba.filter((v) => v !== 0).length).toBe(data.length);
    }
    // block (0, 0) of [[1, 2, 3], [4, 5, 6]]: (1, 2, 4, 5); block (0, 1): (3, 0, 6, 0)
    expect(Array.from(packTexels([1, 2, 3, 4, 5, 6], [2, 3], packedMatrix(1, 2, 3, 16, true)!).slice(0, 8))).toEqual([1, 2, 4, 5, 3, 0, 6, 0]);
  });

  it('a fed matrix several products read is packed on the host once a run; one also read as it is is uploaded as it is too', async () => {
    const b = new GraphBuilder();
    const x = b.input('x', 'f32', [3, 6]);
    const q = b.add('matmul', [x, b.param('wq', 'f32', [6, 5])]);
    const k = b.add('matmul', [x, b.param('wk', 'f32', [6, 5])]);
    const both = b.build({ q, k });
    const r = rng(10);
    const weights = new Map([['wq', randomF32([6, 5], r)], ['wk', randomF32([6, 5], r)]]);
    const feeds = { x: randomF32([3, 6], r) };
    const runtime = await gl!.runtime();
    const packs = vi.spyOn(runtime, 'uploadTexels4');
    const uploads = vi.spyOn(runtime, 'upload');
    try {
      const model = await gl!.prepare(both, weights);
      await model.run(feeds);
      [packs, uploads].forEach((spy) => spy.mockClear());
      const got = await model.run(feeds);
      const want = interpret(both, feeds, weights);
      for (const name of ['q', 'k']) expect(firstMismatch(got[name]!, want[name]!, f32Budget(both))).toBeUndefined();
      expect([packs.mock.calls.length, uploads.mock.calls.length]).toEqual([1, 0]);
      // what a run packed goes back to the pool: the textures held stay as they were
      const held = runtime.liveTextures - runtime.pooledTextures;
      for (let k = 0; k < 3; k++) await model.run(feeds);
      expect(runtime.liveTextures - runtime.pooledTextures).toBe(held);
      model.dispose();
      // x also read by an add: uploaded as it is for it, and still packed on the host for the product
      const c = new GraphBuilder();
      const cx = c.input('x', 'f32', [3, 6]);
      const sum = c.build({ y: c.add('matmul', [cx, c.param('wq', 'f32', [6, 5])]), z: c.add('tanh', [cx]) });
      const mixed = await gl!.prepare(sum, weights);
      [packs, uploads].forEach((spy) => spy.mockClear());
      const out = await mixed.run(feeds);
      const ref = interpret(sum, feeds, weights);
      for (const name of ['y', 'z']) expect(firstMismatch(out[name]!, ref[name]!, f32Budget(sum))).toBeUndefined();
      expect([packs.mock.calls.length, uploads.mock.calls.length]).toEqual([1, 1]);
      mixed.dispose();
    } finally {
      packs.mockRestore();
      uploads.mockRestore();
    }
  });
});
