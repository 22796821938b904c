import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Backend, PrepareOptions } from '@loom/backends';
import { ConfigError } from '../errors.ts';
import type { Seq2SeqGeneration } from '../families/family.ts';
import { familyOf, parseChecked, supportedModelTypes } from '../families/registry.ts';
import { readCheckpoint, readUserJson } from '../files.ts';
import { TransformerRunner } from '../runners/transformer-runner.ts';
import { backendOf, type OnLoad } from './load-causal-lm.ts';
import { weightsBudget } from './model-budget.ts';

/** The config.json model types `loom translate` and `loom logits --decoder-ids` run. */
export const SEQ2SEQ_TYPES: readonly string[] = supportedModelTypes('encoder-decoder');

/** An encoder-decoder checkpoint on a backend, with the generation rules its config sets. */
export interface Seq2SeqModel {
  /** e.g. 'marian', for messages. */
  readonly family: string;
  readonly generation: Seq2SeqGeneration;
  readonly runner: TransformerRunner;
}

/**
 * An encoder-decoder model from a config.json (Hugging Face's, by model_type; or the reverse
 * model's reverse.json) and safetensors checkpoint, its family chosen by the registry. `options`
 * prepare a backend given by name; their maxMemory (default: three quarters of the machine's
 * memory) also bounds the config's weights, checked before the checkpoint is read.
 */
export async function loadSeq2Seq(weightsPath: string, configPath: string, backendOrName: string | Backend, options?: PrepareOptions, onLoad?: OnLoad): Promise<Seq2SeqModel> {
  const json = readUserJson(configPath, 'config');
  const family = familyOf(json, configPath, 'encoder-decoder');
  // generate() reads generation_config.json over config.json when the checkpoint has one
  const generationPath = join(dirname(configPath), 'generation_config.json');
  const generation = existsSync(generationPath) ? readUserJson(generationPath, 'generation config') : {};
  if (generation === null || typeof generation !== 'object' || Array.isArray(generation)) throw new ConfigError(`${generationPath}: expected a JSON object`);
  // the sizes first: a config over the budget is refused before the checkpoint is read
  const config = parseChecked(family, json, configPath, weightsBudget(options?.maxMemory), { json: generation as Record<string, unknown>, where: generationPath });
  const backend = await backendOf(backendOrName, options);
  const weights = family.weights(config, readCheckpoint(weightsPath, onLoad), weightsPath);
  return { family: family.kind(config), generation: family.generation(config), runner: new TransformerRunner(family.transformer(config), weights, backend) };
}
