/**
 * The tokenizer a GGUF file's metadata describes (`tokenizer.ggml.*`, as llama.cpp's converter writes
 * it), read by the same @huggingface/tokenizers package as a tokenizer.json: a `gpt2` model (GPT-2,
 * and the byte-level BPE of Llama 3, Qwen2 and others) becomes the tokenizer.json Hugging Face writes
 * for it (BPE over the tokens and merges, byte-level pre-tokenizer and decoder, control tokens as
 * special added tokens; GPT-2's pre-tokenizer, Llama 3's `llama-bpe` split or Qwen2's `qwen2` split,
 * and the ones llama.cpp gives the same regular expression), then goes through the checks every
 * tokenizer.json gets. A `llama` model is SentencePiece's (gguf-sentencepiece.ts). Other models and
 * other pre-tokenizers are errors naming them: give --tokenizer.
 */
import { hfTokenizerOf } from '../tokenizers/hf-tokenizer.ts';
import type { TextTokenizer } from '../tokenizers/text-tokenizer.ts';
import { sentencePieceFromGguf } from './gguf-sentencepiece.ts';
import { GgufError, type GgufFile } from './read-gguf.ts';

/** llama.cpp's token types: 3 is a control token (special: skipped when decoding). */
const CONTROL = 3;

/**
 * Pre-tokenizer regular expressions by `tokenizer.ggml.pre`, as llama.cpp's llama-vocab.cpp spells
 * them (contractions case-insensitive by character classes: JavaScript before ES2025 has no (?i:)).
 * GPT-2's own is the byte-level pre-tokenizer's built-in one.
 */
const LLAMA3_SPLIT = "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const QWEN2_SPLIT = "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const SPLIT_PATTERNS: Readonly<Record<string, string>> = {
  // Llama 3 (and the two llama.cpp gives its expression): a letter run takes one non-letter before it, digits in runs of up to 3
  'llama-bpe': LLAMA3_SPLIT,
  dbrx: LLAMA3_SPLIT,
  'smaug-bpe': LLAMA3_SPLIT,
  // Qwen2 and StableLM 2: the same but one digit at a time
  qwen2: QWEN2_SPLIT,
  stablelm2: QWEN2_SPLIT,
};
/** Pre-tokenizers that are GPT-2's own expression in llama.cpp. */
const GPT2_SPLITS = new Set(['gpt2', 'default', 'mpt', 'olmo', 'jais']);

/** Whether the file carries a tokenizer at all. */
export function hasGgufTokenizer(file: GgufFile): boolean {
  return file.metadata['tokenizer.ggml.model'] !== undefined;
}

/** The file's tokenizer, or a GgufError naming what Loom does not read yet. */
export async function tokenizerFromGguf(file: GgufFile): Promise<TextTokenizer> {
  const model = file.metadata['tokenizer.ggml.model'];
  if (model === 'llama') return sentencePieceFromGguf(file);
  if (model !== 'gpt2') throw new GgufError(`${file.path}: tokenizer.ggml.model is ${JSON.stringify(model)}; Loom reads byte-level BPE ("gpt2") and SentencePiece ("llama") tokenizers from GGUF metadata so far: give --tokenizer tokenizer.json, or --ids`);
  return byteLevelBpeFromGguf(file);
}

function byteLevelBpeFromGguf(file: GgufFile): TextTokenizer {
  const where = `${file.path}: tokenizer.ggml`;
  const pre = file.metadata['tokenizer.ggml.pre'] ?? 'default';
  const split = typeof pre === 'string' ? SPLIT_PATTERNS[pre] : undefined;
  if (!(typeof pre === 'string' && GPT2_SPLITS.has(pre)) && split === undefined) throw new GgufError(`${where}.pre is ${JSON.stringify(pre)}; Loom reads the pre-tokenizers ${[...GPT2_SPLITS, ...Object.keys(SPLIT_PATTERNS)].map((p) => JSON.stringify(p)).join(', ')} so far: give --tokenizer tokenizer.json, or --ids`);
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
  // another split first, then the byte-level mapping alone (as Hugging Face writes Llama 3's)
  const preTokenizer = split
    ? { type: 'Sequence', pretokenizers: [{ type: 'Split', pattern: { Regex: split }, behavior: 'Isolated', invert: false }, { ...byteLevel, use_regex: false }] }
    : byteLevel;
  const json = {
    version: '1.0',
    added_tokens: added,
    normalizer: null,
    pre_tokenizer: preTokenizer,
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
