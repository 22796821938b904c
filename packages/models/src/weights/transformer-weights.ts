/**
 * Weights for the encoder-decoder Transformer: Loom-native names, or a PyTorch checkpoint built from
 * nn.TransformerEncoderLayer / nn.TransformerDecoderLayer (the layout of the reverse model).
 *
 *   PyTorch                                          Loom
 *   src_embed.weight / tgt_embed.weight [V, D]       src_embed / tgt_embed [V, D] (shared_embed <- src_embed.weight)
 *   src_pos.weight / tgt_pos.weight [P, D]           src_pos / tgt_pos [P, D]
 *   *.self_attn.in_proj_weight [3D, D]               *.self_attn.{q,k,v}.weight [D, D] (split, transposed)
 *   *.self_attn.in_proj_bias [3D]                    *.self_attn.{q,k,v}.bias [D] (split)
 *   *.self_attn.out_proj.{weight, bias}              *.self_attn.out.{weight (transposed), bias}
 *   decoder.*.multihead_attn.*                       decoder.*.cross_attn.* (as self_attn)
 *   *.linear1.*, *.linear2.*                         *.ffn.fc1.*, *.ffn.fc2.* (weights transposed)
 *   *.norm{1,2,3}.*, encoder.norm.*, decoder.norm.*  same names
 *   generator.weight [V, D], generator.bias [V]      generator.weight [D, V] (transposed), generator.bias
 */
import type { NDArray } from '@loom/graph';
import { buildTransformer } from '../transformer/model.ts';
import type { TransformerConfig } from '../transformer/config.ts';
import { applyMapping, expectedWeights, identityMapping, type Source, type WeightMapping } from './mapping.ts';

type Rule = readonly [RegExp, (m: RegExpExecArray) => Source];

const LAYER = String.raw`^((?:encoder|decoder)\.layers\.\d+)`;

/** Loom name pattern -> PyTorch source, first match wins. */
const TORCH_RULES: readonly Rule[] = [
  [/^(src|tgt)_(embed|pos)$/, (m) => ({ name: `${m[1]}_${m[2]}.weight` })],
  [/^shared_embed$/, () => ({ name: 'src_embed.weight' })],
  [new RegExp(`${LAYER}\\.(self_attn|cross_attn)\\.([qkv])\\.(weight|bias)$`), (m) => ({
    name: `${m[1]}.${torchAttn(m[2]!)}.in_proj_${m[4]}`,
    transpose: m[4] === 'weight',
    part: { index: 'qkv'.indexOf(m[3]!), count: 3 },
  })],
  [new RegExp(`${LAYER}\\.(self_attn|cross_attn)\\.out\\.(weight|bias)$`), (m) => ({ name: `${m[1]}.${torchAttn(m[2]!)}.out_proj.${m[3]}`, transpose: m[3] === 'weight' })],
  [new RegExp(`${LAYER}\\.ffn\\.fc([12])\\.(weight|bias)$`), (m) => ({ name: `${m[1]}.linear${m[2]}.${m[3]}`, transpose: m[3] === 'weight' })],
  [/^generator\.weight$/, () => ({ name: 'generator.weight', transpose: true })],
  [/.*/, (m) => ({ name: m[0] })], // norms and generator.bias keep their names
];

function torchAttn(loom: string): string {
  return loom === 'cross_attn' ? 'multihead_attn' : 'self_attn';
}

/** PyTorch nn.Transformer-layer names to Loom names. */
export const torchTransformerMapping: WeightMapping = {
  describe: 'PyTorch nn.Transformer layers',
  sourceOf(loomName) {
    for (const [pattern, source] of TORCH_RULES) {
      const m = pattern.exec(loomName);
      if (m) return source(m);
    }
    return undefined;
  },
  ignore: () => false,
};

/** Which layout a Transformer checkpoint uses: PyTorch's when it has fused in_proj tensors or `*_embed.weight`. */
export function detectTransformerMapping(names: Iterable<string>): WeightMapping {
  for (const name of names) {
    if (name.endsWith('.in_proj_weight') || name === 'src_embed.weight' || name === 'tgt_embed.weight') return torchTransformerMapping;
  }
  return identityMapping;
}

/**
 * The Loom weights of a Transformer from a checkpoint in either layout. Throws a WeightsError listing
 * every missing, unexpected and mis-shaped tensor.
 */
export function transformerWeights(cfg: TransformerConfig, checkpoint: ReadonlyMap<string, NDArray>, sourceName?: string): Map<string, NDArray> {
  const mapping = detectTransformerMapping(checkpoint.keys());
  return applyMapping(checkpoint, expectedWeights(buildTransformer(cfg)), mapping, sourceName);
}
