import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { readUserJson } from '../files.ts';
import { checkTokenizerConfig } from './hf-tokenizer-json.ts';
import { hfTokenizerOf } from './hf-tokenizer-of.ts';
import { TOKENIZER_JSON_MAX_BYTES, type TextTokenizer } from './text-tokenizer.ts';

export { checkTokenizerFitsModel, type TextTokenizer } from './text-tokenizer.ts';
export { hfTokenizerOf } from './hf-tokenizer-of.ts';

/**
 * A Hugging Face `tokenizer.json` (and the `tokenizer_config.json` beside it, when there is one)
 * through the maintained @huggingface/tokenizers package (BPE, WordPiece, Unigram, WordLevel, with
 * their normalizers, pre-tokenizers, post-processors and decoders). Special tokens the template
 * adds (a BOS) are added on encode and skipped on decode. Both files are checked first
 * (hf-tokenizer-json.ts); a word with no id (no unk_token) and an id with no token are errors.
 */
export function loadHfTokenizer(path: string): TextTokenizer {
  const json = readUserJson(path, 'tokenizer', TOKENIZER_JSON_MAX_BYTES);
  const configPath = join(dirname(path), 'tokenizer_config.json');
  const config = existsSync(configPath) ? checkTokenizerConfig(readUserJson(configPath, 'tokenizer config', TOKENIZER_JSON_MAX_BYTES), configPath) : {};
  return hfTokenizerOf(json, config, path);
}

/** The tokenizer.json beside a checkpoint, if there is one. */
export function tokenizerBeside(weightsPath: string): string | undefined {
  const path = join(dirname(weightsPath), 'tokenizer.json');
  return existsSync(path) ? path : undefined;
}
