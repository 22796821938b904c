import { getBackend, type Backend, type PrepareOptions } from '@loom/backends';
import { ConfigError } from '../errors.ts';
import type { CausalLmFamily } from '../families/family.ts';
import { gpt2Family } from '../families/gpt2.ts';
import { familyOf, findFamily, modelTypeOf, parseChecked, supportedModelTypes } from '../families/registry.ts';
import { readCheckpoint, readUserJson } from '../files.ts';
import type { Gpt2Config } from '../gpt2/config.ts';
import { CausalLmRunner } from '../runners/causal-lm-runner.ts';
import { weightsBudget } from './model-budget.ts';

/** The config.json model types `loom logits` and `loom generate` run. */
export const CAUSAL_LM_TYPES: readonly string[] = supportedModelTypes('causal-lm');

/** Checkpoint reading progress: bytes read so far of the total. */
export type OnLoad = (bytesRead: number, bytesTotal: number) => void;

/** The backend given, or the one of that name prepared with `options`. */
export async function backendOf(backendOrName: string | Backend, options?: PrepareOptions): Promise<Backend> {
  return typeof backendOrName === 'string' ? getBackend(backendOrName, options) : backendOrName;
}

/**
 * A causal LM from a Hugging Face config.json and safetensors checkpoint, its family chosen by the
 * registry (by `model_type`; a GPT-2 config without one, as old checkpoints ship, is GPT-2).
 * Anything else is a ConfigError listing what is supported. `options` prepare a backend given by
 * name; their maxMemory (default: three quarters of the machine's memory) also bounds the config's
 * weights, checked before the checkpoint is read.
 */
export async function loadCausalLm(weightsPath: string, configPath: string, backendOrName: string | Backend, options?: PrepareOptions, onLoad?: OnLoad): Promise<CausalLmRunner> {
  const json = readUserJson(configPath, 'config');
  const found = findFamily(json);
  if (found?.runs === 'encoder-decoder') {
    const type = modelTypeOf(json);
    throw new ConfigError(`${configPath}: ${type !== undefined ? `model_type ${String(type)}` : found.configFile} is an encoder-decoder (translation) model: use loom translate, or loom logits with --decoder-ids`);
  }
  return openCausalLm(familyOf(json, configPath, 'causal-lm'), json, weightsPath, configPath, backendOrName, options, onLoad);
}

/** GPT-2 from a Hugging Face config.json and safetensors checkpoint (a config of another model_type is a ConfigError naming the field). */
export async function loadGpt2(weightsPath: string, configPath: string, backendOrName: string | Backend, options?: PrepareOptions): Promise<CausalLmRunner<Gpt2Config>> {
  return openCausalLm(gpt2Family, readUserJson(configPath, 'config'), weightsPath, configPath, backendOrName, options);
}

async function openCausalLm<C>(family: CausalLmFamily<C>, json: unknown, weightsPath: string, configPath: string, backendOrName: string | Backend, options?: PrepareOptions, onLoad?: OnLoad): Promise<CausalLmRunner<C>> {
  // the sizes first: a config over the budget is refused before the checkpoint is read
  const config = parseChecked(family, json, configPath, weightsBudget(options?.maxMemory));
  const backend = await backendOf(backendOrName, options);
  return new CausalLmRunner(family, config, family.weights(config, readCheckpoint(weightsPath, onLoad), weightsPath), backend);
}
