/**
 * The training ops' kernels (scatter_add, softmax_cross_entropy, dropout) on one backend against the
 * reference interpreter, written once and run on cpu, webgpu and webgl (*-training-ops.test.ts):
 * awkward shapes (1, odd primes, a symbolic size), repeated indices, ignored labels, label smoothing,
 * dropout at p = 0 and high p with a mask bit-identical to the reference's and the cpu's on ~100k
 * elements, and indices outside their range, fed or computed, as InputErrors naming the op, the node
 * and the position.
 */
import { GraphBuilder, interpret, InputError, type Graph, type NDArray, type Weights } from '@loom/graph';
import { describe, expect, it } from 'vitest';
import { cpuBackend, type Backend, type BackendName } from '../../src/index.ts';
import { compare, randomF32, randomI32, rng, type Tolerance } from '../webgpu-data.ts';
import { runsOn } from './exclusions.ts';
import { suiteBackend } from './suite-backend.ts';

async function run(backend: Backend, graph: Graph, feeds: Readonly<Record<string, NDArray>>, weights: Weights = new Map()): Promise<Record<string, NDArray>> {
  const model = await backend.prepare(graph, weights);
  try {
    return await model.run(feeds);
  } finally {
    model.dispose();
  }
}

/** Every output within `tol` of the float64 interpreter; returns the backend's outputs. */
async function expectReference(backend: Backend, graph: Graph, feeds: Readonly<Record<string, NDArray>>, tol: Tolerance = {}): Promise<Record<string, NDArray>> {
  const got = await run(backend, graph, feeds);
  const want = interpret(graph, feeds, new Map());
  for (const [name, w] of Object.entries(want)) {
    const { worst, index } = compare(got[name]!, w, tol);
    if (worst > 1) throw new Error(`${backend.name}: output '${name}' differs at ${index}: ${got[name]!.data[index]} vs reference ${w.data[index]} (${worst.toFixed(1)}x the tolerance)`);
  }
  return got;
}

/** The backend's run fails with an InputError whose message matches every pattern. */
async function expectInputError(backend: Backend, graph: Graph, feeds: Readonly<Record<string, NDArray>>, ...patterns: RegExp[]): Promise<void> {
  const error = await run(backend, graph, feeds).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error, `${backend.name} accepted the bad indices`).toBeInstanceOf(InputError);
  for (const p of patterns) expect((error as Error).message).toMatch(p);
}

const ids = (...values: number[]): NDArray => ({ dtype: 'i32', shape: [values.length], data: Int32Array.from(values) });
const scalarSeed = (seed: number, shape: number[] = []): NDArray => ({ dtype: 'i32', shape, data: Int32Array.of(seed) });

function scatterGraph(indexShape: (number | string)[], rest: number[], rows: number | string): Graph {
  const b = new GraphBuilder();
  const indices = b.input('ids', 'i32', indexShape);
  const updates = b.input('u', 'f32', [...indexShape, ...rest]);
  return b.build({ y: b.add('scatter_add', [indices, updates], { rows }) });
}

function crossEntropyGraph(shape: number[], attrs: Record<string, unknown>): Graph {
  const b = new GraphBuilder();
  const logits = b.input('x', 'f32', shape);
  const labels = b.input('labels', 'i32', shape.slice(0, -1));
  return b.build({ loss: b.add('softmax_cross_entropy', [logits, labels], attrs) });
}

function dropoutGraph(shape: number[], p: number, stream = 0, seedShape: number[] = []): Graph {
  const b = new GraphBuilder();
  const x = b.input('x', 'f32', shape);
  const seed = b.input('seed', 'i32', seedShape);
  return b.build({ y: b.add('dropout', [x, seed], { p, stream }) });
}

/** x in [0.5, 1.5) (never 0, so a zero output is a dropped element). */
const nonZero = (shape: number[], seed: number): NDArray => randomF32(shape, rng(seed), 0.5, 1.5);

