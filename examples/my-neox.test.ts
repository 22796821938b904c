/**
 * examples/my-neox.ts, a user's own GPT-NeoX under the KV-cache convention, against a float64
 * forward written from Hugging Face's modeling_gpt_neox and against Loom's gpt_neox family: its
 * mapping of a Hugging Face checkpoint (q, k and v interleaved per head), greedy decoding with the
 * KV cache through causalLmFromGraph, and `loom generate --graph` on its graph JSON.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cpuBackend } from '@loom/backends';
import { graphToJson } from '@loom/graph';
import { writeSafetensorsFile } from '@loom/graph/node';
import { argmax, causalLmFromGraph, ConfigError, familyOf, generate } from '@loom/models';
import { describe, expect, it } from 'vitest';
import { runCli } from '../packages/models/src/cli/run-cli.ts';
import { CausalLmRunner } from '../packages/models/src/runners/causal-lm-runner.ts';
import { hfGptNeoxForward, randomGptNeoxCheckpoint, tinyGptNeoxConfig } from '../packages/models/test/hf-reference/gpt-neox.ts';
import { neoxGraph, neoxWeights, type NeoxSizes } from './my-neox.ts';

const config = tinyGptNeoxConfig();
const sizes: NeoxSizes = { vocab: config.vocab_size, d: config.hidden_size, heads: config.num_attention_heads, layers: config.num_hidden_layers, ff: config.intermediate_size, rotaryPct: config.rotary_pct, positions: config.max_position_embeddings };
const checkpoint = randomGptNeoxCheckpoint(config, 5);

function referenceGreedy(prompt: number[], steps: number): number[] {
  const ids = [...prompt];
  for (let i = 0; i < steps; i++) ids.push(argmax(hfGptNeoxForward(config, checkpoint, ids).at(-1)!));
  return ids;
}

describe('examples/my-neox.ts: your own graph decodes with the KV cache', () => {
  const weights = neoxWeights(sizes, checkpoint);

  it('greedy ids with the KV cache equal the float64 reference argmax and Loom\'s gpt_neox family', async () => {
    const lm = causalLmFromGraph(neoxGraph(sizes), weights, { backend: cpuBackend });
    const prompts = [[5, 9, 2], [7, 1, 33, 20, 4]];
    const mine = await generate(lm, prompts, { maxNewTokens: 8, kvCache: true, stopAt: null });
    expect(mine[0]).toEqual(referenceGreedy(prompts[0]!, 8));
    expect(mine[1]).toEqual(referenceGreedy(prompts[1]!, 8));
    const family = familyOf(config, 'config.json', 'causal-lm');
    const cfg = family.parse(config, 'config.json');
    const theirs = await generate(new CausalLmRunner(family, cfg, family.weights(cfg, checkpoint), cpuBackend), prompts, { maxNewTokens: 8, kvCache: true, stopAt: null });
    expect(mine).toEqual(theirs);
    // recomputing the prefix each step (nextLogits: a prefill on fresh caches) gives the same
    expect(await generate(lm, prompts, { maxNewTokens: 8, kvCache: false, stopAt: null })).toEqual(mine);
    // beams and sampling run on the same decoder
    const beams = await generate(lm, [prompts[0]!], { maxNewTokens: 4, beams: 3 });
    expect(beams[0]!.slice(0, 3)).toEqual(prompts[0]);
    await lm.dispose();
  });

  it('loom generate --graph my.graph.json --weights W prints the same ids', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'loom-my-neox-'));
    writeFileSync(join(dir, 'my.graph.json'), graphToJson(neoxGraph(sizes)));
    await writeSafetensorsFile(join(dir, 'my.safetensors'), weights);
    let stdout = '';
    let stderr = '';
    const code = await runCli(['generate', '--graph', join(dir, 'my.graph.json'), '--weights', join(dir, 'my.safetensors'), '--ids', '5,9,2', '--max-new-tokens', '8'], { out: (t) => void (stdout += t), err: (t) => void (stderr += t) });
    expect(code, stderr).toBe(0);
    expect(stdout.trim()).toBe(referenceGreedy([5, 9, 2], 8).slice(3).join(','));
  });

  it('a graph off the convention is one ConfigError naming what it lacks', () => {
    const full = familyOf(config, 'c', 'causal-lm');
    const graph = full.build(full.parse(config, 'c'));
    expect(() => causalLmFromGraph(graph, weights, { backend: cpuBackend })).toThrow(ConfigError);
    expect(() => causalLmFromGraph(graph, weights, { backend: cpuBackend })).toThrow(/no input 'position'/);
  });
});
