import fc from 'fast-check';
import { GraphBuilder, InputError, interpret, type Graph, type NDArray, type Weights } from '@loom/graph';
import { f32Budget, firstMismatch, RECIPE_KINDS } from '@loom/graph/testing';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createWebGlBackend, WEBGL_KERNELS, WebGlLimitError, type GlPass, type WebGlBackend } from '../src/webgl/index.ts';
import { DRIVER_LOOP_LIMIT, LOOP_BUDGET, loopIterations } from '../src/webgl/loops.ts';
import type { Backend } from '../src/index.ts';
import { backwardConformanceProperty, conformanceProperty } from './conformance.ts';
import { requireBackend } from './require-backend.ts';
import { randomF32, randomI32, rng } from './webgpu-data.ts';

/**
 * llvmpipe stops every loop of a fragment after 65535 iterations in all, without a word (WEBGL.md,
 * Loop limit). Every pass stays under LOOP_BUDGET: long rows are reduced in chunks. Here: the shapes
 * that used to come back wrong (softmax and cross-entropy over GPT-2's 50257 classes, reductions
 * over 100000, a matmul's long K, scatter_add over 70000 positions, long attention rows, wide
 * norms) against the float64 interpreter; the chunked paths on small shapes and random graphs
 * with the budget lowered to a few iterations; the loop count read from the GLSL; and a pass over
 * the budget refused at prepare, naming the op, the node and the count.
 */

const gl = (await requireBackend('webgl')).backend as WebGlBackend | undefined;

/** The graph's outputs on `backend` within the conformance tolerance of the float64 interpreter (f32Budget, plus twice float32's own deviation). */
async function expectReference(backend: Backend, graph: Graph, feeds: Readonly<Record<string, NDArray>>, weights: Weights = new Map()): Promise<Record<string, NDArray>> {
  const model = await backend.prepare(graph, weights);
  try {
    const got = await model.run(feeds);
    const oracle = interpret(graph, feeds, weights);
    const f32 = interpret(graph, feeds, weights, { precision: 'f32' });
    for (const [name, want] of Object.entries(oracle)) {
      const slack = Array.from(want.data, (e, i) => 2 * Math.abs(f32[name]!.data[i]! - e));
      expect(firstMismatch(got[name]!, want, f32Budget(graph), slack), `output '${name}'`).toBeUndefined();
    }
    return got;
  } finally {
    model.dispose();
  }
}

/**
 * Seeded values. Long sums (matmul, reduce, scatter_add) take values of one sign: without
 * cancellation their float32 error stays within the per-op budget whatever the order of summation
 * (chunks sum in another order than the float32 interpreter); a loop cut short is off by far more.
 */
const f32 = (shape: number[], seed: number, lo = -3, hi = 3) => randomF32(shape, rng(seed), lo, hi);

function softmaxGraph(shape: number[], axis: number): Graph {
  const b = new GraphBuilder();
  const x = b.input('x', 'f32', shape);
  const y = b.add('softmax', [x], { axis });
  return b.build({ y, sum: b.add('reduce_sum', [y], { axes: [axis], keepDims: false }) });
}

function reduceGraph(shape: number[], axes: number[]): Graph {
  const b = new GraphBuilder();
  const x = b.input('x', 'f32', shape);
  return b.build(Object.fromEntries(['reduce_sum', 'reduce_max', 'reduce_mean'].map((op) => [op, b.add(op, [x], { axes, keepDims: false })])));
}

function crossEntropyGraph(shape: number[], attrs: Record<string, unknown>): Graph {
  const b = new GraphBuilder();
  return b.build({ loss: b.add('softmax_cross_entropy', [b.input('x', 'f32', shape), b.input('labels', 'i32', shape.slice(0, -1))], attrs) });
}

function scatterGraph(positions: number, width: number, rows: number): Graph {
  const b = new GraphBuilder();
  return b.build({ y: b.add('scatter_add', [b.input('ids', 'i32', [positions]), b.input('u', 'f32', [positions, width])], { rows }) });
}

/** scatter_add of indices the graph computes (ids + 1), which reach the kernel unchecked by the host: its status pass checks them. */
function computedScatterGraph(positions: number, width: number, rows: number): Graph {
  const b = new GraphBuilder();
  const ids = b.add('add', [b.input('ids', 'i32', [positions]), b.constant(1, [], 'i32')]);
  return b.build({ y: b.add('scatter_add', [ids, b.input('u', 'f32', [positions, width])], { rows }) });
}

