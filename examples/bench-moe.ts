/**
 * A Mixtral-style decoder (8 experts, top 2) beside a dense one with the same active parameters
 * (its MLP 2 experts wide), on Loom's cpu backend in one run: prefill of 128 tokens and decoding with
 * the KV cache. The two models' calls alternate (A, B, A, B, ...), so a machine that slows down or
 * speeds up during the run moves both; medians. Prints a table, asserts nothing.
 * Run: `npx tsx examples/bench-moe.ts`, with --threads N (default 2) and --reps N (timed prefills per
 * model, default 15; decode steps 4 x as many). Both models: 2 layers of width 512, 8 heads on 4 kv
 * heads, vocabulary 2048, random weights.
 */
import { cpus, loadavg } from 'node:os';
import { cpuBackend, randomWeights, withPrepareOptions } from '@loom/backends';
import { compile, multiplyAdds } from '@loom/compiler';
import type { StepDecoder } from '../packages/models/src/decoding/step.ts';
import { familyOf } from '../packages/models/src/families/registry.ts';
import { CausalLmRunner } from '../packages/models/src/runners/causal-lm-runner.ts';
import { median } from './timing.ts';

const args = process.argv.slice(2);
const flag = (name: string, fallback: number) => (args.includes(name) ? Number(args[args.indexOf(name) + 1]) : fallback);
const threads = flag('--threads', 2);
const reps = flag('--reps', 15);

const base = { vocab_size: 2048, hidden_size: 512, num_hidden_layers: 2, num_attention_heads: 8, num_key_value_heads: 4, max_position_embeddings: 1024, rms_norm_eps: 1e-5, rope_theta: 10000, sliding_window: null };
const MODELS = [
  { label: 'mixtral-style (8 experts of 1024, top 2)', config: { ...base, model_type: 'mixtral', intermediate_size: 1024, num_local_experts: 8, num_experts_per_tok: 2 } },
  { label: 'dense (MLP 2048: the same active parameters)', config: { ...base, model_type: 'mistral', intermediate_size: 2048 } },
];

const backend = withPrepareOptions(cpuBackend, { cpu: { threads } });
const prompt = Array.from({ length: 128 }, (_, i) => (i * 37 + 11) % 2048);

interface Prepared {
  readonly label: string;
  readonly runner: CausalLmRunner;
  readonly decoder: StepDecoder;
  readonly params: number;
  readonly perToken: number;
  readonly prefill: number[];
  readonly steps: number[];
}

const prepared: Prepared[] = [];
for (const { label, config } of MODELS) {
  const family = familyOf(config, 'config.json', 'causal-lm');
  const cfg = family.parse(config, 'config.json');
  const weights = randomWeights(family.build(cfg), 1);
  const runner = new CausalLmRunner(family, cfg, weights, backend);
  const decoder = runner.decoder(true);
  await runner.nextLogits([prompt]);
  await decoder.prefill([prompt.slice(0, 16)]);
  await decoder.step([5]);
  const params = [...weights.values()].reduce((n, w) => n + w.data.length, 0);
  const perToken = multiplyAdds(compile(family.build(cfg)).graph, new Map([['batch', 1], ['seq', 1]]));
  prepared.push({ label, runner, decoder, params, perToken, prefill: [], steps: [] });
}
const timed = async (into: number[], fn: () => Promise<unknown>) => {
  const start = performance.now();
  await fn();
  into.push(performance.now() - start);
};
for (let i = 0; i < reps; i++) for (const p of prepared) await timed(p.prefill, () => p.runner.nextLogits([prompt]));
for (let i = 0; i < reps * 4; i++) for (const p of prepared) await timed(p.steps, () => p.decoder.step([(i * 13) % 2048]));

console.log(`# ${cpus()[0]?.model ?? 'cpu'}, ${cpus().length} vCPUs, load ${loadavg()[0]!.toFixed(2)}; Loom cpu, ${threads} threads; medians of ${reps} prefills and ${reps * 4} steps, the models alternating`);
console.log('| model | params | multiply-adds per token | prefill 128 tokens | decode (KV cache) |');
console.log('|---|---|---|---|---|');
for (const p of prepared) {
  const step = median(p.steps);
  console.log(`| ${p.label} | ${(p.params / 1e6).toFixed(2)}M | ${(p.perToken / 1e6).toFixed(2)}M | ${median(p.prefill).toFixed(1)} ms | ${(1000 / step).toFixed(1)} tok/s (${step.toFixed(2)} ms) |`);
}
const [moe, dense] = prepared as [Prepared, Prepared];
console.log(`| mixture / dense | | | ${(median(moe.prefill) / median(dense.prefill)).toFixed(2)}x the time | ${(median(moe.steps) / median(dense.steps)).toFixed(2)}x the time per token |`);
for (const p of prepared) {
  await p.decoder.dispose?.();
  await p.runner.dispose();
}
