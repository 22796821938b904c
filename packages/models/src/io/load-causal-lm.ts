import { getBackend, type Backend, type PrepareOptions } from '@loom/backends';
import type { CausalLm } from '../decoding/causal-lm.ts';
import { ConfigError } from '../errors.ts';
import { gpt2ConfigFromHf } from '../gpt2/config.ts';
import { Gpt2Runner } from '../gpt2/runner.ts';
import { LLAMA_MODEL_TYPES, llamaConfigFromHf } from '../llama/config.ts';
import { LlamaRunner } from '../llama/runner.ts';
import { gpt2Weights } from '../weights/gpt2-weights.ts';
import { llamaWeights } from '../weights/llama-weights.ts';
import { gpt2Size, llamaSize } from '../model-size.ts';
import { readCheckpoint, readUserJson } from './files.ts';
import { checkModelSize, weightsBudget } from './model-budget.ts';
import { isSeq2SeqConfig, modelTypeOf } from './load-seq2seq.ts';

/** The config.json model types `loom logits` and `loom generate` run. */
export const CAUSAL_LM_TYPES = ['gpt2', ...LLAMA_MODEL_TYPES] as const;

/**
 * A causal LM from a Hugging Face config.json and safetensors checkpoint, chosen by the config's
 * `model_type` (a GPT-2 config without one, as old checkpoints ship, is GPT-2). Anything else is a
 * ConfigError listing what is supported. `options` prepare a backend given by name; their maxMemory
 * (default: three quarters of the machine's memory) also bounds the config's weights, checked
 * before the checkpoint is read.
 */
export async function loadCausalLm(weightsPath: string, configPath: string, backendOrName: string | Backend, options?: PrepareOptions, onLoad?: (bytesRead: number, bytesTotal: number) => void): Promise<CausalLm> {
  const json = readUserJson(configPath, 'config');
  const type = modelTypeOf(json);
  if (isSeq2SeqConfig(json)) throw new ConfigError(`${configPath}: model_type ${String(type)} is an encoder-decoder (translation) model: use loom translate, or loom logits with --decoder-ids`);
  const isGpt2 = type === 'gpt2' || (type === undefined && json !== null && typeof json === 'object' && 'n_layer' in json);
  if (!isGpt2 && !(LLAMA_MODEL_TYPES as readonly unknown[]).includes(type)) {
    const got = type === undefined ? 'no model_type' : `model_type ${JSON.stringify(type).slice(0, 40)}`;
    throw new ConfigError(`${configPath}: ${got}: not a causal LM Loom runs; supported model_type: ${CAUSAL_LM_TYPES.join(', ')}`);
  }
  const gpt2 = isGpt2 ? gpt2ConfigFromHf(json, configPath) : undefined;
  const llama = gpt2 ? undefined : llamaConfigFromHf(json, configPath);
  // the sizes first: a config over the budget is refused before the checkpoint is read
  checkModelSize(gpt2 ? gpt2Size(gpt2) : llamaSize(llama!), configPath, weightsBudget(options?.maxMemory));
  const backend = typeof backendOrName === 'string' ? await getBackend(backendOrName, options) : backendOrName;
  if (gpt2) return new Gpt2Runner(gpt2, gpt2Weights(gpt2, readCheckpoint(weightsPath, onLoad), weightsPath), backend);
  return new LlamaRunner(llama!, llamaWeights(llama!, readCheckpoint(weightsPath, onLoad), weightsPath), backend);
}
