/**
 * Sanity checks of the float64 Hugging Face references in this folder (they are what later tests judge Loom's
 * implementations of these families by, so they are checked here on their own): finite logits of shape [T][V],
 * causality, the sliding window's exact reach, and a few family-specific switches. Two references are also
 * checked against Loom's Llama runner where the architectures coincide (Mistral without a window, Phi-3 with
 * its fused matrices split), which Loom's own Llama tests tie to an independent reference already.
 */
import { cpuBackend } from '@loom/backends';
import type { NDArray } from '@loom/graph';
import { describe, expect, it } from 'vitest';
import { llamaConfigFromHf } from '../../src/llama/config.ts';
import { LlamaRunner } from '../../src/runners/causal-lm-runner.ts';
import { llamaWeights } from '../../src/weights/llama-weights.ts';
import { erf, gelu, geluTanh, tensor, type Checkpoint } from './common.ts';
import { hfGemmaForward, randomGemmaCheckpoint, tinyGemmaConfig } from './gemma.ts';
import { gemma2LayerIsSliding, hfGemma2Forward, randomGemma2Checkpoint, tinyGemma2Config } from './gemma2.ts';
import { hfGptNeoxForward, randomGptNeoxCheckpoint, tinyGptNeoxConfig } from './gpt-neox.ts';
import { hfMistralForward, randomMistralCheckpoint, tinyMistralConfig } from './mistral.ts';
import { hfMixtralForward, mixtralMoe, mixtralRoute, randomMixtralCheckpoint, tinyMixtralConfig } from './mixtral.ts';
import { hfPhi3Forward, randomPhi3Checkpoint, tinyPhi3Config } from './phi3.ts';

type Patch = Record<string, unknown>;

interface Family {
  readonly name: string;
  readonly vocab: number;
  /** The window of the tiny config (null: the family has none). */
  readonly window: number | null;
  /** The config patch that turns the window off (a window longer than any test sequence). */
  readonly noWindow: Patch;
  run(ids: number[], patch?: Patch): number[][];
}

function family<C extends { vocab_size: number }>(name: string, config: () => C, checkpoint: (c: C, seed: number) => Checkpoint, forward: (c: C, ck: Checkpoint, ids: number[]) => number[][], window: number | null): Family {
  return {
    name,
    vocab: config().vocab_size,
    window,
    noWindow: { sliding_window: 1 << 20 },
    run(ids, patch = {}) {
      const cfg = { ...config(), ...patch } as C;
      return forward(cfg, checkpoint(cfg, 11), ids);
    },
  };
}

const families: Family[] = [
  family('mistral', tinyMistralConfig, randomMistralCheckpoint, hfMistralForward, tinyMistralConfig().sliding_window),
  family('mixtral', tinyMixtralConfig, randomMixtralCheckpoint, hfMixtralForward, tinyMixtralConfig().sliding_window),
  family('gemma', tinyGemmaConfig, randomGemmaCheckpoint, hfGemmaForward, null),
  family('gemma2', tinyGemma2Config, randomGemma2Checkpoint, hfGemma2Forward, tinyGemma2Config().sliding_window),
  family('gpt-neox', tinyGptNeoxConfig, randomGptNeoxCheckpoint, hfGptNeoxForward, null),
  family('phi3', tinyPhi3Config, randomPhi3Checkpoint, hfPhi3Forward, tinyPhi3Config().sliding_window),
];

const ids = [3, 17, 42, 8, 8, 29, 5, 11, 0, 23, 40, 7];

const rowDiff = (a: number[], b: number[]) => Math.max(...a.map((v, j) => Math.abs(v - b[j]!)));

