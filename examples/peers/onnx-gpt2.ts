/**
 * GPT-2 as ONNX graphs built from a Loom weight map (the names of buildGpt2, Conv1D weights
 * [in, out], logits = ln_f(x) @ wte^T), run on onnxruntime-node: the peer the benchmark compares
 * Loom's CPU backend with, on the same weights.
 *
 * Two graphs, as Hugging Face exports them:
 *   prefill  input_ids int64 [batch, seq] -> logits [batch, seq, V]
 *   decode   input_ids int64 [batch, seq] and past_key_{i}, past_value_{i} [batch, H, past, Dh]
 *            -> logits [batch, 1, V] (the last position only) and present_key_{i}, present_value_{i}
 *            [batch, H, past + seq, Dh]. The prompt goes in with an empty cache (past = 0), then one
 *            token per step. Positions start at the cache length, read from past_key_0's shape, so
 *            no separate offset input can disagree with the cache.
 *
 * Dimension letters: B batch, T new tokens, P past length, S = P + T keys, C width, H heads,
 * Dh = C / H, V vocabulary.
 */
import { codeAt, codesPerWord, quantizeMatrix, type NDArray, type WeightQuantization, type Weights } from '@loom/graph';
import { argmax, type Gpt2Config } from '@loom/models';
import { additiveMask, attend, layerNorm, linear as floatLinear, mergeHeads, splitHeads, weightOf } from './onnx-blocks.ts';
import { int, OnnxGraph, string, type ValueSpec } from './onnx-graph.ts';
import { floatOutput, idsTensor, ort, ortSession, tensorFor, type OrtEngine } from './ort-session.ts';

export type Gpt2OnnxKind = 'prefill' | 'decode';

/** Opset 20 for Gelu (approximate = 'tanh' is GPT-2's gelu_new); LayerNormalization is opset 17. */
const OPSET = 20;

function activation(g: OnnxGraph, cfg: Gpt2Config, x: string): string {
  switch (cfg.activation) {
    case 'gelu_tanh':
      return g.node('Gelu', [x], { approximate: string('tanh') });
    case 'gelu':
      return g.node('Gelu', [x], { approximate: string('none') });
    case 'relu':
      return g.node('Relu', [x]);
    case 'silu':
      return g.node('Mul', [x, g.node('Sigmoid', [x])]);
  }
}

/**
 * Products with quantized weights as onnxruntime's MatMulNBits (com.microsoft): the codes and scales
 * Loom's quantizer gives for `quantization` (symmetric: MatMulNBits' default zero point 2^(bits-1)
 * is Loom's), packed in blocks along K, low nibble first. `accuracyLevel` 4 lets onnxruntime compute
 * with int8 activations (its fastest int4 path), 0 in float32.
 */
export interface OnnxQuantized {
  readonly quantization: WeightQuantization;
  readonly accuracyLevel: 0 | 4;
}

/** x @ W for W [k, n] (or read transposed from [n, k]) as MatMulNBits on W's codes. */
function matMulNBits(g: OnnxGraph, q: OnnxQuantized, name: string, x: string, w: NDArray, transposed: boolean): string {
  const [rows, cols] = w.shape as [number, number];
  const [k, n] = transposed ? [cols, rows] : [rows, cols];
  const m = quantizeMatrix(w.data, k, n, transposed, q.quantization, name);
  if (m.zeroPoints || !(m.group >= 16 && (m.group & (m.group - 1)) === 0)) throw new Error(`onnx peer: MatMulNBits takes symmetric groups of a power of two >= 16, not ${String(q.quantization.group)}`);
  const blocks = Math.ceil(k / m.group);
  const blob = (m.group * m.bits) / 8;
  const packed = new Uint8Array(n * blocks * blob);
  const words = Math.ceil(k / codesPerWord(m.bits));
  for (let col = 0; col < n; col++) {
    for (let kk = 0; kk < k; kk++) {
      const code = codeAt(m.codes, m.bits, words, col, kk);
      const at = col * blocks * blob + Math.floor(kk / m.group) * blob;
      const within = kk % m.group;
      if (m.bits === 8) packed[at + within] = code;
      else packed[at + (within >> 1)]! |= within % 2 === 0 ? code : code << 4;
    }
  }
  const codes = g.bytes(`${name}.codes`, packed, [n, blocks, blob]);
  const scales = g.floats(m.scales, [n * blocks]);
  return g.msNode('MatMulNBits', [x, codes, scales], { K: int(k), N: int(n), bits: int(m.bits), block_size: int(m.group), accuracy_level: int(q.accuracyLevel) });
}

