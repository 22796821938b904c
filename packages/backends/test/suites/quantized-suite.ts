/**
 * The q8 / q4 weight stores on one backend, written once and run on cpu, webgpu and webgl
 * (*-quantized.test.ts): products with quantized weights against the reference interpreter running
 * the same quantized graph (dequantize + matmul in float64), for 8 and 4 bits, groups of 32, 16 and
 * whole columns, float16 scales and zero points, one row (decoding) and many (prefill, the tiled
 * kernels), K not a multiple of the group, N not a multiple of the kernels' panels, epilogues fused
 * into the product, and a tied weight read both by a gather and transposed by a product.
 */
import { quantizeWeights } from '@loom/compiler';
import { GraphBuilder, InputError, Q8, quantizeMatrix, type Graph, type NDArray, type WeightQuantization } from '@loom/graph';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { conformanceProperty } from '../conformance.ts';
import { cpuBackend, referenceBackend, WeightStoreError, type Backend, type BackendName, type WeightStore } from '../../src/index.ts';
import { compare, randomF32, rng } from '../webgpu-data.ts';
import { runsOn } from './exclusions.ts';
import { suiteBackend } from './suite-backend.ts';

async function run(backend: Backend, graph: Graph, feeds: Readonly<Record<string, NDArray>>, weights: ReadonlyMap<string, NDArray>, weightStore: WeightStore): Promise<Record<string, NDArray>> {
  const model = await backend.prepare(graph, weights, { weightStore, cpu: { smallProduct: 0 } });
  try {
    return await model.run(feeds);
  } finally {
    model.dispose();
  }
}

/** x [rows, K] -> gelu(x W1 + b1) (W2)^T + x W3: a plain product, one with an epilogue, one transposed. */
function mlp(k: number, hidden: number): Graph {
  const b = new GraphBuilder();
  const x = b.input('x', 'f32', ['rows', k]);
  const w1 = b.param('w1', 'f32', [k, hidden]);
  const b1 = b.param('b1', 'f32', [hidden]);
  const w2 = b.param('w2', 'f32', [k, hidden]); // read transposed: [hidden] -> [k]
  const w3 = b.param('w3', 'f32', [k, k]);
  const h = b.add('gelu', [b.add('add', [b.add('matmul', [x, w1]), b1])]);
  const y = b.add('add', [b.add('matmul', [h, w2], { transposeB: true }), b.add('matmul', [x, w3])]);
  return b.build({ y });
}

function mlpWeights(k: number, hidden: number, seed: number): Map<string, NDArray> {
  const r = rng(seed);
  return new Map([
    ['w1', randomF32([k, hidden], r)],
    ['b1', randomF32([hidden], r)],
    ['w2', randomF32([k, hidden], r)],
    ['w3', randomF32([k, k], r)],
  ]);
}

const CASES: readonly [string, WeightQuantization | 'q8' | 'q4', number, number][] = [
  ['q8 (groups of 32)', 'q8', 64, 40],
  ['q4 (groups of 32)', 'q4', 64, 40],
  ['8 bits, one scale per output channel', { bits: 8, group: 'channel', scales: 'f32', zeroPoints: false }, 45, 19],
  ['4 bits, groups of 16, float16 scales, zero points', { bits: 4, group: 16, scales: 'f16', zeroPoints: true }, 70, 33],
  ['8 bits, zero points, K not a multiple of the group', { bits: 8, group: 32, scales: 'f32', zeroPoints: true }, 75, 9],
  ['q8 with int8 activations', { bits: 8, group: 32, scales: 'f32', zeroPoints: false, activations: 'int8' }, 64, 40],
  ['4 bits, zero points, int8 activations in groups of 16', { bits: 4, group: 16, scales: 'f16', zeroPoints: true, activations: 'int8' }, 70, 33],
];

/** int8 activations: a value that float32 and float64 place on either side of a half rounds apart (one step of its group's scale, ~1/127 of the group). */
const tolerance = (store: WeightQuantization | 'q8' | 'q4') => (typeof store === 'object' && store.activations === 'int8' ? { atol: 2e-2, rtol: 1e-2 } : { atol: 2e-4, rtol: 1e-4 });