function matmulGraph(m: number, k: number, n: number, epilogue: boolean): Graph {
  const b = new GraphBuilder();
  const [x, w] = [b.input('x', 'f32', [m, k]), b.input('w', 'f32', [k, n])];
  if (!epilogue) return b.build({ y: b.add('matmul', [x, w]) });
  const bias = b.input('bias', 'f32', [n]);
  return b.build({ y: b.add('fused_matmul', [x, w, bias], { epilogue: { op: 'tanh', args: [{ op: 'add', args: [{ in: 0 }, { in: 1 }] }] } }) });
}

function normGraph(shape: number[]): Graph {
  const b = new GraphBuilder();
  const x = b.input('x', 'f32', shape);
  const d = shape[shape.length - 1]!;
  const [gamma, beta] = [b.input('gamma', 'f32', [d]), b.input('beta', 'f32', [d])];
  return b.build({ ln: b.add('layer_norm', [x, gamma, beta], { eps: 1e-5 }), rms: b.add('rms_norm', [x, gamma], { eps: 1e-6 }) });
}

function attentionGraph(tq: number, tk: number, dh: number, dv: number, masked: boolean): Graph {
  const b = new GraphBuilder();
  const [q, k, v] = [b.input('q', 'f32', [1, 2, tq, dh]), b.input('k', 'f32', [1, 1, tk, dh]), b.input('v', 'f32', [1, 1, tk, dv])];
  const inputs = masked ? [q, k, v, b.input('mask', 'f32', [1, 1, tq, tk])] : [q, k, v];
  return b.build({ y: b.add('fused_attention', inputs, { scale: 1 / Math.sqrt(dh) }) });
}

/** Labels in 0..classes-1, with -100 (ignored) at every seventh position. */
function labels(rows: number, classes: number, seed: number): NDArray {
  const t = randomI32([rows], rng(seed), 0, classes - 1);
  for (let i = 3; i < rows; i += 7) t.data[i] = -100;
  return t;
}

/** Every kernel with a loop, rows `long` long: under a lowered budget, chunked over several levels. */
async function everyLoopingOp(backend: Backend, long: number, seed: number): Promise<void> {
  await expectReference(backend, softmaxGraph([2, long], 1), { x: f32([2, long], seed) });
  await expectReference(backend, softmaxGraph([long, 3], 0), { x: f32([long, 3], seed + 1) });
  await expectReference(backend, reduceGraph([2, long], [1]), { x: f32([2, long], seed + 2, 0.5, 1.5) });
  await expectReference(backend, crossEntropyGraph([3, long], {}), { x: f32([3, long], seed + 3), labels: labels(3, long, seed) });
  await expectReference(backend, crossEntropyGraph([3, long], { labelSmoothing: 0.1 }), { x: f32([3, long], seed + 4), labels: labels(3, long, seed + 1) });
  await expectReference(backend, crossEntropyGraph([long, 3], { labelSmoothing: 0.2 }), { x: f32([long, 3], seed + 5), labels: labels(long, 3, seed + 2) });
  await expectReference(backend, scatterGraph(long, 2, 5), { ids: randomI32([long], rng(seed + 6), 0, 4), u: f32([long, 2], seed + 7, 0, 1) });
  await expectReference(backend, normGraph([2, long]), { x: f32([2, long], seed + 8), gamma: f32([long], seed + 9, 0.5, 1.5), beta: f32([long], seed + 10, -1, 1) });
  await expectReference(backend, attentionGraph(3, long, 4, 3, false), { q: f32([1, 2, 3, 4], seed + 11), k: f32([1, 1, long, 4], seed + 12), v: f32([1, 1, long, 3], seed + 13) });
  const mask = f32([1, 1, 3, long], seed + 14, -2, 0);
  await expectReference(backend, attentionGraph(3, long, long, 2, true), { q: f32([1, 2, 3, long], seed + 15, -0.2, 0.2), k: f32([1, 1, long, long], seed + 16, -0.2, 0.2), v: f32([1, 1, long, 2], seed + 17), mask });
  for (const epilogue of [false, true]) {
    const k = long * 4 + 3;
    await expectReference(backend, matmulGraph(2, k, 3, epilogue), { x: f32([2, k], seed + 18, 0, 1), w: f32([k, 3], seed + 19, 0, 1), ...(epilogue ? { bias: f32([3], seed + 20) } : {}) });
  }
}