describe('float64 Hugging Face references: sanity', () => {
  for (const fam of families) {
    describe(fam.name, () => {
      it('gives finite logits of shape [T][V] that depend on the input', () => {
        const logits = fam.run(ids);
        expect(logits.length).toBe(ids.length);
        for (const row of logits) {
          expect(row.length).toBe(fam.vocab);
          for (const v of row) expect(Number.isFinite(v)).toBe(true);
        }
        // Not degenerate: the rows differ from each other and the logits within a row spread.
        expect(rowDiff(logits[0]!, logits[1]!)).toBeGreaterThan(1e-3);
        expect(Math.max(...logits[5]!) - Math.min(...logits[5]!)).toBeGreaterThan(1e-2);
      });

      it('is causal: changing token 7 leaves positions 0..6 exactly as they were and changes 7 on', () => {
        const a = fam.run(ids);
        const changed = [...ids];
        changed[7] = (changed[7]! + 1) % fam.vocab;
        const b = fam.run(changed);
        for (let t = 0; t < 7; t++) expect(b[t]).toEqual(a[t]);
        for (let t = 7; t < ids.length; t++) expect(rowDiff(a[t]!, b[t]!)).toBeGreaterThan(1e-9);
      });

      if (fam.window !== null) {
        const w = fam.window;
        it(`has a sliding window (${w}) that matters past it: positions < ${w} agree with a run without it, later ones do not`, () => {
          expect(ids.length).toBeGreaterThan(w + 2);
          const windowed = fam.run(ids);
          const full = fam.run(ids, fam.noWindow);
          for (let t = 0; t < w; t++) expect(windowed[t]).toEqual(full[t]);
          for (let t = w; t < ids.length; t++) expect(rowDiff(windowed[t]!, full[t]!)).toBeGreaterThan(1e-9);
        });

        it(`reaches exactly ${w} keys (query i sees j iff i - j < ${w}): with one layer, token 0 moves positions 0..${w - 1} only`, () => {
          const oneLayer = { num_hidden_layers: 1 };
          const changed = [(ids[0]! + 1) % fam.vocab, ...ids.slice(1)];
          const a = fam.run(ids, oneLayer);
          const b = fam.run(changed, oneLayer);
          for (let t = 0; t < w; t++) expect(rowDiff(a[t]!, b[t]!)).toBeGreaterThan(1e-9);
          for (let t = w; t < ids.length; t++) expect(b[t]).toEqual(a[t]);
          // Without the window, token 0 reaches every position.
          const fa = fam.run(ids, { ...oneLayer, ...fam.noWindow });
          const fb = fam.run(changed, { ...oneLayer, ...fam.noWindow });
          for (let t = 0; t < ids.length; t++) expect(rowDiff(fa[t]!, fb[t]!)).toBeGreaterThan(1e-9);
        });
      }
    });
  }
});

describe('float64 Hugging Face references: family details', () => {
  it('erf and the two GELUs', () => {
    // erf(0.5), erf(1), erf(2), erf(3) to 16 digits.
    expect(erf(0.5)).toBeCloseTo(0.5204998778130465, 15);
    expect(erf(1)).toBeCloseTo(0.8427007929497149, 15);
    expect(erf(-2)).toBeCloseTo(-0.9953222650189527, 15);
    expect(erf(3)).toBeCloseTo(0.9999779095030014, 15);
    expect(gelu(1)).toBeCloseTo(0.8413447460685429, 14);
    expect(Math.abs(gelu(1) - geluTanh(1))).toBeGreaterThan(1e-5);
    expect(Math.abs(gelu(1) - geluTanh(1))).toBeLessThan(1e-3);
  });

  it('mistral / phi3: a null sliding_window means full causal attention', () => {
    for (const fam of [families[0]!, families[5]!]) {
      expect(fam.run(ids, { sliding_window: null })).toEqual(fam.run(ids, fam.noWindow));
    }
  });

  it('mixtral: top-k routing renormalises, ties go to the lower expert, and tokens choose different experts', () => {
    expect(mixtralRoute([0.1, 0.4, 0.2, 0.3], 2)).toEqual({ experts: [1, 3], weights: [0.4 / 0.7, 0.3 / 0.7] });
    expect(mixtralRoute([0.25, 0.25, 0.25, 0.25], 2).experts).toEqual([0, 1]);
    expect(mixtralRoute([0.1, 0.3, 0.3, 0.3], 2).experts).toEqual([1, 2]);
    const cfg = tinyMixtralConfig();
    const ck = randomMixtralCheckpoint(cfg, 11);
    const embed = tensor(ck, 'model.embed_tokens.weight');
    const d = cfg.hidden_size;
    const n = ids.map((id) => Array.from(embed.data.subarray(id * d, (id + 1) * d)));
    const { chosen } = mixtralMoe(cfg, ck, 0, n);
    expect(new Set(chosen.map((c) => c.join(','))).size).toBeGreaterThan(1);
    // Top-1 routing differs from top-2.
    expect(rowDiff(families[1]!.run(ids, { num_experts_per_tok: 1 })[6]!, families[1]!.run(ids)[6]!)).toBeGreaterThan(1e-6);
  });

  it('gemma2: layers alternate sliding/full (layer 0 sliding) unless layer_types says otherwise; both soft-caps act', () => {
    const cfg = tinyGemma2Config();
    expect([0, 1, 2].map((i) => gemma2LayerIsSliding(cfg, i))).toEqual([true, false, true]);
    expect([0, 1, 2].map((i) => gemma2LayerIsSliding({ ...cfg, layer_types: ['full_attention', 'sliding_attention', 'full_attention'] }, i))).toEqual([false, true, false]);
    const g = families[3]!;
    const base = g.run(ids);
    const cap = cfg.final_logit_softcapping!;
    for (const row of base) for (const v of row) expect(Math.abs(v)).toBeLessThan(cap);
    expect(rowDiff(g.run(ids, { final_logit_softcapping: null })[9]!, base[9]!)).toBeGreaterThan(1e-3);
    expect(rowDiff(g.run(ids, { attn_logit_softcapping: null })[9]!, base[9]!)).toBeGreaterThan(1e-4);
    expect(rowDiff(g.run(ids, { query_pre_attn_scalar: cfg.head_dim })[9]!, base[9]!)).toBeGreaterThan(1e-4);
    // With every layer full, no window anywhere.
    const allFull = g.run(ids, { layer_types: ['full_attention', 'full_attention', 'full_attention'] });
    expect(allFull).toEqual(g.run(ids, g.noWindow));
  });

  it('gpt-neox: parallel and sequential residuals differ; the rotary fraction matters', () => {
    const n = families[4]!;
    const base = n.run(ids);
    expect(rowDiff(n.run(ids, { use_parallel_residual: false })[8]!, base[8]!)).toBeGreaterThan(1e-4);
    expect(rowDiff(n.run(ids, { rotary_pct: 1.0 })[8]!, base[8]!)).toBeGreaterThan(1e-6);
  });

  it('gemma: tied by default (no lm_head.weight), MQA, scaled embeddings', () => {
    const cfg = tinyGemmaConfig();
    const ck = randomGemmaCheckpoint(cfg, 11);
    expect(ck.has('lm_head.weight')).toBe(false);
    expect(tensor(ck, 'model.layers.0.self_attn.k_proj.weight').shape).toEqual([cfg.head_dim, cfg.hidden_size]);
    const untied = randomGemmaCheckpoint({ ...cfg, tie_word_embeddings: false }, 11);
    expect(tensor(untied, 'lm_head.weight').shape).toEqual([cfg.vocab_size, cfg.hidden_size]);
  });
});

