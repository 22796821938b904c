/**
 * The browser page's script (bundled by build-page.ts): runs Loom graphs on `navigator.gpu`, on
 * WebGL2 or on the cpu backend (its threads as nested Workers) with the same backends as Node. The page exposes `window.loom` for the
 * tests driving it, and times a matmul on either backend.
 */
import { GraphBuilder, graphFromJson, graphToJson, ModelBuilder, type Graph, type NDArray } from '@loom/graph';
import type { Backend, PrepareOptions } from '../src/backend.ts';
import { cpuBackend } from '../src/cpu/cpu-backend.ts';
import { WasmRuntime } from '../src/cpu/wasm-runtime/runtime.ts';
import { webglBackend } from '../src/webgl/index.ts';
import { webgpuBackend } from '../src/webgpu/index.ts';
import { WorkerRuntime } from '../src/worker/worker-runtime.ts';

type PageBackend = 'webgpu' | 'webgl' | 'cpu';
const backends: Record<PageBackend, Backend> = { webgpu: webgpuBackend, webgl: webglBackend, cpu: cpuBackend };

/** Tensors as plain JSON (what crosses page.evaluate). */
export interface JsonTensor {
  readonly dtype: 'f32' | 'i32';
  readonly shape: number[];
  readonly data: number[];
}

function toNd(t: JsonTensor): NDArray {
  return { dtype: t.dtype, shape: t.shape, data: t.dtype === 'i32' ? Int32Array.from(t.data) : Float32Array.from(t.data) };
}

function toJson(a: NDArray): JsonTensor {
  return { dtype: a.dtype, shape: [...a.shape], data: Array.from(a.data) };
}

/** A small graph built in the page itself: token embedding, causal self-attention, FFN, layer norm. */
function smallTransformerBlock(): Graph {
  const m = new ModelBuilder();
  const ids = m.input('ids', 'i32', ['batch', 'seq'] as const);
  const x = m.embed(ids, m.param('emb', [20, 16] as const));
  const attn = m.attention(x, x, x, 2, m.causalMask(ids));
  const h = m.addNorm(x, attn, m.param('ln.g', [16] as const), m.param('ln.b', [16] as const));
  const y = m.ffn(h, m.param('w1', [16, 32] as const), m.param('b1', [32] as const), m.param('w2', [32, 16] as const), m.param('b2', [16] as const), 'gelu');
  return m.build({ y });
}

async function run(graphJson: string, feeds: Record<string, JsonTensor>, weights: Record<string, JsonTensor>, backend: PageBackend = 'webgpu', options: PrepareOptions = {}): Promise<Record<string, JsonTensor>> {
  const graph = graphFromJson(graphJson);
  const model = await backends[backend].prepare(graph, new Map(Object.entries(weights).map(([k, v]) => [k, toNd(v)])), options);
  try {
    const out = await model.run(Object.fromEntries(Object.entries(feeds).map(([k, v]) => [k, toNd(v)])));
    return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, toJson(v)]));
  } finally {
    model.dispose();
  }
}

async function adapter(): Promise<string> {
  return (await webgpuBackend.runtime()).description;
}

/** The WebGL context and the gpu.js kernel class every kernel is checked to have (WebGL2Kernel here). */
async function webgl(): Promise<{ description: string; kernelClass: string }> {
  const runtime = await webglBackend.runtime();
  return { description: runtime.description, kernelClass: runtime.kernelClass };
}

/** Median wall time (ms) of an n x n x n float32 matmul on `backend`, results read back each run. */
async function timeMatmul(n: number, backend: PageBackend, reps = 5): Promise<number> {
  const b = new GraphBuilder();
  const y = b.add('matmul', [b.input('a', 'f32', [n, n]), b.param('w', 'f32', [n, n])]);
  const random = (k: number) => Float32Array.from({ length: k }, (_, i) => Math.sin(i) * 0.5);
  const model = await backends[backend].prepare(b.build({ y }), new Map([['w', { dtype: 'f32', shape: [n, n], data: random(n * n) }]]));
  try {
    const feeds = { a: { dtype: 'f32' as const, shape: [n, n], data: random(n * n) } };
    await model.run(feeds);
    const times: number[] = [];
    for (let r = 0; r < reps; r++) {
      const start = performance.now();
      await model.run(feeds);
      times.push(performance.now() - start);
    }
    return times.sort((p, q) => p - q)[Math.floor(times.length / 2)]!;
  } finally {
    model.dispose();
  }
}

let workerRuntime: WorkerRuntime | undefined;

/** The page's Loom Worker (loom-worker.js), started on first use. */
function inWorker(): WorkerRuntime {
  workerRuntime ??= new WorkerRuntime(new Worker('./loom-worker.js', { type: 'module' }));
  return workerRuntime;
}

/**
 * `run`, but in the page's Worker through WorkerRuntime; also says whether the feeds' buffers were
 * transferred (detached here) and what a run after the model's dispose gives.
 */
