/**
 * A tokenizer from a tokenizer.json's content, through the maintained @huggingface/tokenizers package
 * (no Node API: a browser page or a Worker uses it as it is; hf-tokenizer.ts reads the files in Node).
 */
import { Tokenizer } from '@huggingface/tokenizers';
import { LoomError } from '@loom/graph';
import { ConfigError, ModelInputError } from '../errors.ts';
import { checkTokenizerJson } from './hf-tokenizer-json.ts';
import { quoted, unknownIdError, type TextTokenizer } from './text-tokenizer.ts';

const firstLine = (e: unknown) => String((e as Error)?.message ?? e).split('\n')[0];

/** A tokenizer from a tokenizer.json's parsed content (checked first), `path` naming where it came from in messages. */
export function hfTokenizerOf(json: unknown, config: Record<string, unknown>, path: string): TextTokenizer {
  const largestId = checkTokenizerJson(json, path);
  const tokenizer = newTokenizer(json as { model: Record<string, unknown>; added_tokens?: unknown }, config, path);
  return {
    largestId,
    encode: (text) => encodeText(tokenizer, text, path),
    decode: (ids) => decodeIds(tokenizer, ids, path),
  };
}

/**
 * The library's Tokenizer. A WordLevel model is read by its legacy model class, which takes the
 * unknown token from the tokenizer config rather than from model.unk_token: passed on here, so that
 * an unknown word becomes unk_token's id as in Hugging Face's tokenizers.
 */
function newTokenizer(json: { model: Record<string, unknown>; added_tokens?: unknown }, config: Record<string, unknown>, path: string): Tokenizer {
  const wordLevel = json.model.type === 'WordLevel';
  // target_lang picks a sub-vocabulary in that legacy class: a WordLevel vocab has none
  const libraryConfig = wordLevel ? { ...config, unk_token: json.model.unk_token, target_lang: undefined } : config;
  try {
    return new Tokenizer({ ...json, added_tokens: json.added_tokens ?? [] } as never, libraryConfig as never);
  } catch (e) {
    throw new ConfigError(`${path}: not a tokenizer this reader understands (${firstLine(e)})`);
  }
}

/** Ids of the text; a token with no id (an unknown word and no unk_token) is a ModelInputError naming it. */
function encodeText(tokenizer: Tokenizer, text: string, path: string): number[] {
  const encoding: { ids: number[]; tokens: string[] } = failuresAsConfigErrors(path, () => tokenizer.encode(text));
  const at = encoding.ids.findIndex((id) => !Number.isInteger(id));
  if (at >= 0) throw new ModelInputError(`${path} has no id for ${quoted(encoding.tokens[at] ?? '')} (token ${at + 1} of the text): it is not in the vocabulary, and there is no unk_token to stand for it`);
  return encoding.ids;
}

/** Text of the ids, special tokens skipped; an id the tokenizer lacks is an error (the library would map it to its unk token, or crash). */
function decodeIds(tokenizer: Tokenizer, ids: readonly number[], path: string): string {
  const missing = ids.find((id) => tokenizer.id_to_token(id) === undefined);
  if (missing !== undefined) throw unknownIdError(missing, path);
  if (ids.length === 0) return ''; // the library refuses an empty list
  return failuresAsConfigErrors(path, () => tokenizer.decode([...ids], { skip_special_tokens: true }));
}

/** A decoder or normalizer that fails at run time on what the file configured is the file's fault: a ConfigError naming it. */
function failuresAsConfigErrors<T>(path: string, run: () => T): T {
  try {
    return run();
  } catch (e) {
    if (e instanceof LoomError) throw e;
    throw new ConfigError(`${path}: the tokenizer failed (${firstLine(e)})`);
  }
}
