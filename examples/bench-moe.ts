/**
 * A Mixtral-style decoder (8 experts, top 2) beside a dense one with the same active parameters
 * (its MLP 2 experts wide), on Loom's cpu backend in one run: prefill of 128 tokens and decoding with
 * the KV cache. Prints a table (medians), asserts nothing. Run: `npx tsx examples/bench-moe.ts`, with
 *   --threads N   (default 2)   --reps N   timed prefills (default 7; decoding times 4 x as many steps)
 * Both: 2 layers of width 512, 8 heads on 4 kv heads, vocabulary 2048, random weights.
 */
import { cpus, loadavg } from 'node:os';
import { cpuBackend, randomWeights, withPrepareOptions } from '@loom/backends';
import { compile, multiplyAdds } from '@loom/compiler';
import { familyOf } from '../packages/models/src/families/registry.ts';
import { CausalLmRunner } from '../packages/models/src/runners/causal-lm-runner.ts';
import { median } from './timing.ts';

const args = process.argv.slice(2);
const flag = (name: string, fallback: number) => (args.includes(name) ? Number(args[args.indexOf(name) + 1]) : fallback);
const threads = flag('--threads', 2);
const reps = flag('--reps', 7);

const base = { vocab_size: 2048, hidden_size: 512, num_hidden_layers: 2, num_attention_heads: 8, num_key_value_heads: 4, max_position_embeddings: 512, rms_norm_eps: 1e-5, rope_theta: 10000, sliding_window: null };
const MODELS = [
  { label: 'mixtral-style (8 experts of 1024, top 2)', config: { ...base, model_type: 'mixtral', intermediate_size: 1024, num_local_experts: 8, num_experts_per_tok: 2 } },
  { label: 'dense (MLP 2048: the same active parameters)', config: { ...base, model_type: 'mistral', intermediate_size: 2048 } },
];

const backend = withPrepareOptions(cpuBackend, { cpu: { threads } });
const prompt = Array.from({ length: 128 }, (_, i) => (i * 37 + 11) % 2048);

console.log(`# ${cpus()[0]?.model ?? 'cpu'}, ${cpus().length} vCPUs, load ${loadavg()[0]!.toFixed(2)}; Loom cpu, ${threads} threads; medians`);
console.log('| model | params | multiply-adds per token | prefill 128 tokens | decode (KV cache) |');
console.log('|---|---|---|---|---|');
const results: { prefill: number; decode: number }[] = [];
for (const { label, config } of MODELS) {
  const family = familyOf(config, 'config.json', 'causal-lm');
  const cfg = family.parse(config, 'config.json');
  const graph = family.build(cfg, { attentionMask: true, lastOnly: true });
  const weights = randomWeights(graph, 1);
  const runner = new CausalLmRunner(family, cfg, weights, backend);
  const params = [...weights.values()].reduce((n, w) => n + w.data.length, 0);
  const perToken = multiplyAdds(compile(family.build(cfg)).graph, new Map([['batch', 1], ['seq', 1]]));
  const prefillTimes: number[] = [];
  await runner.nextLogits([prompt]);
  for (let i = 0; i < reps; i++) {
    const start = performance.now();
    await runner.nextLogits([prompt]);
    prefillTimes.push(performance.now() - start);
  }
  const decoder = runner.decoder(true);
  await decoder.prefill([prompt.slice(0, 16)]);
  await decoder.step([5]);
  const stepTimes: number[] = [];
  for (let i = 0; i < reps * 4; i++) {
    const start = performance.now();
    await decoder.step([(i * 13) % 2048]);
    stepTimes.push(performance.now() - start);
  }
  await decoder.dispose?.();
  await runner.dispose();
  const [prefill, step] = [median(prefillTimes), median(stepTimes)];
  results.push({ prefill, decode: step });
  console.log(`| ${label} | ${(params / 1e6).toFixed(2)}M | ${(perToken / 1e6).toFixed(2)}M | ${prefill.toFixed(1)} ms | ${(1000 / step).toFixed(1)} tok/s (${step.toFixed(2)} ms) |`);
}
const [moe, dense] = results as [{ prefill: number; decode: number }, { prefill: number; decode: number }];
console.log(`| mixture / dense | | | ${(moe.prefill / dense.prefill).toFixed(2)}x the time | ${(moe.decode / dense.decode).toFixed(2)}x the time per token |`);
