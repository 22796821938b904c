/**
 * CPU benchmarks: Loom's cpu backend against onnxruntime-node, onnxruntime-web's wasm backend and tfjs-wasm in one run, on the same
 * weights, at the same thread count; prints tables, asserts nothing. Run: `pnpm bench`, with
 *   --quick        smaller sizes (a smoke run)
 *   --threads N    threads for Loom and the peers (default: the machine's cores)
 *   --profile      time per kernel kind for the GPT-2 prefill and one decode step
 *   --contended    only GPT-2 prefill and decoding, quiet and then with another process keeping one
 *                  core busy: Loom at the default threads and at 1 thread, onnxruntime-node beside
 *   --quiet        no progress bar (there is one on stderr only when it is a terminal)
 * Absolute times on shared machines are noisy: read the ratios between rows of one run (every time
 * is a median), and check `uptime` first. BENCHMARKS.md records runs.
 */
import { spawn } from 'node:child_process';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { cpuBackend, randomWeights, withPrepareOptions, type Backend, type CpuOptions } from '@loom/backends';
import { compileWithReport } from '@loom/compiler';
import type { NDArray, Weights } from '@loom/graph';
import { markResident } from '../packages/backends/src/cpu/kernels/resident-weights.ts';
import { batchedMatmul } from '../packages/backends/src/cpu/kernels/matmul.ts';
import { WasmRuntime } from '../packages/backends/src/cpu/wasm-runtime/runtime.ts';
import type { CpuProgram, KernelProfileEntry } from '../packages/backends/src/cpu/cpu-program.ts';
import { GPT2_PRESETS, type Gpt2Config } from '../packages/models/src/gpt2/config.ts';
import { buildGpt2 } from '../packages/models/src/gpt2/model.ts';
import { KvCacheDecoder } from '../packages/models/src/decoding/kv-cache-decoder.ts';
import { gpt2CachedPlans } from '../packages/models/src/runners/causal-lm-runner.ts';
import { argmax } from '../packages/models/src/decoding/sampling.ts';
import { NO_PROGRESS, terminalProgress } from '../packages/models/src/cli/progress.ts';
import { median, medianRuns } from './timing.ts';

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const profile = args.includes('--profile');
const contended = args.includes('--contended');
const threadsArg = args.indexOf('--threads');
const threads = threadsArg >= 0 ? Number(args[threadsArg + 1]) : availableParallelism();
if (!(Number.isInteger(threads) && threads >= 1)) throw new Error(`--threads needs a positive integer, got ${args[threadsArg + 1]}`);

type Peers = typeof import('./peers/index.ts');
let peers: Peers | undefined;
try {
  peers = await import('./peers/index.ts');
} catch (e) {
  console.log(`(peers unavailable: ${(e as Error).message.split('\n')[0]})`);
}

const SECTIONS = contended ? (['quiet', 'contended'] as const) : (['SIMD bound', 'matmul', 'GPT-2 prefill', 'GPT-2 decode', 'encoder layer'] as const);
const progress = process.stderr.isTTY && !args.includes('--quiet') ? terminalProgress(process.stderr, 'bench', SECTIONS.length) : NO_PROGRESS;
let section = 0;
/** Moves the bar to the next section (each takes seconds to a minute). */
const next = () => progress.update(section, SECTIONS[section++]);

function table(title: string, header: string[], rows: (string | number)[][]): void {
  progress.interrupt(() => {
    console.log(`\n## ${title}\n`);
    console.log(`| ${header.join(' | ')} |`);
    console.log(`|${header.map(() => '---').join('|')}|`);
    for (const r of rows) console.log(`| ${r.join(' | ')} |`);
  });
}

const fmt = (x: number | undefined, digits = 1) => (x === undefined ? 'n/a' : x.toFixed(digits));
/** "Loom / peer" as a multiple: how many times the peer's time Loom takes. */
const ratio = (loom: number, peer: number | undefined) => (peer === undefined ? 'n/a' : `${(loom / peer).toFixed(2)}x`);

