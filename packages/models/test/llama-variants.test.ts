/**
 * The Llama family beyond the fixture's configuration, against an independent float64 forward pass
 * written here from Hugging Face's modeling_llama / modeling_qwen2 (plain loops over the checkpoint's
 * own [out, in] matrices): Qwen2's q/k/v biases, an untied lm_head, plain multi-head attention
 * (kv heads = heads) and multi-query attention (one kv head), head_dim apart from hidden / heads.
 */
import { cpuBackend } from '@loom/backends';
import { maxAbsDiff, mulberry32, type NDArray } from '@loom/graph';
import { describe, expect, it } from 'vitest';
import { llamaConfigFromHf, type LlamaConfig } from '../src/llama/config.ts';
import { LlamaRunner } from '../src/runners/causal-lm-runner.ts';
import { generate } from '../src/decoding/generate.ts';
import { llamaWeights } from '../src/weights/llama-weights.ts';

type Checkpoint = Map<string, NDArray>;

function randomCheckpoint(cfg: LlamaConfig, seed: number): Checkpoint {
  const r = mulberry32(seed);
  const t = (shape: number[], scale = 0.2): NDArray => ({ dtype: 'f32', shape, data: Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => (r() * 2 - 1) * scale) });
  const [d, h, kv, dh, f, v] = [cfg.hidden, cfg.nHead, cfg.nKvHead, cfg.headDim, cfg.intermediate, cfg.vocabSize];
  const c: Checkpoint = new Map([['model.embed_tokens.weight', t([v, d], 0.5)], ['model.norm.weight', t([d], 1)]]);
  if (!cfg.tieEmbeddings) c.set('lm_head.weight', t([v, d], 0.5));
  for (let i = 0; i < cfg.nLayer; i++) {
    const p = `model.layers.${i}`;
    c.set(`${p}.input_layernorm.weight`, t([d], 1));
    c.set(`${p}.post_attention_layernorm.weight`, t([d], 1));
    for (const [name, out, inDim] of [['q_proj', h * dh, d], ['k_proj', kv * dh, d], ['v_proj', kv * dh, d], ['o_proj', d, h * dh]] as const) {
      c.set(`${p}.self_attn.${name}.weight`, t([out, inDim]));
      if (cfg.qkvBias && name !== 'o_proj') c.set(`${p}.self_attn.${name}.bias`, t([out]));
    }
    c.set(`${p}.mlp.gate_proj.weight`, t([f, d]));
    c.set(`${p}.mlp.up_proj.weight`, t([f, d]));
    c.set(`${p}.mlp.down_proj.weight`, t([d, f]));
  }
  return c;
}

/** y = x W^T + b for x [T, in], W [out, in] (nn.Linear). */
function linear(x: number[][], w: NDArray, b?: NDArray): number[][] {
  const [out, inDim] = w.shape as [number, number];
  return x.map((row) => Array.from({ length: out }, (_, o) => {
    let s = b ? b.data[o]! : 0;
    for (let k = 0; k < inDim; k++) s += row[k]! * w.data[o * inDim + k]!;
    return s;
  }));
}

function rms(x: number[][], w: NDArray, eps: number): number[][] {
  return x.map((row) => {
    const inv = 1 / Math.sqrt(row.reduce((s, v) => s + v * v, 0) / row.length + eps);
    return row.map((v, j) => v * inv * w.data[j]!);
  });
}

