import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import { ConfigError } from '../errors.ts';
import { readUserJson } from '../io/files.ts';

/** Text to token ids and back: GPT-2's byte-level BPE (gpt2-tokenizer.ts) or a checkpoint's tokenizer.json. */
export interface TextTokenizer {
  encode(text: string): number[];
  decode(ids: readonly number[]): string;
}

/**
 * A Hugging Face `tokenizer.json` (and the `tokenizer_config.json` beside it, when there is one)
 * through the maintained @huggingface/tokenizers package (BPE, WordPiece, Unigram, WordLevel, with
 * their normalizers, pre-tokenizers, post-processors and decoders). Special tokens the template
 * adds (a BOS) are added on encode and skipped on decode.
 */
export function loadHfTokenizer(path: string): TextTokenizer {
  const json = readUserJson(path, 'tokenizer');
  const configPath = join(dirname(path), 'tokenizer_config.json');
  const config = existsSync(configPath) ? readUserJson(configPath, 'tokenizer config') : {};
  let tokenizer: Tokenizer;
  try {
    tokenizer = new Tokenizer(json as never, config as never);
  } catch (e) {
    throw new ConfigError(`${path}: not a tokenizer this reader understands (${(e as Error).message.split('\n')[0]})`);
  }
  return {
    encode: (text) => tokenizer.encode(text).ids,
    decode: (ids) => tokenizer.decode([...ids], { skip_special_tokens: true }),
  };
}

/** The tokenizer.json beside a checkpoint, if there is one. */
export function tokenizerBeside(weightsPath: string): string | undefined {
  const path = join(dirname(weightsPath), 'tokenizer.json');
  return existsSync(path) ? path : undefined;
}
