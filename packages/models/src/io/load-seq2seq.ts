import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { getBackend, type Backend, type PrepareOptions } from '@loom/backends';
import { ConfigError } from '../errors.ts';
import { marianConfigFromHf, type MarianConfig } from '../marian/config.ts';
import { TransformerRunner } from '../transformer/runner.ts';
import { marianWeights } from '../weights/marian-weights.ts';
import { transformerSize } from '../model-size.ts';
import { readCheckpoint, readUserJson } from './files.ts';
import { checkModelSize, weightsBudget } from './model-budget.ts';

/** The config.json model types `loom translate` and `loom logits --decoder-ids` run. */
export const SEQ2SEQ_TYPES = ['marian'] as const;

/** An encoder-decoder checkpoint on a backend, with the generation rules its config.json sets. */
export interface Seq2SeqModel {
  readonly family: (typeof SEQ2SEQ_TYPES)[number];
  readonly config: MarianConfig;
  readonly runner: TransformerRunner;
}

/** config.json's model_type, or undefined when it has none. */
export function modelTypeOf(json: unknown): unknown {
  return json !== null && typeof json === 'object' && !Array.isArray(json) ? (json as Record<string, unknown>)['model_type'] : undefined;
}

/** Whether a config.json describes an encoder-decoder model Loom runs. */
export function isSeq2SeqConfig(json: unknown): boolean {
  return (SEQ2SEQ_TYPES as readonly unknown[]).includes(modelTypeOf(json));
}

/**
 * An encoder-decoder model from a Hugging Face config.json and safetensors checkpoint, by
 * model_type. `options` prepare a backend given by name; their maxMemory (default: three quarters
 * of the machine's memory) also bounds the config's weights, checked before the checkpoint is read.
 */
export async function loadSeq2Seq(weightsPath: string, configPath: string, backendOrName: string | Backend, options?: PrepareOptions, onLoad?: (bytesRead: number, bytesTotal: number) => void): Promise<Seq2SeqModel> {
  const json = readUserJson(configPath, 'config');
  if (!isSeq2SeqConfig(json)) {
    const type = modelTypeOf(json);
    const got = type === undefined ? 'no model_type' : `model_type ${JSON.stringify(type).slice(0, 40)}`;
    throw new ConfigError(`${configPath}: ${got}: not an encoder-decoder model Loom runs; supported model_type: ${SEQ2SEQ_TYPES.join(', ')}`);
  }
  // generate() reads generation_config.json over config.json when the checkpoint has one
  const generationPath = join(dirname(configPath), 'generation_config.json');
  const generation = existsSync(generationPath) ? readUserJson(generationPath, 'generation config') : {};
  if (generation === null || typeof generation !== 'object' || Array.isArray(generation)) throw new ConfigError(`${generationPath}: expected a JSON object`);
  const config = marianConfigFromHf(json, configPath, { json: generation as Record<string, unknown>, where: generationPath });
  // the sizes first: a config over the budget is refused before the checkpoint is read
  checkModelSize(transformerSize(config.transformer), configPath, weightsBudget(options?.maxMemory));
  const backend = typeof backendOrName === 'string' ? await getBackend(backendOrName, options) : backendOrName;
  return { family: 'marian', config, runner: new TransformerRunner(config.transformer, marianWeights(config, readCheckpoint(weightsPath, onLoad), weightsPath), backend) };
}
