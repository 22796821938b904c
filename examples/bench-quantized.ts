/**
 * GPT-2 small with its weights stored as float32, bfloat16, q8 and q4 (with float32 or int8
 * activations) on Loom's cpu backend, and onnxruntime-node in float32 and with MatMulNBits over the
 * same codes (int8 compute, its fastest) on the same random weights, in one run: greedy decoding with the KV
 * cache (a 16-token prompt, then `--steps` tokens) and a prefill of 128 tokens. The executions
 * alternate round by round (each runs once per round), so a machine that slows down moves them all;
 * medians over the rounds. Prints a table, asserts nothing.
 * Run: `npx tsx examples/bench-quantized.ts` with --threads N (default 2), --rounds N (default 5),
 * --steps N (default 24), --quick (2 layers).
 */
import { cpus, loadavg } from 'node:os';
import { cpuBackend, randomWeights, withPrepareOptions, type Backend, type WeightStore } from '@loom/backends';
import { Q4, Q8, type NDArray } from '@loom/graph';
import { argmax, buildGpt2, gpt2CachedPlans, GPT2_PRESETS } from '@loom/models';
import { KvCacheDecoder } from '../packages/models/src/decoding/kv-cache-decoder.ts';
import { OrtGpt2Decoder, ortGpt2Prefill, ortGpt2Session, type OnnxQuantized } from './peers/onnx-gpt2.ts';
import { median } from './timing.ts';

const args = process.argv.slice(2);
const flag = (name: string, fallback: number) => (args.includes(name) ? Number(args[args.indexOf(name) + 1]) : fallback);
const threads = flag('--threads', 2);
const rounds = flag('--rounds', 5);
const steps = flag('--steps', 24);
const quick = args.includes('--quick');
const cfg = quick ? { ...GPT2_PRESETS.gpt2, nLayer: 2 } : GPT2_PRESETS.gpt2;
const weights = randomWeights(buildGpt2(cfg), 1);
const prompt = Array.from({ length: 16 }, (_, i) => (i * 7919) % cfg.vocabSize);
const long = Array.from({ length: 128 }, (_, i) => (i * 31 + 7) % cfg.vocabSize);
const ids = (tokens: readonly number[]): NDArray => ({ dtype: 'i32', shape: [1, tokens.length], data: Int32Array.from(tokens) });

interface Execution {
  readonly label: string;
  /** One round: the prompt, then `steps` tokens; returns ms per token. */
  decode(): Promise<number>;
  /** One prefill of 128 tokens; returns ms. */
  prefill(): Promise<number>;
}

async function loom(store: WeightStore, label = typeof store === 'string' ? store : 'quantized'): Promise<Execution> {
  const backend: Backend = withPrepareOptions(cpuBackend, { cpu: { threads }, ...(store === 'f32' ? {} : { weightStore: store }) });
  const decoder = new KvCacheDecoder(gpt2CachedPlans(cfg), weights, backend);
  await decoder.prepare();
  const full = await backend.prepare(buildGpt2(cfg), weights);
  return {
    label: `Loom cpu, ${label}`,
    async decode() {
      let [logits] = await decoder.prefill([prompt]);
      const start = performance.now();
      for (let s = 0; s < steps; s++) [logits] = await decoder.step([argmax(logits!)]);
      return (performance.now() - start) / steps;
    },
    async prefill() {
      const start = performance.now();
      await full.run({ input_ids: ids(long) });
      return performance.now() - start;
    },
  };
}

/** onnxruntime-node in float32, or with `quantized` products (MatMulNBits over Loom's codes). */
async function onnxruntime(quantized?: OnnxQuantized, label = 'float32'): Promise<Execution> {
  const decoder = new OrtGpt2Decoder(await ortGpt2Session(cfg, weights, { threads, kind: 'decode', ...(quantized ? { quantized } : {}) }), cfg);
  const full = await ortGpt2Session(cfg, weights, { threads, kind: 'prefill', ...(quantized ? { quantized } : {}) });
  return {
    label: `onnxruntime-node 1.30, ${label}`,
    async decode() {
      let logits = await decoder.start(prompt);
      const start = performance.now();
      for (let s = 0; s < steps; s++) logits = await decoder.step(argmax(logits));
      return (performance.now() - start) / steps;
    },
    async prefill() {
      const start = performance.now();
      await ortGpt2Prefill(full, long);
      return performance.now() - start;
    },
  };
}

const executions = [
  await loom('f32', 'f32 weights'),
  await loom('bf16', 'bf16 weights'),
  await loom('q8', 'q8 weights'),
  await loom('q4', 'q4 weights'),
  await loom({ ...Q8, activations: 'int8' }, 'q8 weights, int8 activations'),
  await loom({ ...Q4, activations: 'int8' }, 'q4 weights, int8 activations'),
  await onnxruntime(),
  await onnxruntime({ quantization: Q8, accuracyLevel: 4 }, 'q8 MatMulNBits, int8 compute'),
  await onnxruntime({ quantization: Q4, accuracyLevel: 4 }, 'q4 MatMulNBits, int8 compute'),
];
const decodeMs = executions.map(() => [] as number[]);
const prefillMs = executions.map(() => [] as number[]);
for (let r = 0; r <= rounds; r++) {
  for (const [i, e] of executions.entries()) {
    const [d, p] = [await e.decode(), await e.prefill()];
    if (r === 0) continue; // warm-up
    decodeMs[i]!.push(d);
    prefillMs[i]!.push(p);
  }
}
const ort = executions.findIndex((e) => e.label.endsWith('float32'));
const tps = (i: number) => 1000 / median(decodeMs[i]!);
console.log(`# GPT-2 ${quick ? '(2 layers)' : 'small'} weight stores (${new Date().toISOString().slice(0, 10)}, node ${process.version}, ${cpus()[0]?.model ?? 'unknown CPU'}, ${threads} threads, load ${loadavg()[0]!.toFixed(2)}, ${rounds} rounds alternating)\n`);
console.log('| execution | decode tokens/s (median) | vs onnxruntime float32 | prefill 128 ms (median) | vs onnxruntime float32 |');
console.log('|---|---|---|---|---|');
for (const [i, e] of executions.entries()) {
  console.log(`| ${e.label} | ${tps(i).toFixed(1)} | ${(tps(i) / tps(ort)).toFixed(2)}x | ${median(prefillMs[i]!).toFixed(0)} | ${(median(prefillMs[ort]!) / median(prefillMs[i]!)).toFixed(2)}x |`);
}
process.exit(0);
