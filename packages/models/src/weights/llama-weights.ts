/**
 * Weights for the Llama family (LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM) from a
 * Hugging Face checkpoint. Loom's names are Hugging Face's without the `model.` prefix; the
 * projections are nn.Linear weights stored [out, in] and are transposed once to Loom's [in, out].
 * BF16 and F16 tensors arrive as float32 (exact widening, by the safetensors reader). Skipped:
 * `lm_head.weight` when the head is tied (some checkpoints store the copy anyway) and the
 * `rotary_emb.inv_freq` buffers older checkpoints carry (Loom computes the frequencies).
 */
import type { NDArray } from '@loom/graph';
import type { LlamaConfig } from '../llama/config.ts';
import { buildLlama } from '../llama/model.ts';
import { applyMapping, expectedWeights, type WeightMapping } from './mapping.ts';

const PREFIX = 'model.';
const PROJECTION = /\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)\.weight$/;

export function hfLlamaMapping(cfg: LlamaConfig): WeightMapping {
  return {
    describe: `Hugging Face ${cfg.modelType}`,
    sourceOf: (loomName) => (loomName === 'lm_head.weight' ? { name: loomName } : { name: PREFIX + loomName, transpose: PROJECTION.test(loomName) }),
    ignore: (name) => (cfg.tieEmbeddings && name === 'lm_head.weight') || /\.rotary_emb\.inv_freq$/.test(name),
  };
}

/** The Loom weights of a Llama-family model; throws a WeightsError listing every missing, unexpected and mis-shaped tensor. */
export function llamaWeights(cfg: LlamaConfig, checkpoint: ReadonlyMap<string, NDArray>, sourceName?: string): Map<string, NDArray> {
  return applyMapping(checkpoint, expectedWeights(buildLlama(cfg)), hfLlamaMapping(cfg), sourceName);
}
