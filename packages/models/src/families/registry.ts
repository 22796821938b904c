/**
 * Every family Loom builds, and the one answer to "which family is this config.json": by its
 * model_type, or, without one, by what a family recognises (an old GPT-2 config's n_layer, the
 * reverse model's reverse.json). The loaders (io/), the presets and the CLI go through here; none
 * of them names a family.
 */
import { ConfigError } from '../errors.ts';
import type { GenerationConfigFile } from '../config/parse-config.ts';
import type { CausalLmFamily, EncoderDecoderFamily, ModelFamily, Runs } from './family.ts';
import { gpt2Family } from './gpt2.ts';
import { gemmaFamily, gptNeoxFamily, llamaFamily, mixtralFamily, phi3Family } from './llama.ts';
import { marianFamily } from './marian.ts';
import { checkModelSize, type WeightsBudget } from './model-size.ts';
import { transformerFamily } from './transformer.ts';

/** The families, in the order messages list their presets and model types. */
export const FAMILIES: readonly ModelFamily[] = [transformerFamily, gpt2Family, llamaFamily, mixtralFamily, gemmaFamily, gptNeoxFamily, phi3Family, marianFamily];

/** config.json's model_type, or undefined when it has none (or is not an object). */
export function modelTypeOf(json: unknown): unknown {
  return isRecord(json) ? json['model_type'] : undefined;
}

function isRecord(json: unknown): json is Readonly<Record<string, unknown>> {
  return json !== null && typeof json === 'object' && !Array.isArray(json);
}

/** The family of a config.json, or undefined when no family reads it. */
export function findFamily(json: unknown): ModelFamily | undefined {
  if (!isRecord(json)) return undefined;
  const type = json['model_type'];
  if (type !== undefined) return FAMILIES.find((f) => (f.modelTypes as readonly unknown[]).includes(type));
  return FAMILIES.find((f) => f.recognizes?.(json) ?? false);
}

/** The model types of the families that run as `runs` (of every family without), in registry order. */
export function supportedModelTypes(runs?: Runs): string[] {
  return FAMILIES.filter((f) => runs === undefined || f.runs === runs).flatMap((f) => f.modelTypes);
}

/** The config files families read without a model_type, for messages: "the reverse model's reverse.json". */
export function otherConfigFiles(): string[] {
  return FAMILIES.flatMap((f) => (f.configFile ? [f.configFile] : []));
}

/** `model_type "bert"` or `no model_type`, for messages. */
export function describeModelType(json: unknown): string {
  const type = modelTypeOf(json);
  return type === undefined ? 'no model_type' : `model_type ${JSON.stringify(type).slice(0, 40)}`;
}

const RUNS_AS: Readonly<Record<Runs, string>> = { 'causal-lm': 'a causal LM', 'encoder-decoder': 'an encoder-decoder model' };

/**
 * The family of a config.json that runs as `runs` (any family without), or one ConfigError naming
 * what the file is and listing what is supported.
 */
export function familyOf(json: unknown, where: string, runs: 'causal-lm'): CausalLmFamily;
export function familyOf(json: unknown, where: string, runs: 'encoder-decoder'): EncoderDecoderFamily;
export function familyOf(json: unknown, where: string, runs?: Runs): ModelFamily;
export function familyOf(json: unknown, where: string, runs?: Runs): ModelFamily {
  const family = findFamily(json);
  if (family && (runs === undefined || family.runs === runs)) return family;
  if (runs !== undefined) throw new ConfigError(`${where}: ${describeModelType(json)}: not ${RUNS_AS[runs]} Loom runs; supported model_type: ${supportedModelTypes(runs).join(', ')}`);
  throw new ConfigError(`${where}: not a config Loom builds (supported: Hugging Face ${supportedModelTypes().join(', ')}${otherConfigFiles().map((f) => `, or ${f}`).join('')})`);
}

/**
 * A config.json read by its family, its sizes then checked against the budget: a config over it
 * is refused (with the numbers) before any graph is built or checkpoint read.
 */
export function parseChecked<C>(family: ModelFamily<C>, json: unknown, where: string, budget: WeightsBudget, generation?: GenerationConfigFile): C {
  const config = family.parse(json, where, generation);
  checkModelSize(family.size(config), where, budget);
  return config;
}
