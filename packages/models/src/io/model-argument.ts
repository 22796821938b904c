import { existsSync } from 'node:fs';
import { GraphFormatError, graphFromJson, type Graph, type NDArray } from '@loom/graph';
import { ConfigError } from '../errors.ts';
import { gpt2ConfigFromHf } from '../gpt2/config.ts';
import { buildGpt2 } from '../gpt2/model.ts';
import { LLAMA_MODEL_TYPES, llamaConfigFromHf } from '../llama/config.ts';
import { buildLlama } from '../llama/model.ts';
import { marianConfigFromHf } from '../marian/config.ts';
import { PRESETS, presetGraph } from '../presets.ts';
import { buildTransformer } from '../transformer/model.ts';
import { gpt2Size, llamaSize, transformerSize } from '../model-size.ts';
import { gpt2Weights } from '../weights/gpt2-weights.ts';
import { llamaWeights } from '../weights/llama-weights.ts';
import { marianWeights } from '../weights/marian-weights.ts';
import { readUserFile } from './files.ts';
import { CAUSAL_LM_TYPES } from './load-causal-lm.ts';
import { modelTypeOf, SEQ2SEQ_TYPES } from './load-seq2seq.ts';
import { checkModelSize, weightsBudget, type WeightsBudget } from './model-budget.ts';

/** A model as the commands take it, and what it turned out to be. */
export interface ModelArgument {
  readonly graph: Graph;
  /** 'preset', 'graph JSON' or the config's model_type. */
  readonly kind: string;
}

const CONFIG_TYPES = [...CAUSAL_LM_TYPES, ...SEQ2SEQ_TYPES];

/** A Hugging Face config's full-sequence graph, and how its checkpoint maps onto the graph's weights. */
export interface ConfigModel {
  readonly graph: Graph;
  readonly kind: string;
  load(checkpoint: Map<string, NDArray>, path: string): Map<string, NDArray>;
}

/**
 * The model a Hugging Face config.json describes, by model_type (a GPT-2 config without one too):
 * GPT-2 and the Llama family with attention_mask, Marian's teacher-forcing graph. Undefined for
 * any other config. Its sizes are checked against `budget` (default: the machine's) before the
 * graph is built.
 */
export function hfConfigModel(json: unknown, where: string, budget: WeightsBudget = weightsBudget()): ConfigModel | undefined {
  const type = modelTypeOf(json);
  const record = json !== null && typeof json === 'object' && !Array.isArray(json) ? (json as Record<string, unknown>) : undefined;
  if (type === 'gpt2' || (type === undefined && record !== undefined && 'n_layer' in record)) {
    const cfg = gpt2ConfigFromHf(json, where);
    checkModelSize(gpt2Size(cfg), where, budget);
    return { graph: buildGpt2(cfg, { attentionMask: true }), kind: 'gpt2', load: (c, p) => gpt2Weights(cfg, c, p) };
  }
  if ((LLAMA_MODEL_TYPES as readonly unknown[]).includes(type)) {
    const cfg = llamaConfigFromHf(json, where);
    checkModelSize(llamaSize(cfg), where, budget);
    return { graph: buildLlama(cfg, { attentionMask: true }), kind: String(type), load: (c, p) => llamaWeights(cfg, c, p) };
  }
  if (type === 'marian') {
    const cfg = marianConfigFromHf(json, where);
    checkModelSize(transformerSize(cfg.transformer), where, budget);
    return { graph: buildTransformer(cfg.transformer), kind: 'marian', load: (c, p) => marianWeights(cfg, c, p) };
  }
  return undefined;
}

/**
 * `loom compile` and `loom verify`'s model argument: a preset name, a Loom graph JSON file
 * (graphToJson's output: `"format": "loom-graph"`), or a Hugging Face config.json (by model_type:
 * GPT-2, the Llama family, Marian; a GPT-2 config without model_type too). Told apart by content;
 * a file that is none of them is one ConfigError saying what each would need. A config.json's
 * sizes are checked against `budget` before its graph is built.
 */
export function resolveModelArgument(arg: string, budget: WeightsBudget = weightsBudget()): ModelArgument {
  if (Object.hasOwn(PRESETS, arg)) return { graph: presetGraph(arg), kind: 'preset' };
  if (!existsSync(arg)) {
    throw new ConfigError(`unknown model '${arg.slice(0, 80)}': not a preset (${Object.keys(PRESETS).join(', ')}) and no such file (a graph JSON or a config.json)`);
  }
  const text = readUserFile(arg, 'model').toString('utf8');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new ConfigError(`${arg}: not JSON (${(e as Error).message}); give a preset, a Loom graph JSON or a Hugging Face config.json`);
  }
  const record = json !== null && typeof json === 'object' && !Array.isArray(json) ? (json as Record<string, unknown>) : undefined;
  if (record?.['format'] === 'loom-graph') {
    try {
      return { graph: graphFromJson(text), kind: 'graph JSON' };
    } catch (e) {
      if (e instanceof GraphFormatError) e.message = `${arg}: ${e.message}`;
      throw e;
    }
  }
  const config = hfConfigModel(json, arg, budget);
  if (config) return { graph: config.graph, kind: config.kind };
  const type = modelTypeOf(json);
  const what = type !== undefined ? `a config.json of model_type ${JSON.stringify(type).slice(0, 40)}, which Loom does not build (supported: ${CONFIG_TYPES.join(', ')})` : 'neither a Loom graph JSON (no "format": "loom-graph") nor a Hugging Face config.json (no model_type)';
  throw new ConfigError(`${arg}: ${what}`);
}
