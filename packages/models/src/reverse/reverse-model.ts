/**
 * The shipped reverse model: a small trained encoder-decoder Transformer (2 + 2 layers, D 128) that
 * reverses lowercase strings of up to 48 characters in one pass. Loom trained it from random weights
 * (`loom train reverse --max-len 48`; the loss curve is `weights/reverse-training-loss.csv`); its
 * weights are stored under PyTorch's nn.Transformer names (`weights/reverse-transformer.safetensors`,
 * mapped to Loom names on load), as the PyTorch-trained model of the test fixtures is, and
 * `weights/reverse.json` describes it (transformer/reverse-spec.ts reads it). Reading them from disk is in `load-reverse.ts`
 * (Node only).
 */
import type { Backend } from '@loom/backends';
import type { NDArray } from '@loom/graph';
import { greedyDecode } from '../decoding/seq2seq.ts';
import { ModelInputError } from '../errors.ts';
import { TransformerRunner } from '../runners/transformer-runner.ts';
import { sourceIds, type ReverseSpec } from '../transformer/reverse-spec.ts';
import { transformerWeights } from '../weights/transformer-weights.ts';

/** `text` cut into consecutive pieces of at most `size` characters. */
export function piecesOf(text: string, size: number): string[] {
  const pieces: string[] = [];
  for (let i = 0; i < text.length; i += size) pieces.push(text.slice(i, i + size));
  return pieces;
}

/** The reverse model, ready to run. */
export class ReverseModel {
  constructor(
    readonly spec: ReverseSpec,
    readonly runner: TransformerRunner,
  ) {}

  /** The model from its description and checkpoint (PyTorch or Loom names). `loadReverseModel` reads them from files. */
  static fromCheckpoint(spec: ReverseSpec, checkpoint: ReadonlyMap<string, NDArray>, backend: Backend, sourceName?: string): ReverseModel {
    return new ReverseModel(spec, new TransformerRunner(spec.config, transformerWeights(spec.config, checkpoint, sourceName), backend));
  }

  /** Greedy-decoded ids (BOS ... EOS) for each text, decoded together as one padded batch. */
  async reverseIds(texts: readonly string[]): Promise<number[][]> {
    const { vocab } = this.spec;
    texts.forEach((t, i) => {
      if (t.length === 0) throw new ModelInputError(`text ${i + 1} is empty; the reverse model needs at least one character`);
    });
    return greedyDecode(this.runner, texts.map((t) => sourceIds(this.spec, t)), { bos: vocab.bos, eos: vocab.eos });
  }

  /**
   * Each text reversed. A text longer than the weights were trained on (spec.trainedMaxChars) is
   * reversed piece by piece (all pieces of all texts decoded as one batch), which is exact: the
   * reversal of a string is its reversed pieces in reverse order. With `whole`, every text goes to
   * the model whole, so that the model alone answers; a text the model's positions cannot hold is
   * refused.
   */
  async reverse(texts: readonly string[], options: { readonly whole?: boolean } = {}): Promise<string[]> {
    const { vocab, trainedMaxChars, config } = this.spec;
    const longest = config.maxLen - 2; // BOS and EOS take a position each
    texts.forEach((t, i) => {
      if (t.length === 0) throw new ModelInputError(`text ${i + 1} is empty; the reverse model needs at least one character`);
      vocab.encode(t); // an unknown character is reported at its place in the whole text
      if (options.whole && [...t].length > longest) throw new ModelInputError(`text ${i + 1} has ${[...t].length} characters, but the model's ${config.maxLen} positions hold at most ${longest} (with BOS and EOS): without --whole it is reversed in pieces of ${trainedMaxChars}`);
    });
    const pieces = texts.map((t) => (options.whole ? [t] : piecesOf(t, trainedMaxChars)));
    const reversed = (await this.reverseIds(pieces.flat())).map((ids) => vocab.decode(ids));
    let next = 0;
    return pieces.map((p) => {
      const own = reversed.slice(next, next + p.length);
      next += p.length;
      return own.reverse().join('');
    });
  }
}
