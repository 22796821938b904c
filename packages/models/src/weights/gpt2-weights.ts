/**
 * Weights for GPT-2 from a Hugging Face checkpoint (`model.safetensors` of GPT2LMHeadModel or
 * GPT2Model). Loom's names are Hugging Face's without the `transformer.` prefix and the shapes are the
 * same (Conv1D stores [in, out]), so the mapping only strips the prefix. Skipped:
 * - `lm_head.weight`: the head is tied to wte (Loom rejects untied configs);
 * - `h.N.attn.bias` and `h.N.attn.masked_bias`: causal-mask buffers older checkpoints store.
 */
import type { NDArray } from '@loom/graph';
import type { Gpt2Config } from '../gpt2/config.ts';
import { buildGpt2 } from '../gpt2/model.ts';
import { ConfigError } from '../errors.ts';
import { applyMapping, expectedWeights, type WeightMapping } from './mapping.ts';

const PREFIX = 'transformer.';
const BUFFER = /^h\.\d+\.attn\.(bias|masked_bias)$/;

/** Hugging Face GPT-2 names, with or without the prefix (whichever the checkpoint uses). */
export function hfGpt2Mapping(checkpointNames: Iterable<string>): WeightMapping {
  const prefixed = [...checkpointNames].some((n) => n.startsWith(PREFIX));
  const bare = (name: string) => (name.startsWith(PREFIX) ? name.slice(PREFIX.length) : name);
  return {
    describe: prefixed ? 'Hugging Face GPT-2 (transformer. prefix)' : 'Hugging Face GPT-2',
    sourceOf: (loomName) => ({ name: prefixed ? PREFIX + loomName : loomName }),
    ignore: (name) => name === 'lm_head.weight' || BUFFER.test(bare(name)),
  };
}

/** Layers a config may ask for beyond the checkpoint's before the graph is not built at all. */
const SPARE_LAYERS = 64;

/**
 * Compares the config with the checkpoint's header before any graph is built: a config that asks
 * for far more layers than the weights hold (n_layer 1e6, say), or whose vocab_size, n_positions or
 * n_embd disagree with the embedding tables, fails at once naming the fields. Other mismatches go on
 * to the WeightsError, which lists every missing, unexpected and mis-shaped tensor.
 */
export function checkGpt2ConfigAgainstCheckpoint(cfg: Gpt2Config, checkpoint: ReadonlyMap<string, NDArray>, sourceName = 'checkpoint'): void {
  const bare = (name: string) => (name.startsWith(PREFIX) ? name.slice(PREFIX.length) : name);
  let layers = 0;
  for (const name of checkpoint.keys()) {
    const m = /^h\.(\d+)\./.exec(bare(name));
    if (m) layers = Math.max(layers, Number(m[1]) + 1);
  }
  if (cfg.nLayer > layers + SPARE_LAYERS) {
    throw new ConfigError(`config n_layer is ${cfg.nLayer}, but ${sourceName} holds ${layers} layers${layers > 0 ? ` (h.0 to h.${layers - 1})` : ''}: the config does not belong to these weights`);
  }
  // the tables fix vocab_size, n_positions and n_embd: compare them with the header's shapes
  const table = (name: string) => checkpoint.get(name) ?? checkpoint.get(PREFIX + name);
  const wte = table('wte.weight');
  if (wte && (wte.shape.length !== 2 || wte.shape[0] !== cfg.vocabSize || wte.shape[1] !== cfg.nEmbd)) {
    throw new ConfigError(`config vocab_size ${cfg.vocabSize} and n_embd ${cfg.nEmbd} do not match ${sourceName}'s wte.weight [${wte.shape.join(', ')}]: the config does not belong to these weights`);
  }
  const wpe = table('wpe.weight');
  if (wpe && (wpe.shape.length !== 2 || wpe.shape[0] !== cfg.nPositions || wpe.shape[1] !== cfg.nEmbd)) {
    throw new ConfigError(`config n_positions ${cfg.nPositions} and n_embd ${cfg.nEmbd} do not match ${sourceName}'s wpe.weight [${wpe.shape.join(', ')}]: the config does not belong to these weights`);
  }
}

/** The Loom weights of GPT-2; throws a WeightsError listing every missing, unexpected and mis-shaped tensor. */
export function gpt2Weights(cfg: Gpt2Config, checkpoint: ReadonlyMap<string, NDArray>, sourceName?: string): Map<string, NDArray> {
  checkGpt2ConfigAgainstCheckpoint(cfg, checkpoint, sourceName);
  return applyMapping(checkpoint, expectedWeights(buildGpt2(cfg)), hfGpt2Mapping(checkpoint.keys()), sourceName);
}