describe('the loop count of a pass, read from its GLSL', () => {
  const count = (...body: string[]) => loopIterations({ body, helpers: [], what: 'a test pass' });

  it('counts each iteration and the test that ends each loop, nested loops multiplied out, both arms of a branch', () => {
    expect(count('return 1.0;')).toBe(0);
    expect(count('float s = 0.0;', 'for (int j = 0; j < 10; j++) { s += 1.0; }', 'return s;')).toBe(11);
    expect(count('for (int j = 1; j < 10; j++) { }', 'for (int k = 0; k < 10; k += 4) {', '}')).toBe(9 + 1 + 3 + 1);
    // the measured llvmpipe numbers (WEBGL.md): a loops x b nested runs a (b + 2) + 1
    expect(count('for (int a = 0; a < 66; a++) {', '  for (int b = 0; b < 1000; b++) { }', '}')).toBe(66 * 1002 + 1);
    expect(count('if (i == 0) { for (int j = 0; j < 5; j++) { } } else { for (int j = 0; j < 7; j++) { } }')).toBe(6 + 8);
  });

  it('a loop in another form, or in a helper, is a renderer bug, not a guess', () => {
    expect(() => count('int j = 0;', 'while (j < 4) { j++; }')).toThrow(/a loop the loop budget cannot count/);
    expect(() => count('for (int j = 0; j <= 4; j++) { }')).toThrow(/a loop the loop budget cannot count/);
    expect(() => count('for (int j = 0; j < n; j++) { }')).toThrow(/a loop the loop budget cannot count/);
    expect(() => loopIterations({ body: ['return 1.0;'], helpers: ['float f() { for (int j = 0; j < 3; j++) { } return 0.0; }'], what: 'p' })).toThrow(/a helper function holds a loop/);
  });

  it('the budget leaves half of the driver cap', () => {
    expect(LOOP_BUDGET * 2).toBeLessThanOrEqual(DRIVER_LOOP_LIMIT + 1);
  });
});