describe('float64 Hugging Face references against Loom where the architecture is Llama', () => {
  async function loomLogits(json: Record<string, unknown>, ck: Checkpoint, seq: number[]): Promise<NDArray> {
    const cfg = llamaConfigFromHf(json);
    return new LlamaRunner(cfg, llamaWeights(cfg, ck), cpuBackend).logits([seq]);
  }
  const maxDiff = (got: NDArray, want: number[][]) => Math.max(...want.flat().map((v, i) => Math.abs(v - got.data[i]!)));

  it('mistral without a sliding window is Llama', async () => {
    const cfg = { ...tinyMistralConfig(), sliding_window: null };
    const ck = randomMistralCheckpoint(cfg, 5);
    const got = await loomLogits({ ...cfg }, ck, ids);
    expect(maxDiff(got, hfMistralForward(cfg, ck, ids))).toBeLessThan(1e-4);
  });

  it('phi3 without a sliding window is Llama with q|k|v and gate|up split out of the fused matrices', async () => {
    const cfg = { ...tinyPhi3Config(), sliding_window: null };
    const ck = randomPhi3Checkpoint(cfg, 5);
    const [d, h, kv, f] = [cfg.hidden_size, cfg.num_attention_heads, cfg.num_key_value_heads!, cfg.intermediate_size];
    const dh = d / h;
    const rows = (t: NDArray, from: number, count: number): NDArray => ({ dtype: 'f32', shape: [count, t.shape[1]!], data: t.data.slice(from * t.shape[1]!, (from + count) * t.shape[1]!) });
    const llama: Checkpoint = new Map();
    for (const [name, t] of ck) {
      if (name.endsWith('qkv_proj.weight')) {
        const p = name.slice(0, -'qkv_proj.weight'.length);
        llama.set(`${p}q_proj.weight`, rows(t, 0, h * dh));
        llama.set(`${p}k_proj.weight`, rows(t, h * dh, kv * dh));
        llama.set(`${p}v_proj.weight`, rows(t, (h + kv) * dh, kv * dh));
      } else if (name.endsWith('gate_up_proj.weight')) {
        const p = name.slice(0, -'gate_up_proj.weight'.length);
        llama.set(`${p}gate_proj.weight`, rows(t, 0, f));
        llama.set(`${p}up_proj.weight`, rows(t, f, f));
      } else llama.set(name, t);
    }
    const json = { model_type: 'llama', vocab_size: cfg.vocab_size, hidden_size: d, intermediate_size: f, num_hidden_layers: cfg.num_hidden_layers, num_attention_heads: h, num_key_value_heads: kv, max_position_embeddings: cfg.max_position_embeddings, rms_norm_eps: cfg.rms_norm_eps, rope_theta: cfg.rope_theta, tie_word_embeddings: false };
    const got = await loomLogits(json, llama, ids);
    expect(maxDiff(got, hfPhi3Forward(cfg, ck, ids))).toBeLessThan(1e-4);
  });
});
