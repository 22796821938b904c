/**
 * A Llama-family model from a GGUF file alone: the `llama.*` metadata is the config (as llama.cpp's
 * convert_hf_to_gguf.py writes it from config.json), the tensors are renamed from GGUF's names
 * (token_embd, blk.N.attn_q, ...) to Loom's, transposed to [in, out], and q and k rows un-permuted
 * (the converter interleaves each head's two rotary halves: LlamaModel.permute). Q8_0, Q4_0, Q4_K and
 * Q6_K matrices that products read stay quantized (quantized-blocks.ts); the rest is float32.
 */
import type { NDArray } from '@loom/graph';
import type { LlamaConfig } from '../llama/config.ts';
import { llamaVariant } from '../llama/variant.ts';
import { transposed } from '../weights/mapping.ts';
import { ggufInteger as integer, ggufReal as real } from './gguf-metadata.ts';
import { GgufError, readGgufTensor, type GgufFile } from './read-gguf.ts';
import { ggufQuantizedMatrix, keepsBlocks } from './quantized-blocks.ts';
import type { GivenQuantized } from '@loom/backends';

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

/** A model's weights from a GGUF file: float32 ones, and those kept in their quantized blocks. */
export interface GgufWeights {
  readonly weights: Map<string, NDArray>;
  /** Q8_0, Q4_0, Q4_K and Q6_K matrices kept as codes, by Loom param name (PrepareOptions.quantizedWeights). */
  readonly quantized: Map<string, GivenQuantized>;
}

/**
 * The Loom weights of the model `cfg` (from llamaConfigFromGguf) out of a GGUF file, every tensor
 * checked. Q8_0, Q4_0, Q4_K and Q6_K matrices that products read stay quantized
 * (quantized-blocks.ts), the others are dequantized to float32.
 */
export function llamaWeightsFromGguf(file: GgufFile, cfg: LlamaConfig): GgufWeights {
  const weights = new Map<string, NDArray>();
  const quantized = new Map<string, GivenQuantized>();
  for (const name of file.tensors.keys()) {
    // the embedding is a product's weight only as the tied head (read transposed, [V, D])
    const read = (loom: string, transposedUse: boolean, order?: readonly number[]) => {
      if (keepsBlocks(file, name) && (name !== 'token_embd.weight' || cfg.tieEmbeddings)) quantized.set(loom, { matrix: ggufQuantizedMatrix(file, name, order), transposed: transposedUse });
      else return readGgufTensor(file, name);
      return undefined;
    };
    if (name === 'token_embd.weight') setIf(weights, 'embed_tokens.weight', read('embed_tokens.weight', true));
    else if (name === 'output_norm.weight') weights.set('norm.weight', readGgufTensor(file, name));
    else if (name === 'output.weight') setIf(weights, 'lm_head.weight', read('lm_head.weight', true));
    else {
      const m = /^blk\.(\d+)\.(\w+)\.weight$/.exec(name);
      const loom = m ? LAYER_NAMES[m[2]!] : undefined;
      if (!m || !loom || Number(m[1]) >= cfg.nLayer) throw new GgufError(`${file.path}: tensor '${name}' is not one a llama model of ${cfg.nLayer} layers has`);
      const param = `layers.${m[1]}.${loom}.weight`;
      if (loom.startsWith('input_') || loom.startsWith('post_')) {
        weights.set(param, readGgufTensor(file, name));
        continue;
      }
      // the converter's rotary interleave undone, then nn.Linear's [out, in] as Loom's [in, out]
      const rows = file.tensors.get(name)!.shape[0]!;
      const order = m[2] === 'attn_q' ? unpermutedRows(rows, cfg.nHead) : m[2] === 'attn_k' ? unpermutedRows(rows, cfg.nKvHead) : undefined;
      const t = read(param, false, order);
      if (t) weights.set(param, transposed(order ? reorderRows(t, order) : t));
    }
  }
  return { weights, quantized };
}

function setIf(weights: Map<string, NDArray>, name: string, value: NDArray | undefined): void {
  if (value) weights.set(name, value);
}

/** For each row after undoing convert_hf_to_gguf's permute, the row it was: [heads, Dh/2, 2] back to [heads, 2, Dh/2] (each head's two rotary halves). */
export function unpermutedRows(rows: number, heads: number): number[] {
  const half = rows / heads / 2;
  const order = new Array<number>(rows);
  for (let h = 0; h < heads; h++) {
    for (let j = 0; j < 2; j++) {
      for (let i = 0; i < half; i++) order[h * 2 * half + j * half + i] = h * 2 * half + i * 2 + j;
    }
  }
  return order;
}

/** The rows of a matrix in `order` (source row per row). */
function reorderRows(t: NDArray, order: readonly number[]): NDArray {
  const [rows, cols] = t.shape as [number, number];
  const out = new Float32Array(t.data.length);
  for (let r = 0; r < rows; r++) out.set(t.data.subarray(order[r]! * cols, (order[r]! + 1) * cols), r * cols);
  return { dtype: 'f32', shape: [rows, cols], data: out };
}

/** Undoes convert_hf_to_gguf's permute on a float matrix. */
export function unpermute(t: NDArray, heads: number): NDArray {
  return reorderRows(t, unpermutedRows(t.shape[0] as number, heads));
}