async function peer<T>(what: string, run: (p: Peers) => Promise<T>): Promise<T | undefined> {
  if (!peers) return undefined;
  try {
    return await run(peers);
  } catch (e) {
    console.log(`(${what} unavailable: ${(e as Error).message.split('\n')[0]})`);
    return undefined;
  }
}

const cpu = (options: CpuOptions = {}): Backend => withPrepareOptions(cpuBackend, { cpu: { threads, ...options } });

/** The arithmetic bound: 128-bit SIMD multiply-adds with no memory traffic, per flavor and thread count. */
async function simdBound(): Promise<void> {
  const rt = WasmRuntime.get();
  const rows: (string | number)[][] = [];
  for (const simd of ['plain', 'relaxed'] as const) {
    const s = await rt.settle({ simd, threads });
    for (let w = 0; w < 30; w++) rt.everyThread(s.flavor, 'simd_peak', [10_000], threads); // tier up on every thread
    for (const t of [1, threads]) {
      const iterations = 5_000_000;
      const ms = await medianRuns(() => rt.everyThread(s.flavor, 'simd_peak', [iterations], t), { reps: 3 });
      const gflops = (iterations * 96 * t) / ms / 1e6;
      if (simd === 'relaxed' && t === threads) fmaBound = gflops;
      rows.push([simd === 'relaxed' ? 'f32x4.relaxed_madd (FMA)' : 'f32x4.mul + f32x4.add', t, fmt(gflops)]);
    }
  }
  table('WebAssembly 128-bit SIMD arithmetic bound on this CPU (registers only)', ['instruction', 'threads', 'GFLOP/s'], rows);
}

async function matmulBench(): Promise<void> {
  const n = quick ? 256 : 1024;
  const flops = 2 * n ** 3;
  const rt = WasmRuntime.get();
  // A and C in the kernels' heap as a model's activations are; B is an input (packed per call, as the peers do)
  const a = rt.heap.f32(rt.heap.alloc(n * n * 4), n * n).map(() => Math.random() - 0.5);
  const c = rt.heap.f32(rt.heap.alloc(n * n * 4), n * n);
  const b = Float32Array.from({ length: n * n }, () => Math.random() - 0.5);
  const weight = b.slice();
  markResident(weight);
  const loom = async (t: number, simd: 'plain' | 'relaxed', bArg: Float32Array) => {
    const settings = await rt.settle({ threads: t, simd });
    return flops / (await medianRuns(() => batchedMatmul({ rt, settings }, a, bArg, c, [n, n], [n, n], [n, n], false), { reps: 7, warmups: 3 })) / 1e6;
  };
  const ort1 = await peer('onnxruntime-node', (p) => p.ortMatmulGflops(n, 1));
  const ortT = threads === 1 ? ort1 : await peer('onnxruntime-node', (p) => p.ortMatmulGflops(n, threads));
  const tfjs = await peer('tfjs-wasm', (p) => p.tfjsWasmMatmulGflops(n));
  const web = await peer('onnxruntime-web', (p) => p.ortMatmulGflops(n, threads, 7, 'web'));
  const rows: [string, number | undefined, number | undefined][] = [
    ['Loom, plain SIMD, 1 thread', await loom(1, 'plain', b), ort1],
    ['Loom, relaxed SIMD (FMA), 1 thread', await loom(1, 'relaxed', b), ort1],
    [`Loom, relaxed SIMD (FMA), ${threads} threads`, await loom(threads, 'relaxed', b), ortT],
    [`Loom, relaxed SIMD, ${threads} threads, B a kept weight`, await loom(threads, 'relaxed', weight), ortT],
    ['onnxruntime-node (MLAS), 1 thread', ort1, undefined],
    [`onnxruntime-node (MLAS), ${threads} threads`, ortT, undefined],
    ['tfjs-wasm 4.22 (SIMD, 1 thread in Node)', tfjs, undefined],
    [`onnxruntime-web 1.30, wasm, ${threads} threads`, web, undefined],
  ];
  table(`matmul ${n}^3 float32`, ['implementation', 'GFLOP/s', 'onnxruntime-node / Loom (same threads)'], rows.map(([name, g, peerG]) => [name, fmt(g), g !== undefined && peerG !== undefined ? ratio(peerG, g) : '']));
}

