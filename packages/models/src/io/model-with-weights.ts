import { randomWeights } from '@loom/backends';
import { checkWeights, graphParams, nodeName, type Graph, type NDArray } from '@loom/graph';
import { ModelInputError } from '../errors.ts';
import { familyOf } from '../families/registry.ts';
import { readCheckpoint, readUserJson } from '../files.ts';
import { weightsBudget } from './model-budget.ts';
import { configModel, resolveModelArgument, type ConfigModel, type ModelArgument } from './model-argument.ts';

/** A model's full-sequence graph with the weights it runs on (and, for a config, its family and parsed config). */
export interface ModelWithWeights extends ModelArgument {
  readonly weights: Map<string, NDArray>;
}

export interface ModelSource {
  /** A preset or a graph JSON (or a config.json, for random weights). */
  readonly model?: string;
  readonly weights?: string;
  readonly config?: string;
  /** Seeded random weights instead of a checkpoint (asked for explicitly). */
  readonly randomWeights?: boolean;
  readonly seed?: number;
  /** Bytes the weights may take (--max-memory; default three quarters of the machine's memory), checked before a graph is built or a weight drawn. */
  readonly maxMemory?: number;
}

/**
 * The model as `loom export` takes it: `--weights W --config C` (a config.json of any family the
 * registry knows, with its checkpoint, mapped to Loom's names), or a preset / graph JSON / config.json with `--weights` (Loom-named tensors) or
 * `--random-weights`. Graphs are the full-sequence ones (with attention_mask for causal LMs; the
 * teacher-forcing graph for encoder-decoders).
 */
export function modelWithWeights(source: ModelSource): ModelWithWeights {
  return withWeights(modelGraph(source), source);
}

/** modelWithWeights in two steps: the weights of a graph modelGraph gave (a command checks what it can from the graph alone first). */
export function withWeights(configModel: ConfigModel, source: ModelSource): ModelWithWeights {
  const { load, ...model } = configModel;
  if (source.randomWeights) return { ...model, weights: randomWeights(model.graph, source.seed ?? 0, weightsBudget(source.maxMemory).maxBytes) };
  if (source.weights === undefined) throw new ModelInputError("give the weights: --weights W (a safetensors file with the graph's weight names), or ask for --random-weights");
  return { ...model, weights: load(readCheckpoint(source.weights), source.weights) };
}

/** The model's graph, and how its checkpoint maps to the graph's weights (without reading them). */
export function modelGraph(source: ModelSource): ConfigModel {
  if (source.config !== undefined) {
    if (source.model !== undefined) throw new ModelInputError('give the model as MODEL or as --config C with --weights W, not both');
    const json = readUserJson(source.config, 'config');
    return configModel(familyOf(json, source.config), json, source.config, weightsBudget(source.maxMemory));
  }
  if (source.model === undefined) throw new ModelInputError('give a model: a preset, a graph JSON or a config.json, or --weights W --config C');
  const model = resolveModelArgument(source.model, weightsBudget(source.maxMemory));
  const { graph } = model;
  return {
    ...model,
    load(checkpoint, path) {
      const wanted = graphParams(graph).map((n) => nodeName(n)!);
      // no name in common: most likely a checkpoint named as its framework names it, not as the graph does
      if (wanted.length > 0 && checkpoint.size > 0 && !wanted.some((name) => checkpoint.has(name))) {
        const some = (names: string[]) => names.slice(0, 2).map((n) => `'${n}'`).join(', ') + (names.length > 2 ? `, ... (${names.length})` : '');
        throw new ModelInputError(`${path}: none of the graph's weights (${some(wanted)}) is in it (it holds ${some([...checkpoint.keys()])}); a Hugging Face checkpoint is read with its config.json as --config C --weights W, which maps its names`);
      }
      checkWeights(graph, checkpoint, new Map());
      return checkpoint;
    },
  };
}
