/**
 * Shared pieces of the float64 Hugging Face reference forwards in this folder (TEST-ONLY: nothing under
 * packages/*\/src imports this). Every function here is a plain loop over JavaScript numbers (float64),
 * written from Hugging Face transformers' PyTorch modules, never from Loom's own code, so that a family's
 * reference can judge Loom's implementation of it.
 *
 * Conventions (those of HF's state_dict):
 *  - activations are `Matrix` = number[T][width], one row per position of ONE sequence (no batch, no cache,
 *    position ids 0..T-1, no padding);
 *  - nn.Linear weights are [out, in] row-major, y = x W^T + b;
 *  - nn.Embedding tables are [vocab, hidden];
 *  - checkpoints hold f32 NDArrays (read here as float64 numbers).
 *
 * HF behaviours mirrored here:
 *  - RMSNorm (LlamaRMSNorm): x * rsqrt(mean(x^2) + eps) * w; Gemma's RMSNorm: x * rsqrt(mean(x^2) + eps) * (1 + w)
 *    (`unitOffset`), both in float.
 *  - nn.LayerNorm: biased variance, (x - mean) / sqrt(var + eps) * w + b.
 *  - rotary embeddings, default rope type: inv_freq[j] = base^(-2j / dim) for j < dim / 2, angle = pos * inv_freq,
 *    cos/sin of cat(freqs, freqs), x * cos + rotate_half(x) * sin with rotate_half(x) = cat(-x2, x1) (the
 *    "halves"/NeoX pairing: element j pairs with element j + dim/2); partial rotary (GPT-NeoX rotary_pct, Phi-3
 *    partial_rotary_factor): only the first `rotaryDims` elements of each head rotate, the rest pass through.
 *    HF computes inv_freq, the angles and cos/sin in float32; here they are float64 (differences ~1e-7 relative).
 *  - eager_attention_forward: repeat_kv (query head h reads kv head floor(h / (H / KV))), scores = q k^T * scaling,
 *    then optional soft-capping tanh(scores / cap) * cap, then the additive mask (masked = finfo.min, i.e. weight 0),
 *    softmax in float32 (float64 here), weights @ v.
 *  - masks (transformers masking_utils): causal = kv_idx <= q_idx; sliding_window_overlay = kv_idx > q_idx - window,
 *    so query i sees key j iff j <= i and i - j < window (a window of `window` keys, the query's own included).
 *    NOTE: transformers before ~4.45 built Mistral/Phi-3 sliding masks with _prepare_4d_causal_attention_mask,
 *    whose tril(diagonal = -window - 1) let a query see `window + 1` keys (i - j <= window); the references follow
 *    the current (and Gemma 2's original) semantics, i - j < window.
 *  - ACT2FN names: 'gelu' = exact erf GELU (GELUActivation), 'gelu_pytorch_tanh' / 'gelu_new' / 'gelu_fast' =
 *    the tanh approximation 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), 'silu' / 'swish', 'relu'.
 */
import { mulberry32, type NDArray } from '@loom/graph';

export type Checkpoint = Map<string, NDArray>;
/** Float64 activations of one sequence: [T][width]. */
export type Matrix = number[][];

// ---------------------------------------------------------------- random checkpoints

/** A seeded source of f32 tensors whose values are uniform in (-scale, scale) (mulberry32, so reproducible). */
export type TensorSource = (shape: readonly number[], scale?: number) => NDArray;

export function tensorSource(seed: number): TensorSource {
  const r = mulberry32(seed);
  return (shape, scale = 0.2) => {
    const n = shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    for (let i = 0; i < n; i++) data[i] = (r() * 2 - 1) * scale;
    return { dtype: 'f32', shape: [...shape], data };
  };
}

/** The tensor `name` of a checkpoint, checked against an expected shape when one is given. */
export function tensor(c: Checkpoint, name: string, shape?: readonly number[]): NDArray {
  const t = c.get(name);
  if (!t) throw new Error(`checkpoint has no tensor '${name}'`);
  if (t.dtype === 'i32') throw new Error(`tensor '${name}' is i32, not a float tensor`);
  if (shape && (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i]))) {
    throw new Error(`tensor '${name}' has shape [${t.shape.join(', ')}], expected [${shape.join(', ')}]`);
  }
  return t;
}

