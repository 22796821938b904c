/**
 * How a decoder of the Llama lineage departs from Llama itself: the knobs that Mistral, Gemma,
 * Gemma 2, GPT-NeoX (Pythia) and Phi-3 turn. One decoder (model.ts) reads them, so every family of
 * the lineage shares the block code, the KV cache and the training path.
 */
import type { Activation, GluActivation } from '@loom/graph';

export interface DecoderVariant {
  /** RMSNorm with x * (offset + w) (Gemma: offset 1), or LayerNorm with a bias (GPT-NeoX). */
  readonly norm: { readonly kind: 'rms'; readonly offset: number } | { readonly kind: 'layer' };
  /** The token embeddings times this (Gemma: sqrt(hidden), rounded to float32 as Hugging Face does); null for none. */
  readonly embedScale: number | null;
  /**
   * SwiGLU / GeGLU (gate, up, down), a two-layer MLP with biases (GPT-NeoX's dense_h_to_4h,
   * dense_4h_to_h), or a sparse mixture of `experts` SwiGLU experts of which each token runs `k`
   * (Mixtral's block_sparse_moe: the router's softmax over the top k, renormalized).
   */
  readonly mlp:
    | { readonly kind: 'glu'; readonly activation: GluActivation }
    | { readonly kind: 'ffn'; readonly activation: Activation }
    | { readonly kind: 'moe'; readonly experts: number; readonly k: number };
  /** The fraction of each head's features rotated (GPT-NeoX's rotary_pct, Phi-3's partial_rotary_factor). */
  readonly rotaryFraction: number;
  /** x + attn(n1(x)) + mlp(n2(x)) in one step (GPT-NeoX's use_parallel_residual) instead of two. */
  readonly parallelResidual: boolean;
  /** Gemma 2's extra norms: after attention (post_attention_layernorm), around the MLP (pre_ and post_feedforward_layernorm). */
  readonly sandwichNorms: boolean;
  /** The attention scale; null for 1 / sqrt(head_dim) (Gemma 2: query_pre_attn_scalar^-0.5). */
  readonly attentionScale: number | null;
  /** Attention logits soft-capped at this (Gemma 2's attn_logit_softcapping); null for none. */
  readonly attentionSoftcap: number | null;
  /** The output logits soft-capped at this (Gemma 2's final_logit_softcapping); null for none. */
  readonly finalSoftcap: number | null;
  /** Per layer: the sliding window it attends within (Mistral: every layer; Gemma 2: the even ones), null for all earlier positions. */
  readonly layerWindows: readonly (number | null)[];
}

/** Llama, Qwen2, and Mistral without a window. */
export function llamaVariant(layers: number): DecoderVariant {
  return {
    norm: { kind: 'rms', offset: 0 },
    embedScale: null,
    mlp: { kind: 'glu', activation: 'silu' },
    rotaryFraction: 1,
    parallelResidual: false,
    sandwichNorms: false,
    attentionScale: null,
    attentionSoftcap: null,
    finalSoftcap: null,
    layerWindows: new Array<null>(layers).fill(null),
  };
}