describe.skipIf(!gl)('webgl loops past the driver cap', { timeout: 300_000 }, () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('softmax over GPT-2 vocabulary (50257) and 100000 sums to 1 and equals the interpreter', async () => {
    for (const v of [50257, 100000]) {
      const got = await expectReference(gl!, softmaxGraph([2, v], 1), { x: f32([2, v], v) });
      for (const s of got['sum']!.data) expect(s).toBeCloseTo(1, 4);
    }
  });

  it('softmax_cross_entropy over 50257 classes, with and without label smoothing, and over 70000 positions', async () => {
    await expectReference(gl!, crossEntropyGraph([4, 50257], {}), { x: f32([4, 50257], 1), labels: labels(4, 50257, 1) });
    await expectReference(gl!, crossEntropyGraph([4, 50257], { labelSmoothing: 0.1 }), { x: f32([4, 50257], 2), labels: labels(4, 50257, 2) });
    await expectReference(gl!, crossEntropyGraph([70000, 3], {}), { x: f32([70000, 3], 3), labels: labels(70000, 3, 3) });
  });

  it('reduce_sum, reduce_max and reduce_mean over 50257, 100000, and two axes of 80000 elements', async () => {
    for (const v of [50257, 100000]) await expectReference(gl!, reduceGraph([2, v], [1]), { x: f32([2, v], v, 0.5, 1.5) });
    await expectReference(gl!, reduceGraph([40, 3, 2000], [0, 2]), { x: f32([40, 3, 2000], 4, 0.5, 1.5) });
  });

  it('matmul and fused_matmul with K = 70000 and 140000 for a 2 x 3 output', async () => {
    for (const k of [70000, 140000]) {
      for (const epilogue of [false, true]) {
        const feeds = { x: f32([2, k], k, 0, 1), w: f32([k, 3], k + 1, 0, 1), ...(epilogue ? { bias: f32([3], 5) } : {}) };
        await expectReference(gl!, matmulGraph(2, k, 3, epilogue), feeds);
      }
    }
  });

  it('scatter_add over 70000 positions, and a computed index outside the table at position 69998 named as such', async () => {
    const feeds = { ids: randomI32([70000], rng(6), 0, 4), u: f32([70000, 2], 7, 0, 1) };
    await expectReference(gl!, scatterGraph(70000, 2, 5), feeds);
    // the status pass walks all 70000 indices
    const model = await gl!.prepare(computedScatterGraph(70000, 2, 5), new Map());
    const shifted = { ...feeds, ids: randomI32([70000], rng(6), -1, 3) };
    await expect(model.run(shifted)).resolves.toBeDefined();
    shifted.ids.data[69998] = 4;
    await expect(model.run(shifted)).rejects.toThrow(InputError);
    await expect(model.run(shifted)).rejects.toThrow(/scatter_add.*%\d+.*position 69998/);
    model.dispose();
  });

  it('layer_norm and rms_norm over 70000-wide rows; attention over 40000 keys, with and without a mask', async () => {
    await expectReference(gl!, normGraph([2, 70000]), { x: f32([2, 70000], 8), gamma: f32([70000], 9, 0.5, 1.5), beta: f32([70000], 10, -1, 1) });
    const tk = 40000;
    await expectReference(gl!, attentionGraph(2, tk, 8, 3, false), { q: f32([1, 2, 2, 8], 11), k: f32([1, 1, tk, 8], 12), v: f32([1, 1, tk, 3], 13) });
    await expectReference(gl!, attentionGraph(2, tk, 8, 3, true), { q: f32([1, 2, 2, 8], 14), k: f32([1, 1, tk, 8], 15), v: f32([1, 1, tk, 3], 16), mask: f32([1, 1, 2, tk], 17, -4, 0) });
  });

  it('with the budget lowered to 5 and 8 iterations, every looping kernel folds its chunks over several levels and still equals the interpreter', async () => {
    await everyLoopingOp(createWebGlBackend({ limits: { maxLoopIterations: 5 } }), 23, 300);
    const tiny = createWebGlBackend({ limits: { maxLoopIterations: 8 } });
    await everyLoopingOp(tiny, 37, 100);
    await everyLoopingOp(tiny, 61, 200);
    // an empty table: the status passes alone, their partial sums are not the step's value
    const model = await tiny.prepare(computedScatterGraph(20, 2, 0), new Map());
    await expect(model.run({ ids: randomI32([20], rng(8), -1, -1), u: f32([20, 2], 9) })).rejects.toThrow(/scatter_add.*position 0/);
    model.dispose();
    const checked = await tiny.prepare(computedScatterGraph(61, 2, 5), new Map());
    const ids = randomI32([61], rng(10), -1, 3);
    ids.data[47] = 7;
    ids.data[53] = -2;
    await expect(checked.run({ ids, u: f32([61, 2], 11) })).rejects.toThrow(/scatter_add.*: 2 indices .*position 47/);
    model.dispose();
  });

  // top_k does not chunk: a row of n values takes k n iterations in one fragment, and a longer one is
  // refused by name (the next test); at the real budget that is a router's experts, not a vocabulary
  const CHUNKING_KINDS = RECIPE_KINDS.filter((k) => k !== 'top_k' && k !== 'moe_ffn');

  it('random graphs and their gradients equal the interpreter with the budget lowered to 5, the least that chunks make progress with (property)', async () => {
    const tiny = createWebGlBackend({ limits: { maxLoopIterations: 5 } });
    await fc.assert(conformanceProperty(tiny, 8, { rerun: true, kinds: CHUNKING_KINDS }), { numRuns: 40, seed: 20261210 });
    await fc.assert(backwardConformanceProperty(tiny, 6, { rerun: false, kinds: CHUNKING_KINDS }), { numRuns: 20, seed: 20261210 });
  }, 600_000);

  it('top_k over a row whose k n iterations pass the budget is a WebGlLimitError naming top_k, the node and the count', async () => {
    const b = new GraphBuilder();
    const graph = b.build({ y: b.add('top_k', [b.input('x', 'f32', [2, 40])], { k: 3, output: 'indices' }) });
    const error = await createWebGlBackend({ limits: { maxLoopIterations: 64 } }).prepare(graph, new Map()).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(WebGlLimitError);
    expect((error as Error).message).toMatch(/top_k \(node %1.*\): top_k runs \d+ loop iterations per fragment/);
  });

  it('a pass whose loops pass the budget is a WebGlLimitError at prepare, naming the op, the node and the count', async () => {
    vi.spyOn(WEBGL_KERNELS as unknown as { softmaxKernel: () => GlPass[] }, 'softmaxKernel').mockReturnValue([
      { inputs: [{ input: 0 }], size: 4, helpers: [], body: ['float s = 0.0;', 'for (int j = 0; j < 70000; j++) { s += 1.0; }', 'return s;'], what: 'a long loop' },
    ]);
    const b = new GraphBuilder();
    const graph = b.build({ y: b.add('softmax', [b.input('x', 'f32', [2, 2])], { axis: 1 }) });
    const error = await gl!.prepare(graph, new Map()).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(WebGlLimitError);
    expect((error as Error).message).toMatch(/softmax \(node %\d+ at [^)]*\): a long loop runs 70001 loop iterations per fragment \(all its loops together\), more than the 32768 a pass may/);
    await expect(createWebGlBackend({ limits: { maxLoopIterations: 4 } }).runtime()).rejects.toThrow(/maxLoopIterations must be an integer of at least 5/);
  });
});
