/**
 * Weights for GPT-2 from a Hugging Face checkpoint (`model.safetensors` of GPT2LMHeadModel or
 * GPT2Model). Loom's names are Hugging Face's without the `transformer.` prefix and the shapes are the
 * same (Conv1D stores [in, out]), so the mapping only strips the prefix. Skipped:
 * - `lm_head.weight`: the head is tied to wte (Loom rejects untied configs);
 * - `h.N.attn.bias` and `h.N.attn.masked_bias`: causal-mask buffers older checkpoints store.
 */
import type { NDArray } from '@loom/graph';
import type { Gpt2Config } from '../gpt2/config.ts';
import { buildGpt2 } from '../gpt2/model.ts';
import { applyMapping, expectedWeights, type WeightMapping } from './mapping.ts';

const PREFIX = 'transformer.';
const BUFFER = /^h\.\d+\.attn\.(bias|masked_bias)$/;

/** Hugging Face GPT-2 names, with or without the prefix (whichever the checkpoint uses). */
export function hfGpt2Mapping(checkpointNames: Iterable<string>): WeightMapping {
  const prefixed = [...checkpointNames].some((n) => n.startsWith(PREFIX));
  const bare = (name: string) => (name.startsWith(PREFIX) ? name.slice(PREFIX.length) : name);
  return {
    describe: prefixed ? 'Hugging Face GPT-2 (transformer. prefix)' : 'Hugging Face GPT-2',
    sourceOf: (loomName) => ({ name: prefixed ? PREFIX + loomName : loomName }),
    ignore: (name) => name === 'lm_head.weight' || BUFFER.test(bare(name)),
  };
}

/** The Loom weights of GPT-2; throws a WeightsError listing every missing, unexpected and mis-shaped tensor. */
export function gpt2Weights(cfg: Gpt2Config, checkpoint: ReadonlyMap<string, NDArray>, sourceName?: string): Map<string, NDArray> {
  return applyMapping(checkpoint, expectedWeights(buildGpt2(cfg)), hfGpt2Mapping(checkpoint.keys()), sourceName);
}
