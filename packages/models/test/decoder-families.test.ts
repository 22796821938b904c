/**
 * The Llama lineage's families beyond Llama on the cpu backend (decoder-families-suite.ts has the
 * cases and the GPU files): logits, greedy ids and KV-cache decoding against float64 forwards
 * written from Hugging Face's modeling code, and the windowed layers' rings.
 */
import { maxAbsDiff } from '@loom/graph';
import { describe, expect, it } from 'vitest';
import { generate } from '../src/decoding/generate.ts';
import { familyOf } from '../src/families/registry.ts';
import { FAMILY_CASES, IDS, referenceGreedy, runnerOf } from './decoder-families-suite.ts';

describe('decoder families against float64 forwards from Hugging Face modeling code (cpu)', () => {
  it.each(FAMILY_CASES)('%s: logits within 1e-4 over 12 tokens (past every window), a padded row as alone', async (_, make) => {
    const c = make();
    const runner = runnerOf(c);
    const logits = await runner.logits([IDS, IDS.slice(0, 7)]);
    const want = c.forward(IDS);
    const vocab = want[0]!.length;
    expect(maxAbsDiff(logits.data.subarray(0, IDS.length * vocab), want.flat())).toBeLessThan(1e-4);
    // the shorter row, right-padded in the batch, computes what it computes alone
    const short = c.forward(IDS.slice(0, 7)).flat();
    expect(maxAbsDiff(logits.data.subarray(IDS.length * vocab, IDS.length * vocab + short.length), short)).toBeLessThan(1e-4);
    await runner.dispose();
  });

  it.each(FAMILY_CASES)('%s: greedy ids equal the reference argmax; the KV cache (rings past the window) equals recomputing', async (_, make) => {
    const c = make();
    const runner = runnerOf(c);
    const prompt = [3, 17, 42];
    const rows = [prompt, [5, 9, 2, 11, 30, 6, 4, 13]];
    const cached = await generate(runner, rows, { maxNewTokens: 9, kvCache: true, stopAt: null });
    const recomputed = await generate(runner, rows, { maxNewTokens: 9, kvCache: false, stopAt: null });
    expect(cached).toEqual(recomputed);
    expect(cached[0]).toEqual(referenceGreedy(c, prompt, 9));
    await runner.dispose();
  });

  it('a windowed layer\'s cache is a ring of its window, a global layer\'s the whole context (Gemma 2: even layers slide)', () => {
    const gemma2 = FAMILY_CASES.find(([label]) => label.startsWith('gemma2'))![1]();
    const fam = familyOf(gemma2.config, 'config.json', 'causal-lm');
    const cfg = fam.parse(gemma2.config, 'config.json');
    const graph = fam.buildCached(cfg, 1);
    const cacheShapes = Object.fromEntries(graph.nodes.filter((n) => n.op === 'input' && String(n.attrs['name']).startsWith('cache.k.')).map((n) => [n.attrs['name'], n.type.shape]));
    const window = gemma2.config['sliding_window'] as number;
    const width = (gemma2.config['num_key_value_heads'] as number) * (gemma2.config['head_dim'] as number);
    expect(cacheShapes).toEqual({ 'cache.k.0': ['batch', window, width], 'cache.k.1': ['batch', gemma2.config['max_position_embeddings'], width], 'cache.k.2': ['batch', window, width] });
  });
});

