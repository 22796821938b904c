/**
 * A Llama-family model from a GGUF file alone: the `llama.*` metadata is the config (as llama.cpp's
 * convert_hf_to_gguf.py writes it from config.json), the tensors are renamed from GGUF's names
 * (token_embd, blk.N.attn_q, ...) to Loom's, transposed to [in, out], and q and k rows un-permuted
 * (the converter interleaves each head's two rotary halves: LlamaModel.permute). Quantized blocks are
 * dequantized to float32 here; keeping them as they are is the q8 / q4 weight store's work.
 */
import type { NDArray } from '@loom/graph';
import type { LlamaConfig } from '../llama/config.ts';
import { llamaVariant } from '../llama/variant.ts';
import { transposed } from '../weights/mapping.ts';
import { ggufInteger as integer, ggufReal as real } from './gguf-metadata.ts';
import { GgufError, readGgufTensor, type GgufFile } from './read-gguf.ts';

/** The LlamaConfig a GGUF file's metadata describes (general.architecture llama). */
export function llamaConfigFromGguf(file: GgufFile): LlamaConfig {
  const arch = file.metadata['general.architecture'];
  if (arch !== 'llama') throw new GgufError(`${file.path}: general.architecture is ${JSON.stringify(arch)}; llamaConfigFromGguf reads llama files (gpt2ConfigFromGguf reads gpt2 ones)`);
  const hidden = integer(file, 'llama.embedding_length');
  const heads = integer(file, 'llama.attention.head_count');
  const layers = integer(file, 'llama.block_count');
  const embed = file.tensors.get('token_embd.weight');
  if (!embed) throw new GgufError(`${file.path}: no tensor token_embd.weight`);
  const tokens = file.metadata['tokenizer.ggml.tokens'];
  const vocab = integer(file, 'llama.vocab_size', Array.isArray(tokens) ? tokens.length : embed.shape[0]);
  const eos = file.metadata['tokenizer.ggml.eos_token_id'];
  return {
    modelType: 'llama',
    nLayer: layers,
    nHead: heads,
    nKvHead: integer(file, 'llama.attention.head_count_kv', heads),
    headDim: integer(file, 'llama.attention.key_length', hidden / heads),
    hidden,
    intermediate: integer(file, 'llama.feed_forward_length'),
    vocabSize: vocab,
    maxPositions: integer(file, 'llama.context_length'),
    eps: real(file, 'llama.attention.layer_norm_rms_epsilon', 1e-5),
    ropeTheta: real(file, 'llama.rope.freq_base', 10000),
    tieEmbeddings: !file.tensors.has('output.weight'),
    qkvBias: false,
    oBias: false,
    eosTokenId: typeof eos === 'number' ? eos : null,
    variant: llamaVariant(layers),
  };
}

const LAYER_NAMES: Readonly<Record<string, string>> = {
  attn_norm: 'input_layernorm',
  ffn_norm: 'post_attention_layernorm',
  attn_q: 'self_attn.q_proj',
  attn_k: 'self_attn.k_proj',
  attn_v: 'self_attn.v_proj',
  attn_output: 'self_attn.o_proj',
  ffn_gate: 'mlp.gate_proj',
  ffn_up: 'mlp.up_proj',
  ffn_down: 'mlp.down_proj',
};

/** The Loom weights of the model `cfg` (from llamaConfigFromGguf) out of a GGUF file, every tensor checked. */
export function llamaWeightsFromGguf(file: GgufFile, cfg: LlamaConfig): Map<string, NDArray> {
  const weights = new Map<string, NDArray>();
  for (const name of file.tensors.keys()) {
    const t = readGgufTensor(file, name);
    if (name === 'token_embd.weight') weights.set('embed_tokens.weight', t);
    else if (name === 'output_norm.weight') weights.set('norm.weight', t);
    else if (name === 'output.weight') weights.set('lm_head.weight', t);
    else {
      const m = /^blk\.(\d+)\.(\w+)\.weight$/.exec(name);
      const loom = m ? LAYER_NAMES[m[2]!] : undefined;
      if (!m || !loom || Number(m[1]) >= cfg.nLayer) throw new GgufError(`${file.path}: tensor '${name}' is not one a llama model of ${cfg.nLayer} layers has`);
      if (loom.startsWith('input_') || loom.startsWith('post_')) {
        weights.set(`layers.${m[1]}.${loom}.weight`, t);
        continue;
      }
      // the converter's rotary interleave undone, then nn.Linear's [out, in] as Loom's [in, out]
      const rows = m[2] === 'attn_q' ? unpermute(t, cfg.nHead) : m[2] === 'attn_k' ? unpermute(t, cfg.nKvHead) : t;
      weights.set(`layers.${m[1]}.${loom}.weight`, transposed(rows));
    }
  }
  return weights;
}

/** Undoes convert_hf_to_gguf's permute: rows [heads, Dh/2, 2] back to [heads, 2, Dh/2] (each head's two rotary halves). */
export function unpermute(t: NDArray, heads: number): NDArray {
  const [rows, cols] = t.shape as [number, number];
  const half = rows / heads / 2;
  const out = new Float32Array(t.data.length);
  for (let h = 0; h < heads; h++) {
    for (let j = 0; j < 2; j++) {
      for (let i = 0; i < half; i++) {
        const to = (h * 2 * half + j * half + i) * cols;
        const from = (h * 2 * half + i * 2 + j) * cols;
        out.set(t.data.subarray(from, from + cols), to);
      }
    }
  }
  return { dtype: 'f32', shape: [rows, cols], data: out };
}
