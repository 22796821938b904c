/**
 * Shared by decoder-families.test.ts (cpu) and the webgpu/webgl files: the cases and checks of
 * the Llama lineage's families beyond Llama (Mistral with its sliding window, Gemma, Gemma 2,
 * GPT-NeoX, Phi-3) against independent float64 forwards written from Hugging Face's modeling code
 * (hf-reference/), on tiny checkpoints generated here, on every backend: logits within 1e-4 of the
 * reference, greedy ids with the KV cache equal to the reference's argmax of the recomputed prefix,
 * past the sliding windows (where rings of a window's size hold the cache); on the cpu also the
 * backend's own recomputing decoder, and the windowed layers' cache states sized by the window.
 */
import { cpuBackend, type Backend } from '@loom/backends';
import { maxAbsDiff } from '@loom/graph';
import { describe, expect, it } from 'vitest';
import { requireBackend } from '../../backends/test/require-backend.ts';
import { generate } from '../src/decoding/generate.ts';
import { argmax } from '../src/decoding/sampling.ts';
import { familyOf } from '../src/families/registry.ts';
import { CausalLmRunner } from '../src/runners/causal-lm-runner.ts';
import type { Checkpoint } from './hf-reference/common.ts';
import { hfGemmaForward, randomGemmaCheckpoint, tinyGemmaConfig } from './hf-reference/gemma.ts';
import { hfGemma2Forward, randomGemma2Checkpoint, tinyGemma2Config } from './hf-reference/gemma2.ts';
import { hfGptNeoxForward, randomGptNeoxCheckpoint, tinyGptNeoxConfig } from './hf-reference/gpt-neox.ts';
import { hfMistralForward, randomMistralCheckpoint, tinyMistralConfig } from './hf-reference/mistral.ts';
import { hfMixtralForward, randomMixtralCheckpoint, tinyMixtralConfig } from './hf-reference/mixtral.ts';
import { hfPhi3Forward, randomPhi3Checkpoint, tinyPhi3Config } from './hf-reference/phi3.ts';

interface Case {
  readonly config: Record<string, unknown>;
  readonly checkpoint: Checkpoint;
  forward(ids: number[]): number[][];
}

function family<C extends object>(config: C, random: (c: C, seed: number) => Checkpoint, forward: (c: C, ck: Checkpoint, ids: number[]) => number[][]): Case {
  const checkpoint = random(config, 11);
  return { config: config as Record<string, unknown>, checkpoint, forward: (ids) => forward(config, checkpoint, ids) };
}

export const FAMILY_CASES: readonly [string, () => Case][] = [
  ['mistral (sliding window 5 on every layer)', () => family(tinyMistralConfig(), randomMistralCheckpoint, hfMistralForward)],
  ['mixtral (4 experts, top 2, run sparsely; window 4)', () => family(tinyMixtralConfig(), randomMixtralCheckpoint, hfMixtralForward)],
  ['gemma (norm offset, GeGLU, embedding scale, MQA, tied)', () => family(tinyGemmaConfig(), randomGemmaCheckpoint, hfGemmaForward)],
  ['gemma2 (soft-capping, sandwich norms, local and global layers)', () => family(tinyGemma2Config(), randomGemma2Checkpoint, hfGemma2Forward)],
  ['gpt_neox (parallel residual, partial rotary, per-head interleaved qkv)', () => family(tinyGptNeoxConfig(), randomGptNeoxCheckpoint, hfGptNeoxForward)],
  ['phi3 (fused qkv and gate_up, a window on every layer)', () => family(tinyPhi3Config(), randomPhi3Checkpoint, hfPhi3Forward)],
];

export function runnerOf(c: Case, backend: Backend = cpuBackend) {
  const fam = familyOf(c.config, 'config.json', 'causal-lm');
  const cfg = fam.parse(c.config, 'config.json');
  return new CausalLmRunner(fam, cfg, fam.weights(cfg, c.checkpoint), backend);
}


/** The reference's greedy continuation: the argmax of the float64 forward over the whole prefix, each step. */
export function referenceGreedy(c: Case, prompt: readonly number[], steps: number): number[] {
  const ids = [...prompt];
  for (let step = 0; step < steps; step++) ids.push(argmax(c.forward(ids).at(-1)!));
  return ids;
}

export const IDS = [3, 17, 42, 8, 8, 29, 1, 5, 33, 12, 7, 21];

/** The same on a GPU backend: logits, and greedy KV-cache decoding past the windows against the reference. */
export async function decoderFamiliesOn(name: 'webgpu' | 'webgl'): Promise<void> {
  const { backend } = await requireBackend(name);
  describe.skipIf(!backend)(`decoder families on ${name}`, { timeout: 300_000 }, () => {
    it.each(FAMILY_CASES)('%s: logits within 1e-4; greedy KV-cache ids past the window equal the reference argmax', async (_, make) => {
      const c = make();
      const runner = runnerOf(c, backend!);
      try {
        const logits = await runner.logits([IDS]);
        expect(maxAbsDiff(logits.data, c.forward(IDS).flat())).toBeLessThan(1e-4);
        const prompt = [5, 9, 2, 11];
        const cached = await generate(runner, [prompt], { maxNewTokens: 6, kvCache: true, stopAt: null });
        expect(cached[0]).toEqual(referenceGreedy(c, prompt, 6));
      } finally {
        await runner.dispose();
      }
    });
  });
}
