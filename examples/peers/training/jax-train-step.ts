/**
 * jax-js peer for Loom's training-step benchmark: the same two models, batches, weights and step
 * (forward, loss, backward, global-norm clipping to 1.0, AdamW) as torch_train_step.py, built with
 * `@jax-js/jax` on its wasm backend. The whole step (valueAndGrad, clipping, AdamW) is one jit.
 *
 * Weights and token ids come from the counter-based hash that torch_train_step.py uses, so both
 * peers start from bit-identical float32 weights and identical batches (their first losses match).
 * Linear weights are kept as [in, out] here (torch keeps [out, in]); they are the same numbers.
 *
 * If jax-js cannot be loaded or run, jaxTrainStepMs throws an Error saying why (which import, which
 * op, which error), for the caller's table row.
 */

import { holdShimWorkers, installNodeWorkerShim, shimWorkerCount } from './node-worker-shim.ts';

/** The jax-js module, loaded lazily so a missing package turns into a precise Error. */
type Jax = typeof import('@jax-js/jax');
type JArray = import('@jax-js/jax').Array;
type Params = { [name: string]: JArray };
type Batch = { [name: string]: JArray };
type Hyper = { stepSize: JArray; sqrtBc2: JArray };
type State = { params: Params; m: Params; v: Params };

export type TrainModel = 'reverse' | 'gpt2-5m';

export interface JaxTrainStepResult {
  readonly medianMs: number;
  readonly runsMs: number[];
  readonly params: number;
  readonly version: string;
  readonly backend: string;
}

export interface JaxTrainStepOptions {
  readonly steps: number;
  readonly warmup: number;
  /**
   * Wasm threads (default 1). Above 1, a browser-style global `Worker` on node:worker_threads is
   * installed before the backend starts (node-worker-shim.ts), and jax-js runs its kernels on a pool
   * of that many threads. Node itself has no `Worker`, so plain jax-js in Node runs on one thread.
   * The backend starts once per process: the first call's value holds for later calls.
   */
  readonly threads?: number;
  /** Called with every step's loss (warm-up steps included), for checks. */
  readonly onLoss?: (step: number, loss: number) => void;
}

const JAX_VERSION = '0.1.25';
const LR = 1e-3;
const BETA1 = 0.9;
const BETA2 = 0.999;
const EPS = 1e-8;
const WEIGHT_DECAY = 0.01;
const MAX_NORM = 1.0;
const LN_EPS = 1e-5;
const MASKED = -1e9;

export const REVERSE = { vocab: 30, d: 128, heads: 4, dFf: 512, encLayers: 2, decLayers: 2, batch: 32, srcLen: 32, tgtLen: 32, bos: 1, smoothing: 0.1 } as const;
export const GPT2_5M = { vocab: 8192, d: 256, heads: 4, layers: 4, nPositions: 128, batch: 8, seq: 128 } as const;

// ---------------------------------------------------------------------------------------------
// Deterministic values, bit-identical to torch_train_step.py

function fnv1a32(text: string): number {
  let h = 0x811c9dc5;
  for (const byte of new TextEncoder().encode(text)) h = Math.imul(h ^ byte, 0x01000193) >>> 0;
  return h >>> 0;
}

function mix32(x: number): number {
  x = (x ^ (x >>> 16)) >>> 0;
  x = Math.imul(x, 0x7feb352d) >>> 0;
  x = (x ^ (x >>> 15)) >>> 0;
  x = Math.imul(x, 0x846ca68b) >>> 0;
  return (x ^ (x >>> 16)) >>> 0;
}

function hashStream(name: string, count: number): Uint32Array {
  const base = mix32(fnv1a32(name));
  const out = new Uint32Array(count);
  for (let i = 0; i < count; i++) out[i] = mix32((i + base) >>> 0);
  return out;
}

/** Uniform in [-bound, bound), row-major over `shape` (torch layout). */
function uniformValues(name: string, shape: readonly number[], bound: number): Float32Array {
  const h = hashStream(name, shape.reduce((a, b) => a * b, 1));
  const out = new Float32Array(h.length);
  for (let i = 0; i < h.length; i++) out[i] = (2 * ((h[i]! >>> 8) * 2 ** -24) - 1) * bound;
  return out;
}

function tokenIds(name: string, count: number, low: number, high: number): Int32Array {
  const h = hashStream(name, count);
  const out = new Int32Array(count);
  for (let i = 0; i < count; i++) out[i] = low + (h[i]! % (high - low));
  return out;
}

