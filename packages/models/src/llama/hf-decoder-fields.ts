/**
 * What the Hugging Face configs of the Llama lineage share (llama, mistral, qwen2, gemma, gemma2,
 * phi3): the same field names for the sizes, and the same reading of them into a LlamaConfig.
 */
import { z } from 'zod';
import type { LlamaConfig } from './config.ts';

const positiveInt = z.number().int().positive();
const tokenIds = z.union([z.number().int().nonnegative(), z.array(z.number().int().nonnegative())]).nullable().optional();

/** The size fields every config of the lineage has (a family's schema extends them). */
export const HF_DECODER_FIELDS = {
  vocab_size: positiveInt,
  hidden_size: positiveInt,
  intermediate_size: positiveInt,
  num_hidden_layers: positiveInt,
  num_attention_heads: positiveInt,
  num_key_value_heads: positiveInt.nullable().optional(),
  head_dim: positiveInt.nullable().optional(),
  max_position_embeddings: positiveInt,
  rope_theta: z.number().positive().default(10000),
  rope_scaling: z.unknown().optional(),
  eos_token_id: tokenIds,
};

type DecoderFields = z.output<z.ZodObject<typeof HF_DECODER_FIELDS>>;

/** The LlamaConfig fields that follow from the sizes (kv heads default to the heads, head_dim to hidden / heads). */
export function decoderSizes(c: DecoderFields): Pick<LlamaConfig, 'nLayer' | 'nHead' | 'nKvHead' | 'headDim' | 'hidden' | 'intermediate' | 'vocabSize' | 'maxPositions' | 'ropeTheta' | 'eosTokenId'> {
  return {
    nLayer: c.num_hidden_layers,
    nHead: c.num_attention_heads,
    nKvHead: c.num_key_value_heads ?? c.num_attention_heads,
    headDim: c.head_dim ?? c.hidden_size / c.num_attention_heads,
    hidden: c.hidden_size,
    intermediate: c.intermediate_size,
    vocabSize: c.vocab_size,
    maxPositions: c.max_position_embeddings,
    ropeTheta: c.rope_theta,
    eosTokenId: Array.isArray(c.eos_token_id) ? (c.eos_token_id[0] ?? null) : (c.eos_token_id ?? null),
  };
}

/** Refuses kv heads that do not divide the heads and a head size rotary positions cannot pair. */
export function checkHeads(sizes: Pick<LlamaConfig, 'nHead' | 'nKvHead' | 'headDim'>, unsupported: (field: string, why: string) => never): void {
  if (sizes.nHead % sizes.nKvHead !== 0) unsupported('num_key_value_heads', `${sizes.nKvHead} does not divide num_attention_heads ${sizes.nHead}`);
  if (!Number.isInteger(sizes.headDim) || sizes.headDim % 2 !== 0) unsupported('head_dim', `${sizes.headDim} must be an even integer (rotary positions rotate pairs)`);
}

/** Refuses scaled rotary positions (every family of the lineage builds unscaled ones). */
export function noRopeScaling(scaling: unknown, unsupported: (field: string, why: string) => never): void {
  if (scaling !== undefined && scaling !== null) unsupported('rope_scaling', `${JSON.stringify(scaling).slice(0, 60)} is not supported (only unscaled rotary positions)`);
}
