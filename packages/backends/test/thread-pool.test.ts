/**
 * The cpu thread pool: work claimed in chunks by whichever thread is free. Products and row kernels
 * must give the same bits on any thread count, however the chunks fall: with more threads than
 * cores, back to back with jobs of other kinds and sizes (a worker that wakes late must never take
 * a chunk of the wrong job), and while another process keeps a core busy.
 */
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { applyEpilogue, batchedMatmul } from '../src/cpu/kernels/matmul.ts';
import { markResident } from '../src/cpu/kernels/resident-weights.ts';
import { WasmRuntime, type KernelSettings } from '../src/cpu/wasm-runtime/runtime.ts';
import { CHUNK_END, CHUNK_START, ThreadPool, ThreadPoolError, type Job } from '../src/cpu/wasm-runtime/thread-pool.ts';

const rt = WasmRuntime.get();

/** A product and its epilogue, in the heap as a model's activations are, on `settings`; returns C. */
function product(settings: KernelSettings, m: number, n: number, k: number, weight: Float32Array, seed: number): Float32Array {
  const a = rt.heap.f32(rt.heap.alloc(m * k * 4), m * k);
  a.forEach((_, i) => (a[i] = Math.sin(i * 0.37 + seed)));
  const c = rt.heap.f32(rt.heap.alloc(m * n * 4), m * n);
  const bias = Float32Array.from({ length: n }, (_, j) => Math.cos(j));
  batchedMatmul({ rt, settings }, a, weight, c, [m, k], [k, n], [m, n], false);
  applyEpilogue({ rt, settings }, { bias, residual: undefined, act: 1 }, c, m, n);
  const out = c.slice();
  rt.heap.release(rt.heap.addressOf(a));
  rt.heap.release(rt.heap.addressOf(c));
  return out;
}

/** Products of many shapes, one after another (decode rows, prefill blocks, odd widths). */
const SHAPES: [number, number, number][] = [
  [1, 768, 96],
  [5, 40, 33],
  [1, 2304, 64],
  [37, 264, 80],
  [1, 17, 300],
  [64, 128, 128],
];

async function runAll(threads: number, rounds: number): Promise<Float32Array[]> {
  const settings = await rt.settle({ threads, simd: 'relaxed', smallProduct: 0, parallelFrom: 0, pauseWhenContended: false });
  const weights = SHAPES.map(([, n, k]) => {
    const w = Float32Array.from({ length: k * n }, (_, i) => Math.cos(i * 0.013));
    markResident(w);
    return w;
  });
  const results: Float32Array[] = [];
  for (let r = 0; r < rounds; r++) SHAPES.forEach(([m, n, k], i) => results.push(product(settings, m, n, k, weights[i]!, r)));
  return results;
}

