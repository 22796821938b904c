import { existsSync } from 'node:fs';
import { GraphFormatError, graphFromJson, type Graph, type NDArray } from '@loom/graph';
import { ConfigError } from '../errors.ts';
import type { ModelFamily } from '../families/family.ts';
import type { WeightsBudget } from '../families/model-size.ts';
import { findFamily, modelTypeOf, parseChecked, supportedModelTypes } from '../families/registry.ts';
import { readUserFile } from '../files.ts';
import { PRESETS, presetGraph } from '../presets.ts';
import { weightsBudget } from './model-budget.ts';

/** A model as the commands take it, and what it turned out to be. */
export interface ModelArgument {
  readonly graph: Graph;
  /** 'preset', 'graph JSON' or the config's kind (its model_type, or 'transformer' for reverse.json). */
  readonly kind: string;
  /** A config's family and its parsed config (none for a preset or a graph JSON). */
  readonly family?: ModelFamily;
  readonly config?: unknown;
}

/** A config's full-sequence graph, and how its checkpoint maps onto the graph's weights. */
export interface ConfigModel extends ModelArgument {
  load(checkpoint: Map<string, NDArray>, path: string): Map<string, NDArray>;
}

/**
 * The model a config of `family` describes: a causal LM's graph with attention_mask, an
 * encoder-decoder's teacher-forcing graph. Its sizes are checked against `budget` before the graph
 * is built.
 */
export function configModel(family: ModelFamily, json: unknown, where: string, budget: WeightsBudget): ConfigModel {
  const config = parseChecked(family, json, where, budget);
  return { graph: family.build(config, { attentionMask: true }), kind: family.kind(config), family, config, load: (c, p) => family.weights(config, c, p) };
}

/**
 * `loom compile` and `loom verify`'s model argument: a preset name, a Loom graph JSON file
 * (graphToJson's output: `"format": "loom-graph"`), or a config.json of a family the registry knows.
 * Told apart by content; a file that is none of them is one ConfigError saying what each would
 * need. A config.json's sizes are checked against `budget` before its graph is built.
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
  const family = findFamily(json);
  if (family) return configModel(family, json, arg, budget);
  const type = modelTypeOf(json);
  const what = type !== undefined ? `a config.json of model_type ${JSON.stringify(type).slice(0, 40)}, which Loom does not build (supported: ${supportedModelTypes().join(', ')})` : 'neither a Loom graph JSON (no "format": "loom-graph") nor a Hugging Face config.json (no model_type)';
  throw new ConfigError(`${arg}: ${what}`);
}
