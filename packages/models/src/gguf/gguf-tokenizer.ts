/**
 * The tokenizer a GGUF file's metadata describes (`tokenizer.ggml.*`, as llama.cpp's converter writes
 * it), read by the same @huggingface/tokenizers package as a tokenizer.json: a `gpt2` model (GPT-2,
 * and the byte-level BPE of Llama 3, Qwen2 and others) becomes the tokenizer.json Hugging Face writes
 * for it (BPE over the tokens and merges, byte-level pre-tokenizer and decoder, control tokens as
 * special added tokens), then goes through the checks every tokenizer.json gets. Other models (`llama`'s
 * SentencePiece) and pre-tokenizers other than GPT-2's are errors naming them: give --tokenizer.
 */
import { hfTokenizerOf } from '../tokenizers/hf-tokenizer.ts';
import type { TextTokenizer } from '../tokenizers/text-tokenizer.ts';
import { GgufError, type GgufFile } from './read-gguf.ts';

/** llama.cpp's token types: 3 is a control token (special: skipped when decoding). */
const CONTROL = 3;

/** Whether the file carries a tokenizer at all. */
export function hasGgufTokenizer(file: GgufFile): boolean {
  return file.metadata['tokenizer.ggml.model'] !== undefined;
}

/** The file's tokenizer, or a GgufError naming what Loom does not read yet. */
export function tokenizerFromGguf(file: GgufFile): TextTokenizer {
  const where = `${file.path}: tokenizer.ggml`;
  const model = file.metadata['tokenizer.ggml.model'];
  if (model !== 'gpt2') throw new GgufError(`${where}.model is ${JSON.stringify(model)}; Loom reads byte-level BPE tokenizers ("gpt2") from GGUF metadata so far: give --tokenizer tokenizer.json, or --ids`);
  const pre = file.metadata['tokenizer.ggml.pre'] ?? 'default';
  if (pre !== 'gpt2' && pre !== 'default') throw new GgufError(`${where}.pre is ${JSON.stringify(pre)}; Loom reads GPT-2's own pre-tokenizer ("gpt2") so far: give --tokenizer tokenizer.json, or --ids`);
  const tokens = stringList(file, 'tokenizer.ggml.tokens');
  const merges = stringList(file, 'tokenizer.ggml.merges');
  const types = file.metadata['tokenizer.ggml.token_type'];
  if (types !== undefined && !(Array.isArray(types) && types.length === tokens.length)) throw new GgufError(`${where}.token_type must be a list of ${tokens.length} numbers, one per token`);
  const vocab: Record<string, number> = {};
  const added: object[] = [];
  tokens.forEach((token, id) => {
    if (Object.hasOwn(vocab, token)) throw new GgufError(`${where}.tokens[${id}]: ${JSON.stringify(token)} is also token ${vocab[token]}`);
    vocab[token] = id;
    if (Array.isArray(types) && types[id] === CONTROL) added.push({ id, content: token, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
  });
  const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true };
  const json = {
    version: '1.0',
    added_tokens: added,
    normalizer: null,
    pre_tokenizer: byteLevel,
    post_processor: null,
    decoder: byteLevel,
    model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: '', end_of_word_suffix: '', fuse_unk: false, byte_fallback: false, ignore_merges: false, vocab, merges },
  };
  return hfTokenizerOf(json, {}, `${file.path} (its tokenizer.ggml metadata)`);
}

function stringList(file: GgufFile, key: string): string[] {
  const value = file.metadata[key];
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) throw new GgufError(`${file.path}: ${key} must be a list of strings`);
  return value as string[];
}
