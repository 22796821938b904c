/**
 * The steps inside an attention as intermediates (`attentionSteps`: q, k, v, the scores, scaled,
 * masked, the weights, the context), on real models (GPT-2, the encoder-decoder's self- and
 * cross-attention, Llama's grouped-query attention): each step must be what the one before it
 * makes, recomputed here in float64 from the outputs (q kᵀ, 1/sqrt(d), a softmax, weights times
 * values), and the cpu backend must output the reference interpreter's values.
 */
import { cpuBackend, referenceBackend } from '@loom/backends';
import { ATTENTION_STEPS, withIntermediates } from '@loom/compiler';
import { maxAbsDiff, type Graph, type NDArray, type Weights } from '@loom/graph';
import { describe, expect, it } from 'vitest';
import { loadInspectModel } from '../src/inspect/inspect-model.ts';
import { FIXTURES } from './helpers.ts';
import { join } from 'node:path';
import { SHIPPED_WEIGHTS_DIR } from '../src/reverse/load-reverse.ts';

const i32 = (ids: number[]): NDArray => ({ dtype: 'i32', shape: [1, ids.length], data: Int32Array.from(ids) });

interface Case {
  readonly name: string;
  readonly graph: Graph;
  readonly weights: Weights;
  readonly feeds: Record<string, NDArray>;
}

function cases(): Case[] {
  const gpt2 = loadInspectModel({ weights: join(FIXTURES, 'gpt2-tiny.safetensors'), config: join(FIXTURES, 'gpt2-tiny.config.json') });
  const reverse = loadInspectModel({ weights: `${SHIPPED_WEIGHTS_DIR}reverse-transformer.safetensors`, config: `${SHIPPED_WEIGHTS_DIR}reverse.json` });
  const llama = loadInspectModel({ weights: join(FIXTURES, 'llama-tiny-dev.safetensors'), config: join(FIXTURES, 'llama-tiny-dev.config.json') });
  const ids = [464, 2068, 7586, 21831, 18045];
  const feedsFor = (graph: Graph, tokens: number[]) => {
    const feeds: Record<string, NDArray> = { input_ids: i32(tokens) };
    if (graph.nodes.some((n) => n.op === 'input' && n.attrs['name'] === 'attention_mask')) feeds['attention_mask'] = i32(tokens.map(() => 1));
    return feeds;
  };
  return [
    { name: 'gpt2-tiny', graph: gpt2.graph, weights: gpt2.weights, feeds: feedsFor(gpt2.graph, ids) },
    { name: 'reverse (encoder-decoder)', graph: reverse.graph, weights: reverse.weights, feeds: { src_ids: i32([5, 6, 7, 7, 8]), tgt_ids: i32([1, 8, 7, 7]) } },
    { name: 'llama-tiny-dev (grouped-query)', graph: llama.graph, weights: llama.weights, feeds: feedsFor(llama.graph, [5, 17, 3, 99, 42]) },
  ];
}

/** [..., T, d] as matrices per leading index (batch 1: one per head). */
function matrices(t: NDArray): number[][][] {
  const [rows, cols] = t.shape.slice(-2) as [number, number];
  const count = t.data.length / (rows * cols);
  return Array.from({ length: count }, (_, m) => Array.from({ length: rows }, (_, r) => Array.from(t.data.subarray((m * rows + r) * cols, (m * rows + r + 1) * cols))));
}

const worst = (a: number[][][], b: number[][][]) => Math.max(...a.flatMap((m, h) => m.flatMap((row, i) => row.map((v, j) => Math.abs(v - b[h]![i]![j]!)))));

