import { getBackend, type Backend, type PrepareOptions } from '@loom/backends';
import type { CausalLm } from '../decoding/causal-lm.ts';
import { ConfigError } from '../errors.ts';
import { gpt2ConfigFromHf } from '../gpt2/config.ts';
import { Gpt2Runner } from '../gpt2/runner.ts';
import { LLAMA_MODEL_TYPES, llamaConfigFromHf } from '../llama/config.ts';
import { LlamaRunner } from '../llama/runner.ts';
import { gpt2Weights } from '../weights/gpt2-weights.ts';
import { llamaWeights } from '../weights/llama-weights.ts';
import { readCheckpoint, readUserJson } from './files.ts';
import { isSeq2SeqConfig, modelTypeOf } from './load-seq2seq.ts';

/** The config.json model types `loom logits` and `loom generate` run. */
export const CAUSAL_LM_TYPES = ['gpt2', ...LLAMA_MODEL_TYPES] as const;

/**
 * A causal LM from a Hugging Face config.json and safetensors checkpoint, chosen by the config's
 * `model_type` (a GPT-2 config without one, as old checkpoints ship, is GPT-2). Anything else is a
 * ConfigError listing what is supported.
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
  const backend = typeof backendOrName === 'string' ? await getBackend(backendOrName, options) : backendOrName;
  if (isGpt2) {
    const cfg = gpt2ConfigFromHf(json, configPath);
    return new Gpt2Runner(cfg, gpt2Weights(cfg, readCheckpoint(weightsPath, onLoad), weightsPath), backend);
  }
  const cfg = llamaConfigFromHf(json, configPath);
  return new LlamaRunner(cfg, llamaWeights(cfg, readCheckpoint(weightsPath, onLoad), weightsPath), backend);
}