// ---------------------------------------------------------------- config helpers

/** rope_theta of a config, in the classic key or transformers v5's rope_parameters; rope scaling is refused. */
export function ropeTheta(cfg: { rope_theta?: number | null; rope_parameters?: { rope_theta?: number; rope_type?: string } | null; rope_scaling?: unknown }, fallback: number): number {
  if (cfg.rope_scaling != null) throw new Error(`rope_scaling ${JSON.stringify(cfg.rope_scaling)} is not implemented by the reference (default rope only)`);
  const type = cfg.rope_parameters?.rope_type;
  if (type !== undefined && type !== 'default') throw new Error(`rope_type '${type}' is not implemented by the reference (default rope only)`);
  return cfg.rope_theta ?? cfg.rope_parameters?.rope_theta ?? fallback;
}

export function checkHeads(nHead: number, nKvHead: number): void {
  if (!Number.isInteger(nHead / nKvHead)) throw new Error(`num_key_value_heads ${nKvHead} does not divide num_attention_heads ${nHead}`);
}

/** The sizes of a Llama-style config (head_dim, when absent, is hidden_size / heads; kv heads default to the heads), checked. */
export function decoderDims(cfg: { num_attention_heads: number; num_key_value_heads?: number | null; head_dim?: number | null; hidden_size: number; intermediate_size: number; vocab_size: number }) {
  const h = cfg.num_attention_heads;
  const kv = cfg.num_key_value_heads ?? h;
  checkHeads(h, kv);
  const dh = cfg.head_dim ?? cfg.hidden_size / h;
  if (!Number.isInteger(dh)) throw new Error(`head_dim ${dh} is not an integer`);
  return { d: cfg.hidden_size, h, kv, dh, f: cfg.intermediate_size, v: cfg.vocab_size };
}

// ---------------------------------------------------------------- elementwise and row helpers

/** nn.Embedding lookup, each row then multiplied by `scale` (1 unless a family scales its embeddings). */
export function embedding(table: NDArray, ids: readonly number[], scale = 1): Matrix {
  const [v, d] = table.shape as [number, number];
  return ids.map((id) => {
    if (!Number.isInteger(id) || id < 0 || id >= v) throw new Error(`token id ${id} is outside the vocabulary of ${v}`);
    const row = new Array<number>(d);
    for (let j = 0; j < d; j++) row[j] = table.data[id * d + j]! * scale;
    return row;
  });
}

/** y = x W^T + b for x [T][in], W [out, in] (nn.Linear), b [out]. */
export function linear(x: Matrix, w: NDArray, b?: NDArray): Matrix {
  const [out, inDim] = w.shape as [number, number];
  if (b && (b.shape.length !== 1 || b.shape[0] !== out)) throw new Error(`bias of shape [${b.shape.join(', ')}] for a linear of ${out} outputs`);
  return x.map((row) => {
    if (row.length !== inDim) throw new Error(`linear of ${inDim} inputs given a row of ${row.length}`);
    const y = new Array<number>(out);
    for (let o = 0; o < out; o++) {
      let s = b ? b.data[o]! : 0;
      const base = o * inDim;
      for (let k = 0; k < inDim; k++) s += row[k]! * w.data[base + k]!;
      y[o] = s;
    }
    return y;
  });
}

/** RMSNorm over each row: x * rsqrt(mean(x^2) + eps) * w, or * (1 + w) with `unitOffset` (Gemma). */
export function rmsnorm(x: Matrix, w: NDArray, eps: number, unitOffset = false): Matrix {
  return x.map((row) => {
    if (row.length !== w.data.length) throw new Error(`rmsnorm of ${w.data.length} given a row of ${row.length}`);
    let ss = 0;
    for (const v of row) ss += v * v;
    const inv = 1 / Math.sqrt(ss / row.length + eps);
    return row.map((v, j) => v * inv * (unitOffset ? 1 + w.data[j]! : w.data[j]!));
  });
}

