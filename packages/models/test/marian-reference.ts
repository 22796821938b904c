/**
 * A tiny MarianMTModel checkpoint in Hugging Face's layout, and MarianMTModel's forward pass and
 * greedy generate() written straight from transformers' modeling_marian.py in float64 loops, on the
 * checkpoint's own tensor names. Independent of Loom's graphs: the test compares `loom logits
 * --decoder-ids` and `loom translate` with it.
 */
import { mulberry32, type NDArray } from '@loom/graph';

export interface TinyMarian {
  readonly config: Record<string, unknown>;
  readonly tensors: Map<string, NDArray>;
}

interface Dims {
  readonly d: number;
  readonly heads: number;
  readonly ffn: number;
  readonly layers: number;
  readonly vocab: number;
  readonly decoderVocab: number;
  readonly shared: boolean;
}

/** A random checkpoint: config.json as MarianConfig.save_pretrained writes it, and its state dict (nn.Linear weights [out, in]). */
export function tinyMarian(seed: number, options: { shared?: boolean } = {}): TinyMarian {
  const shared = options.shared ?? true;
  const dims: Dims = { d: 16, heads: 4, ffn: 24, layers: 2, vocab: 40, decoderVocab: shared ? 40 : 33, shared };
  const rand = mulberry32(seed);
  const normal = () => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
  const tensors = new Map<string, NDArray>();
  const put = (name: string, shape: number[], scale: number, offset = 0) => {
    const data = Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => offset + scale * normal());
    tensors.set(name, { dtype: 'f32', shape, data });
  };
  const linear = (name: string, out: number, inDim: number) => {
    put(`${name}.weight`, [out, inDim], 1 / Math.sqrt(inDim));
    put(`${name}.bias`, [out], 0.1);
  };
  const norm = (name: string) => {
    put(`${name}.weight`, [dims.d], 0.1, 1);
    put(`${name}.bias`, [dims.d], 0.1);
  };
  if (shared) put('model.shared.weight', [dims.vocab, dims.d], 0.5);
  else {
    put('model.encoder.embed_tokens.weight', [dims.vocab, dims.d], 0.5);
    put('model.decoder.embed_tokens.weight', [dims.decoderVocab, dims.d], 0.5);
  }
  for (const stack of ['encoder', 'decoder']) {
    for (let i = 0; i < dims.layers; i++) {
      const p = `model.${stack}.layers.${i}`;
      const attentions = stack === 'encoder' ? ['self_attn'] : ['self_attn', 'encoder_attn'];
      for (const a of attentions) {
        for (const proj of ['q_proj', 'k_proj', 'v_proj', 'out_proj']) linear(`${p}.${a}.${proj}`, dims.d, dims.d);
        norm(`${p}.${a}_layer_norm`);
      }
      linear(`${p}.fc1`, dims.ffn, dims.d);
      linear(`${p}.fc2`, dims.d, dims.ffn);
      norm(`${p}.final_layer_norm`);
    }
  }
  put('final_logits_bias', [1, dims.decoderVocab], 0.3);
  const pad = dims.decoderVocab - 1;
  const config = {
    architectures: ['MarianMTModel'],
    model_type: 'marian',
    activation_function: 'swish',
    d_model: dims.d,
    encoder_layers: dims.layers,
    decoder_layers: dims.layers,
    encoder_attention_heads: dims.heads,
    decoder_attention_heads: dims.heads,
    encoder_ffn_dim: dims.ffn,
    decoder_ffn_dim: dims.ffn,
    vocab_size: dims.vocab,
    decoder_vocab_size: dims.decoderVocab,
    share_encoder_decoder_embeddings: shared,
    max_position_embeddings: 32,
    scale_embedding: true,
    pad_token_id: pad,
    decoder_start_token_id: pad,
    eos_token_id: 0,
    forced_eos_token_id: 0,
    bad_words_ids: [[pad]],
    num_beams: 1,
    max_length: 32,
    dropout: 0.1,
    torch_dtype: 'float32',
  };
  return { config, tensors };
}

type Matrix = Float64Array[]; // rows

function get(t: TinyMarian, name: string): NDArray {
  const x = t.tensors.get(name);
  if (!x) throw new Error(`missing ${name}`);
  return x;
}

/** y = x W^T + b for nn.Linear's W [out, in]. */
function linear(t: TinyMarian, name: string, x: Matrix): Matrix {
  const w = get(t, `${name}.weight`);
  const b = get(t, `${name}.bias`).data;
  const [out, inDim] = w.shape as [number, number];
  return x.map((row) => Float64Array.from({ length: out }, (_, o) => {
    let s = b[o]!;
    for (let i = 0; i < inDim; i++) s += row[i]! * w.data[o * inDim + i]!;
    return s;
  }));
}

function layerNorm(t: TinyMarian, name: string, x: Matrix): Matrix {
  const g = get(t, `${name}.weight`).data;
  const b = get(t, `${name}.bias`).data;
  return x.map((row) => {
    const mean = row.reduce((a, v) => a + v, 0) / row.length;
    const variance = row.reduce((a, v) => a + (v - mean) ** 2, 0) / row.length;
    return row.map((v, i) => ((v - mean) / Math.sqrt(variance + 1e-5)) * g[i]! + b[i]!);
  });
}

const add = (a: Matrix, b: Matrix): Matrix => a.map((row, i) => row.map((v, j) => v + b[i]![j]!));