export async function quantizedSuite(name: BackendName): Promise<void> {
  if (!runsOn('quantized weights', name)) return;
  const backend = await suiteBackend(name);
  describe.skipIf(!backend)(`${name} with quantized weights`, { timeout: 180_000 }, () => {
    const b = backend!;

    it.each(CASES)('%s: equals float64 of the dequantized weights, one row and many', async (_, store, k, hidden) => {
      const graph = mlp(k, hidden);
      const weights = mlpWeights(k, hidden, k + hidden);
      for (const rows of [1, 3, 37]) {
        const x = randomF32([rows, k], rng(rows));
        const [got, want, float] = [await run(b, graph, { x }, weights, store), await run(referenceBackend, graph, { x }, weights, store), await run(referenceBackend, graph, { x }, weights, 'f32')];
        // float32 accumulation of up to ~100 products of O(1) values
        expect(compare(got['y']!, want['y']!, tolerance(store)).worst, `${rows} rows`).toBeLessThanOrEqual(1);
        // and it is the quantized function: far from the float weights' result (so no float path ran)
        expect(compare(got['y']!, float['y']!, { atol: 2e-3, rtol: 0 }).worst, `${rows} rows: the quantized result should differ from float32's`).toBeGreaterThan(1);
      }
    });

    it('int8 activations: the rounding alone gives the reference\'s integers on float32 inputs (scale x integer rounded to float32 once), and rounds half to even', async () => {
      const g = new GraphBuilder();
      const x = g.input('x', 'f32', ['rows', 40]);
      const graph = g.build({ y: g.add('quantize_activations', [x], { group: 16 }) });
      const feeds = { x: randomF32([3, 40], rng(4), -3, 3) };
      // a group whose largest value is 127: its scale is 1, so 2.5 and -0.5 are halves (to 2 and -0)
      feeds.x.data.set([127, 2.5, 3.5, -0.5, 0.49999997], 0);
      feeds.x.data.fill(0, 16, 32); // a group of zeros stays zeros
      const [got, want] = [await run(b, graph, feeds, new Map(), 'f32'), await run(referenceBackend, graph, feeds, new Map(), 'f32')];
      expect(Array.from(got['y']!.data.subarray(0, 5), (v) => v + 0)).toEqual([127, 2, 4, 0, 0]);
      // the GPUs' division may be an ulp off float32's: a value a hair from a half may round apart
      const exact = name === 'cpu' ? { atol: 0, rtol: 2 ** -23 } : { atol: 0.03, rtol: 0 };
      expect(compare(got['y']!, want['y']!, exact).worst).toBeLessThanOrEqual(1);
    });

    it.each([8, 4] as const)('int8 activations at %s bits: one product of float32 rows equals the reference\'s integers scaled (K padded to quads, zero points, one row and many)', async (bits) => {
      const g = new GraphBuilder();
      const x = g.input('x', 'f32', ['rows', 70]);
      const w = g.param('w', 'f32', [70, 21]);
      const graph = g.build({ y: g.add('matmul', [x, w]) });
      const weights = new Map([['w', randomF32([70, 21], rng(bits))]]);
      const store: WeightQuantization = { bits, group: 16, scales: 'f32', zeroPoints: true, activations: 'int8' };
      for (const rows of [1, 6, 9]) {
        const feeds = { x: randomF32([rows, 70], rng(rows + bits), -2, 2) };
        const [got, want] = [await run(b, graph, feeds, weights, store), await run(referenceBackend, graph, feeds, weights, store)];
        // the rows are float32 already: both round them to the same integers, so only float32 sums differ
        expect(compare(got['y']!, want['y']!, { atol: 1e-5, rtol: 1e-5 }).worst, `${rows} rows`).toBeLessThanOrEqual(1);
        if (name !== 'cpu') continue;
        // the cpu's quads layout (relaxed SIMD's i8 x i7 dot, here spelled in plain SIMD and in relaxed SIMD
        // where the engine has it; more than one row in blocks of 4, 9 rows leaving a block of 1), 8-bit
        // codes as two planes of nibbles or whole (the bytes layout: forced in plain SIMD, which reads
        // them as AVX-VNNI does, and in relaxed SIMD where the engine's probe finds that reading), in
        // groups of an even and an odd number of quads, on 1 and 2 threads; 4-bit codes also summed in
        // 16-bit lanes (shortSums: forced, and where the probe finds the dot saturating)
        const layouts = [[16, 'plain', 1, false, false], [12, 'plain', 2, true, true], [16, 'plain', 1, true, true], [16, 'auto', 2, undefined, undefined], [12, 'auto', 1, false, true], [32, 'plain', 2, undefined, true]] as const;
        for (const [group, simd, threads, bytesLayout, shortSums] of layouts) {
          const grouped = { ...store, group };
          const reference = await run(referenceBackend, graph, feeds, weights, grouped);
          const quads = await cpuBackend.prepare(graph, weights, { weightStore: grouped, cpu: { smallProduct: 0, simd, quadsLayout: true, ...(bytesLayout === undefined ? {} : { bytesLayout }), ...(shortSums === undefined ? {} : { shortSums }), threads, parallelFrom: 1, pauseWhenContended: false } });
          try {
            expect(compare((await quads.run(feeds))['y']!, reference['y']!, { atol: 1e-5, rtol: 1e-5 }).worst, `${rows} rows, quads layout, bytes ${bytesLayout ?? 'where the probe finds it'}, short sums ${shortSums ?? 'where the probe finds them'}, groups of ${group}, ${simd} SIMD, ${threads} threads`).toBeLessThanOrEqual(1);
          } finally {
            quads.dispose();
          }
        }
      }
    });

    // the cpu only: 16-bit lanes hold a group of 32 4-bit codes at their largest (8 quads of 2 * 127 * 15
    // = 30480), and a group of 64 (twice that) takes 32-bit lanes
    if (name === 'cpu') it.each([32, 64])('4-bit codes summed in 16-bit lanes, at their largest, in groups of %s (one row and five)', async (group) => {
      const g = new GraphBuilder();
      const x = g.input('x', 'f32', ['rows', 128]);
      const w = g.param('w', 'f32', [128, 16]);
      const graph = g.build({ y: g.add('matmul', [x, w]) });
      // each group's first weight m gets code 0 (Q4_0), the rest -m clamp to code 15
      const data = Float32Array.from({ length: 128 * 16 }, (_, i) => (Math.floor(i / 16) % group === 0 ? 1 : -1) * (1 + (i % 16)));
      const weights = new Map([['w', { dtype: 'f32' as const, shape: [128, 16], data }]]);
      const store: WeightQuantization = { bits: 4, group, scales: 'f32', zeroPoints: false, activations: 'int8' };
      for (const rows of [1, 5]) {
        const feeds = { x: { dtype: 'f32' as const, shape: [rows, 128], data: new Float32Array(rows * 128).fill(3) } };
        const reference = await run(referenceBackend, graph, feeds, weights, store);
        for (const simd of ['plain', 'auto'] as const) {
          const model = await cpuBackend.prepare(graph, weights, { weightStore: store, cpu: { smallProduct: 0, simd, quadsLayout: true, shortSums: true, threads: 1 } });
          try {
            expect(compare((await model.run(feeds))['y']!, reference['y']!, { atol: 1e-5, rtol: 1e-5 }).worst, `${rows} rows, ${simd} SIMD`).toBeLessThanOrEqual(1);
          } finally {
            model.dispose();
          }
        }
      }
    });

    // the cpu only: the GPUs may flush subnormals to zero, as WGSL and GLSL allow
    if (name === 'cpu') it.each([8, 4] as const)('int8 activations at %s bits: a group whose largest value is subnormal rounds to integers within 127 (its scale keeps too few bits), in the vector loop and the scalar tail', async (bits) => {
      const g = new GraphBuilder();
      const x = g.input('x', 'f32', ['rows', 14]);
      const w = g.param('w', 'f32', [14, 5]);
      const graph = g.build({ y: g.add('matmul', [x, w]) });
      const big = 2 ** 100; // products of normal size: x is about 2^-149 (the smallest subnormal) times small integers
      const drawn = randomF32([14, 5], rng(7 + bits));
      const weights = new Map([['w', { ...drawn, data: Float32Array.from(drawn.data as Float32Array, (v) => v * big) }]]);
      const d = 2 ** -149;
      const row = [190, 10, 0, 0, 190, -3, 0, 7, 3, -190, 1, 0, 190, -190];
      for (const rows of [1, 6]) {
        const feeds = { x: Float32Array.from({ length: rows * 14 }, (_, i) => row[i % 14]! * d * (1 + (Math.floor(i / 14) % 2))) };
        for (const layouts of [{}, { quadsLayout: false }] as const) {
          const store: WeightQuantization = { bits, group: 8, scales: 'f32', zeroPoints: false, activations: 'int8' };
          const reference = await run(referenceBackend, graph, { x: { dtype: 'f32', shape: [rows, 14], data: feeds.x } }, weights, store);
          const model = await cpuBackend.prepare(graph, weights, { weightStore: store, cpu: { smallProduct: 0, ...layouts } });
          try {
            const got = (await model.run({ x: { dtype: 'f32', shape: [rows, 14], data: feeds.x } }))['y']!;
            expect(compare(got, reference['y']!, { atol: 0, rtol: 1e-5 }).worst, `${rows} rows ${JSON.stringify(layouts)}`).toBeLessThanOrEqual(1);
          } finally {
            model.dispose();
          }
        }
      }
    });

    // the cpu only: symmetric codes keep no bias table (the kernels make -middle * scale from the
    // scales); given the same codes with the middle as explicit zero points, a table is kept and read
    if (name === 'cpu') it.each([8, 4] as const)('symmetric %s-bit codes: no bias table kept, and the same bits as their middle given as zero points, through every kernel', async (bits) => {
      const graph = mlp(72, 24);
      const weights = mlpWeights(72, 24, bits);
      const middle = 2 ** (bits - 1);
      const symmetric = quantizeMatrix(weights.get('w1')!.data, 72, 24, false, { bits, group: 24, scales: 'f32', zeroPoints: false });
      const explicit = { ...symmetric, zeroPoints: new Float32Array(symmetric.scales.length).fill(middle) };
      const withoutW1 = new Map([...weights].filter(([n]) => n !== 'w1'));
      const { WasmRuntime } = await import('../../src/cpu/wasm-runtime/runtime.ts');
      const { quantizedPanels, quantizedPanelBytes } = await import('../../src/cpu/wasm-runtime/quantized-panels.ts');
      const rt = WasmRuntime.get();
      for (const [matrix, table] of [[symmetric, false], [explicit, true]] as const) {
        const panels = quantizedPanels(rt, { ...matrix, zeroPoints: matrix.zeroPoints }, () => undefined, 'rows');
        expect(panels.biases !== 0, `zero points given: ${table}`).toBe(table);
        if (panels.temporary) rt.heap.release(panels.packed);
      }
      expect(quantizedPanelBytes(bits, 24, 72, 24, false)).toBeLessThan(quantizedPanelBytes(bits, 24, 72, 24, true));
      for (const rows of [1, 6]) {
        const x = randomF32([rows, 72], rng(rows + bits));
        for (const activations of [undefined, 'int8'] as const) {
          // the quads layout (4 bits; 8 bits as planes of nibbles where forced), pairs and rows
          for (const layouts of [{ quadsLayout: true }, { quadsLayout: true, planesLayout: true }, { quadsLayout: false }]) {
            const outputs = [];
            for (const matrix of [symmetric, explicit]) {
              const store = activations ? { bits, group: 32, scales: 'f32' as const, zeroPoints: false, activations } : 'f32';
              const model = await cpuBackend.prepare(graph, withoutW1, { weightStore: store, quantizedWeights: new Map([['w1', { matrix, transposed: false }]]), cpu: { smallProduct: 0, ...layouts } });
              try {
                outputs.push((await model.run({ x }))['y']!);
              } finally {
                model.dispose();
              }
            }
            expect(Array.from(outputs[0]!.data), `${rows} rows, ${activations ?? 'float'} activations, ${JSON.stringify(layouts)}`).toEqual(Array.from(outputs[1]!.data));
          }
        }
      }
    });

    it('random graphs of quantized products and int8 activations equal the float64 interpreter (property)', async () => {
      await fc.assert(conformanceProperty(b, 6, { kinds: ['quantized_matmul', 'int8_activations', 'int8_activations', 'unary', 'binary', 'reshape'] }), { numRuns: 60, seed: 20261206 });
    });

    it('a tied table: the gather reads the float weight, the transposed product its codes', async () => {
      const g = new GraphBuilder();
      const ids = g.input('ids', 'i32', [5]);
      const wte = g.param('wte', 'f32', [50, 48]);
      const logits = g.add('matmul', [g.add('gather', [wte, ids]), wte], { transposeB: true });
      const graph = g.build({ logits });
      const weights = new Map([['wte', randomF32([50, 48], rng(9))]]);
      const feeds = { ids: { dtype: 'i32' as const, shape: [5], data: Int32Array.from([0, 7, 49, 3, 7]) } };
      const q = quantizeWeights(graph, weights, { bits: 4, group: 32, scales: 'f32', zeroPoints: false });
      expect(q.weights.has('wte')).toBe(true); // still gathered
      expect(q.quantized.map((w) => [w.name, w.transposed])).toEqual([['wte', true]]);
      const [got, want] = [await run(b, graph, feeds, weights, 'q4'), await run(referenceBackend, graph, feeds, weights, 'q4')];
      expect(compare(got['logits']!, want['logits']!, { atol: 2e-4, rtol: 1e-4 }).worst).toBeLessThanOrEqual(1);
    });

    it('weights given already quantized (a GGUF file\'s blocks) are read as they are, with or without a store', async () => {
      const graph = mlp(64, 40);
      const weights = mlpWeights(64, 40, 3);
      // w1 quantized elsewhere (4 bits, groups of 32): the model runs its codes, not w1's floats
      const w1 = quantizeMatrix(weights.get('w1')!.data, 64, 40, false, { bits: 4, group: 32, scales: 'f16', zeroPoints: false });
      const given = new Map([['w1', { matrix: w1, transposed: false }]]);
      const withoutW1 = new Map([...weights].filter(([name]) => name !== 'w1'));
      const x = randomF32([5, 64], rng(8));
      for (const weightStore of ['f32', 'q8'] as const) {
        const prepareRun = async (backend: Backend) => {
          const model = await backend.prepare(graph, withoutW1, { weightStore, quantizedWeights: given, cpu: { smallProduct: 0 } });
          try {
            return (await model.run({ x }))['y']!;
          } finally {
            model.dispose();
          }
        };
        const [got, want] = [await prepareRun(b), await prepareRun(referenceBackend)];
        expect(compare(got, want, { atol: 2e-4, rtol: 1e-4 }).worst, weightStore).toBeLessThanOrEqual(1);
      }
      // a given matrix of other sizes than its param is an InputError naming it
      const wrong = new Map([['w1', { matrix: quantizeMatrix(weights.get('w1')!.data, 40, 64, false, Q8), transposed: false }]]);
      const error = await b.prepare(graph, withoutW1, { quantizedWeights: wrong }).then(() => undefined, (e: unknown) => e);
      expect(error).toBeInstanceOf(InputError);
      expect(String(error)).toContain("the quantized weight 'w1' is 64 columns of 40, its param [64, 40] read as is needs 40 of 64");
    });

    it('dequantize, a graph that reads the matrix itself, plain and transposed', async () => {
      const q = quantizeWeights(mlp(40, 12), mlpWeights(40, 12, 5), { bits: 4, group: 16, scales: 'f32', zeroPoints: true });
      const w = q.quantized.find((e) => e.name === 'w1')!;
      for (const transpose of [false, true]) {
        const g = new GraphBuilder();
        const ops = [g.param(w.codes, 'i32', [12, 7]), g.param(w.scales, 'f32', [12, 3]), g.param(w.zeroPoints!, 'f32', [12, 3])];
        const graph = g.build({ w: g.add('dequantize', ops, { bits: 4, group: 16, k: 40, zeroPoints: true, transpose }) });
        const [got, want] = [await run(b, graph, {}, q.weights, 'f32'), await run(referenceBackend, graph, {}, q.weights, 'f32')];
        expect(compare(got['w']!, want['w']!, { atol: 1e-6, rtol: 1e-6 }).worst).toBeLessThanOrEqual(1);
      }
    });

    it('a code word outside 24 bits is an InputError naming the op', async () => {
      const g = new GraphBuilder();
      const x = g.input('x', 'f32', [2, 6]);
      const codes = g.param('codes', 'i32', [4, 2]);
      const scales = g.param('scales', 'f32', [4, 1]);
      const graph = g.build({ y: g.add('quantized_matmul', [x, codes, scales], { bits: 8, group: 32 }) });
      const weights = new Map<string, NDArray>([
        ['codes', { dtype: 'i32', shape: [4, 2], data: Int32Array.from([1, 2, 3, 2 ** 24, 5, 6, 7, 8]) }],
        ['scales', randomF32([4, 1], rng(2))],
      ]);
      const error = await run(b, graph, { x: randomF32([2, 6], rng(3)) }, weights, 'f32').then(() => undefined, (e: unknown) => e);
      expect(error).toBeInstanceOf(InputError);
      expect(String(error)).toMatch(/quantized_matmul.*16777216 at position 3/);
    });

    it.skipIf(name === 'cpu')('the bf16 store is refused by name here', async () => {
      const error = await run(b, mlp(8, 8), { x: randomF32([1, 8], rng(1)) }, mlpWeights(8, 8, 1), 'bf16').then(() => undefined, (e: unknown) => e);
      expect(error).toBeInstanceOf(WeightStoreError);
      expect(String(error)).toContain(`${name}: the bf16 weight store runs on the cpu backend only`);
    });
  });
}
