/**
 * @loom/models: the paper's encoder-decoder Transformer, GPT-2, the Llama family and Marian as Loom
 * graphs, their weight mappings, one record per family (families/), runners on any backend,
 * decoding, and the `loom` CLI (src/cli).
 */
export { countParams, kvCacheName, kvCacheName as cacheName, kvCacheName as llamaCacheName, lastPosition, tiedHead } from './blocks.ts';
// the KV-cache convention's helpers, for a graph of your own (MODELS.md, "Decoding your own graph")
export { appendToCache, cacheMask, combineMasks, decodeStepInputs, ownKeysValues, pickPosition, rowPositions, windowKeysValues, type DecodeStep, type KeysValues, type SelfKeysValues } from './blocks.ts';
export { causalLmFromGraph, checkCachedGraph, type CachedGraphs, type GraphCausalLmOptions } from './runners/graph-causal-lm.ts';
export { ConfigError, ModelInputError } from './errors.ts';

export { TRANSFORMER_PRESETS, validateTransformerConfig, type TransformerConfig, type TransformerPreset } from './transformer/config.ts';
export { buildTransformer, buildTransformerDecoder, buildTransformerEncoder, type DecoderGraphOptions } from './transformer/model.ts';
export { TransformerRunner } from './runners/transformer-runner.ts';

export { GPT2_PRESETS, gpt2ConfigFromHf, parseGpt2ConfigJson, type Gpt2Config, type Gpt2Preset } from './gpt2/config.ts';
export { buildCachedGpt2, buildGpt2, type Gpt2GraphOptions } from './gpt2/model.ts';
export { KvCacheDecoder, type CachedPlans } from './decoding/kv-cache-decoder.ts';
export type { CausalLm } from './decoding/causal-lm.ts';
export { LLAMA_MODEL_TYPES, llamaConfigFromHf, type LlamaConfig, type LlamaModelType } from './llama/config.ts';
export { gemmaConfigFromHf, gptNeoxConfigFromHf, mixtralConfigFromHf, phi3ConfigFromHf } from './llama/decoder-configs.ts';
export { llamaVariant, type DecoderVariant } from './llama/variant.ts';
export { buildLlama, buildCachedLlama, type LlamaGraphOptions } from './llama/model.ts';
export { llamaWeights, hfLlamaMapping, checkLlamaConfigAgainstCheckpoint } from './weights/llama-weights.ts';

export type { BuiltinTokenizer, CausalLmFamily, CausalLmLimits, EncoderDecoderFamily, FullGraphOptions, ModelFamily, Seq2SeqGeneration } from './families/family.ts';
export { FAMILIES, familyOf, findFamily, supportedModelTypes } from './families/registry.ts';
export { checkModelSize, MAX_LAYERS, type ModelSize, type WeightsBudget } from './families/model-size.ts';
export { CausalLmRunner, Gpt2Runner, LlamaRunner, cachedPlans, gpt2CachedPlans, llamaCachedPlans } from './runners/causal-lm-runner.ts';

export { PRESETS, getPreset, presetGraph, presetParamCount, type Preset } from './presets.ts';

export { WeightsError, type MisshapedTensor } from './weights/weights-error.ts';
export { applyMapping, expectedWeights, identityMapping, toCheckpointNames, type Source, type WeightMapping } from './weights/mapping.ts';
export { detectTransformerMapping, torchTransformerMapping, transformerWeights } from './weights/transformer-weights.ts';
export { gpt2Weights, hfGpt2Mapping } from './weights/gpt2-weights.ts';

export { Prng } from './decoding/prng.ts';
export { argmax, isSampling, pickToken, validateSampling, type SamplingOptions } from './decoding/sampling.ts';
export { decodeLoop, RecomputeDecoder, type DecodeLoopOptions, type StepDecoder } from './decoding/step.ts';
export { greedyDecode, translate, type EncoderDecoderLm, type GreedyOptions, type TranslateOptions } from './decoding/seq2seq.ts';
export { generate, type GenerateOptions } from './decoding/generate.ts';

export { GraphRunner, padBatch } from './runtime/graph-runner.ts';
export { CharVocab } from './tokenizers/char-vocab.ts';
export { gpt2Tokenizer } from './tokenizers/gpt2-tokenizer.ts';
export { ReverseModel } from './reverse/reverse-model.ts';
export { parseReverseSpec, type ReverseSpec } from './transformer/reverse-spec.ts';

export { Trainer, type StepReport, type TrainerOptions } from './training/trainer.ts';
export { initialWeights } from './training/initial-weights.ts';
export { loadCheckpoint, saveCheckpoint, type Checkpoint } from './training/checkpoint.ts';
export { trainingCosts, type TrainingCosts } from './training/training-costs.ts';
