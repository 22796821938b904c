import { backendCompileOptions } from '@loom/backends';
import { compile, type Plan } from '@loom/compiler';
import { describe, expect, it } from 'vitest';
import { GPT2_PRESETS } from '../src/gpt2/config.ts';
import { buildGpt2 } from '../src/gpt2/model.ts';
import { llamaConfigFromHf } from '../src/llama/config.ts';
import { buildCachedLlama, buildLlama } from '../src/llama/model.ts';
import { TRANSFORMER_PRESETS } from '../src/transformer/config.ts';
import { buildTransformerEncoder } from '../src/transformer/model.ts';

/** Kernels per layer: the difference between a two-layer and a one-layer model of the same shapes. */
function perLayer(build: (layers: number) => Plan): number {
  return build(2).stats.kernels - build(1).stats.kernels;
}

function kernelOps(plan: Plan): string[] {
  return plan.steps.map((s) => s.op);
}

describe('kernel counts (held: a change here is a fusion change, update deliberately)', () => {
  it('one GPT-2 block compiles to 14 kernels', () => {
    const build = (nLayer: number) => compile(buildGpt2({ ...GPT2_PRESETS.gpt2, nLayer }));
    expect(perLayer(build)).toBe(14);
    // ln_1, c_attn (+bias), 3 slices and 3 head transposes, attention, head merge, c_proj (+bias +residual),
    // ln_2, c_fc (+bias +gelu), c_proj (+bias +residual)
    const ops = kernelOps(build(2));
    expect(ops.filter((op) => op === 'fused_attention')).toHaveLength(2);
    expect(ops.filter((op) => op === 'fused_matmul')).toHaveLength(8);
    expect(ops).not.toContain('softmax');
  });

  it('with strided views (the cpu plan) one GPT-2 block is 7 kernels: no slice or head transpose is copied', () => {
    const build = (nLayer: number) => compile(buildGpt2({ ...GPT2_PRESETS.gpt2, nLayer }), { inPlace: true, stridedViews: true });
    expect(perLayer(build)).toBe(7);
    // ln_1, c_attn (+bias), attention (reads q, k, v in place), c_proj (+bias +residual), ln_2, c_fc (+bias +gelu), c_proj
    const ops = kernelOps(build(2));
    expect(ops).not.toContain('slice');
    expect(ops).not.toContain('transpose');
  });

  it('one Llama block (GQA, 32 heads on 4) is 16 kernels, 10 on the cpu plan: RMSNorm one kernel each, RoPE inside the q and k projections, grouped attention fused', () => {
    const cfg = (layers: number) =>
      llamaConfigFromHf({ model_type: 'llama', vocab_size: 32000, hidden_size: 2048, intermediate_size: 5632, num_hidden_layers: layers, num_attention_heads: 32, num_key_value_heads: 4, max_position_embeddings: 2048 });
    const cpuPlan = backendCompileOptions('cpu');
    expect(perLayer((n) => compile(buildLlama(cfg(n))))).toBe(16);
    expect(perLayer((n) => compile(buildLlama(cfg(n)), cpuPlan))).toBe(10);
    // 2 rms_norm, q and k projections (+ rope), v projection, one fused_attention over the kv-head
    // broadcast, o projection (+ residual), gate, up (x silu(gate)), down (+ residual)
    const ops = kernelOps(compile(buildLlama(cfg(1)), cpuPlan));
    // the last block's residual sum is read only by the final norm: add + RMSNorm in one kernel there
    expect(ops.filter((op) => op === 'rms_norm')).toHaveLength(2);
    expect(ops.filter((op) => op === 'fused_add_rms_norm')).toHaveLength(1);
    expect(ops.filter((op) => op === 'fused_matmul_rope')).toHaveLength(2);
    expect(ops).not.toContain('rope');
    expect(ops.filter((op) => op === 'fused_attention')).toHaveLength(1);
    expect(ops).not.toContain('softmax');
    // the decode step too: rope (with its run-time offset) inside the projections, attention over the cache fused
    const decode = kernelOps(compile(buildCachedLlama(cfg(1), { seq: 1 }), cpuPlan));
    expect(decode.filter((op) => op === 'fused_matmul_rope')).toHaveLength(2);
    expect(decode.filter((op) => op === 'fused_attention')).toHaveLength(1);
  });

  it('one post-norm Transformer encoder layer compiles to 13 kernels', () => {
    const base = TRANSFORMER_PRESETS['transformer-base'];
    const build = (encoderLayers: number) => compile(buildTransformerEncoder({ ...base, encoderLayers }));
    expect(perLayer(build)).toBe(13);
    const ops = kernelOps(build(1));
    expect(ops).toContain('fused_attention');
    expect(ops.filter((op) => op === 'fused_add_layer_norm')).toHaveLength(2);
  });

  it("on the GPU plan the reverse model's source prologue (mask, positions from the end, embedding + sinusoid) is 7 kernels, not 11: cheap producers recomputed", () => {
    const cfg = { ...TRANSFORMER_PRESETS['transformer-base'], encoderLayers: 1, sourcePositions: 'from-end' as const };
    const prologue = (plan: Plan) => kernelOps(plan).slice(0, kernelOps(plan).indexOf('fused_matmul'));
    const gpu = compile(buildTransformerEncoder(cfg), backendCompileOptions('webgl'));
    expect(prologue(compile(buildTransformerEncoder(cfg)))).toHaveLength(11);
    // the mask; cast(not_equal) for the lengths, their sum; the position range; the positions
    // (not_equal again, the lengths broadcast); the table lookup; scale + sinusoid (the casts and the
    // frequency product inside)
    expect(prologue(gpu)).toEqual(['fused_elementwise', 'fused_elementwise', 'reduce_sum', 'range', 'fused_elementwise', 'gather', 'fused_elementwise']);
    // the GPU backends take this plan; the layer itself is unchanged
    expect(compile(buildTransformerEncoder(cfg), backendCompileOptions('webgpu')).stats.kernels).toBe(gpu.stats.kernels);
  });
});
