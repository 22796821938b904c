/**
 * A model family as one record: what Loom needs to know to take a model of that family from a
 * config.json and a checkpoint to a running model. The loaders, the CLI and `loom inspect` read
 * families only through these records (registry.ts lists them), so adding a family is adding its
 * record: see MODELS.md, "Adding a family".
 */
import type { Graph, NDArray } from '@loom/graph';
import type { GenerationConfigFile } from '../config/parse-config.ts';
import type { WeightMapping } from '../weights/mapping.ts';
import type { TextTokenizer } from '../tokenizers/text-tokenizer.ts';
import type { TransformerConfig } from '../transformer/config.ts';
import type { ModelSize } from './model-size.ts';

/** Options of a family's full-sequence graph (causal LMs; an encoder-decoder's teacher-forcing graph has none). */
export interface FullGraphOptions {
  /** Add the `attention_mask` input [batch, seq] i32 (1 = token, 0 = padding), as Hugging Face takes it. */
  readonly attentionMask?: boolean;
  /** Output only each row's last (kept) position's logits, [batch, 1, V]. */
  readonly lastOnly?: boolean;
}

/** A tokenizer Loom has for a family without any file (GPT-2's BPE, the reverse model's characters). */
export interface BuiltinTokenizer extends TextTokenizer {
  /** For the inspect page: "GPT-2 byte-level BPE". */
  readonly name: string;
  /** Ids are 0 to vocabSize - 1. */
  readonly vocabSize: number;
  /** Where decoding starts (encoder-decoders) and the end token, when the tokenizer has them. */
  readonly bos?: number;
  readonly eos?: number;
  /** A prompt the tokenizer takes, shown on the inspect page. */
  readonly examplePrompt: string;
}

/** What every family's record says, for its parsed config type C. */
interface FamilyBase<C> {
  /** The family's name: the `kind` of its models where a config does not say more. */
  readonly name: string;
  /** The config.json model_types it reads (GPT-2: gpt2; the Llama family: llama, mistral, qwen2). */
  readonly modelTypes: readonly string[];
  /** What its config file is called in messages, for a family without model_types ("the reverse model's reverse.json"). */
  readonly configFile?: string;
  /**
   * Whether a config without a model_type is this family's: old GPT-2 checkpoints ship config.json
   * without one, the reverse model's reverse.json has none.
   */
  recognizes?(json: Readonly<Record<string, unknown>>): boolean;
  /**
   * The config.json parsed and checked (a ConfigError names the file and the field); `generation`
   * is a generation_config.json beside it, whose fields the families that read one take over config.json's.
   */
  parse(json: unknown, where: string, generation?: GenerationConfigFile): C;
  /** What the model is, for messages and reports: the config's model_type ('qwen2'), or the family's name. */
  kind(cfg: C): string;
  /** The parameters and layers the config would build, counted without building it (registry.ts checks them against the memory budget). */
  size(cfg: C): ModelSize;
  /** Named configurations (`loom params gpt2`, `loom compile transformer-base`). */
  readonly presets?: Readonly<Record<string, C>>;
  /** The full-sequence graph: a causal LM's logits over the whole sequence, an encoder-decoder's teacher-forcing graph. */
  build(cfg: C, options?: FullGraphOptions): Graph;
  /**
   * The checkpoint's tensors, named as the family's framework names them, as the graph's weights
   * (transposed, split or renamed as the mapping says); every problem in one WeightsError.
   */
  weights(cfg: C, checkpoint: ReadonlyMap<string, NDArray>, sourceName?: string): Map<string, NDArray>;
  /**
   * How a checkpoint with these tensor names maps to the graph's weights: what `weights` applies,
   * and what toCheckpointNames inverts to give Loom's tensors (gradients, trained weights) the
   * checkpoint's own names and layout.
   */
  mapping(cfg: C, checkpointNames: ReadonlySet<string>): WeightMapping;
  /** The tokenizer Loom has for this config without a tokenizer file, if any. */
  tokenizer?(cfg: C): BuiltinTokenizer | undefined;
}

/** What a causal-LM runner reads off a config: its limits and the size of its KV cache. */
export interface CausalLmLimits {
  readonly vocabSize: number;
  /** The longest sequence (prompt plus new tokens); the KV cache's capacity. */
  readonly maxPositions: number;
  /** Generation stops here unless told otherwise (null: never early). */
  readonly eosTokenId: number | null;
  /** Layers with a KV cache, and the width of one position's keys (as of its values) in each. */
  readonly cacheLayers: number;
  readonly cacheWidth: number;
}

/** A decoder-only language model (GPT-2, the Llama family), run by runners/causal-lm-runner.ts. */
export interface CausalLmFamily<C = unknown> extends FamilyBase<C> {
  readonly runs: 'causal-lm';
  limits(cfg: C): CausalLmLimits;
  /** The KV-cache graph for `seq` new tokens per row ('seq' at prefill, 1 per decode step): blocks.ts' decodeStepInputs and its cache. */
  buildCached(cfg: C, seq: 'seq' | 1): Graph;
}

/** What decoding an encoder-decoder does beyond the network, as Hugging Face's generate() reads it from the config. */
export interface Seq2SeqGeneration {
  readonly decoderStartTokenId: number;
  readonly eosTokenId: number | null;
  /** Tokens never generated (single-token bad_words_ids). */
  readonly suppressTokens: readonly number[];
  /** The last allowed new token is this one. */
  readonly forcedEosTokenId: number | null;
  /** The longest decoder sequence, start token included. */
  readonly maxLength: number;
  readonly numBeams: number;
  readonly lengthPenalty: number;
}

/** An encoder-decoder (Marian, the reverse model): the Transformer of transformer/, run by runners/transformer-runner.ts. */
export interface EncoderDecoderFamily<C = unknown> extends FamilyBase<C> {
  readonly runs: 'encoder-decoder';
  /** The Transformer the config builds. */
  transformer(cfg: C): TransformerConfig;
  /** How to decode it: start and end tokens, suppressed tokens, length and beams. */
  generation(cfg: C): Seq2SeqGeneration;
}

/** Any family, by how it runs. */
export type ModelFamily<C = unknown> = CausalLmFamily<C> | EncoderDecoderFamily<C>;

/** How a family's models run: `loom generate` (causal LMs) or `loom translate` (encoder-decoders). */
export type Runs = ModelFamily['runs'];
