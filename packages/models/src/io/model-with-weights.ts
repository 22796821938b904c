import { randomWeights } from '@loom/backends';
import { checkWeights, type Graph, type NDArray } from '@loom/graph';
import { ConfigError, ModelInputError } from '../errors.ts';
import { gpt2ConfigFromHf } from '../gpt2/config.ts';
import { buildGpt2 } from '../gpt2/model.ts';
import { LLAMA_MODEL_TYPES, llamaConfigFromHf } from '../llama/config.ts';
import { buildLlama } from '../llama/model.ts';
import { marianConfigFromHf } from '../marian/config.ts';
import { parseReverseSpec } from '../reverse/reverse-model.ts';
import { buildTransformer } from '../transformer/model.ts';
import { gpt2Weights } from '../weights/gpt2-weights.ts';
import { llamaWeights } from '../weights/llama-weights.ts';
import { marianWeights } from '../weights/marian-weights.ts';
import { transformerWeights } from '../weights/transformer-weights.ts';
import { readCheckpoint, readUserFile, readUserJson } from './files.ts';
import { modelTypeOf } from './load-seq2seq.ts';
import { resolveModelArgument } from './model-argument.ts';

/** A model's full-sequence graph with the weights it runs on. */
export interface ModelWithWeights {
  readonly graph: Graph;
  readonly weights: Map<string, NDArray>;
  readonly kind: string;
}

export interface ModelSource {
  /** A preset or a graph JSON (or a config.json, for random weights). */
  readonly model?: string;
  readonly weights?: string;
  readonly config?: string;
  /** Seeded random weights instead of a checkpoint (asked for explicitly). */
  readonly randomWeights?: boolean;
  readonly seed?: number;
}

/**
 * The model as `loom export` takes it: `--weights W --config C` (a Hugging Face config.json of
 * GPT-2, the Llama family or Marian, or the reverse model's reverse.json, with its checkpoint, mapped
 * to Loom's names), or a preset / graph JSON / config.json with `--weights` (Loom-named tensors) or
 * `--random-weights`. Graphs are the full-sequence ones (with attention_mask for causal LMs; the
 * teacher-forcing graph for encoder-decoders).
 */
export function modelWithWeights(source: ModelSource): ModelWithWeights {
  if (source.config !== undefined) {
    if (source.model !== undefined) throw new ModelInputError('give the model as MODEL or as --config C with --weights W, not both');
    if (source.weights === undefined && !source.randomWeights) throw new ModelInputError('--config needs --weights W (or --random-weights)');
    return fromConfig(source.config, source);
  }
  if (source.model === undefined) throw new ModelInputError('give a model: a preset, a graph JSON or a config.json, or --weights W --config C');
  const { graph, kind } = resolveModelArgument(source.model);
  return { graph, kind, weights: weightsFor(graph, source) };
}

function weightsFor(graph: Graph, source: ModelSource): Map<string, NDArray> {
  if (source.randomWeights) return randomWeights(graph, source.seed ?? 0);
  if (source.weights === undefined) throw new ModelInputError('give the weights: --weights W (a safetensors file with the graph\'s weight names), or ask for --random-weights');
  const weights = readCheckpoint(source.weights);
  checkWeights(graph, weights, new Map());
  return weights;
}

function fromConfig(configPath: string, source: ModelSource): ModelWithWeights {
  const json = readUserJson(configPath, 'config');
  const type = modelTypeOf(json);
  const checkpoint = () => readCheckpoint(source.weights!);
  const record = json !== null && typeof json === 'object' ? (json as Record<string, unknown>) : {};
  if (type === 'gpt2' || (type === undefined && 'n_layer' in record)) {
    const cfg = gpt2ConfigFromHf(json, configPath);
    const graph = buildGpt2(cfg, { attentionMask: true });
    return { graph, kind: 'gpt2', weights: source.randomWeights ? randomWeights(graph, source.seed ?? 0) : gpt2Weights(cfg, checkpoint(), source.weights) };
  }
  if ((LLAMA_MODEL_TYPES as readonly unknown[]).includes(type)) {
    const cfg = llamaConfigFromHf(json, configPath);
    const graph = buildLlama(cfg, { attentionMask: true });
    return { graph, kind: String(type), weights: source.randomWeights ? randomWeights(graph, source.seed ?? 0) : llamaWeights(cfg, checkpoint(), source.weights) };
  }
  if (type === 'marian') {
    const cfg = marianConfigFromHf(json, configPath);
    const graph = buildTransformer(cfg.transformer);
    return { graph, kind: 'marian', weights: source.randomWeights ? randomWeights(graph, source.seed ?? 0) : marianWeights(cfg, checkpoint(), source.weights) };
  }
  const inner = record['config'];
  if (type === undefined && inner !== null && typeof inner === 'object' && 'chars' in inner && 'max_len' in inner) {
    const spec = parseReverseSpec(readUserFile(configPath, 'config').toString('utf8'), configPath);
    const graph = buildTransformer(spec.config);
    return { graph, kind: 'transformer', weights: source.randomWeights ? randomWeights(graph, source.seed ?? 0) : transformerWeights(spec.config, checkpoint(), source.weights) };
  }
  throw new ConfigError(`${configPath}: not a config Loom builds (supported: Hugging Face gpt2, llama, mistral, qwen2, marian, or the reverse model's reverse.json)`);
}
