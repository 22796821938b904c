/**
 * A training step (forward, backward, AdamW with clipping, one compiled plan) on Loom's cpu backend
 * beside PyTorch on the CPU and jax-js (wasm), same model, batch and thread count, in one run;
 * prints a table, asserts nothing. Run: `npx tsx examples/bench-training.ts`, with
 *   --threads N   threads for Loom, PyTorch and jax-js (default 2; jax-js's wasm threads run in Workers, given to Node by a shim)
 *   --steps N     timed steps per row (default 10, after 3 untimed)
 *   --quick       3 timed steps after 1 untimed (a smoke run)
 * Models: the reverse model (the shipped encoder-decoder: d 128, 2 + 2 layers, batch 32 x 32
 * source and 32 target tokens) and a GPT-2-style model of 5.3M parameters (vocab 8192, 4 layers
 * of width 256, batch 8 x 128). PyTorch is Debian's python3-torch run by /usr/bin/python3; a peer
 * that cannot run prints why in its row. BENCHMARKS.md records runs.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { cpuBackend, withPrepareOptions } from '@loom/backends';
import { withCrossEntropyLoss } from '@loom/compiler';
import { mulberry32, type Graph, type NDArray } from '@loom/graph';
import type { Gpt2Config } from '../packages/models/src/gpt2/config.ts';
import { buildGpt2 } from '../packages/models/src/gpt2/model.ts';
import { buildTransformer } from '../packages/models/src/transformer/model.ts';
import { initialWeights } from '../packages/models/src/training/initial-weights.ts';
import { trainingCosts } from '../packages/models/src/training/training-costs.ts';
import { reverseLossGraph } from '../packages/models/src/training/train-reverse.ts';
import { Trainer } from '../packages/models/src/training/trainer.ts';
import { SHIPPED_WEIGHTS_DIR } from '../packages/models/src/reverse/load-reverse.ts';
import { parseReverseSpec } from '../packages/models/src/transformer/reverse-spec.ts';
import { median } from './timing.ts';

const args = process.argv.slice(2);
const flag = (name: string, fallback: number) => (args.includes(name) ? Number(args[args.indexOf(name) + 1]) : fallback);
const quick = args.includes('--quick');
const threads = flag('--threads', 2);
const steps = quick ? 3 : flag('--steps', 10);
const warmup = quick ? 1 : 3;

export const GPT2_5M: Gpt2Config = { nLayer: 4, nHead: 4, nEmbd: 256, nInner: 1024, nPositions: 128, vocabSize: 8192, eps: 1e-5, activation: 'gelu_tanh', eosTokenId: null };

interface Workload {
  readonly name: 'reverse' | 'gpt2-5m';
  readonly graph: Graph;
  /** The model without its loss (what loom compile --train sizes). */
  readonly inference: Graph;
  readonly feeds: Record<string, NDArray>;
  /** Tokens the loss predicts per step. */
  readonly tokens: number;
  readonly bindings: Record<string, number>;
}

const ids = (rows: number, cols: number, lo: number, hi: number, seed: number): NDArray => {
  const random = mulberry32(seed);
  return { dtype: 'i32', shape: [rows, cols], data: Int32Array.from({ length: rows * cols }, () => lo + Math.floor(random() * (hi - lo + 1))) };
};

function workloads(): Workload[] {
  const spec = parseReverseSpec(readFileSync(join(SHIPPED_WEIGHTS_DIR, 'reverse.json'), 'utf8'), 'reverse.json');
  const reverse: Workload = {
    name: 'reverse',
    graph: reverseLossGraph(spec),
    inference: buildTransformer(spec.config),
    feeds: { src_ids: ids(32, 32, 3, 29, 1), tgt_ids: ids(32, 32, 3, 29, 2), tgt_out: ids(32, 32, 3, 29, 3) },
    tokens: 32 * 32,
    bindings: { batch: 32, src_seq: 32, tgt_seq: 32 },
  };
  const gptIds = ids(8, 129, 0, GPT2_5M.vocabSize - 1, 4);
  const shifted = (from: number): NDArray => ({ dtype: 'i32', shape: [8, 128], data: Int32Array.from({ length: 8 * 128 }, (_, i) => gptIds.data[Math.floor(i / 128) * 129 + (i % 128) + from]!) });
  const gpt2: Workload = {
    name: 'gpt2-5m',
    graph: withCrossEntropyLoss(buildGpt2(GPT2_5M), { keep: [] }),
    inference: buildGpt2(GPT2_5M),
    feeds: { input_ids: shifted(0), labels: shifted(1) },
    tokens: 8 * 128,
    bindings: { batch: 8, seq: 128 },
  };
  return [reverse, gpt2];
}