function ids(seq: number, vocab: number): NDArray {
  return { dtype: 'i32', shape: [1, seq], data: Int32Array.from({ length: seq }, (_, i) => (i * 7919) % vocab) };
}

/** The FMA bound at --threads threads that simdBound measured in this run, in GFLOP/s: the profiles' yardstick. */
let fmaBound: number | undefined;

function printProfile(title: string, program: CpuProgram, runs: number): void {
  const entries = program.profile();
  const total = entries.reduce((s, e) => s + e.ms, 0);
  // a product's rate over its calls, and how near the arithmetic bound it runs inside the model
  const rate = (e: KernelProfileEntry) => (e.multiplyAdds > 0 ? (2 * e.multiplyAdds) / e.ms / 1e6 : undefined);
  table(
    title,
    ['kernel', 'calls per run', 'ms per run', 'share', 'GFLOP/s', `of the ${threads}-thread FMA bound`],
    entries.map((e) => {
      const g = rate(e);
      return [e.kernel, e.calls / runs, fmt(e.ms / runs, 2), `${((100 * e.ms) / total).toFixed(1)}%`, g === undefined ? '' : fmt(g), g === undefined || fmaBound === undefined ? '' : `${((100 * g) / fmaBound).toFixed(0)}%`];
    }),
  );
}

async function gpt2Bench(cfg: Gpt2Config, weights: Weights): Promise<void> {
  const seq = quick ? 32 : 128;
  const graph = buildGpt2(cfg);
  const feeds = { input_ids: ids(seq, cfg.vocabSize) };
  const report = compileWithReport(graph, { inPlace: true, stridedViews: true, bindings: { batch: 1, seq } });
  let start = performance.now();
  const model = (await cpu({ profile }).prepare(graph, weights)) as Awaited<ReturnType<Backend['prepare']>> & { program: CpuProgram };
  const prepareMs = performance.now() - start;
  start = performance.now();
  await model.run(feeds);
  const firstMs = performance.now() - start;
  const reps = quick ? 3 : 5;
  const steadyMs = await medianRuns(() => model.run(feeds), { reps, warmups: 0 });
  if (profile) printProfile(`GPT-2 prefill, seq ${seq}: time per kernel kind (Loom cpu, ${threads} threads)`, model.program, reps + 1);
  model.dispose();
  const ortMs = await peer('onnxruntime-node', (p) => p.ortGpt2PrefillMs(cfg, weights, seq, threads, reps));
  const webMs = await peer('onnxruntime-web', (p) => p.ortGpt2PrefillMs(cfg, weights, seq, threads, reps, 'web'));
  table(
    `GPT-2 ${quick ? '(2 layers)' : 'small'} prefill, batch 1, seq ${seq}, all logits, random weights, ${threads} threads`,
    ['execution', 'ms (median)', 'Loom / onnxruntime-node', 'onnxruntime-web / Loom'],
    [
      ['Loom cpu, steady', fmt(steadyMs, 0), ratio(steadyMs, ortMs), webMs !== undefined ? `${(webMs / steadyMs).toFixed(2)}x` : 'n/a'],
      ['Loom cpu, first forward after prepare', fmt(firstMs, 0), `${(firstMs / steadyMs).toFixed(2)}x the steady one`, ''],
      ['Loom cpu, prepare (compile, pack weights)', fmt(prepareMs, 0), '', ''],
      ['onnxruntime-node 1.30', fmt(ortMs, 0), '', ''],
      [`onnxruntime-web 1.30, wasm (transformers.js's engine), ${threads} threads`, fmt(webMs, 0), '', ''],
    ],
  );
  const s = report.plan.stats;
  table('GPT-2 compile report (cpu plan)', ['nodes before', 'nodes after', 'kernels', 'naive MiB', 'planned MiB', 'compile ms'], [
    [s.nodesBefore, s.nodesAfter, s.kernels, (s.naiveBytes / 2 ** 20).toFixed(1), (s.plannedBytes / 2 ** 20).toFixed(1), report.compileMs.toFixed(0)],
  ]);
}

