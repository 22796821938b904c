/**
 * CPU benchmarks (issue 3): prints tables, asserts nothing. Run: `pnpm bench` (add `--quick` for
 * smaller sizes). Absolute times on shared machines are noisy: read the ratios between rows measured
 * in the same run.
 *   1. matmul 1024^3 float32, one thread: Loom's WebAssembly SIMD GEMM and JS GEMM vs a naive JS
 *      loop and onnxruntime-node (MLAS) with 1 and 2 threads
 *   2. GPT-2 small forward at seq 128 (random weights): compiled plan vs the uncompiled reference
 *      execution (the eager float32 interpreter)
 *   3. decoding with the KV cache: ms/token at positions 16, 64, 256, GPT-2 small shapes
 */
import { cpuBackend, randomWeights, referenceBackend } from '@loom/backends';
import { compileWithReport } from '@loom/compiler';
import { interpret, type NDArray } from '@loom/graph';
import { gemm } from '../packages/backends/src/cpu/kernels/gemm.ts';
import { gemmWasm } from '../packages/backends/src/cpu/kernels/gemm-wasm.ts';
import { GPT2_PRESETS } from '../packages/models/src/gpt2/config.ts';
import { buildGpt2 } from '../packages/models/src/gpt2/model.ts';
import { timeRuns } from './timing.ts';
import { KvCacheDecoder } from '../packages/models/src/gpt2/kv-cache-decoder.ts';
import { Gpt2Runner } from '../packages/models/src/gpt2/runner.ts';

const quick = process.argv.includes('--quick');

function table(title: string, header: string[], rows: (string | number)[][]): void {
  console.log(`\n## ${title}\n`);
  console.log(`| ${header.join(' | ')} |`);
  console.log(`|${header.map(() => '---').join('|')}|`);
  for (const r of rows) console.log(`| ${r.join(' | ')} |`);
}

async function matmulBench(): Promise<void> {
  const n = quick ? 256 : 1024;
  const a = Float32Array.from({ length: n * n }, () => Math.random() - 0.5);
  const b = Float32Array.from({ length: n * n }, () => Math.random() - 0.5);
  const c = new Float32Array(n * n);
  const flops = 2 * n ** 3;
  const args = { a, aOffset: 0, b, bOffset: 0, c, cOffset: 0, m: n, n, k: n, transposeB: false };
  const rows: [string, number][] = [];
  rows.push(['Loom CPU: WebAssembly SIMD GEMM (1 thread)', flops / (await timeRuns(() => gemmWasm(args), { minMs: 1000 })) / 1e6]);
  rows.push(['Loom CPU: JavaScript blocked GEMM (1 thread)', flops / (await timeRuns(() => gemm(args), { minMs: 1000 })) / 1e6]);
  rows.push([
    'naive JavaScript i-k-j loop (1 thread)',
    flops /
      (await timeRuns(() => {
        c.fill(0);
        for (let i = 0; i < n; i++) for (let k = 0; k < n; k++) {
          const x = a[i * n + k]!;
          for (let j = 0; j < n; j++) c[i * n + j]! += x * b[k * n + j]!;
        }
      }, { minMs: 1 })) /
      1e6,
  ]);
  for (const threads of [1, 2]) {
    const gflops = await onnxMatmul(n, a, b, threads);
    if (gflops !== undefined) rows.push([`onnxruntime-node ${threads} thread(s) (MLAS)`, gflops]);
  }
  const naive = rows[2]![1];
  table(`matmul ${n}^3 float32`, ['implementation', 'GFLOP/s', 'x naive JS'], rows.map(([name, g]) => [name, g.toFixed(2), (g / naive).toFixed(1)]));
}

async function onnxMatmul(n: number, a: Float32Array, b: Float32Array, threads: number): Promise<number | undefined> {
  try {
    const ort = await import('onnxruntime-node');
    const { onnx } = (await import('onnx-proto')).default;
    const model = onnx.ModelProto.encode(
      onnx.ModelProto.create({
        irVersion: 8,
        opsetImport: [{ version: 17 }],
        graph: {
          name: 'mm',
          node: [{ opType: 'MatMul', input: ['A', 'B'], output: ['C'] }],
          input: ['A', 'B'].map((name) => ({ name, type: { tensorType: { elemType: 1, shape: { dim: [{ dimValue: n }, { dimValue: n }] } } } })),
          output: [{ name: 'C', type: { tensorType: { elemType: 1, shape: { dim: [{ dimValue: n }, { dimValue: n }] } } } }],
        },
      }),
    ).finish();
    const session = await ort.InferenceSession.create(model, { intraOpNumThreads: threads, interOpNumThreads: 1 });
    const feeds = { A: new ort.Tensor('float32', a, [n, n]), B: new ort.Tensor('float32', b, [n, n]) };
    const ms = await timeRuns(() => session.run(feeds), { minReps: quick ? 5 : 10, maxReps: quick ? 5 : 10 });
    return (2 * n ** 3) / ms / 1e6;
  } catch (e) {
    console.log(`(onnxruntime-node unavailable: ${(e as Error).message.split('\n')[0]})`);
    return undefined;
  }
}