/** HF Llama forward of one sequence in float64: logits [T][V]. */
function hfForward(cfg: LlamaConfig, c: Checkpoint, ids: number[]): number[][] {
  const [d, h, kv, dh] = [cfg.hidden, cfg.nHead, cfg.nKvHead, cfg.headDim];
  const get = (n: string) => c.get(n)!;
  const embed = get('model.embed_tokens.weight');
  let x = ids.map((id) => Array.from(embed.data.subarray(id * d, id * d + d)));
  const rope = (vec: number[], pos: number) => {
    const out = [...vec];
    for (let j = 0; j < dh / 2; j++) {
      const angle = pos * Math.pow(cfg.ropeTheta, (-2 * j) / dh);
      const [a, b] = [vec[j]!, vec[j + dh / 2]!];
      out[j] = a * Math.cos(angle) - b * Math.sin(angle);
      out[j + dh / 2] = b * Math.cos(angle) + a * Math.sin(angle);
    }
    return out;
  };
  for (let i = 0; i < cfg.nLayer; i++) {
    const p = `model.layers.${i}`;
    const n = rms(x, get(`${p}.input_layernorm.weight`), cfg.eps);
    const bias = (name: string) => (cfg.qkvBias ? get(`${p}.self_attn.${name}.bias`) : undefined);
    const q = linear(n, get(`${p}.self_attn.q_proj.weight`), bias('q_proj'));
    const k = linear(n, get(`${p}.self_attn.k_proj.weight`), bias('k_proj'));
    const v = linear(n, get(`${p}.self_attn.v_proj.weight`), bias('v_proj'));
    const head = (m: number[][], t: number, hh: number) => m[t]!.slice(hh * dh, hh * dh + dh);
    const context = ids.map((_, t) => {
      const row: number[] = [];
      for (let hh = 0; hh < h; hh++) {
        const g = Math.floor(hh / (h / kv));
        const qv = rope(head(q, t, hh), t);
        const scores = Array.from({ length: t + 1 }, (_, s) => rope(head(k, s, g), s).reduce((acc, kvv, c2) => acc + kvv * qv[c2]!, 0) / Math.sqrt(dh));
        const m = Math.max(...scores);
        const e = scores.map((s) => Math.exp(s - m));
        const sum = e.reduce((a, b) => a + b, 0);
        for (let c2 = 0; c2 < dh; c2++) row.push(e.reduce((acc, w, s) => acc + (w / sum) * head(v, s, g)[c2]!, 0));
      }
      return row;
    });
    const o = linear(context, get(`${p}.self_attn.o_proj.weight`));
    x = x.map((row, t) => row.map((val, j) => val + o[t]![j]!));
    const n2 = rms(x, get(`${p}.post_attention_layernorm.weight`), cfg.eps);
    const gate = linear(n2, get(`${p}.mlp.gate_proj.weight`));
    const up = linear(n2, get(`${p}.mlp.up_proj.weight`));
    const hidden = gate.map((row, t) => row.map((gv, j) => (gv / (1 + Math.exp(-gv))) * up[t]![j]!));
    const down = linear(hidden, get(`${p}.mlp.down_proj.weight`));
    x = x.map((row, t) => row.map((val, j) => val + down[t]![j]!));
  }
  return linear(rms(x, get('model.norm.weight'), cfg.eps), cfg.tieEmbeddings ? embed : get('lm_head.weight'));
}

const base = { vocab_size: 50, hidden_size: 24, intermediate_size: 40, num_hidden_layers: 2, max_position_embeddings: 32, rms_norm_eps: 1e-6, rope_theta: 10000 };

describe('Llama-family configurations against an independent float64 forward pass', () => {
  for (const [label, json] of [
    ['qwen2: q/k/v biases, untied lm_head, 6 heads on 2 kv heads', { ...base, model_type: 'qwen2', num_attention_heads: 6, num_key_value_heads: 2, tie_word_embeddings: false }],
    ['llama: plain multi-head attention (kv heads = heads), untied, head_dim 6 apart from hidden / heads', { ...base, model_type: 'llama', num_attention_heads: 3, num_key_value_heads: 3, head_dim: 6 }],
    ['mistral: multi-query attention (one kv head), tied, no sliding window', { ...base, model_type: 'mistral', num_attention_heads: 4, num_key_value_heads: 1, tie_word_embeddings: true, sliding_window: null }],
  ] as const) {
    it(label, async () => {
      const cfg = llamaConfigFromHf(json);
      const checkpoint = randomCheckpoint(cfg, 7);
      const runner = new LlamaRunner(cfg, llamaWeights(cfg, checkpoint), cpuBackend);
      const ids = [3, 17, 42, 8, 8, 29];
      const logits = await runner.logits([ids]);
      const want = hfForward(cfg, checkpoint, ids).flat();
      const err = maxAbsDiff(logits.data, want);
      expect(err).toBeLessThan(1e-4);
      const cached = await generate(runner, [ids, ids.slice(0, 2)], { maxNewTokens: 5, kvCache: true, stopAt: null });
      const recomputed = await generate(runner, [ids, ids.slice(0, 2)], { maxNewTokens: 5, kvCache: false, stopAt: null });
      expect(cached).toEqual(recomputed);
    });
  }
});
