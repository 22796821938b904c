import { z } from 'zod';
import type { Activation } from '@loom/graph';
import { BEAMS_WHY, MAX_BEAMS } from '../config/limits.ts';
import { parseConfig, unsupportedField, type GenerationConfigFile } from '../config/parse-config.ts';
import { validateTransformerConfig, type TransformerConfig } from '../transformer/config.ts';

/**
 * A Hugging Face MarianMTModel (the OPUS-MT translation models) is the encoder-decoder Transformer
 * of the paper with post-norm layers, swish, embeddings scaled by sqrt(d_model), sinusoidal
 * positions in halves (sines, then cosines), no final stack norms, `final_logits_bias` on the
 * logits and, by default, one embedding table shared by source, target and the output head.
 * Decoding starts from decoder_start_token_id (Marian's pad id).
 */
export interface MarianConfig {
  readonly transformer: TransformerConfig;
  /** One table for both vocabularies and the head (share_encoder_decoder_embeddings). */
  readonly sharedEmbeddings: boolean;
  readonly generation: MarianGeneration;
}

/** What `generate` does beyond the network, from config.json as GenerationConfig.from_model_config reads it. */
export interface MarianGeneration {
  readonly decoderStartTokenId: number;
  readonly eosTokenId: number;
  /** Single-token bad_words_ids: never generated (OPUS-MT configs list the pad id). */
  readonly suppressTokens: readonly number[];
  /** forced_eos_token_id: the last allowed new token is this one. */
  readonly forcedEosTokenId: number | null;
  /** max_length: the longest decoder sequence, start token included. */
  readonly maxLength: number;
  readonly numBeams: number;
  readonly lengthPenalty: number;
}

/** Hugging Face activation names (ACT2FN) and the Loom activation each one is. */
const HF_ACTIVATIONS: Readonly<Record<string, Activation>> = { swish: 'silu', silu: 'silu', gelu: 'gelu', gelu_new: 'gelu_tanh', gelu_pytorch_tanh: 'gelu_tanh', relu: 'relu' };

const positiveInt = z.number().int().positive();
const tokenId = z.number().int().nonnegative();

// defaults are MarianConfig's (transformers' configuration_marian.py)
const hfMarianSchema = z.object({
  model_type: z.literal('marian'),
  vocab_size: positiveInt.default(58101),
  decoder_vocab_size: positiveInt.nullable().optional(),
  max_position_embeddings: positiveInt.default(1024),
  d_model: positiveInt.default(1024),
  encoder_layers: z.number().int().nonnegative().default(12),
  decoder_layers: z.number().int().nonnegative().default(12),
  encoder_attention_heads: positiveInt.default(16),
  decoder_attention_heads: positiveInt.default(16),
  encoder_ffn_dim: positiveInt.default(4096),
  decoder_ffn_dim: positiveInt.default(4096),
  activation_function: z.string().default('gelu'),
  scale_embedding: z.boolean().default(false),
  pad_token_id: tokenId.default(58100),
  eos_token_id: z.union([tokenId, z.array(tokenId).min(1)]).default(0),
  decoder_start_token_id: tokenId.default(58100),
  forced_eos_token_id: tokenId.nullable().default(0),
  bad_words_ids: z.array(z.array(tokenId)).nullable().optional(),
  share_encoder_decoder_embeddings: z.boolean().default(true),
  tie_word_embeddings: z.boolean().default(true),
  max_length: positiveInt.nullable().optional(),
  num_beams: positiveInt.max(MAX_BEAMS, { message: `at most ${MAX_BEAMS} beams (${BEAMS_WHY})` }).nullable().optional(),
  length_penalty: z.number().nullable().optional(),
});

/** The generation_config.json fields Loom follows (others, such as sampling switches, are ignored). */
const GENERATION_FIELDS = ['decoder_start_token_id', 'eos_token_id', 'pad_token_id', 'bad_words_ids', 'forced_eos_token_id', 'max_length', 'num_beams', 'length_penalty'];

