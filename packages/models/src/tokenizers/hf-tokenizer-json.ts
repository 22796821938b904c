/**
 * Checks of a Hugging Face tokenizer.json and tokenizer_config.json before @huggingface/tokenizers
 * reads them. The library takes what it is given: a vocabulary with one id for two words decodes to
 * the wrong word, a Unigram vocabulary without scores makes every word the unknown token, and a
 * regular expression that backtracks exponentially freezes encoding. Each problem is a ConfigError
 * naming the file and the JSON path (`model.vocab["foo"]`, `pre_tokenizer.pattern.Regex`).
 */
import * as hfTokenizers from '@huggingface/tokenizers';
import { checkSync } from 'recheck';
import safeRegex from 'safe-regex2';
import { ConfigError } from '../errors.ts';
import { quoted, shownJson } from './text-tokenizer.ts';

type JsonObject = Record<string, unknown>;

// the package's .d.ts files import each other without extensions, which NodeNext resolution cannot
// follow: its Split pre-tokenizer is typed here, as far as it is used
const { SplitPreTokenizer } = hfTokenizers as unknown as { SplitPreTokenizer: new (config: object) => { pattern: RegExp | null } };

const isObject = (value: unknown): value is JsonObject => value !== null && typeof value === 'object' && !Array.isArray(value);

/** Token ids are int32 in Loom's graphs. */
const MAX_TOKEN_ID = 2 ** 31 - 1;

/** A token of the vocabulary and where the file defines it, for messages. */
interface VocabEntry {
  readonly token: string;
  readonly path: string;
}

/** id -> token, over model.vocab and added_tokens. */
type IdTable = Map<number, VocabEntry>;

/**
 * Checks a parsed tokenizer.json: its vocabulary (each id a non-negative integer, one token per id;
 * Unigram entries [piece, finite score]), its added_tokens and its regular expressions. Returns the
 * largest id and where it is defined, for the check against the model's vocab_size.
 */
export function checkTokenizerJson(json: unknown, file: string): { id: number; where: string } {
  if (!isObject(json)) throw new ConfigError(`${file}: expected a JSON object (a Hugging Face tokenizer.json)`);
  if (!isObject(json.model)) throw new ConfigError(`${file}: model: expected an object (the tokenizer's model and vocab)`);
  const ids = modelVocabIds(json.model, file);
  addAddedTokenIds(json.added_tokens, ids, file);
  checkUnkToken(json.model, ids, file);
  for (const { path, pattern } of regexPatterns(json)) checkRegex(pattern, path, file);
  let largest = -1;
  for (const id of ids.keys()) largest = Math.max(largest, id);
  const entry = ids.get(largest)!;
  return { id: largest, where: `${file}: ${entry.path}` };
}

/** The model's id table: Unigram's vocab is a list of [piece, score], the others' an object token -> id. */
function modelVocabIds(model: JsonObject, file: string): IdTable {
  const { vocab, type } = model;
  const isUnigram = type === 'Unigram' || (type === undefined && Array.isArray(vocab));
  if (isUnigram && !Array.isArray(vocab)) throw new ConfigError(`${file}: model.vocab: a Unigram vocab is a list of [piece, score] pairs`);
  if (!isUnigram && !isObject(vocab)) throw new ConfigError(`${file}: model.vocab: expected an object of token -> id`);
  const ids = isUnigram ? unigramIds(vocab as unknown[], model.unk_id, file) : objectVocabIds(vocab as JsonObject, file);
  if (ids.size === 0) throw new ConfigError(`${file}: model.vocab is empty`);
  return ids;
}

/** A BPE, WordPiece or WordLevel vocab: token -> id, each id used once. */
function objectVocabIds(vocab: JsonObject, file: string): IdTable {
  const ids: IdTable = new Map();
  for (const [token, id] of Object.entries(vocab)) {
    const path = `model.vocab[${quoted(token)}]`;
    checkId(id, path, file);
    const other = ids.get(id);
    if (other) throw new ConfigError(`${file}: ${path} = ${id}, the id of ${other.path} too: each token needs its own id`);
    ids.set(id, { token, path });
  }
  return ids;
}

/** A Unigram vocab: entry i is token i, a [piece, score] pair with a finite log-probability. */
function unigramIds(vocab: unknown[], unkId: unknown, file: string): IdTable {
  const ids: IdTable = new Map();
  vocab.forEach((entry, i) => {
    const path = `model.vocab[${i}]`;
    if (!Array.isArray(entry) || typeof entry[0] !== 'string' || typeof entry[1] !== 'number' || !Number.isFinite(entry[1])) {
      throw new ConfigError(`${file}: ${path}: expected a [piece, score] pair with a finite score, got ${shownJson(entry)}`);
    }
    ids.set(i, { token: entry[0], path: `${path} (${quoted(entry[0])})` });
  });
  if (unkId !== undefined && unkId !== null && !(Number.isSafeInteger(unkId) && (unkId as number) >= 0 && (unkId as number) < vocab.length)) {
    throw new ConfigError(`${file}: model.unk_id = ${shownJson(unkId)} is not an index of model.vocab (0..${vocab.length - 1})`);
  }
  return ids;
}

