import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ConfigError, FileError } from '../errors.ts';
import { readUserJson } from '../io/files.ts';
import type { TextTokenizer } from './hf-tokenizer.ts';

/**
 * The tokenizer of an OPUS-MT checkpoint, as Hugging Face's MarianTokenizer reads it:
 * `source.spm` (a SentencePiece model) splits the source text into pieces, `vocab.json` maps pieces
 * to the model's ids (not the SentencePiece ids), unknown pieces become `<unk>`, and `</s>` ends the
 * sentence; a leading language code such as `>>fra<<` is one token. Decoding maps ids back to pieces
 * (special tokens skipped) and joins them, '▁' becoming a space, as the target SentencePiece model's
 * decode_pieces does. The segmentation runs in the official SentencePiece library compiled to
 * WebAssembly (@sctg/sentencepiece-js).
 */
export async function loadMarianTokenizer(dir: string): Promise<TextTokenizer> {
  const spmPath = join(dir, 'source.spm');
  const vocabPath = join(dir, 'vocab.json');
  const vocab = readUserJson(vocabPath, 'vocabulary');
  if (vocab === null || typeof vocab !== 'object' || Array.isArray(vocab)) throw new ConfigError(`${vocabPath}: expected an object of piece -> id`);
  const ids = new Map<string, number>();
  for (const [piece, id] of Object.entries(vocab as Record<string, unknown>)) {
    if (!Number.isSafeInteger(id) || (id as number) < 0) throw new ConfigError(`${vocabPath}: "${piece.slice(0, 40)}" maps to ${JSON.stringify(id)}, not a token id`);
    ids.set(piece, id as number);
  }
  const idOf = (name: string) => {
    const id = ids.get(name);
    if (id === undefined) throw new ConfigError(`${vocabPath}: has no ${name} token`);
    return id;
  };
  const [eos, unk] = [idOf('</s>'), idOf('<unk>')];
  const special = new Set([eos, unk, ...(ids.has('<pad>') ? [ids.get('<pad>')!] : [])]);
  const pieces = new Map([...ids].map(([piece, id]) => [id, piece]));

  let model: Buffer;
  try {
    model = readFileSync(spmPath);
  } catch (e) {
    throw new FileError(`cannot read the SentencePiece model '${spmPath}': ${(e as Error).message}`);
  }
  // the package embeds its demo models (4 MB of JavaScript): loaded only when a Marian text is tokenized
  const { SentencePieceProcessor } = await import('@sctg/sentencepiece-js');
  const spm = new SentencePieceProcessor();
  try {
    await spm.loadFromB64StringModel(model.toString('base64'));
  } catch (e) {
    throw new ConfigError(`${spmPath}: not a SentencePiece model (${String((e as Error)?.message ?? e).split('\n')[0]})`);
  }
  return {
    encode(text) {
      const code = /^>>.+<</.exec(text);
      const rest = code ? text.slice(code[0].length) : text;
      const tokens = [...(code ? [code[0]] : []), ...spm.encodePieces(rest)];
      return [...tokens.map((t) => ids.get(t) ?? unk), eos];
    },
    decode(out) {
      const text = out
        .filter((id) => !special.has(id))
        .map((id) => pieces.get(id) ?? '')
        .join('');
      return text.replace(/\u2581/g, ' ').trim();
    },
  };
}

/** The Marian tokenizer files beside a checkpoint, if they are there. */
export function marianTokenizerBeside(weightsPath: string): string | undefined {
  const dir = dirname(weightsPath);
  return existsSync(join(dir, 'source.spm')) && existsSync(join(dir, 'vocab.json')) ? dir : undefined;
}
