/**
 * reverse.json, the description of the shipped reverse model (reverse/reverse-model.ts runs it): an
 * encoder-decoder Transformer config in PyTorch's words and the model's character table.
 */
import { z } from 'zod';
import { parseJsonText } from '../config/parse-config.ts';
import { ConfigError } from '../errors.ts';
import { CharVocab } from '../tokenizers/char-vocab.ts';
import type { TransformerConfig } from './config.ts';

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
  /** The longest string the weights were trained on (the PyTorch-trained model of the fixtures: 16). */
  trained_max_chars: z.number().int().positive().optional(),
  /** Which way the source's positions count (TransformerConfig.sourcePositions; default from-start, as the PyTorch model). */
  source_positions: z.enum(['from-start', 'from-end']).optional(),
  /** Whether the source ends with EOS as the target does (models trained by `loom train reverse`; the PyTorch model's does not). */
  source_eos: z.boolean().optional(),
});

/** What a reverse.json without `trained_max_chars` was trained on: the PyTorch model's 1 to 16 characters. */
export const DEFAULT_TRAINED_MAX_CHARS = 16;

export interface ReverseSpec {
  readonly config: TransformerConfig;
  readonly vocab: CharVocab;
  /** The longest string the weights were trained on: longer ones are reversed in pieces of this many characters (unless whole is asked for). */
  readonly trainedMaxChars: number;
  /** The source is the string's ids and then EOS (false: the ids alone, as the PyTorch model was trained). */
  readonly sourceEos: boolean;
}

/** The encoder's input for `text`: its ids, then EOS where the model was trained with one. */
export function sourceIds(spec: ReverseSpec, text: string): number[] {
  const ids = spec.vocab.encode(text);
  return spec.sourceEos ? [...ids, spec.vocab.eos] : ids;
}

/** The model description in reverse.json's text: the Transformer config and the character table. */
export function parseReverseSpec(text: string, where = 'reverse.json'): ReverseSpec {
  return reverseSpecFromJson(parseJsonText(text, where), where);
}

/** Whether a JSON object without a model_type is a reverse.json: its `config` has `chars` and `max_len`. */
export function isReverseJson(json: Readonly<Record<string, unknown>>): boolean {
  const inner = json['config'];
  return inner !== null && typeof inner === 'object' && 'chars' in inner && 'max_len' in inner;
}

/** The model description of reverse.json, parsed: a ConfigError names the file and the field. */
export function reverseSpecFromJson(json: unknown, where = 'reverse.json'): ReverseSpec {
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
    ...(parsed.data.source_positions === 'from-end' ? { sourcePositions: 'from-end' as const } : {}),
  };
  const trainedMaxChars = parsed.data.trained_max_chars ?? DEFAULT_TRAINED_MAX_CHARS;
  // BOS + the reversal + EOS must fit the positions
  if (trainedMaxChars > c.max_len - 2) throw new ConfigError(`${where}: trained_max_chars: ${trainedMaxChars} characters do not fit max_len ${c.max_len} (the longest is max_len - 2, for BOS and EOS)`);
  return { config, vocab: new CharVocab(c.chars, c.pad_id, c.bos_id, c.eos_id), trainedMaxChars, sourceEos: parsed.data.source_eos ?? false };
}

/**
 * reverse.json's content for a spec (the inverse of reverseSpecFromJson), with `extra` top-level
 * fields (a training record, say) after it.
 */
export function reverseJsonOf(spec: ReverseSpec, extra: Readonly<Record<string, unknown>> = {}): Record<string, unknown> {
  const c = spec.config;
  const v = spec.vocab;
  return {
    config: {
      src_vocab: c.srcVocab,
      tgt_vocab: c.tgtVocab,
      d_model: c.dModel,
      heads: c.heads,
      d_ff: c.dFF,
      enc_layers: c.encoderLayers,
      dec_layers: c.decoderLayers,
      max_len: c.maxLen,
      eps: c.eps,
      pad_id: v.pad,
      bos_id: v.bos,
      eos_id: v.eos,
      chars: v.chars,
      norm: c.norm,
      activation: c.activation,
    },
    trained_max_chars: spec.trainedMaxChars,
    ...(spec.config.sourcePositions === 'from-end' ? { source_positions: 'from-end' } : {}),
    ...(spec.sourceEos ? { source_eos: true } : {}),
    ...extra,
  };
}