/** [rows, cols] row-major -> [cols, rows] row-major. */
function transposeHost(a: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(a.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = a[r * cols + c]!;
  return out;
}

/** Interleaved sinusoids: even dims sin(pos / 10000^(2i/d)), odd dims cos of the same angle. */
function sinusoidTable(length: number, d: number): Float32Array {
  const out = new Float32Array(length * d);
  for (let pos = 0; pos < length; pos++) {
    for (let k = 0; k < d; k += 2) {
      const angle = pos / Math.pow(10000, k / d);
      out[pos * d + k] = Math.sin(angle);
      if (k + 1 < d) out[pos * d + k + 1] = Math.cos(angle);
    }
  }
  return out;
}

/** Smoothed one-hot targets [labels.length, classes]: (1 - eps) on the label, eps / classes everywhere. */
function targetDistribution(labels: Int32Array, classes: number, smoothing: number): Float32Array {
  const out = new Float32Array(labels.length * classes).fill(smoothing / classes);
  for (let i = 0; i < labels.length; i++) {
    const at = i * classes + labels[i]!;
    out[at] = out[at]! + (1 - smoothing);
  }
  return out;
}

/** A parameter's shape in torch layout and how torch_train_step.py initialises it. */
interface ParamSpec {
  readonly name: string;
  /** torch shape: Linear weights [out, in]. */
  readonly shape: readonly number[];
  readonly init: 'zero' | 'one' | { readonly bound: number };
  /** Stored here as [in, out]. */
  readonly linear: boolean;
}

function reverseParamSpecs(): ParamSpec[] {
  const { vocab, d, dFf, encLayers, decLayers } = REVERSE;
  const specs: ParamSpec[] = [];
  const emb = (name: string) => specs.push({ name, shape: [vocab, d], init: { bound: Math.sqrt(3.0 / d) }, linear: false });
  const linear = (name: string, out: number, inp: number) => {
    specs.push({ name: `${name}weight`, shape: [out, inp], init: { bound: 1.0 / Math.sqrt(inp) }, linear: true });
    specs.push({ name: `${name}bias`, shape: [out], init: 'zero', linear: false });
  };
  const norm = (name: string) => {
    specs.push({ name: `${name}.weight`, shape: [d], init: 'one', linear: false });
    specs.push({ name: `${name}.bias`, shape: [d], init: 'zero', linear: false });
  };
  const mha = (prefix: string) => {
    linear(`${prefix}.in_proj_`, 3 * d, d);
    linear(`${prefix}.out_proj.`, d, d);
  };
  emb('src_emb.weight');
  emb('tgt_emb.weight');
  for (let i = 0; i < encLayers; i++) {
    const p = `transformer.encoder.layers.${i}`;
    mha(`${p}.self_attn`);
    linear(`${p}.linear1.`, dFf, d);
    linear(`${p}.linear2.`, d, dFf);
    norm(`${p}.norm1`);
    norm(`${p}.norm2`);
  }
  norm('transformer.encoder.norm');
  for (let i = 0; i < decLayers; i++) {
    const p = `transformer.decoder.layers.${i}`;
    mha(`${p}.self_attn`);
    mha(`${p}.multihead_attn`);
    linear(`${p}.linear1.`, dFf, d);
    linear(`${p}.linear2.`, d, dFf);
    norm(`${p}.norm1`);
    norm(`${p}.norm2`);
    norm(`${p}.norm3`);
  }
  norm('transformer.decoder.norm');
  linear('out.', vocab, d);
  return specs;
}

function gpt2ParamSpecs(): ParamSpec[] {
  const { vocab, d, layers, nPositions } = GPT2_5M;
  const bound = 0.02 * Math.sqrt(3.0);
  let projStd = 0.02;
  projStd /= Math.sqrt(2 * layers); // GPT-2's residual projection scaling, as in the Python peer
  const projBound = projStd * Math.sqrt(3.0);
  const specs: ParamSpec[] = [
    { name: 'wte.weight', shape: [vocab, d], init: { bound }, linear: false },
    { name: 'wpe.weight', shape: [nPositions, d], init: { bound }, linear: false },
  ];
  const linear = (name: string, out: number, inp: number, b: number) => {
    specs.push({ name: `${name}.weight`, shape: [out, inp], init: { bound: b }, linear: true });
    specs.push({ name: `${name}.bias`, shape: [out], init: 'zero', linear: false });
  };
  const norm = (name: string) => {
    specs.push({ name: `${name}.weight`, shape: [d], init: 'one', linear: false });
    specs.push({ name: `${name}.bias`, shape: [d], init: 'zero', linear: false });
  };
  for (let i = 0; i < layers; i++) {
    norm(`h.${i}.ln_1`);
    linear(`h.${i}.c_attn`, 3 * d, d, bound);
    linear(`h.${i}.c_proj`, d, d, projBound);
    norm(`h.${i}.ln_2`);
    linear(`h.${i}.c_fc`, 4 * d, d, bound);
    linear(`h.${i}.mlp_proj`, d, 4 * d, projBound);
  }
  norm('ln_f');
  return specs;
}

function hostParams(specs: readonly ParamSpec[]): Map<string, { data: Float32Array; shape: number[] }> {
  const out = new Map<string, { data: Float32Array; shape: number[] }>();
  for (const s of specs) {
    const size = s.shape.reduce((a, b) => a * b, 1);
    let data: Float32Array;
    if (s.init === 'zero') data = new Float32Array(size);
    else if (s.init === 'one') data = new Float32Array(size).fill(1);
    else data = uniformValues(s.name, s.shape, s.init.bound);
    if (s.linear) out.set(s.name, { data: transposeHost(data, s.shape[0]!, s.shape[1]!), shape: [s.shape[1]!, s.shape[0]!] });
    else out.set(s.name, { data, shape: [...s.shape] });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Models (every helper consumes its array arguments, as jax-js requires)

function layers(jax: Jax) {
  const np = jax.numpy;
  const nn = jax.nn;

  /** x [N, in] @ w [in, out] + b. */
  const linear = (x: JArray, w: JArray, b: JArray): JArray => np.matmul(x, w).add(b);

  const layerNorm = (x: JArray, w: JArray, b: JArray): JArray => {
    const mu = x.ref.mean(-1, { keepdims: true });
    const xc = x.sub(mu);
    const variance = np.square(xc.ref).mean(-1, { keepdims: true });
    return xc.mul(np.reciprocal(np.sqrt(variance.add(LN_EPS)))).mul(w).add(b);
  };

  /** Multi-head attention on projected q [B*Lq, d], k, v [B*Lk, d]; bias [Lq, Lk] or null. */
  const attend = (q: JArray, k: JArray, v: JArray, batch: number, lq: number, lk: number, heads: number, bias: JArray | null): JArray => {
    const d = q.shape[1]!;
    const dh = d / heads;
    const q4 = q.reshape([batch, lq, heads, dh]).transpose([0, 2, 1, 3]);
    const k4 = k.reshape([batch, lk, heads, dh]).transpose([0, 2, 3, 1]);
    const v4 = v.reshape([batch, lk, heads, dh]).transpose([0, 2, 1, 3]);
    let scores = np.matmul(q4, k4).mul(1 / Math.sqrt(dh));
    if (bias) scores = scores.add(bias);
    const out = np.matmul(nn.softmax(scores, -1), v4);
    return out.transpose([0, 2, 1, 3]).reshape([batch * lq, d]);
  };

  /** -mean over rows of sum(target * logSoftmax(logits)). */
  const crossEntropy = (logits: JArray, target: JArray): JArray => {
    const rows = logits.shape[0]!;
    return nn.logSoftmax(logits, -1).mul(target).sum().mul(-1 / rows);
  };

  return { linear, layerNorm, attend, crossEntropy };
}

function reverseLoss(jax: Jax) {
  const np = jax.numpy;
  const nn = jax.nn;
  const { linear, layerNorm, attend, crossEntropy } = layers(jax);
  const { d, heads, batch, srcLen, tgtLen, encLayers, decLayers } = REVERSE;

  return (p: Params, b: Batch): JArray => {
    const take = (name: string): JArray => {
      const a = p[name];
      if (!a) throw new Error(`missing parameter ${name}`);
      return a;
    };
    const mha = (prefix: string, xq: JArray, xkv: JArray | null, lq: number, lk: number, bias: JArray | null): JArray => {
      const w = take(`${prefix}.in_proj_weight`);
      const bias3 = take(`${prefix}.in_proj_bias`);
      let q: JArray, k: JArray, v: JArray;
      if (xkv === null) {
        [q, k, v] = np.split(linear(xq, w, bias3), 3, -1) as [JArray, JArray, JArray];
      } else {
        const [wq, wkv] = np.split(w, [d], -1) as [JArray, JArray];
        const [bq, bkv] = np.split(bias3, [d], -1) as [JArray, JArray];
        q = linear(xq, wq, bq);
        [k, v] = np.split(linear(xkv, wkv, bkv), 2, -1) as [JArray, JArray];
      }
      return linear(attend(q, k, v, batch, lq, lk, heads, bias), take(`${prefix}.out_proj.weight`), take(`${prefix}.out_proj.bias`));
    };
    const ffn = (prefix: string, x: JArray): JArray =>
      linear(nn.relu(linear(x, take(`${prefix}.linear1.weight`), take(`${prefix}.linear1.bias`))), take(`${prefix}.linear2.weight`), take(`${prefix}.linear2.bias`));
    const norm = (name: string, x: JArray): JArray => layerNorm(x, take(`${name}.weight`), take(`${name}.bias`));
    const embed = (table: JArray, ids: JArray, length: number, pe: JArray): JArray =>
      np.take(table, ids, 0).mul(Math.sqrt(d)).add(pe).reshape([batch * length, d]);

    const pe = b['pe']!;
    let x = embed(take('src_emb.weight'), b['src']!, srcLen, pe.ref.slice([0, srcLen], []));
    for (let i = 0; i < encLayers; i++) {
      const pre = `transformer.encoder.layers.${i}`;
      x = norm(`${pre}.norm1`, x.ref.add(mha(`${pre}.self_attn`, x, null, srcLen, srcLen, null)));
      x = norm(`${pre}.norm2`, x.ref.add(ffn(pre, x)));
    }
    const memory = norm('transformer.encoder.norm', x);

    const causal = b['causal']!;
    let y = embed(take('tgt_emb.weight'), b['tgtIn']!, tgtLen, pe.slice([0, tgtLen], []));
    for (let i = 0; i < decLayers; i++) {
      const pre = `transformer.decoder.layers.${i}`;
      y = norm(`${pre}.norm1`, y.ref.add(mha(`${pre}.self_attn`, y, null, tgtLen, tgtLen, causal.ref)));
      y = norm(`${pre}.norm2`, y.ref.add(mha(`${pre}.multihead_attn`, y, memory.ref, tgtLen, srcLen, null)));
      y = norm(`${pre}.norm3`, y.ref.add(ffn(pre, y)));
    }
    memory.dispose();
    causal.dispose();
    y = norm('transformer.decoder.norm', y);
    return crossEntropy(linear(y, take('out.weight'), take('out.bias')), b['target']!);
  };
}

function gpt2Loss(jax: Jax) {
  const np = jax.numpy;
  const nn = jax.nn;
  const { linear, layerNorm, attend, crossEntropy } = layers(jax);
  const { d, heads, batch, seq, layers: nLayers } = GPT2_5M;

  return (p: Params, b: Batch): JArray => {
    const take = (name: string): JArray => {
      const a = p[name];
      if (!a) throw new Error(`missing parameter ${name}`);
      return a;
    };
    const norm = (name: string, x: JArray): JArray => layerNorm(x, take(`${name}.weight`), take(`${name}.bias`));
    const wte = take('wte.weight');
    let x = np.take(wte.ref, b['ids']!, 0).add(take('wpe.weight').slice([0, seq], [])).reshape([batch * seq, d]);
    const causal = b['causal']!;
    for (let i = 0; i < nLayers; i++) {
      const pre = `h.${i}`;
      const [q, k, v] = np.split(linear(norm(`${pre}.ln_1`, x.ref), take(`${pre}.c_attn.weight`), take(`${pre}.c_attn.bias`)), 3, -1) as [JArray, JArray, JArray];
      x = x.add(linear(attend(q, k, v, batch, seq, seq, heads, causal.ref), take(`${pre}.c_proj.weight`), take(`${pre}.c_proj.bias`)));
      const hidden = nn.gelu(linear(norm(`${pre}.ln_2`, x.ref), take(`${pre}.c_fc.weight`), take(`${pre}.c_fc.bias`)), { approximate: true });
      x = x.add(linear(hidden, take(`${pre}.mlp_proj.weight`), take(`${pre}.mlp_proj.bias`)));
    }
    causal.dispose();
    // Logits for positions 0..seq-2 only: position t predicts token t+1.
    const h = norm('ln_f', x).reshape([batch, seq, d]).slice([], [0, seq - 1], []).reshape([batch * (seq - 1), d]);
    return crossEntropy(np.matmul(h, wte.transpose()), b['target']!);
  };
}

// ---------------------------------------------------------------------------------------------
// The step

interface Built {
  readonly lossFn: (p: Params, b: Batch) => JArray;
  readonly params: Params;
  readonly batch: Batch;
  readonly paramCount: number;
}

function causalBias(jax: Jax, length: number): JArray {
  const data = new Float32Array(length * length);
  for (let i = 0; i < length; i++) for (let j = i + 1; j < length; j++) data[i * length + j] = MASKED;
  return jax.numpy.array(data, { shape: [length, length] });
}

function buildModel(jax: Jax, model: TrainModel): Built {
  const np = jax.numpy;
  const specs = model === 'reverse' ? reverseParamSpecs() : gpt2ParamSpecs();
  const params: Params = {};
  let paramCount = 0;
  for (const [name, { data, shape }] of hostParams(specs)) {
    params[name] = np.array(data, { shape });
    paramCount += data.length;
  }
  const ints = (data: Int32Array, shape: number[]) => np.array(data, { shape, dtype: np.int32 });
  if (model === 'reverse') {
    const { batch: B, srcLen, tgtLen, vocab, bos, smoothing, d } = REVERSE;
    const src = tokenIds('reverse.src', B * srcLen, 3, vocab);
    const labels = new Int32Array(B * tgtLen);
    const tgtIn = new Int32Array(B * tgtLen);
    for (let r = 0; r < B; r++) {
      for (let t = 0; t < tgtLen; t++) labels[r * tgtLen + t] = src[r * srcLen + (srcLen - 1 - t)]!; // the reversed source
      tgtIn[r * tgtLen] = bos;
      for (let t = 1; t < tgtLen; t++) tgtIn[r * tgtLen + t] = labels[r * tgtLen + t - 1]!;
    }
    const batch: Batch = {
      src: ints(src, [B, srcLen]),
      tgtIn: ints(tgtIn, [B, tgtLen]),
      target: np.array(targetDistribution(labels, vocab, smoothing), { shape: [B * tgtLen, vocab] }),
      pe: np.array(sinusoidTable(Math.max(srcLen, tgtLen), d), { shape: [Math.max(srcLen, tgtLen), d] }),
      causal: causalBias(jax, tgtLen),
    };
    return { lossFn: reverseLoss(jax), params, batch, paramCount };
  }
  const { batch: B, seq, vocab } = GPT2_5M;
  const ids = tokenIds('gpt2.ids', B * seq, 0, vocab);
  const labels = new Int32Array(B * (seq - 1));
  for (let r = 0; r < B; r++) for (let t = 0; t < seq - 1; t++) labels[r * (seq - 1) + t] = ids[r * seq + t + 1]!;
  const batch: Batch = {
    ids: ints(ids, [B, seq]),
    target: np.array(targetDistribution(labels, vocab, 0), { shape: [B * (seq - 1), vocab] }),
    causal: causalBias(jax, seq),
  };
  return { lossFn: gpt2Loss(jax), params, batch, paramCount };
}

/** One training step: loss and grads, clip by global norm, AdamW (torch.optim.AdamW's arithmetic). */
function trainStep(jax: Jax, lossFn: (p: Params, b: Batch) => JArray) {
  const np = jax.numpy;
  return (state: State, batch: Batch, hyper: Hyper): { loss: JArray; state: State } => {
    const [loss, grads] = jax.valueAndGrad(lossFn)(jax.tree.ref(state.params), batch) as [JArray, Params];
    const names = Object.keys(grads);
    let sumSq: JArray | null = null;
    for (const n of names) {
      const s = np.square(grads[n]!.ref).sum();
      sumSq = sumSq === null ? s : sumSq.add(s);
    }
    const coef = np.minimum(np.reciprocal(np.sqrt(sumSq!).add(1e-6)).mul(MAX_NORM), 1);
    const params: Params = {};
    const m: Params = {};
    const v: Params = {};
    for (const n of names) {
      const g = grads[n]!.mul(coef.ref);
      const m1 = state.m[n]!.mul(BETA1).add(g.ref.mul(1 - BETA1));
      const v1 = state.v[n]!.mul(BETA2).add(np.square(g).mul(1 - BETA2));
      const denom = np.sqrt(v1.ref).div(hyper.sqrtBc2.ref).add(EPS);
      params[n] = state.params[n]!.mul(1 - LR * WEIGHT_DECAY).sub(m1.ref.mul(hyper.stepSize.ref).div(denom));
      m[n] = m1;
      v[n] = v1;
    }
    coef.dispose();
    hyper.stepSize.dispose();
    hyper.sqrtBc2.dispose();
    return { loss, state: { params, m, v } };
  };
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

let startedThreads: number | null = null;

async function loadJax(threads: number): Promise<Jax> {
  if (startedThreads === null && threads > 1) installNodeWorkerShim(threads);
  let jax: Jax;
  try {
    jax = await import('@jax-js/jax');
  } catch (e) {
    throw new Error(`jax-js: cannot import @jax-js/jax (${e instanceof Error ? e.message.split('\n')[0] : String(e)}); install it with pnpm add -D @jax-js/jax@${JAX_VERSION} --filter @loom/examples`);
  }
  let devices: string[];
  try {
    devices = await jax.init('wasm');
  } catch (e) {
    throw new Error(`jax-js: init("wasm") failed: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`);
  }
  if (!devices.includes('wasm')) throw new Error(`jax-js: the wasm backend did not start (init returned [${devices.join(', ')}])`);
  jax.defaultDevice('wasm');
  startedThreads ??= threads;
  return jax;
}

async function installedVersion(): Promise<string> {
  try {
    const { createRequire } = await import('node:module');
    const { readFileSync } = await import('node:fs');
    const { dirname, join } = await import('node:path');
    const require = createRequire(import.meta.url);
    const entry = require.resolve('@jax-js/jax');
    // dist/index.cjs -> package root
    const pkg = JSON.parse(readFileSync(join(dirname(entry), '..', 'package.json'), 'utf8')) as { version?: string };
    return pkg.version ?? JAX_VERSION;
  } catch {
    return JAX_VERSION;
  }
}

/**
 * Median ms of one jax-js training step (wasm backend, one thread in Node) of `model`, over
 * `steps` steps after `warmup` untimed ones (the first of which compiles the jit). Each timed step
 * runs the jitted step and waits for the new parameters, moments and the loss value.
 */
export async function jaxTrainStepMs(model: TrainModel, options: JaxTrainStepOptions): Promise<JaxTrainStepResult> {
  const jax = await loadJax(options.threads ?? 1);
  holdShimWorkers(true);
  const np = jax.numpy;
  const built = buildModel(jax, model);
  let state: State = {
    params: built.params,
    m: Object.fromEntries(Object.entries(built.params).map(([n, p]) => [n, np.zerosLike(p.ref)])),
    v: Object.fromEntries(Object.entries(built.params).map(([n, p]) => [n, np.zerosLike(p.ref)])),
  };
  const step = jax.jit(trainStep(jax, built.lossFn));
  const runsMs: number[] = [];
  try {
    for (let i = 0; i < options.warmup + options.steps; i++) {
      const t = i + 1;
      const hyper: Hyper = {
        stepSize: np.array(LR / (1 - BETA1 ** t)),
        sqrtBc2: np.array(Math.sqrt(1 - BETA2 ** t)),
      };
      const t0 = performance.now();
      let out: { loss: JArray; state: State };
      try {
        out = step(state, jax.tree.ref(built.batch), hyper);
      } catch (e) {
        throw new Error(`jax-js: the ${model} training step failed${i === 0 ? ' to trace/compile' : ''}: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`);
      }
      state = out.state;
      await jax.blockUntilReady(state);
      const loss = (await out.loss.data())[0]!;
      const ms = performance.now() - t0;
      if (!Number.isFinite(loss)) throw new Error(`jax-js: the ${model} loss is ${loss} at step ${t}`);
      options.onLoss?.(i, loss);
      if (i >= options.warmup) runsMs.push(ms);
    }
  } finally {
    // Best effort: after a failed step some of these arrays are already consumed.
    for (const release of [() => jax.tree.dispose(state), () => jax.tree.dispose(built.batch), () => step.dispose()]) {
      try {
        release();
      } catch {
        /* already freed */
      }
    }
    holdShimWorkers(false);
  }
  const pool = shimWorkerCount();
  const backend = pool > 0 ? `wasm (${pool} worker threads via node:worker_threads shim)` : 'wasm (1 thread: Node has no Worker)';
  return { medianMs: runsMs.length ? median(runsMs) : NaN, runsMs, params: built.paramCount, version: await installedVersion(), backend };
}
