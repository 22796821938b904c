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

/**
 * Where the Llama lineage's checkpoints keep Loom's weights (model.ts names them as Llama does):
 * Llama, Mistral, Qwen2, Gemma and Gemma 2 under `model.` with the same names; Phi-3 with q, k and v
 * stacked in qkv_proj (H Dh, KV Dh, KV Dh rows) and gate and up in gate_up_proj; GPT-NeoX under its
 * own names, with q, k and v interleaved per head in query_key_value (rows [H, 3, Dh]).
 */
export function hfLlamaMapping(cfg: LlamaConfig): WeightMapping {
  const describe = `Hugging Face ${cfg.modelType}`;
  const skipHead = (name: string) => cfg.tieEmbeddings && name === 'lm_head.weight';
  if (cfg.modelType === 'gpt_neox') return gptNeoxMapping(cfg, describe);
  const rows = [cfg.nHead * cfg.headDim, cfg.nKvHead * cfg.headDim, cfg.nKvHead * cfg.headDim];
  return {
    describe,
    sourceOf: (loomName) => {
      if (loomName === 'lm_head.weight') return { name: loomName };
      const moe = cfg.variant.mlp.kind === 'moe' ? /^(layers\.\d+\.block_sparse_moe)\.experts\.(w1|w2|w3)$/.exec(loomName) : null;
      if (moe && cfg.variant.mlp.kind === 'moe') {
        // Mixtral keeps each expert's nn.Linear apart: experts.{e}.w1.weight [F, D], stacked here [E, D, F]
        const names = Array.from({ length: cfg.variant.mlp.experts }, (_, e) => `${PREFIX}${moe[1]}.experts.${e}.${moe[2]}.weight`);
        return { name: names[0]!, transpose: true, stack: names };
      }
      if (/\.block_sparse_moe\.gate\.weight$/.test(loomName)) return { name: PREFIX + loomName, transpose: true }; // the router [E, D]
      const fused = cfg.modelType === 'phi3' ? /^(layers\.\d+)\.(self_attn\.(q|k|v)_proj|mlp\.(gate|up)_proj)\.weight$/.exec(loomName) : null;
      if (fused) {
        const [, layer, , qkv, gateUp] = fused;
        if (qkv) return { name: `${PREFIX}${layer}.self_attn.qkv_proj.weight`, transpose: true, part: { index: 'qkv'.indexOf(qkv), count: 3, sizes: rows } };
        return { name: `${PREFIX}${layer}.mlp.gate_up_proj.weight`, transpose: true, part: { index: gateUp === 'gate' ? 0 : 1, count: 2 } };
      }
      return { name: PREFIX + loomName, transpose: PROJECTION.test(loomName) };
    },
    ignore: (name) => skipHead(name) || /\.rotary_emb\.inv_freq$/.test(name),
  };
}

/** GPT-NeoX (Pythia) names: gpt_neox.embed_in, .layers.{i}.attention.{query_key_value,dense}, .mlp.*, .final_layer_norm, embed_out. */
function gptNeoxMapping(cfg: LlamaConfig, describe: string): WeightMapping {
  const RENAMES: [RegExp, string][] = [
    [/^embed_tokens\.weight$/, 'gpt_neox.embed_in.weight'],
    [/^norm\.(weight|bias)$/, 'gpt_neox.final_layer_norm.$1'],
    [/^lm_head\.weight$/, 'embed_out.weight'],
    [/^layers\.(\d+)\.(input_layernorm|post_attention_layernorm)\.(weight|bias)$/, 'gpt_neox.layers.$1.$2.$3'],
    [/^layers\.(\d+)\.self_attn\.o_proj\.(weight|bias)$/, 'gpt_neox.layers.$1.attention.dense.$2'],
    [/^layers\.(\d+)\.mlp\.(dense_h_to_4h|dense_4h_to_h)\.(weight|bias)$/, 'gpt_neox.layers.$1.mlp.$2.$3'],
  ];
  return {
    describe,
    sourceOf: (loomName) => {
      const qkv = /^layers\.(\d+)\.self_attn\.(q|k|v)_proj\.(weight|bias)$/.exec(loomName);
      if (qkv) {
        const [, layer, which, kind] = qkv;
        return { name: `gpt_neox.layers.${layer}.attention.query_key_value.${kind}`, transpose: kind === 'weight', part: { index: 'qkv'.indexOf(which!), count: 3, groups: cfg.nHead } };
      }
      for (const [pattern, target] of RENAMES) {
        if (pattern.test(loomName)) return { name: loomName.replace(pattern, target), transpose: loomName.endsWith('.weight') && /(o_proj|dense_h_to_4h|dense_4h_to_h)/.test(loomName) };
      }
      return undefined;
    },
    // old Pythia checkpoints carry the causal mask and rotary tables as buffers
    ignore: (name) => /\.attention\.(bias|masked_bias)$/.test(name) || /\.rotary_emb\.inv_freq$/.test(name) || (cfg.tieEmbeddings && name === 'embed_out.weight'),
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
  const neox = cfg.modelType === 'gpt_neox';
  const layerName = neox ? /^gpt_neox\.layers\.(\d+)\./ : /^model\.layers\.(\d+)\./;
  let layers = 0;
  for (const name of checkpoint.keys()) {
    const m = layerName.exec(name);
    if (m) layers = Math.max(layers, Number(m[1]) + 1);
  }
  if (cfg.nLayer > layers + SPARE_LAYERS) {
    throw new ConfigError(`config num_hidden_layers is ${cfg.nLayer}, but ${sourceName} holds ${layers} layers: the config does not belong to these weights`);
  }
  const embedName = neox ? 'gpt_neox.embed_in.weight' : `${PREFIX}embed_tokens.weight`;
  const embed = checkpoint.get(embedName);
  if (embed && (embed.shape.length !== 2 || embed.shape[0] !== cfg.vocabSize || embed.shape[1] !== cfg.hidden)) {
    throw new ConfigError(`config vocab_size ${cfg.vocabSize} and hidden_size ${cfg.hidden} do not match ${sourceName}'s ${embedName} [${embed.shape.join(', ')}]: the config does not belong to these weights`);
  }
}

/** The Loom weights of a Llama-family model; throws a WeightsError listing every missing, unexpected and mis-shaped tensor. */
export function llamaWeights(cfg: LlamaConfig, checkpoint: ReadonlyMap<string, NDArray>, sourceName?: string): Map<string, NDArray> {
  checkLlamaConfigAgainstCheckpoint(cfg, checkpoint, sourceName);
  return applyMapping(checkpoint, expectedWeights(buildLlama(cfg)), hfLlamaMapping(cfg), sourceName);
}
