/**
 * The browser benchmark's page (bundled by bench-browser.ts): Loom and its peers on one page, each
 * timed by the same function (median of runs after a warm-up, results read back each run): matmul
 * n^3 on Loom cpu / webgl / webgpu, TensorFlow.js wasm and webgl, onnxruntime-web wasm and jax-js
 * wasm; GPT-2 prefill and KV-cache decoding on Loom cpu and on onnxruntime-web (Loom's own ONNX
 * export of the same weights). The page is cross-origin isolated, so every wasm engine has threads.
 */
import { cpuBackend, webglBackend, webgpuBackend, type Backend } from '@loom/backends';
import { GraphBuilder, readSafetensors, type NDArray, type Weights } from '@loom/graph';
import { argmax } from '../../packages/models/src/decoding/sampling.ts';
import { KvCacheDecoder } from '../../packages/models/src/decoding/kv-cache-decoder.ts';
import { buildGpt2 } from '../../packages/models/src/gpt2/model.ts';
import type { Gpt2Config } from '../../packages/models/src/gpt2/config.ts';
import { gpt2CachedPlans } from '../../packages/models/src/runners/causal-lm-runner.ts';
import { median, medianRuns } from '../timing.ts';

function random(n: number, seed: number): Float32Array {
  let s = seed;
  return Float32Array.from({ length: n }, () => ((s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) - 0.5);
}

const LOOM: Record<string, Backend> = { cpu: cpuBackend, webgl: webglBackend, webgpu: webgpuBackend };

/** Loom: C = A B with B a weight (kept in the backend's layout), A fed and C read back each run. */
async function loomMatmul(n: number, backend: string, threads: number, reps: number): Promise<number> {
  const b = new GraphBuilder();
  const graph = b.build({ c: b.add('matmul', [b.input('a', 'f32', [n, n]), b.param('w', 'f32', [n, n])]) });
  const model = await LOOM[backend]!.prepare(graph, new Map([['w', { dtype: 'f32', shape: [n, n], data: random(n * n, 2) } as NDArray]]), { cpu: { threads } });
  const feeds = { a: { dtype: 'f32' as const, shape: [n, n], data: random(n * n, 1) } };
  try {
    return await medianRuns(() => model.run(feeds), { reps });
  } finally {
    model.dispose();
  }
}

let tfjs: Promise<typeof import('@tensorflow/tfjs-core')> | undefined;

/** TensorFlow.js on `backend` ('wasm': XNNPACK with its threads; 'webgl'), A and B on the backend, C read back. */
async function tfjsMatmul(n: number, backend: 'wasm' | 'webgl', threads: number, reps: number): Promise<{ ms: number; note: string }> {
  tfjs ??= (async () => {
    const tf = await import('@tensorflow/tfjs-core');
    const wasm = await import('@tensorflow/tfjs-backend-wasm');
    await import('@tensorflow/tfjs-backend-webgl');
    wasm.setWasmPaths('/tfjs-wasm/');
    wasm.setThreadsCount(threads);
    return tf;
  })();
  const tf = await tfjs;
  if (!(await tf.setBackend(backend))) throw new Error(`tfjs: setBackend('${backend}') failed`);
  await tf.ready();
  const a = tf.tensor2d(random(n * n, 1), [n, n]);
  const w = tf.tensor2d(random(n * n, 2), [n, n]);
  try {
    const ms = await medianRuns(async () => {
      const c = tf.matMul(a, w);
      await c.data();
      c.dispose();
    }, { reps });
    const note = backend === 'wasm' ? `SIMD ${String(await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT'))}, threads ${String(await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT'))}` : String((tf.backend() as unknown as { gpgpu?: { gl?: WebGL2RenderingContext } }).gpgpu?.gl?.getParameter(0x1f01) ?? 'webgl');
    return { ms, note };
  } finally {
    a.dispose();
    w.dispose();
  }
}

let ort: Promise<typeof import('onnxruntime-web/wasm')> | undefined;

/** onnxruntime-web's wasm backend (what transformers.js runs), its threads as Workers. */
function ortWeb(threads: number): Promise<typeof import('onnxruntime-web/wasm')> {
  ort ??= (async () => {
    const o = await import('onnxruntime-web/wasm');
    o.env.wasm.wasmPaths = '/ort/';
    o.env.wasm.numThreads = threads;
    return o;
  })();
  return ort;
}

async function bytes(path: string): Promise<Uint8Array> {
  const res = await fetch(path);
  if (!res.ok) throw new Error(`${path}: ${res.status}`);
  return new Uint8Array(await res.arrayBuffer());
}

async function ortMatmul(n: number, threads: number, reps: number): Promise<number> {
  const o = await ortWeb(threads);
  const session = await o.InferenceSession.create(await bytes(`/onnx/matmul-${n}.onnx`), { executionProviders: ['wasm'], graphOptimizationLevel: 'all', executionMode: 'sequential' });
  const feeds = { A: new o.Tensor('float32', random(n * n, 1), [n, n]), B: new o.Tensor('float32', random(n * n, 2), [n, n]) };
  try {
    return await medianRuns(() => session.run(feeds), { reps });
  } finally {
    await session.release();
  }
}

let jax: Promise<typeof import('@jax-js/jax')> | undefined;

/** jax-js on its wasm backend (its Worker pool sized by navigator.hardwareConcurrency). */
async function jaxMatmul(n: number, reps: number): Promise<number> {
  jax ??= (async () => {
    const j = await import('@jax-js/jax');
    const devices = await j.init('wasm');
    if (!devices.includes('wasm')) throw new Error(`jax-js: no wasm backend (${devices.join(', ')})`);
    j.defaultDevice('wasm');
    return j;
  })();
  const j = await jax;
  const np = j.numpy;
  const a = np.array(random(n * n, 1), { shape: [n, n] });
  const w = np.array(random(n * n, 2), { shape: [n, n] });
  try {
    return await medianRuns(async () => {
      const c = np.matmul(a.ref, w.ref);
      await c.data();
    }, { reps });
  } finally {
    a.dispose();
    w.dispose();
  }
}

// GPT-2: the weights (safetensors) and config come from the driver, as do the ONNX exports

let gpt2: Promise<{ cfg: Gpt2Config; weights: Weights }> | undefined;
function gpt2Model(): Promise<{ cfg: Gpt2Config; weights: Weights }> {
  gpt2 ??= (async () => ({ cfg: (await (await fetch('/gpt2/config.json')).json()) as Gpt2Config, weights: readSafetensors(await bytes('/gpt2/weights.safetensors')).tensors }))();
  return gpt2;
}

const ids = (length: number, vocab: number) => Array.from({ length }, (_, i) => (i * 7919) % vocab);

async function loomGpt2Prefill(seq: number, threads: number, reps: number): Promise<number> {
  const { cfg, weights } = await gpt2Model();
  const model = await cpuBackend.prepare(buildGpt2(cfg), weights, { cpu: { threads } });
  const feeds = { input_ids: { dtype: 'i32' as const, shape: [1, seq], data: Int32Array.from(ids(seq, cfg.vocabSize)) } };
  try {
    return await medianRuns(() => model.run(feeds), { reps });
  } finally {
    model.dispose();
  }
}

/** Greedy decoding with the KV cache after a 16-token prompt: tokens per second of the steps (median of rounds). */
async function loomGpt2Decode(steps: number, threads: number, rounds: number): Promise<number> {
  const { cfg, weights } = await gpt2Model();
  const backend: Backend = { name: 'cpu', prepare: (g, w, o) => cpuBackend.prepare(g, w, { ...o, cpu: { ...o?.cpu, threads } }) };
  const decoder = new KvCacheDecoder(gpt2CachedPlans(cfg), weights, backend);
  await decoder.prepare();
  const prompt = ids(16, cfg.vocabSize);
  const perStep: number[] = [];
  try {
    for (let r = 0; r <= rounds; r++) {
      let [logits] = await decoder.prefill([prompt]);
      const start = performance.now();
      for (let s = 0; s < steps; s++) [logits] = await decoder.step([argmax(logits!)]);
      if (r > 0) perStep.push((performance.now() - start) / steps);
    }
  } finally {
    await decoder.dispose();
  }
  return 1000 / median(perStep);
}

async function ortGpt2Prefill(seq: number, threads: number, reps: number): Promise<number> {
  const o = await ortWeb(threads);
  const { cfg } = await gpt2Model();
  const session = await o.InferenceSession.create(await bytes('/onnx/gpt2-prefill.onnx'), { executionProviders: ['wasm'], graphOptimizationLevel: 'all', executionMode: 'sequential' });
  // Loom's export keeps the graph's i32 ids
  const feeds = { input_ids: new o.Tensor('int32', Int32Array.from(ids(seq, cfg.vocabSize)), [1, seq]) };
  try {
    return await medianRuns(() => session.run(feeds), { reps });
  } finally {
    await session.release();
  }
}

async function ortGpt2Decode(steps: number, threads: number, rounds: number): Promise<number> {
  const o = await ortWeb(threads);
  const { cfg } = await gpt2Model();
  const session = await o.InferenceSession.create(await bytes('/onnx/gpt2-decode.onnx'), { executionProviders: ['wasm'], graphOptimizationLevel: 'all', executionMode: 'sequential' });
  const headSize = cfg.nEmbd / cfg.nHead;
  const run = async (tokens: number[], past: Record<string, import('onnxruntime-web/wasm').Tensor>) => {
    const out = await session.run({ input_ids: new o.Tensor('int64', BigInt64Array.from(tokens, (i) => BigInt(i)), [1, tokens.length]), ...past });
    const next: Record<string, import('onnxruntime-web/wasm').Tensor> = {};
    for (let i = 0; i < cfg.nLayer; i++) for (const part of ['key', 'value']) next[`past_${part}_${i}`] = out[`present_${part}_${i}`]!;
    return { logits: out['logits']!.data as Float32Array, past: next };
  };
  const perStep: number[] = [];
  try {
    for (let r = 0; r <= rounds; r++) {
      const empty: Record<string, import('onnxruntime-web/wasm').Tensor> = {};
      for (let i = 0; i < cfg.nLayer; i++) for (const part of ['key', 'value']) empty[`past_${part}_${i}`] = new o.Tensor('float32', new Float32Array(0), [1, cfg.nHead, 0, headSize]);
      let state = await run(ids(16, cfg.vocabSize), empty);
      const start = performance.now();
      for (let s = 0; s < steps; s++) state = await run([argmax(state.logits)], state.past);
      if (r > 0) perStep.push((performance.now() - start) / steps);
    }
  } finally {
    await session.release();
  }
  return 1000 / median(perStep);
}

const bench = {
  loomMatmul, tfjsMatmul, ortMatmul, jaxMatmul, loomGpt2Prefill, loomGpt2Decode, ortGpt2Prefill, ortGpt2Decode,
  environment: () => ({ isolated: crossOriginIsolated, cores: navigator.hardwareConcurrency, userAgent: navigator.userAgent, gpu: 'gpu' in navigator }),
};

declare global {
  interface Window {
    bench: typeof bench;
  }
}
window.bench = bench;
document.getElementById('status')!.textContent = 'ready';
