/**
 * @loom/models: the paper's encoder-decoder Transformer and GPT-2 as Loom graphs, their weight
 * mappings, runners on any backend, decoding, and the `loom` CLI (src/cli).
 */
export { countParams, lastPosition, tiedHead } from './blocks.ts';
export { ConfigError, ModelInputError } from './errors.ts';

export { TRANSFORMER_PRESETS, validateTransformerConfig, type TransformerConfig, type TransformerPreset } from './transformer/config.ts';
export { buildTransformer, buildTransformerDecoder, buildTransformerEncoder, type DecoderGraphOptions } from './transformer/model.ts';
export { TransformerRunner } from './transformer/runner.ts';

export { GPT2_PRESETS, gpt2ConfigFromHf, parseGpt2ConfigJson, type Gpt2Config, type Gpt2Preset } from './gpt2/config.ts';
export { buildGpt2, type Gpt2GraphOptions } from './gpt2/model.ts';
export { Gpt2Runner, gpt2CachedPlans } from './gpt2/runner.ts';
export { buildCachedGpt2, cacheName } from './gpt2/cached-model.ts';
export { KvCacheDecoder, type CachedPlans } from './decoding/kv-cache-decoder.ts';
export type { CausalLm } from './decoding/causal-lm.ts';
export { LLAMA_MODEL_TYPES, llamaConfigFromHf, type LlamaConfig, type LlamaModelType } from './llama/config.ts';
export { buildLlama, buildCachedLlama, llamaCacheName, type LlamaGraphOptions } from './llama/model.ts';
export { LlamaRunner, llamaCachedPlans } from './llama/runner.ts';
export { llamaWeights, hfLlamaMapping, checkLlamaConfigAgainstCheckpoint } from './weights/llama-weights.ts';

export { PRESETS, getPreset, presetGraph, presetParamCount, type Preset } from './presets.ts';

export { WeightsError, type MisshapedTensor } from './weights/weights-error.ts';
export { applyMapping, expectedWeights, identityMapping, type Source, type WeightMapping } from './weights/mapping.ts';
export { detectTransformerMapping, torchTransformerMapping, transformerWeights } from './weights/transformer-weights.ts';
export { gpt2Weights, hfGpt2Mapping } from './weights/gpt2-weights.ts';

export { Prng } from './decoding/prng.ts';
export { argmax, isSampling, pickToken, validateSampling, type SamplingOptions } from './decoding/sampling.ts';
export { decodeLoop, RecomputeDecoder, type DecodeLoopOptions, type StepDecoder } from './decoding/step.ts';
export { greedyDecode, type GreedyOptions } from './decoding/seq2seq.ts';
export { generate, type GenerateOptions } from './decoding/generate.ts';

export { GraphRunner, padBatch } from './runtime/graph-runner.ts';
export { CharVocab } from './tokenizers/char-vocab.ts';
export { gpt2Tokenizer } from './tokenizers/gpt2-tokenizer.ts';
export { ReverseModel, parseReverseSpec, type ReverseSpec } from './reverse/reverse-model.ts';