/** MarianAttention: softmax(q k^T * head_dim^-0.5 + mask) v per head, then out_proj. `masked(i, j)` hides key j from query i. */
function attention(t: TinyMarian, name: string, x: Matrix, source: Matrix, heads: number, masked: (i: number, j: number) => boolean): Matrix {
  const [q, k, v] = [linear(t, `${name}.q_proj`, x), linear(t, `${name}.k_proj`, source), linear(t, `${name}.v_proj`, source)];
  const d = q[0]!.length;
  const dh = d / heads;
  const out: Matrix = x.map(() => new Float64Array(d));
  for (let h = 0; h < heads; h++) {
    for (let i = 0; i < x.length; i++) {
      const scores = source.map((_, j) => {
        if (masked(i, j)) return -Infinity;
        let s = 0;
        for (let c = 0; c < dh; c++) s += q[i]![h * dh + c]! * k[j]![h * dh + c]!;
        return s / Math.sqrt(dh);
      });
      const max = Math.max(...scores);
      const e = scores.map((s) => Math.exp(s - max));
      const sum = e.reduce((a, b) => a + b, 0);
      for (let j = 0; j < source.length; j++) for (let c = 0; c < dh; c++) out[i]![h * dh + c]! += (e[j]! / sum) * v[j]![h * dh + c]!;
    }
  }
  return linear(t, `${name}.out_proj`, out);
}

function feedForward(t: TinyMarian, p: string, x: Matrix): Matrix {
  const silu = (z: number) => z / (1 + Math.exp(-z));
  return linear(t, `${p}.fc2`, linear(t, `${p}.fc1`, x).map((row) => row.map(silu)));
}

/** embed_tokens(ids) * sqrt(d) + MarianSinusoidalPositionalEmbedding (sin in the first half, cos in the second). */
function embed(t: TinyMarian, table: string, ids: readonly number[]): Matrix {
  const e = get(t, table);
  const d = e.shape[1]!;
  const scale = t.config['scale_embedding'] ? Math.sqrt(d) : 1;
  return ids.map((id, pos) => Float64Array.from({ length: d }, (_, j) => {
    const i = j < d / 2 ? j : j - d / 2;
    const angle = pos / Math.pow(10000, (2 * i) / d);
    return e.data[id * d + j]! * scale + (j < d / 2 ? Math.sin(angle) : Math.cos(angle));
  }));
}

/** MarianMTModel(input_ids=src, decoder_input_ids=tgt).logits[0] in float64: [len(tgt)][V]. */
export function marianLogits(t: TinyMarian, src: readonly number[], tgt: readonly number[]): Matrix {
  const c = t.config as { pad_token_id: number; eos_token_id: number; encoder_attention_heads: number; encoder_layers: number; decoder_layers: number; share_encoder_decoder_embeddings: boolean };
  const heads = c.encoder_attention_heads;
  // generate() infers the encoder mask from pad tokens in the input
  const keyIsPad = (j: number) => src[j] === c.pad_token_id && c.pad_token_id !== c.eos_token_id;
  const shared = c.share_encoder_decoder_embeddings;
  let x = embed(t, shared ? 'model.shared.weight' : 'model.encoder.embed_tokens.weight', src);
  for (let l = 0; l < c.encoder_layers; l++) {
    const p = `model.encoder.layers.${l}`;
    x = layerNorm(t, `${p}.self_attn_layer_norm`, add(x, attention(t, `${p}.self_attn`, x, x, heads, (_, j) => keyIsPad(j))));
    x = layerNorm(t, `${p}.final_layer_norm`, add(x, feedForward(t, p, x)));
  }
  const table = shared ? 'model.shared.weight' : 'model.decoder.embed_tokens.weight';
  let y = embed(t, table, tgt);
  for (let l = 0; l < c.decoder_layers; l++) {
    const p = `model.decoder.layers.${l}`;
    y = layerNorm(t, `${p}.self_attn_layer_norm`, add(y, attention(t, `${p}.self_attn`, y, y, heads, (i, j) => j > i)));
    y = layerNorm(t, `${p}.encoder_attn_layer_norm`, add(y, attention(t, `${p}.encoder_attn`, y, x, heads, (_, j) => keyIsPad(j))));
    y = layerNorm(t, `${p}.final_layer_norm`, add(y, feedForward(t, p, y)));
  }
  // lm_head is tied to the decoder's embedding table; final_logits_bias is added
  const e = get(t, table);
  const [v, d] = e.shape as [number, number];
  const bias = get(t, 'final_logits_bias').data;
  return y.map((row) => Float64Array.from({ length: v }, (_, o) => {
    let s = bias[o]!;
    for (let i = 0; i < d; i++) s += row[i]! * e.data[o * d + i]!;
    return s;
  }));
}

/**
 * model.generate(src, max_new_tokens=n) greedy: from decoder_start_token_id, bad_words_ids never
 * chosen, the n-th new token forced to forced_eos_token_id, stopping after eos. Returns the new ids.
 */
export function marianGreedy(t: TinyMarian, src: readonly number[], maxNewTokens: number): number[] {
  const c = t.config as { decoder_start_token_id: number; eos_token_id: number; forced_eos_token_id: number; bad_words_ids: number[][] };
  const tgt = [c.decoder_start_token_id];
  for (let step = 1; step <= maxNewTokens; step++) {
    const scores = [...marianLogits(t, src, tgt).at(-1)!];
    for (const [bad] of c.bad_words_ids) scores[bad!] = -Infinity;
    if (step === maxNewTokens) scores.forEach((_, i) => (scores[i] = i === c.forced_eos_token_id ? 0 : -Infinity));
    const next = scores.indexOf(Math.max(...scores));
    tgt.push(next);
    if (next === c.eos_token_id) break;
  }
  return tgt.slice(1);
}
