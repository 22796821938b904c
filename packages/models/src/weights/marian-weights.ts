/**
 * Weights of a Hugging Face MarianMTModel in Loom's encoder-decoder names (see transformer/model.ts):
 *
 *   Hugging Face                                                  Loom
 *   model.shared.weight [V, D] (shared; or a tied copy's name)     shared_embed
 *   model.{encoder,decoder}.embed_tokens.weight (not shared)       src_embed, tgt_embed
 *   model.*.layers.{i}.self_attn.{q,k,v,out}_proj.{weight,bias}    *.layers.{i}.self_attn.{q,k,v,out}.* (weights transposed)
 *   model.decoder.layers.{i}.encoder_attn.*                        decoder.layers.{i}.cross_attn.*
 *   model.*.layers.{i}.fc{1,2}.*                                   *.layers.{i}.ffn.fc{1,2}.* (weights transposed)
 *   model.encoder.layers.{i}.{self_attn,final}_layer_norm.*        encoder.layers.{i}.norm{1,2}.*
 *   model.decoder.layers.{i}.{self_attn,encoder_attn,final}_layer_norm.*  decoder.layers.{i}.norm{1,2,3}.*
 *   final_logits_bias [1, V]                                       generator.bias [V]
 * Skipped: lm_head.weight and the embedding copies tied to the table in use, and the sinusoidal
 * embed_positions tables some checkpoints carry (Loom computes the same sinusoid).
 */
import type { NDArray } from '@loom/graph';
import type { MarianConfig } from '../marian/config.ts';
import { buildTransformer } from '../transformer/model.ts';
import { ConfigError } from '../errors.ts';
import { applyMapping, expectedWeights, type Source, type WeightMapping } from './mapping.ts';

/** Where a shared table may be stored: save_pretrained keeps one name of the tied group. */
const SHARED_NAMES = ['model.shared.weight', 'model.encoder.embed_tokens.weight', 'model.decoder.embed_tokens.weight', 'lm_head.weight'];
const EMBED_POSITIONS = /^model\.(encoder|decoder)\.embed_positions\.weight$/;
const LAYER = /^(encoder|decoder)\.layers\.(\d+)\.(.+)$/;
const NORMS: Readonly<Record<string, Readonly<Record<string, string>>>> = {
  encoder: { norm1: 'self_attn_layer_norm', norm2: 'final_layer_norm' },
  decoder: { norm1: 'self_attn_layer_norm', norm2: 'encoder_attn_layer_norm', norm3: 'final_layer_norm' },
};

function layerSource(stack: string, layer: string, rest: string): Source | undefined {
  const prefix = `model.${stack}.layers.${layer}`;
  const attn = /^(self_attn|cross_attn)\.(q|k|v|out)\.(weight|bias)$/.exec(rest);
  if (attn) return { name: `${prefix}.${attn[1] === 'cross_attn' ? 'encoder_attn' : 'self_attn'}.${attn[2]}_proj.${attn[3]}`, transpose: attn[3] === 'weight' };
  const fc = /^ffn\.(fc1|fc2)\.(weight|bias)$/.exec(rest);
  if (fc) return { name: `${prefix}.${fc[1]}.${fc[2]}`, transpose: fc[2] === 'weight' };
  const norm = /^(norm\d)\.(weight|bias)$/.exec(rest);
  const hf = norm ? NORMS[stack]![norm[1]!] : undefined;
  return hf ? { name: `${prefix}.${hf}.${norm![2]}` } : undefined;
}

/** The mapping for a checkpoint holding `names`: a shared table is read from whichever tied name it kept. */
export function hfMarianMapping(cfg: MarianConfig, names: ReadonlySet<string>): WeightMapping {
  const sharedName = SHARED_NAMES.find((n) => names.has(n)) ?? SHARED_NAMES[0]!;
  const tied = new Set(cfg.sharedEmbeddings ? SHARED_NAMES.filter((n) => n !== sharedName) : ['lm_head.weight']);
  return {
    describe: 'Hugging Face marian',
    sourceOf(loomName) {
      if (loomName === 'shared_embed') return { name: sharedName };
      if (loomName === 'src_embed') return { name: 'model.encoder.embed_tokens.weight' };
      if (loomName === 'tgt_embed') return { name: 'model.decoder.embed_tokens.weight' };
      if (loomName === 'generator.bias') return { name: 'final_logits_bias', shape: [1, cfg.transformer.tgtVocab] };
      const m = LAYER.exec(loomName);
      return m ? layerSource(m[1]!, m[2]!, m[3]!) : undefined;
    },
    ignore: (name) => tied.has(name) || EMBED_POSITIONS.test(name),
  };
}

/** The Loom weights of a Marian model; throws a WeightsError listing every missing, unexpected and mis-shaped tensor. */
export function marianWeights(cfg: MarianConfig, checkpoint: ReadonlyMap<string, NDArray>, sourceName = 'checkpoint'): Map<string, NDArray> {
  const t = cfg.transformer;
  const table = checkpoint.get(cfg.sharedEmbeddings ? (SHARED_NAMES.find((n) => checkpoint.has(n)) ?? '') : 'model.encoder.embed_tokens.weight');
  if (table && (table.shape.length !== 2 || table.shape[0] !== t.srcVocab || table.shape[1] !== t.dModel)) {
    throw new ConfigError(`config vocab_size ${t.srcVocab} and d_model ${t.dModel} do not match ${sourceName}'s embedding table [${table.shape.join(', ')}]: the config does not belong to these weights`);
  }
  return applyMapping(checkpoint, expectedWeights(buildTransformer(t)), hfMarianMapping(cfg, new Set(checkpoint.keys())), sourceName);
}