/** Greedy decoding with the KV cache: a 16-token prompt, then `steps` tokens; medians over rounds. */
async function loomDecode(cfg: Gpt2Config, weights: Weights, weightStore: 'f32' | 'bf16' | 'q8' | 'q4', steps: number, rounds: number) {
  const prompt = Array.from({ length: 16 }, (_, i) => (i * 7919) % cfg.vocabSize);
  // keep the prepared models (prefill, then decode) to read the decode model's profile
  const prepared: { program: CpuProgram }[] = [];
  const backend = weightStore === 'q8' || weightStore === 'q4' ? withPrepareOptions(cpu({ profile }), { weightStore }) : cpu({ weightStore, profile });
  const recording: Backend = { name: 'cpu', prepare: async (g, w, o) => { const m = await backend.prepare(g, w, o); prepared.push(m as never); return m; } };
  const decoder = new KvCacheDecoder(gpt2CachedPlans(cfg), weights, recording);
  let start = performance.now();
  await decoder.prepare(); // both plans: compile and pack (the peer's session creation is not timed either)
  const prepareMs = performance.now() - start;
  let coldFirstMs = 0;
  const firstMs: number[] = [];
  const stepMs: number[] = [];
  for (let r = 0; r <= rounds; r++) {
    start = performance.now();
    let [logits] = await decoder.prefill([prompt]);
    const prompted = performance.now();
    for (let s = 0; s < steps; s++) [logits] = await decoder.step([argmax(logits!)]);
    if (r === 0) coldFirstMs = prompted - start; // the first token after prepare
    else {
      firstMs.push(prompted - start);
      stepMs.push((performance.now() - prompted) / steps);
    }
  }
  if (profile) printProfile(`GPT-2 decode step: time per kernel kind (Loom cpu, ${weightStore} weights, ${threads} threads)`, prepared[1]!.program, (rounds + 1) * steps);
  await decoder.dispose();
  return { tokensPerSecond: 1000 / median(stepMs), prepareMs, coldFirstMs, firstMs: median(firstMs) };
}

async function decodeBench(cfg: Gpt2Config, weights: Weights): Promise<void> {
  const steps = quick ? 8 : 32;
  const rounds = quick ? 2 : 3;
  const f32 = await loomDecode(cfg, weights, 'f32', steps, rounds);
  const bf16 = await loomDecode(cfg, weights, 'bf16', steps, rounds);
  const q8 = await loomDecode(cfg, weights, 'q8', steps, rounds);
  const q4 = await loomDecode(cfg, weights, 'q4', steps, rounds);
  const ort = await peer('onnxruntime-node', (p) => p.ortGpt2DecodeTokensPerSecond(cfg, weights, 16, steps, threads, rounds));
  const web = await peer('onnxruntime-web', (p) => p.ortGpt2DecodeTokensPerSecond(cfg, weights, 16, steps, threads, rounds, 'web'));
  const vsOrt = (tps: number) => (ort ? `${(tps / ort.tokensPerSecond).toFixed(2)}x` : 'n/a');
  table(
    `GPT-2 ${quick ? '(2 layers)' : 'small'} greedy decoding with the KV cache, 16-token prompt, ${steps} new tokens, ${threads} threads`,
    ['execution', 'tokens/s (median)', 'vs onnxruntime-node', 'first token ms (steady)', 'first token ms (first after prepare)', 'prepare ms (both plans, packing)'],
    [
      ['Loom cpu, float32 weights', fmt(f32.tokensPerSecond), vsOrt(f32.tokensPerSecond), fmt(f32.firstMs, 0), fmt(f32.coldFirstMs, 0), fmt(f32.prepareMs, 0)],
      ['Loom cpu, bfloat16 weight store', fmt(bf16.tokensPerSecond), vsOrt(bf16.tokensPerSecond), fmt(bf16.firstMs, 0), fmt(bf16.coldFirstMs, 0), fmt(bf16.prepareMs, 0)],
      ['Loom cpu, q8 weight store (int8, groups of 32)', fmt(q8.tokensPerSecond), vsOrt(q8.tokensPerSecond), fmt(q8.firstMs, 0), fmt(q8.coldFirstMs, 0), fmt(q8.prepareMs, 0)],
      ['Loom cpu, q4 weight store (int4, groups of 32)', fmt(q4.tokensPerSecond), vsOrt(q4.tokensPerSecond), fmt(q4.firstMs, 0), fmt(q4.coldFirstMs, 0), fmt(q4.prepareMs, 0)],
      ['onnxruntime-node 1.30 (past/present KV)', fmt(ort?.tokensPerSecond), '', fmt(ort?.firstTokenMs, 0), '', ''],
      [`onnxruntime-web 1.30, wasm, ${threads} threads (past/present KV)`, fmt(web?.tokensPerSecond), web ? vsOrt(web.tokensPerSecond) : 'n/a', fmt(web?.firstTokenMs, 0), '', ''],
    ],
  );
}