interface Row {
  readonly ms?: number;
  readonly note?: string;
}

async function loomStepMs(w: Workload): Promise<{ ms: number; params: number; firstLoss: number }> {
  const weights = initialWeights(w.graph, 1);
  const trainer = await Trainer.create(withPrepareOptions(cpuBackend, { cpu: { threads } }), w.graph, weights, { optimizer: { kind: 'adamw', weightDecay: 0.01 }, schedule: { kind: 'constant', lr: 1e-3 }, clipNorm: 1 });
  try {
    const times: number[] = [];
    let firstLoss = NaN;
    for (let i = 0; i < warmup + steps; i++) {
      const t0 = performance.now();
      const r = await trainer.step(w.feeds);
      if (i === 0) firstLoss = r.loss;
      if (i >= warmup) times.push(performance.now() - t0);
    }
    const params = [...weights.values()].reduce((n, t) => n + t.data.length, 0);
    return { ms: median(times), params, firstLoss };
  } finally {
    trainer.dispose();
  }
}

function torchStepMs(model: string): Row {
  const script = fileURLToPath(new URL('./peers/training/torch_train_step.py', import.meta.url));
  // Debian's torch calls the system BLAS (OpenBLAS once libopenblas0-pthread is installed, else the
  // slow reference one): its threads as many as ours, and no OPENBLAS_CORETYPE pinning an older kernel
  const { OPENBLAS_CORETYPE: _core, OPENBLAS_L2_SIZE: _l2, ...env } = process.env;
  const run = spawnSync('/usr/bin/python3', [script, '--model', model, '--threads', String(threads), '--steps', String(steps), '--warmup', String(warmup)], { encoding: 'utf8', timeout: 1_800_000, env: { ...env, OPENBLAS_NUM_THREADS: String(threads), OMP_NUM_THREADS: String(threads) } });
  if (run.error) return { note: `unavailable: ${run.error.message}` };
  if (run.status !== 0) return { note: `unavailable: ${(run.stderr.trim().split('\n').at(-1) ?? '').slice(0, 120)}` };
  const result = JSON.parse(run.stdout.trim().split('\n').at(-1)!) as { median_ms: number; version: string };
  return { ms: result.median_ms, note: `torch ${result.version}` };
}

async function jaxStepMs(model: 'reverse' | 'gpt2-5m'): Promise<Row> {
  try {
    const { jaxTrainStepMs } = await import('./peers/training/jax-train-step.ts');
    const result = await jaxTrainStepMs(model, { steps, warmup, threads });
    return { ms: result.medianMs, note: `jax-js ${result.version}, ${result.backend}` };
  } catch (e) {
    return { note: `unavailable: ${(e as Error).message.split('\n')[0]!.slice(0, 120)}` };
  }
}

const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(1);
const cell = (r: Row, loomMs: number) => (r.ms === undefined ? `- (${r.note})` : `${r.ms.toFixed(0)} ms (Loom's time / this: ${(loomMs / r.ms).toFixed(2)})${r.note ? ` [${r.note}]` : ''}`);

console.log(`CPU: ${cpus()[0]?.model ?? 'unknown'}, ${cpus().length} cores; load ${loadavg().map((l) => l.toFixed(2)).join(' ')}; ${threads} threads; median of ${steps} steps after ${warmup}`);
console.log('| model | params | tokens/step | Loom cpu step | Loom tokens/s | planned peak (temps + weights & AdamW states) | PyTorch CPU | jax-js |');
console.log('|---|---|---|---|---|---|---|---|');
for (const w of workloads()) {
  const loom = await loomStepMs(w);
  const costs = trainingCosts(w.inference, w.bindings);
  const torch = torchStepMs(w.name);
  const jax = await jaxStepMs(w.name);
  console.log(`| ${w.name} | ${(loom.params / 1e6).toFixed(2)}M | ${w.tokens} | ${loom.ms.toFixed(0)} ms | ${((1000 * w.tokens) / loom.ms).toFixed(0)} | ${mib(costs.step.plannedPeakBytes + costs.stateBytes)} MiB (${mib(costs.step.plannedPeakBytes)} + ${mib(costs.stateBytes)}) | ${cell(torch, loom.ms)} | ${cell(jax, loom.ms)} |`);
  console.log(`  (first loss on Loom: ${loom.firstLoss.toFixed(3)}; with --recompute the step's temps would be ${mib(costs.recompute.plannedPeakBytes)} MiB over ${costs.recompute.kernels} kernels instead of ${costs.step.kernels})`);
}
console.log(`max resident set: ${mib(process.resourceUsage().maxRSS * 1024)} MiB`);
