import type { Graph } from '@loom/graph';
import { countParams } from './blocks.ts';
import { ConfigError } from './errors.ts';
import type { ModelFamily } from './families/family.ts';
import { FAMILIES } from './families/registry.ts';

/** A named model: its family's name (`kind`), the family, and the config. */
export interface Preset {
  readonly kind: string;
  readonly family: ModelFamily;
  readonly config: unknown;
}

/** Every named model, each family's presets in registry order: the paper's Transformers and the four GPT-2 sizes. */
export const PRESETS: Readonly<Record<string, Preset>> = Object.fromEntries(
  FAMILIES.flatMap((family) => Object.entries(family.presets ?? {}).map(([name, config]) => [name, { kind: family.name, family, config }])),
);

export function getPreset(name: string): Preset {
  const preset = Object.hasOwn(PRESETS, name) ? PRESETS[name] : undefined;
  if (!preset) throw new ConfigError(`unknown preset '${name}'; choose one of ${Object.keys(PRESETS).join(', ')}`);
  return preset;
}

/** The graph holding every weight of a preset (the teacher-forcing graph for the Transformer). */
export function presetGraph(name: string): Graph {
  const { family, config } = getPreset(name);
  return family.build(config);
}

/** Parameters of a preset: the sum of its weights' sizes, tied weights once. */
export function presetParamCount(name: string): number {
  return countParams(presetGraph(name));
}
