/**
 * GPT-2 from a GGUF file alone (convert_hf_to_gguf.py's GPT2Model): the `gpt2.*` metadata is the config,
 * the tensors are renamed to Loom's (Hugging Face's) names, and the Conv1D weights the converter
 * transposed to [out, in] go back to [in, out]. The head is tied to token_embd: the converter's copy in
 * output.weight is skipped. Quantized matrices that products read stay quantized (quantized-blocks.ts);
 * the rest is float32.
 */
import type { NDArray } from '@loom/graph';
import type { Gpt2Config } from '../gpt2/config.ts';
import { transposed } from '../weights/mapping.ts';
import { ggufInteger, ggufReal } from './gguf-metadata.ts';
import { GgufError, readGgufTensor, type GgufFile } from './read-gguf.ts';
import { ggufQuantizedMatrix, keepsBlocks } from './quantized-blocks.ts';
import type { GgufWeights } from './llama-gguf.ts';
import type { GivenQuantized } from '@loom/backends';

export function gpt2ConfigFromGguf(file: GgufFile): Gpt2Config {
  const embd = ggufInteger(file, 'gpt2.embedding_length');
  const heads = ggufInteger(file, 'gpt2.attention.head_count');
  if (embd % heads !== 0) throw new GgufError(`${file.path}: gpt2.embedding_length ${embd} does not divide into ${heads} heads`);
  const table = file.tensors.get('token_embd.weight');
  if (!table) throw new GgufError(`${file.path}: no tensor token_embd.weight`);
  const eos = file.metadata['tokenizer.ggml.eos_token_id'];
  return {
    nLayer: ggufInteger(file, 'gpt2.block_count'),
    nHead: heads,
    nEmbd: embd,
    nInner: ggufInteger(file, 'gpt2.feed_forward_length', 4 * embd),
    nPositions: ggufInteger(file, 'gpt2.context_length'),
    vocabSize: table.shape[0]!,
    eps: ggufReal(file, 'gpt2.attention.layer_norm_epsilon', 1e-5),
    activation: 'gelu_tanh', // GPT-2's gelu_new; GGUF does not store it
    eosTokenId: typeof eos === 'number' ? eos : null,
  };
}

const MODULES: Readonly<Record<string, { name: string; transposed: boolean }>> = {
  attn_norm: { name: 'ln_1', transposed: false },
  ffn_norm: { name: 'ln_2', transposed: false },
  attn_qkv: { name: 'attn.c_attn', transposed: true },
  attn_output: { name: 'attn.c_proj', transposed: true },
  ffn_up: { name: 'mlp.c_fc', transposed: true },
  ffn_down: { name: 'mlp.c_proj', transposed: true },
};

export function gpt2WeightsFromGguf(file: GgufFile, cfg: Gpt2Config): GgufWeights {
  const weights = new Map<string, NDArray>();
  const quantized = new Map<string, GivenQuantized>();
  for (const name of file.tensors.keys()) {
    if (name === 'output.weight') continue; // the tied head's copy
    if (name === 'token_embd.weight') {
      // gathered, and read transposed by the tied head: kept blocks give both
      if (keepsBlocks(file, name)) quantized.set('wte.weight', { matrix: ggufQuantizedMatrix(file, name), transposed: true });
      else weights.set('wte.weight', readGgufTensor(file, name));
    } else if (name === 'position_embd.weight') weights.set('wpe.weight', readGgufTensor(file, name));
    else if (name.startsWith('output_norm.')) weights.set(`ln_f.${name.slice('output_norm.'.length)}`, readGgufTensor(file, name));
    else {
      const m = /^blk\.(\d+)\.(\w+)\.(weight|bias)$/.exec(name);
      const module = m ? MODULES[m[2]!] : undefined;
      if (!m || !module || Number(m[1]) >= cfg.nLayer) throw new GgufError(`${file.path}: tensor '${name}' is not one a gpt2 model of ${cfg.nLayer} layers has`);
      const param = `h.${m[1]}.${module.name}.${m[3]}`;
      // a Conv1D weight is [in, out] in Loom, [out, in] in the file: rows of the file are its columns
      if (module.transposed && m[3] === 'weight' && keepsBlocks(file, name)) quantized.set(param, { matrix: ggufQuantizedMatrix(file, name), transposed: false });
      else {
        const t = readGgufTensor(file, name);
        weights.set(param, module.transposed && m[3] === 'weight' ? transposed(t) : t);
      }
    }
  }
  return { weights, quantized };
}