/** nn.LayerNorm over each row (biased variance). */
export function layernorm(x: Matrix, w: NDArray, b: NDArray, eps: number): Matrix {
  return x.map((row) => {
    if (row.length !== w.data.length) throw new Error(`layernorm of ${w.data.length} given a row of ${row.length}`);
    const mean = row.reduce((s, v) => s + v, 0) / row.length;
    const variance = row.reduce((s, v) => s + (v - mean) * (v - mean), 0) / row.length;
    const inv = 1 / Math.sqrt(variance + eps);
    return row.map((v, j) => (v - mean) * inv * w.data[j]! + b.data[j]!);
  });
}

export function softmax(row: readonly number[]): number[] {
  let m = -Infinity;
  for (const v of row) if (v > m) m = v;
  const e = row.map((v) => Math.exp(v - m));
  const sum = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / sum);
}

/** Elementwise sum of matrices of one shape. */
export function add(...ms: Matrix[]): Matrix {
  const [first, ...rest] = ms;
  if (!first) return [];
  return first.map((row, t) => row.map((v, j) => rest.reduce((s, m) => s + m[t]![j]!, v)));
}

export function mapMatrix(m: Matrix, f: (v: number) => number): Matrix {
  return m.map((row) => row.map(f));
}

/** Elementwise product of two matrices of one shape. */
export function mul(a: Matrix, b: Matrix): Matrix {
  return a.map((row, t) => row.map((v, j) => v * b[t]![j]!));
}

/** Splits each row's columns into consecutive pieces of the given widths (which must sum to the row's width). */
export function splitColumns(m: Matrix, widths: readonly number[]): Matrix[] {
  const total = widths.reduce((a, b) => a + b, 0);
  return widths.map((w, i) => {
    const start = widths.slice(0, i).reduce((a, b) => a + b, 0);
    return m.map((row) => {
      if (row.length !== total) throw new Error(`splitting a row of ${row.length} into widths summing to ${total}`);
      return row.slice(start, start + w);
    });
  });
}

/** Soft-capping as HF writes it: tanh(x / cap) * cap. */
export function softcap(x: number, cap: number): number {
  return Math.tanh(x / cap) * cap;
}

// ---------------------------------------------------------------- activations

/**
 * erf(x) to double precision: (2 / sqrt(pi)) e^(-x^2) sum_n 2^n x^(2n+1) / (1*3*...*(2n+1)), a series of
 * positive terms (no cancellation) valid for every x; |x| >= 6 rounds to +-1 in float64.
 */
export function erf(x: number): number {
  if (Number.isNaN(x)) return NaN;
  const ax = Math.abs(x);
  if (ax >= 6) return Math.sign(x);
  let term = ax;
  let sum = ax;
  const x2 = 2 * ax * ax;
  for (let n = 0; n < 500; n++) {
    term *= x2 / (2 * n + 3);
    sum += term;
    if (term < sum * 1e-17) break;
  }
  return Math.sign(x) * (2 / Math.sqrt(Math.PI)) * Math.exp(-ax * ax) * sum;
}

/** Exact GELU (ACT2FN['gelu'], torch.nn.functional.gelu): 0.5 x (1 + erf(x / sqrt 2)). */
export function gelu(x: number): number {
  return 0.5 * x * (1 + erf(x / Math.SQRT2));
}

/** The tanh approximation (ACT2FN['gelu_pytorch_tanh'] / 'gelu_new'): 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))). */
export function geluTanh(x: number): number {
  return 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x)));
}

export function silu(x: number): number {
  return x / (1 + Math.exp(-x));
}

/** An ACT2FN activation by its config name. */
export function activation(name: string): (x: number) => number {
  switch (name) {
    case 'gelu':
      return gelu;
    case 'gelu_pytorch_tanh':
    case 'gelu_new':
    case 'gelu_fast':
      return geluTanh;
    case 'silu':
    case 'swish':
      return silu;
    case 'relu':
      return (x) => Math.max(0, x);
    default:
      throw new Error(`activation '${name}' is not implemented by the reference`);
  }
}