function ids(batch: number, seq: number, vocab: number): NDArray {
  return { dtype: 'i32', shape: [batch, seq], data: Int32Array.from({ length: batch * seq }, (_, i) => (i * 7919) % vocab) };
}

async function gpt2Bench(): Promise<void> {
  const cfg = quick ? { ...GPT2_PRESETS.gpt2, nLayer: 2 } : GPT2_PRESETS.gpt2;
  const seq = quick ? 32 : 128;
  const graph = buildGpt2(cfg);
  const weights = randomWeights(graph, 1);
  const report = compileWithReport(graph, { inPlace: true, bindings: { batch: 1, seq } });
  const feeds = { input_ids: ids(1, seq, cfg.vocabSize) };
  const cpu = await cpuBackend.prepare(graph, weights);
  const compiledMs = await timeRuns(() => cpu.run(feeds), { minReps: 3, maxReps: 3 });
  const eagerStart = performance.now();
  interpret(graph, feeds, weights, { precision: 'f32' });
  const eagerMs = performance.now() - eagerStart;
  const s = report.plan.stats;
  table(
    `GPT-2 ${quick ? '(2 layers)' : 'small'} forward, batch 1, seq ${seq}, random weights`,
    ['execution', 'ms', 'speedup'],
    [
      ['uncompiled reference execution (eager float32 interpreter)', eagerMs.toFixed(0), '1.0'],
      ['Loom compiled plan, CPU backend', compiledMs.toFixed(0), (eagerMs / compiledMs).toFixed(1)],
    ],
  );
  table('GPT-2 compile report', ['nodes before', 'nodes after', 'kernels', 'naive MiB', 'planned MiB', 'compile ms'], [
    [s.nodesBefore, s.nodesAfter, s.kernels, (s.naiveBytes / 2 ** 20).toFixed(1), (s.plannedBytes / 2 ** 20).toFixed(1), report.compileMs.toFixed(0)],
  ]);
  cpu.dispose();
}

async function kvCacheBench(): Promise<void> {
  const cfg = quick ? { ...GPT2_PRESETS.gpt2, nLayer: 2, nPositions: 512 } : { ...GPT2_PRESETS.gpt2, nPositions: 512 };
  const weights = randomWeights(buildGpt2(cfg), 2);
  const rows: (string | number)[][] = [];
  const recompute = new Gpt2Runner(cfg, weights, cpuBackend);
  for (const position of [16, 64, 256]) {
    const prompt = Array.from({ length: position }, (_, i) => (i * 31) % cfg.vocabSize);
    const decoder = new KvCacheDecoder(cfg, weights, cpuBackend);
    await decoder.prefill([prompt]);
    const steps = quick ? 3 : 8;
    const cachedMs = await timeRuns(() => decoder.step([42]), { minReps: steps, maxReps: steps });
    await decoder.dispose();
    // without the cache, the next token costs a forward pass over the whole prefix
    const recomputeMs = await timeRuns(() => recompute.nextLogits([prompt]), { minReps: quick ? 1 : 2, maxReps: quick ? 1 : 2 });
    rows.push([position, cachedMs.toFixed(1), recomputeMs.toFixed(1), (recomputeMs / cachedMs).toFixed(1)]);
  }
  await recompute.dispose();
  table(`next-token cost, GPT-2 ${quick ? '(2 layers)' : 'small'} shapes (cache of ${cfg.nPositions}), CPU`, ['position', 'ms/token with the KV cache', 'ms/token recomputing the prefix', 'ratio'], rows);
  void referenceBackend;
}

console.log(`# Loom CPU benchmarks (${new Date().toISOString().slice(0, 10)}, node ${process.version}, ${quick ? 'quick' : 'full'})`);
await matmulBench();
await gpt2Bench();
await kvCacheBench();
