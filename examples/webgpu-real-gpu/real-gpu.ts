/**
 * Loom's WebGPU backend on a real GPU: correctness against the CPU backend, then timings.
 *   1. matmul 4096^3 float32: TFLOP/s of the kernel (timed alone) and of a whole run
 *   2. GPT-2 small (124M, random weights) forward at seq 128: ms per run, and the slowest kernels
 *   3. decoding with the KV cache (prefill 16 tokens, then one token per step): tokens/s
 * `--small` shrinks everything (matmul 512^3, a 2-layer GPT-2 of width 128, a few tokens) so the
 * script can be checked on SwiftShader. Bundled into one .mjs by build.ts; see README.md.
 * Prints a table and, last, one JSON line with every number.
 */
import { cpuBackend } from '../../packages/backends/src/cpu/cpu-backend.ts';
import { randomWeights } from '../../packages/backends/src/verify.ts';
import { createWebGpuBackend } from '../../packages/backends/src/webgpu/index.ts';
import { GraphBuilder, type Graph, type NDArray } from '../../packages/graph/src/index.ts';
import { GPT2_PRESETS, type Gpt2Config } from '../../packages/models/src/gpt2/config.ts';
import { KvCacheDecoder } from '../../packages/models/src/decoding/kv-cache-decoder.ts';
import { gpt2CachedPlans } from '../../packages/models/src/runners/causal-lm-runner.ts';
import { buildGpt2 } from '../../packages/models/src/gpt2/model.ts';
import { timeRuns } from '../timing.ts';

const small = process.argv.includes('--small');
const results: Record<string, unknown> = { small };
const log = (line: string) => console.log(line);
const rate = (flops: number, ms: number) => {
  const perSecond = flops / (ms / 1000);
  return perSecond >= 1e12 ? `${(perSecond / 1e12).toFixed(2)} TFLOP/s` : `${(perSecond / 1e9).toFixed(3)} GFLOP/s`;
};

function maxRelDiff(got: NDArray, want: NDArray): number {
  let scale = 0;
  for (const v of want.data) scale = Math.max(scale, Math.abs(v));
  let worst = 0;
  for (let i = 0; i < want.data.length; i++) worst = Math.max(worst, Math.abs(got.data[i]! - want.data[i]!));
  return worst / Math.max(scale, 1e-30);
}

function randomArray(shape: number[], seed: number): NDArray {
  let a = seed >>> 0;
  const data = new Float32Array(shape.reduce((p, d) => p * d, 1));
  for (let i = 0; i < data.length; i++) {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    data[i] = ((t ^ (t >>> 14)) >>> 0) / 4294967296 - 0.5;
  }
  return { dtype: 'f32', shape, data };
}

const gpu = createWebGpuBackend();
const runtime = await gpu.runtime();
log(`# Loom WebGPU on ${runtime.description}${small ? ' (--small)' : ''}`);
log(`limits: maxStorageBufferBindingSize ${runtime.limits.maxStorageBufferBindingSize}, maxBufferSize ${runtime.limits.maxBufferSize}, workgroup storage ${runtime.limits.maxComputeWorkgroupStorageSize}, invocations ${runtime.limits.maxComputeInvocationsPerWorkgroup}`);
results['adapter'] = runtime.description;

// 1. correctness against the CPU backend --------------------------------------------------------
{
  const b = new GraphBuilder();
  const y = b.add('matmul', [b.input('a', 'f32', [2, 129, 257]), b.input('b', 'f32', [257, 65])]);
  const t = b.add('matmul', [b.input('c', 'f32', [7, 257]), b.input('d', 'f32', [65, 257])], { transposeB: true });
  const graph = b.build({ y, t });
  const feeds = { a: randomArray([2, 129, 257], 1), b: randomArray([257, 65], 2), c: randomArray([7, 257], 3), d: randomArray([65, 257], 4) };
  const [g, c] = await Promise.all([gpu, cpuBackend].map(async (backend) => (await backend.prepare(graph, new Map())).run(feeds)));
  const err = Math.max(maxRelDiff(g!['y']!, c!['y']!), maxRelDiff(g!['t']!, c!['t']!));
  log(`correctness: matmul vs CPU backend, max error / max |value| = ${err.toExponential(2)}`);
  if (!(err < 1e-5)) throw new Error(`WebGPU matmul disagrees with the CPU backend (${err})`);
  results['matmulCheck'] = err;
}

