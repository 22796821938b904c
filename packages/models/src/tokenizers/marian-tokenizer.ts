import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ConfigError, ModelInputError } from '../errors.ts';
import { readUserFile, readUserJson } from '../files.ts';
import { quoted, SENTENCEPIECE_MAX_BYTES, shownJson, TOKENIZER_JSON_MAX_BYTES, unknownIdError, type TextTokenizer } from './text-tokenizer.ts';

/** What the SentencePiece processor of @sctg/sentencepiece-js is asked here (its .d.ts types it `any`). */
interface SentencePieceProcessor {
  loadFromB64StringModel(b64: string): Promise<void>;
  encodePieces(text: string): string[];
  processor: { status(): { ToString(): string; delete(): void } };
}

/**
 * The tokenizer of an OPUS-MT checkpoint, as Hugging Face's MarianTokenizer reads it:
 * `source.spm` (a SentencePiece model) splits the source text into pieces, `vocab.json` maps pieces
 * to the model's ids (not the SentencePiece ids), unknown pieces become `<unk>`, and `</s>` ends the
 * sentence; a leading language code such as `>>fra<<` is one token. Decoding maps ids back to pieces
 * (special tokens skipped) and joins them, '▁' becoming a space, as the target SentencePiece model's
 * decode_pieces does; an id vocab.json lacks is an error. The segmentation runs in the official
 * SentencePiece library compiled to WebAssembly (@sctg/sentencepiece-js); a model it cannot load is
 * refused (the package itself would load nothing and cut every text into no pieces).
 */
export async function loadMarianTokenizer(dir: string): Promise<TextTokenizer> {
  const spmPath = join(dir, 'source.spm');
  const vocabPath = join(dir, 'vocab.json');
  const ids = readMarianVocab(vocabPath);
  const idOf = (name: string) => {
    const id = ids.get(name);
    if (id === undefined) throw new ConfigError(`${vocabPath}: has no ${name} token`);
    return id;
  };
  const [eos, unk] = [idOf('</s>'), idOf('<unk>')];
  const special = new Set([eos, unk, ...(ids.has('<pad>') ? [ids.get('<pad>')!] : [])]);
  const pieces = new Map([...ids].map(([piece, id]) => [id, piece]));
  const spm = await loadSentencePiece(spmPath);
  const largest = [...pieces.keys()].reduce((a, b) => Math.max(a, b));
  return {
    largestId: { id: largest, where: `${vocabPath}: ${quoted(pieces.get(largest)!)}` },
    encode(text) {
      const code = /^>>.+<</.exec(text);
      const rest = code ? text.slice(code[0].length) : text;
      const cut = spm.encodePieces(rest);
      if (cut.length === 0 && /\S/u.test(rest)) throw new ModelInputError(`${spmPath} cuts ${quoted(rest)} into no pieces: the source would be the empty sentence`);
      const tokens = [...(code ? [code[0]] : []), ...cut];
      return [...tokens.map((t) => ids.get(t) ?? unk), eos];
    },
    decode(out) {
      const missing = out.find((id) => !pieces.has(id));
      if (missing !== undefined) throw unknownIdError(missing, vocabPath);
      const text = out
        .filter((id) => !special.has(id))
        .map((id) => pieces.get(id)!)
        .join('');
      return text.replace(/\u2581/g, ' ').trim();
    },
  };
}

/** vocab.json: piece -> model id, each id a non-negative integer used by one piece. */
function readMarianVocab(vocabPath: string): Map<string, number> {
  const vocab = readUserJson(vocabPath, 'vocabulary', TOKENIZER_JSON_MAX_BYTES);
  if (vocab === null || typeof vocab !== 'object' || Array.isArray(vocab)) throw new ConfigError(`${vocabPath}: expected an object of piece -> id`);
  const ids = new Map<string, number>();
  const pieceOf = new Map<number, string>();
  for (const [piece, id] of Object.entries(vocab as Record<string, unknown>)) {
    if (!Number.isSafeInteger(id) || (id as number) < 0) throw new ConfigError(`${vocabPath}: ${quoted(piece)} maps to ${shownJson(id)}, not a token id`);
    const other = pieceOf.get(id as number);
    if (other !== undefined) throw new ConfigError(`${vocabPath}: ${quoted(piece)} maps to ${id}, the id of ${quoted(other)} too: each piece needs its own id`);
    ids.set(piece, id as number);
    pieceOf.set(id as number, piece);
  }
  return ids;
}

/**
 * The SentencePiece model, read as a regular file of at most SENTENCEPIECE_MAX_BYTES. The package's
 * load drops SentencePiece's status (a corrupt, empty or truncated model loads as nothing), so the
 * status is asked for afterwards: SentencePiece's own check that the ModelProto parsed and has pieces.
 */
async function loadSentencePiece(spmPath: string): Promise<SentencePieceProcessor> {
  const model = readUserFile(spmPath, 'SentencePiece model', SENTENCEPIECE_MAX_BYTES);
  // the package embeds its demo models (4 MB of JavaScript): loaded only when a Marian text is tokenized
  const { SentencePieceProcessor } = await import('@sctg/sentencepiece-js');
  const spm = new SentencePieceProcessor() as SentencePieceProcessor;
  try {
    await spm.loadFromB64StringModel(model.toString('base64'));
  } catch (e) {
    throw new ConfigError(`${spmPath}: not a SentencePiece model (${String((e as Error)?.message ?? e).split('\n')[0]})`);
  }
  const status = spm.processor.status();
  const verdict = status.ToString();
  status.delete();
  if (verdict !== 'OK') throw new ConfigError(`${spmPath}: not a SentencePiece model that SentencePiece can load (${verdict})`);
  return spm;
}

/** The Marian tokenizer files beside a checkpoint, if they are there. */
export function marianTokenizerBeside(weightsPath: string): string | undefined {
  const dir = dirname(weightsPath);
  return existsSync(join(dir, 'source.spm')) && existsSync(join(dir, 'vocab.json')) ? dir : undefined;
}