async function encoderLayerBench(): Promise<void> {
  if (!peers) return;
  const graph = peers.buildLoomEncoderLayer(peers.BASE_ENCODER_LAYER);
  const weights = randomWeights(graph, 3);
  const loomMs = await peers.loomEncoderLayerMs(cpu(), weights, 128, peers.BASE_ENCODER_LAYER, quick ? 5 : 15);
  const ortMs = await peer('onnxruntime-node', (p) => p.ortEncoderLayerMs(weights, threads, 128, p.BASE_ENCODER_LAYER, quick ? 5 : 15));
  const webMs = await peer('onnxruntime-web', (p) => p.ortEncoderLayerMs(weights, threads, 128, p.BASE_ENCODER_LAYER, quick ? 5 : 15, 'web'));
  table(`the paper's encoder layer (post-norm, d 512, 8 heads, d_ff 2048, ReLU), batch 1, seq 128, ${threads} threads`, ['execution', 'ms (median)', 'Loom / onnxruntime-node', 'onnxruntime-web / Loom'], [
    ['Loom cpu', fmt(loomMs, 2), ratio(loomMs, ortMs), webMs !== undefined ? `${(webMs / loomMs).toFixed(2)}x` : 'n/a'],
    ['onnxruntime-node 1.30', fmt(ortMs, 2), '', ''],
    [`onnxruntime-web 1.30, wasm, ${threads} threads`, fmt(webMs, 2), '', ''],
  ]);
}

interface ContentionRow {
  readonly prefillMs: number | undefined;
  readonly tokensPerSecond: number | undefined;
}

/**
 * Loom's GPT-2 prefill (ms) and greedy KV-cache decoding (tokens/s) at each thread count in
 * `counts`, the configurations taking turns round by round (so a neighbour's burst or the CPU's
 * clock touches them alike); medians over the rounds.
 */
async function loomInTurns(cfg: Gpt2Config, weights: Weights, counts: readonly number[], seq: number, steps: number, rounds: number): Promise<ContentionRow[]> {
  const graph = buildGpt2(cfg);
  const prompt = Array.from({ length: 16 }, (_, i) => (i * 7919) % cfg.vocabSize);
  const configs = await Promise.all(
    counts.map(async (t) => {
      const backend = withPrepareOptions(cpuBackend, { cpu: { threads: t } });
      const decoder = new KvCacheDecoder(gpt2CachedPlans(cfg), weights, backend);
      await decoder.prepare();
      return { model: await backend.prepare(graph, weights), decoder, prefill: [] as number[], tps: [] as number[] };
    }),
  );
  for (let r = 0; r <= rounds; r++) {
    for (const c of configs) {
      let start = performance.now();
      await c.model.run({ input_ids: ids(seq, cfg.vocabSize) });
      const prefillMs = performance.now() - start;
      let [logits] = await c.decoder.prefill([prompt]);
      start = performance.now();
      for (let s = 0; s < steps; s++) [logits] = await c.decoder.step([argmax(logits!)]);
      if (r === 0) continue; // warm-up round
      c.prefill.push(prefillMs);
      c.tps.push((1000 * steps) / (performance.now() - start));
    }
  }
  for (const c of configs) {
    c.model.dispose();
    await c.decoder.dispose();
  }
  return configs.map((c) => ({ prefillMs: median(c.prefill), tokensPerSecond: median(c.tps) }));
}