/** added_tokens take their own ids, or share one with the vocab's token of the same text. */
function addAddedTokenIds(added: unknown, ids: IdTable, file: string): void {
  if (added === undefined) return;
  if (!Array.isArray(added)) throw new ConfigError(`${file}: added_tokens: expected a list`);
  added.forEach((token, i) => {
    const path = `added_tokens[${i}]`;
    if (!isObject(token) || typeof token.content !== 'string') throw new ConfigError(`${file}: ${path}: expected an object with a string content and an id`);
    checkId(token.id, `${path}.id`, file);
    const other = ids.get(token.id);
    if (other && other.token !== token.content) throw new ConfigError(`${file}: ${path} (${quoted(token.content)}) has id ${token.id}, the id of ${other.path} too: each token needs its own id`);
    ids.set(token.id, { token: token.content, path: `${path} (${quoted(token.content)})` });
  });
}

/**
 * WordLevel and WordPiece turn every word outside the vocabulary into unk_token, which must then have
 * an id. (A BPE needs its unk_token only for a character outside its vocabulary, as in Hugging Face.)
 */
function checkUnkToken(model: JsonObject, ids: IdTable, file: string): void {
  const unk = model.unk_token;
  if ((model.type !== 'WordLevel' && model.type !== 'WordPiece') || unk === undefined || unk === null) return;
  if (typeof unk !== 'string' || ![...ids.values()].some((entry) => entry.token === unk)) {
    throw new ConfigError(`${file}: model.unk_token = ${shownJson(unk)} is not in model.vocab: unknown words would have no id`);
  }
}

function checkId(id: unknown, path: string, file: string): asserts id is number {
  if (!Number.isSafeInteger(id) || (id as number) < 0 || (id as number) > MAX_TOKEN_ID) {
    throw new ConfigError(`${file}: ${path} = ${shownJson(id)} is not a token id (an integer 0..${MAX_TOKEN_ID})`);
  }
}

/**
 * Every `{"Regex": "..."}` outside the model and added_tokens (Split and Replace in the normalizer,
 * pre-tokenizer and decoder), with its JSON path. Walked with a stack, not recursion: a hostile file
 * can nest deeper than the call stack.
 */
function* regexPatterns(json: JsonObject): Generator<{ path: string; pattern: string }> {
  const stack: [unknown, string][] = Object.entries(json)
    .filter(([key]) => key !== 'model' && key !== 'added_tokens')
    .map(([key, value]) => [value, key]);
  while (stack.length > 0) {
    const [value, path] = stack.pop()!;
    if (Array.isArray(value)) value.forEach((item, i) => stack.push([item, `${path}[${i}]`]));
    else if (isObject(value)) {
      for (const [key, item] of Object.entries(value)) {
        if (key === 'Regex' && typeof item === 'string') yield { path: `${path}.Regex`, pattern: item };
        else stack.push([item, `${path}.${key}`]);
      }
    }
  }
}

/** How long recheck may analyse one pattern (a real tokenizer's take milliseconds). */
const REGEX_CHECK_MS = 5_000;

/**
 * Compiles the pattern as the library does (Oniguruma syntax rewritten to JavaScript) and refuses
 * one that JavaScript's backtracking matcher can take exponential time on, such as `(a+)+$` or
 * `(a|aa)+$`: recheck (a ReDoS checker that analyses the pattern's automaton) decides. Where it
 * cannot (syntax it does not model, such as Llama 3's `(?i:...)`), nested repetition is refused
 * (safe-regex2's star height, lookbehind brackets read as a plain group). Polynomial patterns pass:
 * prompts are bounded, and GPT-2's own pattern is quadratic at worst.
 */
function checkRegex(pattern: string, path: string, file: string): void {
  let compiled: RegExp | null;
  try {
    compiled = new SplitPreTokenizer({ type: 'Split', pattern: { Regex: pattern }, behavior: 'Isolated', invert: false }).pattern;
  } catch (e) {
    throw new ConfigError(`${file}: ${path}: ${quoted(pattern)} is not a regular expression this reader understands (${String((e as Error)?.message ?? e).split('\n')[0]})`);
  }
  if (!compiled) return;
  const refuse = (why: string) => {
    throw new ConfigError(`${file}: ${path}: the pattern ${quoted(pattern)} ${why}, which can take exponential time on some texts; Loom refuses it`);
  };
  const analysis = checkSync(compiled.source, compiled.flags, { timeout: REGEX_CHECK_MS });
  if (analysis.status === 'vulnerable' && analysis.complexity.type === 'exponential') refuse(`can match one text in exponentially many ways (e.g. ${quoted(analysis.attack.pattern, 60)})`);
  if (analysis.status === 'unknown') {
    const checked = compiled.source.replace(/(?<!\\)\(\?<[=!]/g, '(?:');
    // only the nesting matters here, not how many repetitions a pattern has (safe-regex2's limit)
    if (!safeRegex(checked, { limit: Number.MAX_SAFE_INTEGER })) refuse('repeats a group that itself repeats');
  }
}

/**
 * Checks a parsed tokenizer_config.json where the library would fail on it later: it must be an
 * object, and additional_special_tokens a list.
 */
export function checkTokenizerConfig(config: unknown, file: string): JsonObject {
  if (!isObject(config)) throw new ConfigError(`${file}: expected a JSON object (a Hugging Face tokenizer_config.json)`);
  const extra = config.additional_special_tokens;
  if (extra !== undefined && extra !== null && !Array.isArray(extra)) throw new ConfigError(`${file}: additional_special_tokens: expected a list`);
  return config;
}