// ---------------------------------------------------------------- rotary positions

/**
 * Rotary embedding of one head's vector at position `pos`, halves style (rotate_half), on the first
 * `rotaryDims` elements (even); the rest pass through unchanged.
 */
export function ropeHalves(vec: readonly number[], pos: number, rotaryDims: number, base: number): number[] {
  if (rotaryDims % 2 !== 0 || rotaryDims > vec.length) throw new Error(`rotary dims ${rotaryDims} must be even and at most the head size ${vec.length}`);
  const out = [...vec];
  const half = rotaryDims / 2;
  for (let j = 0; j < half; j++) {
    const angle = pos * Math.pow(base, (-2 * j) / rotaryDims);
    const [c, s] = [Math.cos(angle), Math.sin(angle)];
    const [a, b] = [vec[j]!, vec[j + half]!];
    out[j] = a * c - b * s;
    out[j + half] = b * c + a * s;
  }
  return out;
}

/** ropeHalves applied to every head of every row of x [T][nHeads * headDim], row t at position t. */
export function ropeRows(x: Matrix, nHeads: number, headDim: number, rotaryDims: number, base: number): Matrix {
  return x.map((row, t) => {
    if (row.length !== nHeads * headDim) throw new Error(`rope over ${nHeads} heads of ${headDim} given a row of ${row.length}`);
    const out: number[] = [];
    for (let h = 0; h < nHeads; h++) out.push(...ropeHalves(row.slice(h * headDim, (h + 1) * headDim), t, rotaryDims, base));
    return out;
  });
}

// ---------------------------------------------------------------- attention

export interface AttentionOptions {
  readonly nHead: number;
  readonly nKvHead: number;
  readonly headDim: number;
  /** Multiplies q.k (HF's `scaling`: head_dim^-0.5 usually, query_pre_attn_scalar^-0.5 in Gemma 2). */
  readonly scaling: number;
  /** Query i sees key j iff j <= i and i - j < slidingWindow; null or undefined: every j <= i. */
  readonly slidingWindow?: number | null;
  /** scores = tanh(scores / cap) * cap after scaling, before the mask (Gemma 2's attn_logit_softcapping). */
  readonly softcap?: number | null;
}

/** Whether query position i may attend to key position j (HF's causal and sliding-window mask functions). */
export function visible(i: number, j: number, slidingWindow?: number | null): boolean {
  return j <= i && (slidingWindow == null || i - j < slidingWindow);
}

/**
 * Causal self-attention of one sequence: q [T][H * Dh], k and v [T][KV * Dh] (rotary already applied, heads
 * laid out head-major as HF's view(T, heads, Dh)), output [T][H * Dh] (heads concatenated, before o_proj).
 */
export function attention(q: Matrix, k: Matrix, v: Matrix, o: AttentionOptions): Matrix {
  const { nHead: h, nKvHead: kv, headDim: dh } = o;
  checkHeads(h, kv);
  const group = h / kv;
  return q.map((qRow, i) => {
    if (qRow.length !== h * dh) throw new Error(`query row of ${qRow.length}, expected ${h * dh}`);
    const out = new Array<number>(h * dh).fill(0);
    for (let hh = 0; hh < h; hh++) {
      const g = Math.floor(hh / group);
      const keys: number[] = [];
      const scores: number[] = [];
      for (let j = 0; j <= i; j++) {
        if (!visible(i, j, o.slidingWindow)) continue;
        let s = 0;
        for (let c = 0; c < dh; c++) s += qRow[hh * dh + c]! * k[j]![g * dh + c]!;
        s *= o.scaling;
        if (o.softcap != null) s = softcap(s, o.softcap);
        keys.push(j);
        scores.push(s);
      }
      const p = softmax(scores);
      keys.forEach((j, n) => {
        for (let c = 0; c < dh; c++) out[hh * dh + c]! += p[n]! * v[j]![g * dh + c]!;
      });
    }
    return out;
  });
}
