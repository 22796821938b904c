/**
 * The shipped reverse model: a small trained encoder-decoder Transformer (2 + 2 layers, D 128) that
 * reverses lowercase strings. Its weights are the PyTorch checkpoint as trained
 * (`weights/reverse-transformer.safetensors`, mapped to Loom names on load) and `weights/reverse.json`
 * describes it. Reading them from disk is in `load-reverse.ts` (Node only).
 */
import type { Backend } from '@loom/backends';
import type { NDArray } from '@loom/graph';
import { z } from 'zod';
import { greedyDecode } from '../decoding/seq2seq.ts';
import { ConfigError, ModelInputError } from '../errors.ts';
import { CharVocab } from '../tokenizers/char-vocab.ts';
import type { TransformerConfig } from '../transformer/config.ts';
import { TransformerRunner } from '../transformer/runner.ts';
import { transformerWeights } from '../weights/transformer-weights.ts';

const reverseJsonSchema = z.object({
  config: z.object({
    src_vocab: z.number().int().positive(),
    tgt_vocab: z.number().int().positive(),
    d_model: z.number().int().positive(),
    heads: z.number().int().positive(),
    d_ff: z.number().int().positive(),
    enc_layers: z.number().int().nonnegative(),
    dec_layers: z.number().int().nonnegative(),
    max_len: z.number().int().positive(),
    eps: z.number().positive(),
    pad_id: z.number().int().nonnegative(),
    bos_id: z.number().int().nonnegative(),
    eos_id: z.number().int().nonnegative(),
    chars: z.string().min(1),
    norm: z.enum(['post', 'pre']),
    activation: z.enum(['relu', 'gelu', 'gelu_tanh']),
  }),
});

export interface ReverseSpec {
  readonly config: TransformerConfig;
  readonly vocab: CharVocab;
}

/** The model description in reverse.json: the Transformer config and the character table. */
export function parseReverseSpec(text: string, where = 'reverse.json'): ReverseSpec {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new ConfigError(`${where}: not valid JSON (${(e as Error).message})`);
  }
  const parsed = reverseJsonSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new ConfigError(`${where}: ${issue.path.map(String).join('.')}: ${issue.message}`);
  }
  const c = parsed.data.config;
  const config: TransformerConfig = {
    encoderLayers: c.enc_layers,
    decoderLayers: c.dec_layers,
    dModel: c.d_model,
    heads: c.heads,
    dFF: c.d_ff,
    srcVocab: c.src_vocab,
    tgtVocab: c.tgt_vocab,
    sharedEmbeddings: false,
    generatorBias: true,
    norm: c.norm,
    activation: c.activation,
    maxLen: c.max_len,
    padId: c.pad_id,
    positional: 'sinusoidal',
    embedScale: true,
    eps: c.eps,
  };
  return { config, vocab: new CharVocab(c.chars, c.pad_id, c.bos_id, c.eos_id) };
}

/**
 * The longest string the shipped model was trained on (strings of 1 to 16 characters; see the
 * fixture's README). Longer texts are reversed in pieces of at most this many characters, which is
 * exact: the reversal of a string is the reversed pieces in reverse order.
 */
export const TRAINED_MAX_CHARS = 16;

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
    return greedyDecode(this.runner, texts.map((t) => vocab.encode(t)), { bos: vocab.bos, eos: vocab.eos });
  }

  /**
   * Each text reversed. Texts longer than TRAINED_MAX_CHARS are reversed piece by piece (all pieces of
   * all texts decoded as one batch), since the model is only right on the lengths it was trained on.
   */
  async reverse(texts: readonly string[]): Promise<string[]> {
    texts.forEach((t, i) => {
      if (t.length === 0) throw new ModelInputError(`text ${i + 1} is empty; the reverse model needs at least one character`);
      this.spec.vocab.encode(t); // an unknown character is reported at its place in the whole text
    });
    const pieces = texts.map((t) => piecesOf(t, TRAINED_MAX_CHARS));
    const reversed = (await this.reverseIds(pieces.flat())).map((ids) => this.spec.vocab.decode(ids));
    let next = 0;
    return pieces.map((p) => {
      const own = reversed.slice(next, next + p.length);
      next += p.length;
      return own.reverse().join('');
    });
  }
}
