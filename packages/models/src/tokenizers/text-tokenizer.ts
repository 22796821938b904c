import { ConfigError, ModelInputError } from '../errors.ts';

/**
 * Text to token ids and back: GPT-2's byte-level BPE (gpt2-tokenizer.ts), a checkpoint's
 * tokenizer.json (hf-tokenizer.ts) or Marian's SentencePiece model and vocab.json (marian-tokenizer.ts).
 */
export interface TextTokenizer {
  encode(text: string): number[];
  /** Text of the ids; an id the tokenizer does not have is a ModelInputError naming it. */
  decode(ids: readonly number[]): string;
  /** The tokenizer's largest id and where its file defines it, to check against the model's vocabulary. */
  readonly largestId?: { readonly id: number; readonly where: string };
}

/** tokenizer.json and the JSON beside it: big vocabularies make a tokenizer.json 20-30 MB. */
export const TOKENIZER_JSON_MAX_BYTES = 256 * 2 ** 20;
/** A SentencePiece model is a few MB. */
export const SENTENCEPIECE_MAX_BYTES = 64 * 2 ** 20;

/** A JSON value as the file spells it, shortened for a one-line message. */
export function shownJson(value: unknown, max = 40): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

/** A key or value of a tokenizer file, quoted and shortened for a one-line message. */
export function quoted(text: string, max = 40): string {
  return JSON.stringify(text.length > max ? `${text.slice(0, max)}…` : text);
}

/**
 * Refuses a tokenizer whose ids reach past the model's vocabulary: its text would become ids the
 * model cannot take (the ids below vocab_size it lacks are refused when decoded, see decode).
 */
export function checkTokenizerFitsModel(tokenizer: TextTokenizer, vocabSize: number, configPath: string): void {
  const largest = tokenizer.largestId;
  if (largest && largest.id >= vocabSize) {
    throw new ConfigError(`${largest.where} has id ${largest.id}, outside the model's vocabulary (vocab_size ${vocabSize} in ${configPath}: ids 0..${vocabSize - 1})`);
  }
}

/** The error for decoding an id the tokenizer has no token for (a model whose vocab_size is larger). */
export function unknownIdError(id: number, file: string): ModelInputError {
  return new ModelInputError(`cannot decode token id ${id}: ${file} has no token with that id (the model's vocabulary is larger than the tokenizer's)`);
}