/** The serialized ONNX model of GPT-2 with `weights` as initializers (its products' weights quantized with `quantized`). */
export function gpt2OnnxModel(cfg: Gpt2Config, weights: Weights, kind: Gpt2OnnxKind, quantized?: OnnxQuantized): Uint8Array {
  const g = new OnnxGraph();
  const [c, heads, v] = [cfg.nEmbd, cfg.nHead, cfg.vocabSize];
  const headDim = c / heads;
  const decode = kind === 'decode';
  const scalar = (value: number) => g.int64s([value], []);
  const sizeOf = (tensor: string, axis: number) => g.node('Gather', [g.node('Shape', [tensor]), scalar(axis)], { axis: int(0) });

  const ids = 'input_ids';
  const pastLength = decode ? sizeOf('past_key_0', 2) : scalar(0); // P
  const keyLength = g.node('Add', [pastLength, sizeOf(ids, 1)]); // S = P + T
  const positions = g.node('Range', [pastLength, keyLength, scalar(1)]); // (T): P .. S - 1
  const keyPositions = g.node('Range', [scalar(0), keyLength, scalar(1)]); // (S)
  // query at position p may see keys 0..p: block keys after it
  const future = g.node('Greater', [g.node('Unsqueeze', [keyPositions, g.int64s([0])]), g.node('Unsqueeze', [positions, g.int64s([1])])]); // (T, S)
  const mask = additiveMask(g, future);

  const wte = g.weight('wte.weight', weightOf(weights, 'wte.weight'));
  const wpe = g.weight('wpe.weight', weightOf(weights, 'wpe.weight'));
  let x = g.node('Add', [g.node('Gather', [wte, ids], { axis: int(0) }), g.node('Gather', [wpe, positions], { axis: int(0) })]); // (B, T, C)

  const linear = (g: OnnxGraph, weights: Weights, name: string, x: string): string => {
    if (!quantized) return floatLinear(g, weights, name, x);
    const product = matMulNBits(g, quantized, `${name}.weight`, x, weightOf(weights, `${name}.weight`), false);
    return g.node('Add', [product, g.weight(`${name}.bias`, weightOf(weights, `${name}.bias`))]);
  };
  for (let i = 0; i < cfg.nLayer; i++) {
    const p = `h.${i}`;
    const qkv = linear(g, weights, `${p}.attn.c_attn`, layerNorm(g, weights, `${p}.ln_1`, x, cfg.eps)); // (B, T, 3C)
    const [q, k, val] = g.nodeOutputs('Split', [qkv, g.int64s([c, c, c])], { axis: int(-1) }, 3).map((t) => splitHeads(g, t, heads, headDim)) as [string, string, string];
    // with a cache, attention reads the past keys and values followed by this call's
    const keys = decode ? g.node('Concat', [`past_key_${i}`, k], { axis: int(2) }, `present_key_${i}`) : k; // (B, H, S, Dh)
    const values = decode ? g.node('Concat', [`past_value_${i}`, val], { axis: int(2) }, `present_value_${i}`) : val;
    const context = mergeHeads(g, attend(g, q, keys, values, headDim, mask), c); // (B, T, C)
    x = g.node('Add', [x, linear(g, weights, `${p}.attn.c_proj`, context)]);
    const hidden = activation(g, cfg, linear(g, weights, `${p}.mlp.c_fc`, layerNorm(g, weights, `${p}.ln_2`, x, cfg.eps))); // (B, T, 4C)
    x = g.node('Add', [x, linear(g, weights, `${p}.mlp.c_proj`, hidden)]);
  }

  // decoding needs the next token's logits only: take the last position before the V-wide head
  if (decode) x = g.node('Slice', [x, g.int64s([-1]), g.int64s([2 ** 31]), g.int64s([1])]); // (B, 1, C)
  x = layerNorm(g, weights, 'ln_f', x, cfg.eps);
  // Gemm reads wte transposed in place (transB), so the tied head needs no second copy of the table
  const flat = g.node('Reshape', [x, g.int64s([-1, c])]);
  const rows = quantized ? matMulNBits(g, quantized, 'wte.weight', flat, weightOf(weights, 'wte.weight'), true) : g.node('Gemm', [flat, wte], { transB: int(1) }); // (B * T', V)
  const logitsShape = decode ? g.int64s([-1, 1, v]) : g.node('Concat', [g.node('Shape', [ids]), g.int64s([v])], { axis: int(0) });
  g.node('Reshape', [rows, logitsShape], {}, 'logits');

  const cache = (name: string, length: string): ValueSpec[] =>
    Array.from({ length: cfg.nLayer }, (_, i) => [`${name}_key_${i}`, `${name}_value_${i}`]).flat().map((n) => ({ name: n, dtype: 'float32', shape: ['batch', heads, length, headDim] }));
  const inputs: ValueSpec[] = [{ name: ids, dtype: 'int64', shape: ['batch', 'seq'] }, ...(decode ? cache('past', 'past') : [])];
  const outputs: ValueSpec[] = [{ name: 'logits', dtype: 'float32', shape: ['batch', decode ? 1 : 'seq', v] }, ...(decode ? cache('present', 'total') : [])];
  return g.encode(`gpt2_${kind}`, inputs, outputs, OPSET);
}