/**
 * Parses a Hugging Face config.json of model_type marian, with the fields of its
 * generation_config.json over config.json's; what Loom does not build is a ConfigError naming the
 * field and the file it came from.
 */
export function marianConfigFromHf(json: unknown, where = 'config.json', generation?: GenerationConfigFile): MarianConfig {
  const overrides = generation ? Object.fromEntries(GENERATION_FIELDS.filter((k) => Object.hasOwn(generation.json, k) && generation.json[k] !== null).map((k) => [k, generation.json[k]])) : {};
  const whereOf = (field: string) => (generation && Object.hasOwn(overrides, field) ? generation.where : where);
  const merged = json !== null && typeof json === 'object' && !Array.isArray(json) ? { ...json, ...overrides } : json;
  const c = parseConfig(hfMarianSchema, merged, whereOf);
  const unsupported = unsupportedField(whereOf);
  const activation = Object.hasOwn(HF_ACTIVATIONS, c.activation_function) ? HF_ACTIVATIONS[c.activation_function] : undefined;
  if (!activation) unsupported('activation_function', `unsupported value '${c.activation_function}'; supported: ${Object.keys(HF_ACTIVATIONS).join(', ')}`);
  if (c.encoder_attention_heads !== c.decoder_attention_heads) unsupported('decoder_attention_heads', `${c.decoder_attention_heads} differs from encoder_attention_heads ${c.encoder_attention_heads}; Loom builds one head count`);
  if (c.encoder_ffn_dim !== c.decoder_ffn_dim) unsupported('decoder_ffn_dim', `${c.decoder_ffn_dim} differs from encoder_ffn_dim ${c.encoder_ffn_dim}; Loom builds one feed-forward width`);
  const shared = c.share_encoder_decoder_embeddings;
  const tgtVocab = shared ? c.vocab_size : (c.decoder_vocab_size ?? c.vocab_size);
  if (!shared && !c.tie_word_embeddings) unsupported('tie_word_embeddings', 'an untied lm_head with separate embeddings is not supported');
  const eos = Array.isArray(c.eos_token_id) ? c.eos_token_id[0]! : c.eos_token_id;
  for (const [field, id] of [['eos_token_id', eos], ['decoder_start_token_id', c.decoder_start_token_id], ['forced_eos_token_id', c.forced_eos_token_id]] as const) {
    if (id !== null && id >= tgtVocab) unsupported(field, `${id} is outside the target vocabulary of ${tgtVocab}`);
  }
  const longer = (c.bad_words_ids ?? []).find((ids) => ids.length !== 1);
  if (longer) unsupported('bad_words_ids', `only single-token entries are supported, got [${longer.join(', ')}]`);
  const transformer = validateTransformerConfig({
    encoderLayers: c.encoder_layers,
    decoderLayers: c.decoder_layers,
    dModel: c.d_model,
    heads: c.encoder_attention_heads,
    dFF: c.encoder_ffn_dim,
    srcVocab: c.vocab_size,
    tgtVocab,
    sharedEmbeddings: shared,
    tieOutputToTarget: !shared,
    generatorBias: true,
    norm: 'post',
    activation: activation!,
    maxLen: c.max_position_embeddings,
    padId: c.pad_token_id,
    positional: 'sinusoidal-halves',
    embedScale: c.scale_embedding,
    eps: 1e-5,
  });
  const maxLength = Math.min(c.max_length ?? c.max_position_embeddings, c.max_position_embeddings);
  return {
    transformer,
    sharedEmbeddings: shared,
    generation: {
      decoderStartTokenId: c.decoder_start_token_id,
      eosTokenId: eos,
      // Hugging Face never bans the end token this way (NoBadWordsLogitsProcessor filters it out)
      suppressTokens: (c.bad_words_ids ?? []).map((ids) => ids[0]!).filter((id) => id !== eos && id < tgtVocab),
      forcedEosTokenId: c.forced_eos_token_id,
      maxLength,
      numBeams: c.num_beams ?? 1,
      lengthPenalty: c.length_penalty ?? 1,
    },
  };
}