describe('work claimed in chunks', () => {
  it('1, 2, 3 and 4 threads give the same bits over 48 back-to-back products of six shapes (more threads than cores)', async () => {
    const one = await runAll(1, 8);
    for (const threads of [2, 3, 4]) {
      const many = await runAll(threads, 8);
      many.forEach((c, i) => expect(c, `product ${i} on ${threads} threads`).toEqual(one[i]));
    }
  });

  describe('with another process keeping a core busy', () => {
    let hog: ReturnType<typeof spawn>;
    beforeAll(() => {
      hog = spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' });
    });
    afterAll(() => {
      hog.kill('SIGKILL');
    });

    it('2 threads still give the bits of 1 thread', async () => {
      const one = await runAll(1, 10);
      const two = await runAll(2, 10);
      two.forEach((c, i) => expect(c, `product ${i}`).toEqual(one[i]));
    });
  });

  it('a job asked of more threads than the claim word can count chunks for is cut into fewer chunks, with the same bits', async () => {
    // 400 threads asked (the pool has 2): 8 chunks each would be 3200, past the 1023 the claim word's low bits count
    const settings = await rt.settle({ threads: 2, simd: 'relaxed', smallProduct: 0, parallelFrom: 0, pauseWhenContended: false });
    const [rows, d] = [20_000, 16]; // chunks of 20 rows: enough work that the worker takes some
    const x = rt.heap.f32(rt.heap.alloc(rows * d * 4), rows * d);
    x.forEach((_, i) => (x[i] = Math.sin(i * 0.11)));
    const gamma = rt.heap.f32(rt.heap.alloc(d * 4), d).fill(1);
    const beta = rt.heap.f32(rt.heap.alloc(d * 4), d).fill(0);
    const norm = (threads: number) => {
      const out = rt.heap.f32(rt.heap.alloc(rows * d * 4), rows * d);
      const at = (a: Float32Array) => rt.heap.addressOf(a);
      rt.parallel(settings, 'layer_norm', [at(x), 0, at(gamma), at(beta), at(out), d, new Int32Array(new Float32Array([1e-5]).buffer)[0]!, CHUNK_START, CHUNK_END], rows, threads);
      return out.slice();
    };
    norm(2); // the worker spins a few milliseconds after a job: awake for the next one even on a busy machine
    const chunksBefore = rt.workerChunks;
    const many = norm(400);
    expect(rt.workerChunks, 'the worker took part').toBeGreaterThan(chunksBefore);
    expect(many).toEqual(norm(1));
    expect(Math.abs(many[0]! + many[1]!)).toBeLessThan(100); // normalized rows, not zeros
    expect(many.some((v) => v !== 0)).toBe(true);
  });

  it("the decoding products' chunks are whole quads of panels (their kernels' fast path), other kernels' are not rounded", async () => {
    const settings = await rt.settle({ threads: 2, simd: 'relaxed', smallProduct: 0, parallelFrom: 0, pauseWhenContended: false });
    const jobs: Job[] = [];
    const original = ThreadPool.prototype.dispatch;
    const dispatch = vi.spyOn(ThreadPool.prototype, 'dispatch').mockImplementation(function (this: ThreadPool, job: Job) {
      jobs.push(job);
      original.call(this, job);
    });
    try {
      // 2304 columns: 288 panels, 16 chunks of 18 before rounding; one row: gemv
      const weight = Float32Array.from({ length: 64 * 2304 }, (_, i) => Math.cos(i * 0.013));
      markResident(weight);
      product(settings, 1, 2304, 64, weight, 0);
      // and a row kernel of 18 rows a chunk, which is not rounded
      const [x, gamma, beta] = [288 * 16, 16, 16].map((n) => rt.heap.f32(rt.heap.alloc(n * 4), n).fill(1));
      const at = (a: Float32Array) => rt.heap.addressOf(a);
      rt.parallel(settings, 'layer_norm', [at(x!), 0, at(gamma!), at(beta!), at(x!), 16, new Int32Array(new Float32Array([1e-5]).buffer)[0]!, CHUNK_START, CHUNK_END], 288, 2);
      for (const a of [x!, gamma!, beta!]) rt.heap.release(at(a));
    } finally {
      dispatch.mockRestore();
    }
    const gemv = jobs.find((j) => j.kernel === 'gemv');
    expect(gemv, 'the product ran as a job').toBeDefined();
    expect(gemv!.total).toBe(288);
    expect(gemv!.chunk).toBe(20);
    expect(jobs.find((j) => j.kernel === 'layer_norm')!.chunk).toBe(18);
  });

  it('a static job (the arithmetic bound) runs one chunk on every thread', async () => {
    await rt.settle({ threads: 3, simd: 'relaxed', pauseWhenContended: false });
    // the workers asleep (they spin a few milliseconds after a job): the caller, free first, must still take one chunk only
    await new Promise((resolve) => setTimeout(resolve, 100));
    const before = rt.workerChunks;
    rt.everyThread('relaxed', 'simd_peak', [1000], 3);
    expect(rt.workerChunks - before).toBe(2);
  });

  it('a kernel that traps on a worker is a ThreadPoolError, and the pool goes on working', async () => {
    const settings = await rt.settle({ threads: 2, simd: 'relaxed', smallProduct: 0, parallelFrom: 0, pauseWhenContended: false });
    // a layer norm whose rows lie past the end of the memory: every chunk traps, on whichever thread takes it
    const beyond = rt.heap.memory.buffer.byteLength;
    expect(() => rt.parallel(settings, 'layer_norm', [beyond, 0, beyond, beyond, beyond, 64, 0, CHUNK_START, CHUNK_END], 4096, 2)).toThrow(ThreadPoolError);
    const again = await runAll(2, 1);
    const one = await runAll(1, 1);
    again.forEach((c, i) => expect(c).toEqual(one[i]));
  });
});