export interface OrtGpt2Options {
  readonly threads: number;
  readonly kind: Gpt2OnnxKind;
  readonly quantized?: OnnxQuantized;
  /** onnxruntime-node (default) or onnxruntime-web's wasm backend. */
  readonly engine?: OrtEngine;
}

/** An onnxruntime session of the GPT-2 graph of `kind`. */
export function ortGpt2Session(cfg: Gpt2Config, weights: Weights, { threads, kind, quantized, engine }: OrtGpt2Options): Promise<ort.InferenceSession> {
  return ortSession(gpt2OnnxModel(cfg, weights, kind, quantized), threads, engine);
}

/** One prefill forward (batch 1): the logits [T * V], row-major. */
export async function ortGpt2Prefill(session: ort.InferenceSession, ids: readonly number[]): Promise<Float32Array> {
  return floatOutput(await session.run({ input_ids: idsTensor(ids, session) }), 'logits');
}

/**
 * Decoding with the cache on a decode session (batch 1): `start` runs the prompt on an empty
 * cache, each `step` feeds one token (`feed`, several); all return the next token's logits [V]. The presents of one
 * call are fed back as the pasts of the next (copied through JS, as onnxruntime-node users do).
 */
export class OrtGpt2Decoder {
  private past: Record<string, ort.Tensor> = {};

  constructor(
    private readonly session: ort.InferenceSession,
    private readonly cfg: Gpt2Config,
  ) {}

  start(prompt: readonly number[]): Promise<Float32Array> {
    const empty = () => tensorFor(this.session, 'float32', new Float32Array(0), [1, this.cfg.nHead, 0, this.cfg.nEmbd / this.cfg.nHead]);
    this.past = {};
    for (let i = 0; i < this.cfg.nLayer; i++) {
      this.past[`past_key_${i}`] = empty();
      this.past[`past_value_${i}`] = empty();
    }
    return this.run(prompt);
  }

  step(token: number): Promise<Float32Array> {
    return this.run([token]);
  }

  /** Several tokens at once after the cache (a prompt in chunks); the last one's next-token logits. */
  feed(ids: readonly number[]): Promise<Float32Array> {
    return this.run(ids);
  }

  /** Tokens in the cache. */
  get length(): number {
    return this.past['past_key_0']?.dims[2] ?? 0;
  }

  private async run(ids: readonly number[]): Promise<Float32Array> {
    const outputs = await this.session.run({ input_ids: idsTensor(ids, this.session), ...this.past });
    for (let i = 0; i < this.cfg.nLayer; i++) {
      for (const part of ['key', 'value']) this.past[`past_${part}_${i}`] = outputs[`present_${part}_${i}`] as ort.Tensor;
    }
    return floatOutput(outputs, 'logits');
  }
}

export interface GreedyRun {
  /** The `steps` tokens picked after the prompt. */
  readonly tokens: number[];
  /** logits[0] after the prompt, logits[k] after feeding tokens[k - 1]; steps + 1 rows of V. */
  readonly logits: Float32Array[];
}

/** Greedy decoding of `steps` tokens after `prompt` on a decode session. */
export async function ortGpt2Greedy(session: ort.InferenceSession, cfg: Gpt2Config, prompt: readonly number[], steps: number): Promise<GreedyRun> {
  const decoder = new OrtGpt2Decoder(session, cfg);
  const logits = [await decoder.start(prompt)];
  const tokens: number[] = [];
  for (let s = 0; s < steps; s++) {
    const token = argmax(logits.at(-1)!);
    tokens.push(token);
    logits.push(await decoder.step(token));
  }
  return { tokens, logits };
}
