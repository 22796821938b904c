import type { Graph } from '@loom/graph';
import { countParams } from './blocks.ts';
import { GPT2_PRESETS, type Gpt2Config } from './gpt2/config.ts';
import { buildGpt2 } from './gpt2/model.ts';
import { ConfigError } from './errors.ts';
import { TRANSFORMER_PRESETS, type TransformerConfig } from './transformer/config.ts';
import { buildTransformer } from './transformer/model.ts';

export type Preset = { readonly kind: 'transformer'; readonly config: TransformerConfig } | { readonly kind: 'gpt2'; readonly config: Gpt2Config };

/** Every named model: the paper's Transformers and the four GPT-2 sizes. */
export const PRESETS: Readonly<Record<string, Preset>> = {
  ...Object.fromEntries(Object.entries(TRANSFORMER_PRESETS).map(([name, config]) => [name, { kind: 'transformer', config }])),
  ...Object.fromEntries(Object.entries(GPT2_PRESETS).map(([name, config]) => [name, { kind: 'gpt2', config }])),
};

export function getPreset(name: string): Preset {
  const preset = Object.hasOwn(PRESETS, name) ? PRESETS[name] : undefined;
  if (!preset) throw new ConfigError(`unknown preset '${name}'; choose one of ${Object.keys(PRESETS).join(', ')}`);
  return preset;
}

/** The graph holding every weight of a preset (the teacher-forcing graph for the Transformer). */
export function presetGraph(name: string): Graph {
  const preset = getPreset(name);
  return preset.kind === 'transformer' ? buildTransformer(preset.config) : buildGpt2(preset.config);
}

/** Parameters of a preset: the sum of its weights' sizes, tied weights once. */
export function presetParamCount(name: string): number {
  return countParams(presetGraph(name));
}