// 2. matmul timing ------------------------------------------------------------------------------
{
  const n = small ? 512 : 4096;
  const b = new GraphBuilder();
  // the row sums keep the read-back small; the weights are uploaded once at prepare
  const product = b.add('matmul', [b.param('a', 'f32', [n, n]), b.param('b', 'f32', [n, n])]);
  const graph = b.build({ rows: b.add('reduce_sum', [product], { axes: [1] }) });
  const model = await gpu.prepare(graph, new Map([['a', randomArray([n, n], 5)], ['b', randomArray([n, n], 6)]]));
  const runMs = await timeRuns(() => model.run({}), { minMs: small ? 3000 : 2000, maxReps: small ? 3 : 30 });
  const kernelMs: number[] = [];
  for (let i = 0; i < (small ? 2 : 10); i++) kernelMs.push((await model.profile({})).find((k) => k.op === 'matmul')!.ms);
  const best = Math.min(...kernelMs);
  const flops = 2 * n ** 3;
  log(`matmul ${n}^3 f32: kernel ${best.toFixed(2)} ms = ${rate(flops, best)}; whole run (with row sums, submit, read-back) ${runMs.toFixed(2)} ms = ${rate(flops, runMs)}`);
  results['matmul'] = { n, kernelMs: best, kernelTflops: flops / best / 1e9, runMs, runTflops: flops / runMs / 1e9 };
  model.dispose();
}

// 3. GPT-2 forward ------------------------------------------------------------------------------
const cfg: Gpt2Config = small ? { ...GPT2_PRESETS.gpt2, nLayer: 2, nHead: 4, nEmbd: 128, nInner: 512, vocabSize: 1000, nPositions: 128 } : GPT2_PRESETS.gpt2;
const seq = small ? 16 : 128;
{
  const graph: Graph = buildGpt2(cfg);
  const weights = randomWeights(graph, 1);
  const ids: NDArray = { dtype: 'i32', shape: [1, seq], data: Int32Array.from({ length: seq }, (_, i) => (i * 7919) % cfg.vocabSize) };
  const model = await gpu.prepare(graph, weights);
  const ms = await timeRuns(() => model.run({ input_ids: ids }), { minMs: small ? 2000 : 3000, maxReps: small ? 5 : 30 });
  const gpuLogits = (await model.run({ input_ids: ids }))['logits']!;
  const cpuLogits = (await (await cpuBackend.prepare(graph, weights)).run({ input_ids: ids }))['logits']!;
  const err = maxRelDiff(gpuLogits, cpuLogits);
  const kernels = (await model.profile({ input_ids: ids })).sort((a, b) => b.ms - a.ms);
  log(`GPT-2 (${cfg.nLayer} layers, width ${cfg.nEmbd}) forward at seq ${seq}: ${ms.toFixed(2)} ms per run (logits [1, ${seq}, ${cfg.vocabSize}] read back); vs CPU backend: max error / max |logit| = ${err.toExponential(2)}`);
  log(`  slowest kernels (timed alone): ${kernels.slice(0, 5).map((k) => `${k.op} %${k.node} ${k.ms.toFixed(2)} ms`).join(', ')}`);
  if (!(err < 1e-4)) throw new Error(`WebGPU GPT-2 logits disagree with the CPU backend (${err})`);
  results['gpt2Forward'] = { layers: cfg.nLayer, width: cfg.nEmbd, seq, ms, checkVsCpu: err, kernels: model.plan.steps.length };
  model.dispose();
}

// 4. decoding with the KV cache ------------------------------------------------------------------
{
  const weights = randomWeights(buildGpt2(cfg), 2);
  const prompt = Array.from({ length: 16 }, (_, i) => (i * 31) % cfg.vocabSize);
  const steps = small ? 4 : 64;
  const rows: Record<string, number> = {};
  for (const [name, backend, n] of [['webgpu', gpu, steps], ['cpu', cpuBackend, Math.min(steps, 8)]] as const) {
    const decoder = new KvCacheDecoder(gpt2CachedPlans(cfg), weights, backend);
    await decoder.prefill([prompt]);
    await decoder.step([1]); // compiles the decode plan
    const start = performance.now();
    for (let i = 0; i < n; i++) await decoder.step([(i * 13) % cfg.vocabSize]);
    rows[name] = (n * 1000) / (performance.now() - start);
    await decoder.dispose();
  }
  log(`decoding with the KV cache (batch 1, after a 16-token prompt): webgpu ${rows['webgpu']!.toFixed(1)} tokens/s, cpu backend ${rows['cpu']!.toFixed(1)} tokens/s`);
  results['decodeTokensPerSecond'] = rows;
}

log(JSON.stringify(results));
