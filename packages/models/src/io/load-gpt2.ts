import { getBackend, type Backend, type PrepareOptions } from '@loom/backends';
import { parseGpt2ConfigJson } from '../gpt2/config.ts';
import { Gpt2Runner } from '../gpt2/runner.ts';
import { readCheckpoint, readUserFile } from './files.ts';
import { gpt2Weights } from '../weights/gpt2-weights.ts';
import { gpt2Size } from '../model-size.ts';
import { checkModelSize, weightsBudget } from './model-budget.ts';

/** GPT-2 from a Hugging Face config.json and safetensors checkpoint, on a backend (or the one of that name). */
export async function loadGpt2(weightsPath: string, configPath: string, backendOrName: string | Backend, options?: PrepareOptions): Promise<Gpt2Runner> {
  const cfg = parseGpt2ConfigJson(readUserFile(configPath, 'config').toString('utf8'), configPath);
  checkModelSize(gpt2Size(cfg), configPath, weightsBudget(options?.maxMemory));
  const backend = typeof backendOrName === 'string' ? await getBackend(backendOrName, options) : backendOrName;
  const weights = gpt2Weights(cfg, readCheckpoint(weightsPath), weightsPath);
  return new Gpt2Runner(cfg, weights, backend);
}