describe('the steps inside an attention (intermediates attentionSteps)', () => {
  for (const c of cases()) {
    it(`${c.name}: q kᵀ, scaled by 1/sqrt(d), masked, softmax, times v: each step from the one before; cpu = reference`, async () => {
      const attentions = withIntermediates(c.graph, { attentionWeights: true }).intermediates.length;
      const chosen = [...new Set([0, attentions - 1])];
      const spec = { attentionSteps: chosen };
      const { intermediates } = withIntermediates(c.graph, spec);
      const reference = await (await referenceBackend.prepare(c.graph, c.weights, { intermediates: spec })).run(c.feeds);
      const cpu = await (await cpuBackend.prepare(c.graph, c.weights, { intermediates: spec, cpu: { threads: 1 } })).run(c.feeds);
      const out0 = (n: string, s: string) => reference[`${n}.${s}`]!.shape.join("x");
      for (const a of chosen) {
        const name = `attention.${a}`;
        const steps = intermediates.filter((i) => i.of === name).map((i) => i.step!);
        console.log(`${c.name} ${name}: ${steps.join(", ")} (q ${out0(name, "q")})`);
        expect(steps.filter((s) => ['q', 'k', 'v', 'scores', 'context'].includes(s))).toEqual(['q', 'k', 'v', 'scores', 'context']);
        expect(ATTENTION_STEPS.filter((s) => steps.includes(s))).toEqual(steps); // in the order attention computes them
        const out = (step: string) => reference[`${name}.${step}`]!;
        const [q, k, v] = [matrices(out('q')), matrices(out('k')), matrices(out('v'))];
        const heads = q.length;
        const kvOf = (h: number) => Math.floor(h / (heads / k.length)); // grouped-query: a kv head per group of query heads
        // scores = q kᵀ
        const scores = q.map((m, h) => m.map((row) => k[kvOf(h)]!.map((key) => row.reduce((sum, x, d) => sum + x * key[d]!, 0))));
        expect(worst(matrices(out('scores')), scores), `${name} scores`).toBeLessThan(1e-4);
        // scaled by 1/sqrt(d) where the model scales the scores (not q)
        const d = q[0]![0]!.length;
        const last = steps.includes('masked') ? 'masked' : steps.includes('scaled') ? 'scaled' : 'scores';
        if (steps.includes('scaled')) expect(worst(matrices(out('scaled')), scores.map((m) => m.map((row) => row.map((x) => x / Math.sqrt(d))))), `${name} scaled`).toBeLessThan(1e-4);
        // the weights are the softmax of the last step before it
        const softmax = matrices(out(last)).map((m) => m.map((row) => {
          const max = Math.max(...row);
          const e = row.map((x) => Math.exp(x - max));
          const sum = e.reduce((s, x) => s + x, 0);
          return e.map((x) => x / sum);
        }));
        expect(worst(matrices(reference[name]!), softmax), `${name} weights`).toBeLessThan(1e-6);
        // the context is the weights times the values
        const weights = matrices(reference[name]!);
        const context = weights.map((m, h) => m.map((row) => v[kvOf(h)]![0]!.map((_, j) => row.reduce((sum, w, t) => sum + w * v[kvOf(h)]![t]![j]!, 0))));
        expect(worst(matrices(out('context')), context), `${name} context`).toBeLessThan(1e-5);
        // every step on the cpu backend as the reference computes it
        for (const step of steps) {
          const want = out(step);
          const scale = Math.max(1, ...Array.from(want.data, Math.abs).filter(Number.isFinite));
          const finite = (t: NDArray) => Array.from(t.data, (x) => (Number.isFinite(x) ? x : 0));
          expect(maxAbsDiff(finite(cpu[`${name}.${step}`]!), finite(want)) / scale, `${c.name} ${name}.${step} on cpu`).toBeLessThan(1e-5);
        }
      }
    });
  }

  it('an attention the graph does not have is an error naming how many it has', () => {
    const [gpt2] = cases();
    expect(() => withIntermediates(gpt2!.graph, { attentionSteps: [7] })).toThrow(/attention steps: the graph has 2 attentions \(attention\.0 to attention\.1\), not attention\.7/);
  });
});
