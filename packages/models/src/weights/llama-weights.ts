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
import { ConfigError } from '../errors.ts';
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

/** Layers a config may ask for beyond the checkpoint's before the graph is not built at all. */
const SPARE_LAYERS = 64;

/**
 * Compares the config with the checkpoint's header before any graph is built: far more layers than
 * the weights hold, or vocab_size / hidden_size that disagree with the embedding table, fail at once
 * naming the fields (the WeightsError that follows otherwise lists every tensor).
 */
export function checkLlamaConfigAgainstCheckpoint(cfg: LlamaConfig, checkpoint: ReadonlyMap<string, NDArray>, sourceName = 'checkpoint'): void {
  let layers = 0;
  for (const name of checkpoint.keys()) {
    const m = /^model\.layers\.(\d+)\./.exec(name);
    if (m) layers = Math.max(layers, Number(m[1]) + 1);
  }
  if (cfg.nLayer > layers + SPARE_LAYERS) {
    throw new ConfigError(`config num_hidden_layers is ${cfg.nLayer}, but ${sourceName} holds ${layers} layers: the config does not belong to these weights`);
  }
  const embed = checkpoint.get(`${PREFIX}embed_tokens.weight`);
  if (embed && (embed.shape.length !== 2 || embed.shape[0] !== cfg.vocabSize || embed.shape[1] !== cfg.hidden)) {
    throw new ConfigError(`config vocab_size ${cfg.vocabSize} and hidden_size ${cfg.hidden} do not match ${sourceName}'s model.embed_tokens.weight [${embed.shape.join(', ')}]: the config does not belong to these weights`);
  }
}

/** The Loom weights of a Llama-family model; throws a WeightsError listing every missing, unexpected and mis-shaped tensor. */
export function llamaWeights(cfg: LlamaConfig, checkpoint: ReadonlyMap<string, NDArray>, sourceName?: string): Map<string, NDArray> {
  checkLlamaConfigAgainstCheckpoint(cfg, checkpoint, sourceName);
  return applyMapping(checkpoint, expectedWeights(buildLlama(cfg)), hfLlamaMapping(cfg), sourceName);
}