export async function trainingOpsSuite(name: BackendName): Promise<void> {
  if (!runsOn('training ops', name)) return;
  const backend = await suiteBackend(name);
  describe.skipIf(!backend)(`${name} kernels of the training ops`, { timeout: 180_000 }, () => {
    const b = backend!;

    it.each([
      ['one position, one row', [1], [1], 1, ids(0)],
      ['repeated indices, rows never hit', [7], [5], 3, ids(2, 0, 2, 2, 0, 2, 2)],
      ['two index axes, a row of shape [3, 1]', [2, 3], [3, 1], 7, { dtype: 'i32', shape: [2, 3], data: Int32Array.of(6, 1, 6, 0, 6, 5) } as NDArray],
      ['indices only, no row axes', [5], [], 2, ids(1, 1, 0, 1, 1)],
    ] as const)('scatter_add: %s, equal to the float32 interpreter bit for bit (position order)', async (_, indexShape, rest, rows, indices) => {
      const graph = scatterGraph([...indexShape], [...rest], rows);
      const feeds = { ids: indices, u: randomF32([...indexShape, ...rest], rng(rows), -2, 2) };
      const got = await expectReference(b, graph, feeds);
      expect(Array.from(got['y']!.data)).toEqual(Array.from(interpret(graph, feeds, new Map(), { precision: 'f32' })['y']!.data));
    });

    it('scatter_add: sums whose value depends on the order are added in position order', async () => {
      // (1e8 + 1) - 1e8 is 0 in float32; adding in any other order gives 1
      const graph = scatterGraph([6], [1], 2);
      const feeds = { ids: ids(1, 0, 1, 0, 1, 0), u: { dtype: 'f32', shape: [6, 1], data: Float32Array.of(1e8, 3, 1, 5, -1e8, -3) } as NDArray };
      const got = await run(b, graph, feeds);
      expect(Array.from(got['y']!.data)).toEqual(Array.from(interpret(graph, feeds, new Map(), { precision: 'f32' })['y']!.data));
      expect(Array.from(got['y']!.data)).toEqual([5, 0]);
    });

    it('scatter_add: a symbolic number of positions, 13 of them over 5 rows', async () => {
      const graph = scatterGraph(['n'], [3], 5);
      await expectReference(b, graph, { ids: randomI32([13], rng(3), 0, 4), u: randomF32([13, 3], rng(4)) });
    });

    it('scatter_add: an index outside the table, fed or computed, is an InputError naming the op, the node and the position', async () => {
      const graph = scatterGraph([4], [2], 5);
      const u = randomF32([4, 2], rng(5));
      await expectInputError(b, graph, { ids: ids(0, 4, 5, 1), u }, /scatter_add/, /%\d+/, /position 2/);
      await expectInputError(b, graph, { ids: ids(-1, 4, 2, 1), u }, /scatter_add/, /position 0/);
      // indices the graph computes (range + 3: 3, 4, 5, 6) reach the kernel unchecked by the host
      const c = new GraphBuilder();
      const n = c.input('u', 'f32', ['n', 2]);
      const computed = c.add('add', [c.add('range', [], { size: 'n' }), c.constant(3, [], 'i32')]);
      const g = c.build({ y: c.add('scatter_add', [computed, n], { rows: 5 }) });
      await expect(run(b, g, { u: randomF32([2, 2], rng(6)) })).resolves.toBeDefined();
      await expectInputError(b, g, { u: randomF32([4, 2], rng(6)) }, /scatter_add/, /%\d+/, /position 2/);
    });

    it.each([
      ['one class, one position', [1, 1], { ignoreIndex: null }, ids(0)],
      ['7 positions of 5 classes, two ignored (-100)', [7, 5], {}, ids(4, -100, 0, 3, -100, 1, 2)],
      ['[2, 3, 7] with label smoothing 0.1, nothing ignored', [2, 3, 7], { ignoreIndex: null, labelSmoothing: 0.1 }, { dtype: 'i32', shape: [2, 3], data: Int32Array.of(6, 0, 3, 3, 1, 5) } as NDArray],
      ['a valid class as the ignore index, smoothing 1', [5, 3], { ignoreIndex: 2, labelSmoothing: 1 }, ids(2, 0, 1, 2, 2)],
      ['13 classes, smoothing 0.25, some ignored', [3, 13], { labelSmoothing: 0.25 }, ids(12, -100, 7)],
    ] as const)('softmax_cross_entropy: %s', async (_, shape, attrs, labels) => {
      const graph = crossEntropyGraph([...shape], attrs);
      await expectReference(b, graph, { x: randomF32([...shape], rng(shape.length), -3, 3), labels }, { atol: 2e-6, rtol: 2e-6 });
    });

    it('softmax_cross_entropy: large logits stay accurate (no cancellation of logsumexp against the label logit)', async () => {
      const graph = crossEntropyGraph([4, 11], { labelSmoothing: 0.1 });
      const x = randomF32([4, 11], rng(8), 900, 1000);
      await expectReference(b, graph, { x, labels: ids(0, 10, 5, -100) }, { atol: 2e-6, rtol: 2e-6 });
    });

    it('softmax_cross_entropy: a label outside the classes, fed or computed, is an InputError naming the op, the node and the position', async () => {
      const x = randomF32([4, 5], rng(9));
      await expectInputError(b, crossEntropyGraph([4, 5], {}), { x, labels: ids(0, -100, 5, 1) }, /softmax_cross_entropy/, /%\d+/, /position 2/);
      // -100 is a label like any other when nothing is ignored
      await expectInputError(b, crossEntropyGraph([4, 5], { ignoreIndex: null }), { x, labels: ids(0, -100, 4, 1) }, /softmax_cross_entropy/, /position 1/);
      const c = new GraphBuilder();
      const logits = c.input('x', 'f32', ['n', 5]);
      const labels = c.add('add', [c.add('range', [], { size: 'n' }), c.constant(2, [], 'i32')]); // 2, 3, 4, 5
      const g = c.build({ loss: c.add('softmax_cross_entropy', [logits, labels]) });
      await expect(run(b, g, { x: randomF32([3, 5], rng(10)) })).resolves.toBeDefined();
      await expectInputError(b, g, { x }, /softmax_cross_entropy/, /%\d+/, /position 3/);
    });

    it.each([
      ['p = 0 keeps everything as it is', [3, 7, 5], 0, 0, 11, []],
      ['p = 0.5, a negative seed', [2, 13], 0.5, 3, -123456, []],
      ['p = 0.9: most elements dropped', [1, 97], 0.9, 7, 42, []],
      ['p = 0.25, a seed of shape [1] near 2^24', [5], 0.25, 1, 2 ** 24 - 1, [1]],
    ] as const)('dropout: %s', async (_, shape, p, stream, seed, seedShape) => {
      const graph = dropoutGraph([...shape], p, stream, [...seedShape]);
      const feeds = { x: nonZero([...shape], 12), seed: scalarSeed(seed, [...seedShape]) };
      const got = await expectReference(b, graph, feeds, { atol: 0, rtol: 2e-7 });
      if (p === 0) expect(Array.from(got['y']!.data)).toEqual(Array.from(feeds.x.data));
    });

    it('dropout: the mask on 104,927 elements is bit-identical to the reference and to the cpu, and drops about p of them', async () => {
      const shape = [317, 331];
      const graph = dropoutGraph(shape, 0.3, 5);
      const feeds = { x: nonZero(shape, 13), seed: scalarSeed(2026120) }; // within 2^24: webgl holds i32 in floats
      const mask = (t: NDArray): number[] => Array.from(t.data, (v) => (v === 0 ? 0 : 1));
      const reference = mask(interpret(graph, feeds, new Map())['y']!);
      const got = mask((await run(b, graph, feeds))['y']!);
      const cpu = mask((await run(cpuBackend, graph, feeds))['y']!);
      const differ = (a: number[], c: number[]) => a.reduce((n, v, i) => n + (v === c[i] ? 0 : 1), 0);
      expect(differ(got, reference), 'elements whose mask differs from the reference').toBe(0);
      expect(differ(got, cpu), 'elements whose mask differs from the cpu').toBe(0);
      const dropped = 1 - reference.reduce((n, v) => n + v, 0) / reference.length;
      expect(Math.abs(dropped - 0.3)).toBeLessThan(0.01);
    });
  });
}
