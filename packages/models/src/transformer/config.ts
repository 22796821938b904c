import type { Activation } from '@loom/graph';
import { ConfigError } from '../errors.ts';

/** Everything that shapes the encoder-decoder Transformer of "Attention Is All You Need". */
export interface TransformerConfig {
  readonly encoderLayers: number;
  readonly decoderLayers: number;
  /** D: the width of the residual stream. */
  readonly dModel: number;
  /** H: attention heads; D must divide by H. */
  readonly heads: number;
  /** F: the hidden width of the position-wise feed-forward network. */
  readonly dFF: number;
  readonly srcVocab: number;
  readonly tgtVocab: number;
  /**
   * One table `shared_embed` [V, D] for source tokens, target tokens and the output projection
   * (logits = x @ shared_embed^T), as in the paper's section 3.4. Needs srcVocab === tgtVocab.
   */
  readonly sharedEmbeddings: boolean;
  /** Whether the output projection adds `generator.bias` [V] (Marian's final_logits_bias). */
  readonly generatorBias: boolean;
  /**
   * Without shared embeddings: the output projection is the target embedding read transposed
   * (logits = x @ tgt_embed^T, Marian with separate vocabularies) instead of `generator.weight`.
   */
  readonly tieOutputToTarget?: boolean;
  /** 'post': LayerNorm(x + Sublayer(x)) as in the paper; 'pre': x + Sublayer(LayerNorm(x)), plus a final norm per stack. */
  readonly norm: 'post' | 'pre';
  readonly activation: Activation;
  /** The longest sequence: rows of the learned position tables, and the decoding limit. */
  readonly maxLen: number;
  /** Source positions holding this id are masked out of attention. */
  readonly padId: number;
  /**
   * 'sinusoidal': the paper's fixed encoding (interleaved sin/cos, not stored); 'sinusoidal-halves':
   * the same angles with the sines first and the cosines second (Marian); 'learned': `src_pos` /
   * `tgt_pos` [maxLen, D].
   */
  readonly positional: 'sinusoidal' | 'sinusoidal-halves' | 'learned';
  /**
   * Which way the source's positions count: 'from-start' (the paper: 0 at the first token) or
   * 'from-end' (0 at the last non-PAD token, counting up towards the first). Default 'from-start'.
   */
  readonly sourcePositions?: 'from-start' | 'from-end';
  /** Multiply token embeddings by sqrt(D) before adding positions (the paper does). */
  readonly embedScale: boolean;
  readonly eps: number;
}

const paperDefaults = {
  sharedEmbeddings: true,
  generatorBias: false,
  norm: 'post',
  activation: 'relu',
  maxLen: 1024,
  padId: 0,
  positional: 'sinusoidal',
  embedScale: true,
  eps: 1e-5,
} as const;

/**
 * The paper's models (Table 3), with a shared 37000-token BPE vocabulary, shared embeddings tied to
 * the output projection, no output bias, post-norm, ReLU and sinusoidal positions.
 *
 * Parameter counts of the built graphs (every linear layer has a bias, every LayerNorm a gain and a
 * bias, the sinusoid is not a parameter, the tied output projection is counted once):
 * - transformer-base: 63,082,496 (the paper says 65M; -2.95%)
 * - transformer-big: 214,245,376 (the paper says 213M; +0.58%)
 */
export const TRANSFORMER_PRESETS = {
  'transformer-base': {
    ...paperDefaults,
    encoderLayers: 6,
    decoderLayers: 6,
    dModel: 512,
    heads: 8,
    dFF: 2048,
    srcVocab: 37000,
    tgtVocab: 37000,
  },
  'transformer-big': {
    ...paperDefaults,
    encoderLayers: 6,
    decoderLayers: 6,
    dModel: 1024,
    heads: 16,
    dFF: 4096,
    srcVocab: 37000,
    tgtVocab: 37000,
  },
} as const satisfies Record<string, TransformerConfig>;

export type TransformerPreset = keyof typeof TRANSFORMER_PRESETS;

/** Throws a ConfigError when the sizes do not fit together. */
export function validateTransformerConfig(cfg: TransformerConfig): TransformerConfig {
  const positive = ['encoderLayers', 'decoderLayers', 'dModel', 'heads', 'dFF', 'srcVocab', 'tgtVocab', 'maxLen'] as const;
  for (const key of positive) {
    const v = cfg[key];
    if (!Number.isSafeInteger(v) || v < (key.endsWith('Layers') ? 0 : 1)) throw new ConfigError(`transformer: ${key} must be a positive integer, got ${v}`);
  }
  if (cfg.dModel % cfg.heads !== 0) throw new ConfigError(`transformer: dModel ${cfg.dModel} does not divide into ${cfg.heads} heads`);
  if (cfg.positional !== 'learned' && cfg.dModel % 2 !== 0) throw new ConfigError(`transformer: the sinusoidal encoding needs an even dModel, got ${cfg.dModel}`);
  if (cfg.sharedEmbeddings && cfg.srcVocab !== cfg.tgtVocab) {
    throw new ConfigError(`transformer: shared embeddings need one vocabulary, got srcVocab ${cfg.srcVocab} and tgtVocab ${cfg.tgtVocab}`);
  }
  if (!Number.isInteger(cfg.padId) || cfg.padId < 0 || cfg.padId >= cfg.srcVocab) throw new ConfigError(`transformer: padId ${cfg.padId} is outside the source vocabulary`);
  if (!(cfg.eps > 0)) throw new ConfigError(`transformer: eps must be positive, got ${cfg.eps}`);
  return cfg;
}