/** GPT-2 prefill and decoding for Loom at `threads` and at 1 thread (in turns), and onnxruntime-node at `threads`. */
async function contentionRows(cfg: Gpt2Config, weights: Weights): Promise<Record<string, ContentionRow>> {
  const seq = quick ? 32 : 128;
  const [reps, steps, rounds] = quick ? [3, 8, 3] : [5, 32, 7];
  const counts = [threads, 1];
  const loom = await loomInTurns(cfg, weights, counts, seq, steps, rounds);
  const rows: Record<string, ContentionRow> = {};
  counts.forEach((t, i) => (rows[`Loom cpu, ${t} thread${t > 1 ? 's' : ''}`] = loom[i]!));
  const ortPrefill = await peer('onnxruntime-node', (p) => p.ortGpt2PrefillMs(cfg, weights, seq, threads, reps));
  const ortDecode = await peer('onnxruntime-node', (p) => p.ortGpt2DecodeTokensPerSecond(cfg, weights, 16, steps, threads, Math.min(rounds, 3)));
  rows[`onnxruntime-node 1.30, ${threads} threads`] = { prefillMs: ortPrefill, tokensPerSecond: ortDecode?.tokensPerSecond };
  return rows;
}

/** Quiet, then with a process spinning on one core: what a busy machine does to each row. */
async function contentionBench(cfg: Gpt2Config, weights: Weights): Promise<void> {
  next();
  const quiet = await contentionRows(cfg, weights);
  next();
  const hog = spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' });
  let busy: Record<string, ContentionRow>;
  try {
    busy = await contentionRows(cfg, weights);
  } finally {
    hog.kill('SIGKILL');
  }
  const seq = quick ? 32 : 128;
  table(
    `GPT-2 ${quick ? '(2 layers)' : 'small'} quiet and contended (another process spinning on one of the ${availableParallelism()} cores): prefill seq ${seq} (ms, median) and KV-cache decoding (tokens/s, median)`,
    ['execution', 'prefill quiet', 'prefill contended', 'decode quiet', 'decode contended'],
    Object.keys(quiet).map((name) => [name, fmt(quiet[name]!.prefillMs, 0), fmt(busy[name]!.prefillMs, 0), fmt(quiet[name]!.tokensPerSecond), fmt(busy[name]!.tokensPerSecond)]),
  );
}

const cpuModel = cpus()[0]?.model ?? 'unknown CPU';
progress.interrupt(() => console.log(`# Loom CPU benchmarks (${new Date().toISOString().slice(0, 10)}, node ${process.version}, ${cpuModel}, ${availableParallelism()} cores, ${threads} threads, load ${loadavg()[0]!.toFixed(2)}, ${quick ? 'quick' : 'full'})`));
const cfg = quick ? { ...GPT2_PRESETS.gpt2, nLayer: 2 } : GPT2_PRESETS.gpt2;
const weights = randomWeights(buildGpt2(cfg), 1);
if (contended) {
  await contentionBench(cfg, weights);
} else {
  next();
  await simdBound();
  next();
  await matmulBench();
  next();
  await gpt2Bench(cfg, weights);
  next();
  await decodeBench(cfg, weights);
  next();
  await encoderLayerBench();
}
progress.stop();
process.exit(0); // the worker threads and onnxruntime's pools would otherwise keep the process alive a while