async function runInWorker(graphJson: string, feeds: Record<string, JsonTensor>, weights: Record<string, JsonTensor>, backend: PageBackend, options: PrepareOptions = {}): Promise<{ outputs: Record<string, JsonTensor>; outputTypes: string[]; feedsDetached: boolean; afterDispose: string }> {
  const model = await inWorker().prepare(backend, graphFromJson(graphJson), new Map(Object.entries(weights).map(([k, v]) => [k, toNd(v)])), options);
  const given = Object.fromEntries(Object.entries(feeds).map(([k, v]) => [k, toNd(v)]));
  const out = await model.run(given);
  await model.dispose();
  const again = Object.fromEntries(Object.entries(feeds).map(([k, v]) => [k, toNd(v)]));
  const afterDispose = await model.run(again).then(() => 'ran', (e: Error) => `${e.name}: ${e.message}`);
  return {
    outputs: Object.fromEntries(Object.entries(out).map(([k, v]) => [k, toJson(v)])),
    outputTypes: Object.values(out).map((v) => v.data.constructor.name),
    feedsDetached: Object.values(given).every((t) => t.data.byteLength === 0),
    afterDispose,
  };
}

/** Ends the page's Worker; returns what a request still pending and one made afterwards give. */
async function disposeWorker(): Promise<{ pending: string; after: string }> {
  const runtime = inWorker();
  const pending = runtime.task('no-such-task', {}).then(() => 'answered', (e: Error) => e.message);
  runtime.dispose();
  workerRuntime = undefined;
  const after = await runtime.task('no-such-task', {}).then(() => 'answered', (e: Error) => e.message);
  return { pending: await pending, after };
}

const api = {
  run,
  runInWorker,
  disposeWorker,
  /** The webgl backend's context in the Worker, described. */
  webglInWorker: (): Promise<string> => inWorker().task('webgl.describe', {}) as Promise<string>,
  /** Reads 3 values of a 1000-value stream and breaks; then what the task had counted when it stopped, and a whole stream of 5. */
  streamAndBreak: async (): Promise<{ read: number[]; counted: number; again: number[] }> => {
    const read: number[] = [];
    for await (const v of inWorker().stream('count', { n: 1000 })) {
      read.push(v as number);
      if (read.length === 3) break;
    }
    // the cancel travels after the break; the task stops at its next emit
    await new Promise((resolve) => setTimeout(resolve, 50));
    const counted = (await inWorker().task('count.last', {})) as number;
    const again: number[] = [];
    for await (const v of inWorker().stream('count', { n: 5 })) again.push(v as number);
    return { read, counted, again };
  },
  /** A runtime on a Worker whose script is not there: the error its first request gives. */
  missingWorker: (): Promise<string> => new WorkerRuntime(new Worker('./no-such-worker.js', { type: 'module' })).task('count', { n: 1 }).then(() => 'answered', (e: Error) => `${e.name}: ${e.message}`),
  /** Uploads weights, prepares from them, releases them: a prepare afterwards, and a second release, say what is gone. */
  releasedWeights: async (graphJson: string, weights: Record<string, JsonTensor>): Promise<string[]> => {
    const runtime = inWorker();
    const uploaded = await runtime.uploadWeights(new Map(Object.entries(weights).map(([k, v]) => [k, toNd(v)])));
    const model = await runtime.prepare('cpu', graphFromJson(graphJson), uploaded, { cpu: { threads: 1 } });
    await runtime.releaseWeights(uploaded);
    const after = await runtime.prepare('cpu', graphFromJson(graphJson), uploaded, { cpu: { threads: 1 } }).then(() => 'prepared', (e: Error) => `${e.name}: ${e.message}`);
    const again = await runtime.releaseWeights(uploaded).then(() => 'released', (e: Error) => `${e.name}: ${e.message}`);
    await model.dispose();
    return [after, again];
  },
  /** A task the Worker does not serve: the error it gives. */
  unknownTask: (): Promise<string> => inWorker().task('no-such-task', {}).then(() => 'answered', (e: Error) => `${e.name}: ${e.message}`),
  adapter,
  webgl,
  timeMatmul,
  /** The page's own graph, as JSON, so the test can compute the reference and weights in Node. */
  smallTransformerBlock: (): string => graphToJson(smallTransformerBlock()),
  hasGpu: (): boolean => 'gpu' in navigator,
  /** Whether the page is cross-origin isolated (SharedArrayBuffer, the cpu backend's threads). */
  isolated: (): boolean => crossOriginIsolated,
  /** Chunks of parallel cpu kernels the worker threads have run in this page. */
  cpuWorkerChunks: (): number => WasmRuntime.get().workerChunks,
  /** Asks the cpu heap for more than it holds (on a page without isolation: more than its fixed size). */
  cpuHeapFull: (): number => {
    const heap = WasmRuntime.get().heap;
    return heap.alloc(heap.memory.buffer.byteLength + 65536);
  },
};

declare global {
  interface Window {
    loom: typeof api;
  }
}
window.loom = api;
