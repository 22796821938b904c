import { getBackend, withPrepareOptions, type Backend, type GivenQuantized, type PrepareOptions } from '@loom/backends';
import { ConfigError } from '../errors.ts';
import type { CausalLmFamily } from '../families/family.ts';
import { gpt2Family } from '../families/gpt2.ts';
import { familyOf, findFamily, modelTypeOf, parseChecked, supportedModelTypes } from '../families/registry.ts';
import { readCheckpoint, readUserJson } from '../files.ts';
import type { Gpt2Config } from '../gpt2/config.ts';
import { CausalLmRunner } from '../runners/causal-lm-runner.ts';
import { llamaFamily } from '../families/llama.ts';
import { checkModelSize, type WeightsBudget } from '../families/model-size.ts';
import { gpt2ConfigFromGguf, gpt2WeightsFromGguf } from '../gguf/gpt2-gguf.ts';
import { llamaConfigFromGguf, llamaWeightsFromGguf } from '../gguf/llama-gguf.ts';
import { GgufError, readGgufHeader, type GgufFile } from '../gguf/read-gguf.ts';
import { keepsBlocks, keptMatrixBytes } from '../gguf/quantized-blocks.ts';
import { ModelInputError } from '../errors.ts';
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
export async function loadCausalLm(weightsPath: string, configPath: string | undefined, backendOrName: string | Backend, options?: PrepareOptions, onLoad?: OnLoad): Promise<CausalLmRunner> {
  if (isGguf(weightsPath)) {
    if (configPath !== undefined) throw new ModelInputError(`${weightsPath} is a GGUF file: its metadata is the config; drop --config`);
    return loadGgufCausalLm(weightsPath, backendOrName, options);
  }
  if (configPath === undefined) throw new ModelInputError('give --config C, the checkpoint\'s Hugging Face config.json (a GGUF file needs none)');
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

/** Whether a weights file is llama.cpp's GGUF (by its name: the header is read by the GGUF loader). */
export function isGguf(path: string): boolean {
  return path.toLowerCase().endsWith('.gguf');
}

/**
 * A causal LM from a GGUF file alone (general.architecture llama or gpt2): its metadata is the config
 * (the sizes checked against the budget before any tensor is read), its tensors the weights (Q8_0 and
 * Q4_0 blocks kept as they are, other quantized types dequantized).
 */
export async function loadGgufCausalLm(path: string, backendOrName: string | Backend, options?: PrepareOptions): Promise<CausalLmRunner> {
  const file = await readGgufHeader(path);
  const budget = weightsBudget(options?.maxMemory);
  const arch = file.metadata['general.architecture'];
  if (arch === 'gpt2') {
    const cfg = gpt2ConfigFromGguf(file);
    checkModelSize(gpt2Family.size(cfg), path, loadedBudget(file, budget));
    const { weights, quantized } = gpt2WeightsFromGguf(file, cfg);
    return new CausalLmRunner(gpt2Family, cfg, weights, await ggufBackend(backendOrName, options, quantized)) as CausalLmRunner;
  }
  if (arch !== 'llama') throw new GgufError(`${path}: general.architecture is ${JSON.stringify(arch)}; Loom reads GGUF files of llama and gpt2`);
  const cfg = llamaConfigFromGguf(file);
  checkModelSize(llamaFamily.size(cfg), path, loadedBudget(file, budget));
  const { weights, quantized } = llamaWeightsFromGguf(file, cfg);
  return new CausalLmRunner(llamaFamily, cfg, weights, await ggufBackend(backendOrName, options, quantized)) as CausalLmRunner;
}

/**
 * The budget check for what loading the file holds: quantized matrices kept as codes (Q8_0 about 1.5
 * bytes a weight, Q4_0 0.8, Q4_K 0.9, Q6_K 1.6: quantized-blocks.ts), every other tensor as float32,
 * as an average per parameter.
 */
function loadedBudget(file: GgufFile, budget: WeightsBudget): WeightsBudget {
  let [bytes, values, kept] = [0, 0, false];
  for (const t of file.tensors.values()) {
    const count = t.shape.reduce((a, b) => a * b, 1);
    values += count;
    kept ||= keepsBlocks(file, t.name);
    bytes += keepsBlocks(file, t.name) ? keptMatrixBytes(file, t.name) : count * 4;
  }
  return !kept ? budget : { ...budget, bytesPerParam: bytes / values, what: 'weights as loaded (quantized matrices as codes, the rest float32)' };
}

/** The backend, preparing every model with the file's kept quantized blocks (its products read them as they are). */
async function ggufBackend(backendOrName: string | Backend, options: PrepareOptions | undefined, quantized: ReadonlyMap<string, GivenQuantized>): Promise<Backend> {
  const backend = await backendOf(backendOrName, options);
  return quantized.size > 0 ? withPrepareOptions(backend, { quantizedWeights: quantized }) : backend;
}
