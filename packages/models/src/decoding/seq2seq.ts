import type { TransformerRunner } from '../transformer/runner.ts';
import { argmax } from './sampling.ts';
import { decodeLoop } from './step.ts';

export interface GreedyOptions {
  readonly bos: number;
  readonly eos: number;
  /** The longest target, BOS and EOS included (default: the model's maxLen). */
  readonly maxLen?: number;
}

/**
 * Greedy encoder-decoder decoding of a batch of source rows. Each row starts from BOS and stops at
 * its own EOS (kept in the output) or at maxLen tokens; the result is BOS ... EOS per row.
 */
export async function greedyDecode(model: TransformerRunner, sources: readonly (readonly number[])[], options: GreedyOptions): Promise<number[][]> {
  if (sources.length === 0) return [];
  const maxLen = Math.min(options.maxLen ?? model.cfg.maxLen, model.cfg.maxLen);
  return decodeLoop(
    model.decoder(sources),
    sources.map(() => [options.bos]),
    { maxNewTokens: maxLen - 1, stopAt: options.eos, pick: (logits) => argmax(logits), filler: options.eos },
  );
}
