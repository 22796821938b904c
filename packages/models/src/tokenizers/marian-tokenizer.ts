import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import protobuf from 'protobufjs/minimal.js';
import { ConfigError, ModelInputError } from '../errors.ts';
import { readUserFile, readUserJson } from '../files.ts';
import { loadSentencePieceModel, type SentencePieceProcessor } from './sentencepiece-processor.ts';
import { quoted, SENTENCEPIECE_MAX_BYTES, shownJson, TOKENIZER_JSON_MAX_BYTES, unknownIdError, type TextTokenizer } from './text-tokenizer.ts';

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
 * The SentencePiece model, read as a regular file of at most SENTENCEPIECE_MAX_BYTES. Its top-level
 * fields are checked first (checkModelProto): protobuf has no end marker, so a file cut exactly where
 * a field ends parses, and SentencePiece loads it with the fields after the cut at their defaults (a
 * lost normalizer_spec changes how text such as fullwidth letters is cut). SentencePiece's self-test
 * runs in the package's load, with its result dropped, so the samples are run again here.
 */
async function loadSentencePiece(spmPath: string): Promise<SentencePieceProcessor> {
  const model = readUserFile(spmPath, 'SentencePiece model', SENTENCEPIECE_MAX_BYTES);
  const samples = checkModelProto(model, spmPath);
  const spm = await loadSentencePieceModel(model, spmPath);
  const failed = samples.map((s) => ({ ...s, got: spm.encodePieces(s.input).join(' ') })).filter((s) => s.got !== s.expected);
  if (failed.length > 0) {
    const { input, expected, got } = failed[0]!;
    throw new ConfigError(`${spmPath}: fails its own self-test (${failed.length} of ${samples.length} samples): ${quoted(input)} is cut into ${quoted(got)}, the model expects ${quoted(expected)}`);
  }
  return spm;
}

/** SentencePiece's ModelProto (sentencepiece_model.proto): its top-level fields, all length-delimited. */
const MODEL_PROTO_FIELDS: Record<number, string> = { 1: 'pieces', 2: 'trainer_spec', 3: 'normalizer_spec', 4: 'self_test_data', 5: 'denormalizer_spec' };
/** The fields every model SentencePiece's trainer writes has. */
const REQUIRED_FIELDS = [1, 2, 3];

/**
 * Walks the ModelProto's top-level fields with protobufjs's Reader: refuses a field that runs past the
 * end of the file and a model without pieces, trainer_spec or normalizer_spec (what a cut at a field's
 * end leaves), naming what is missing. Returns the self-test samples (self_test_data), if any.
 */
function checkModelProto(model: Uint8Array, spmPath: string): { input: string; expected: string }[] {
  const reader = protobuf.Reader.create(model);
  const seen = new Set<number>();
  const samples: { input: string; expected: string }[] = [];
  while (reader.pos < reader.len) {
    const start = reader.pos;
    let field: number | undefined;
    try {
      const tag = reader.uint32();
      field = tag >>> 3;
      const name = MODEL_PROTO_FIELDS[field];
      if (name === undefined) {
        reader.skipType(tag & 7);
        continue;
      }
      if ((tag & 7) !== 2) throw new ConfigError(`${spmPath}: not a SentencePiece model: its ${name} (field ${field} at byte ${start}) is not length-delimited`);
      const length = reader.uint32();
      if (reader.pos + length > reader.len) {
        throw new ConfigError(`${spmPath}: not a whole SentencePiece model: it ends inside its ${name} (field ${field} at byte ${start}, ${length} bytes from byte ${reader.pos}, the file has ${reader.len}; truncated?)`);
      }
      const body = reader.buf.subarray(reader.pos, reader.pos + length);
      reader.pos += length;
      seen.add(field);
      if (field === 4) samples.push(...selfTestSamples(body, `${spmPath}: not a SentencePiece model: its self_test_data (field 4 at byte ${start})`));
    } catch (e) {
      if (e instanceof ConfigError) throw e;
      const what = field === undefined ? `a field's tag (at byte ${start}` : `its ${MODEL_PROTO_FIELDS[field] ?? 'unknown field'} (field ${field} at byte ${start}`;
      const message = String((e as Error)?.message ?? e);
      if (message.startsWith('index out of range')) throw new ConfigError(`${spmPath}: not a whole SentencePiece model: it ends inside ${what}; truncated?)`);
      throw new ConfigError(`${spmPath}: not a SentencePiece model: ${what}: ${message})`);
    }
  }
  const missing = REQUIRED_FIELDS.filter((f) => !seen.has(f)).map((f) => MODEL_PROTO_FIELDS[f]);
  if (missing.length > 0) throw new ConfigError(`${spmPath}: not a whole SentencePiece model: it has no ${missing.join(', no ')} (truncated?)`);
  return samples;
}

/** SelfTestData { repeated Sample samples = 1 }, Sample { string input = 1; string expected = 2 }. */
function selfTestSamples(body: Uint8Array, where: string): { input: string; expected: string }[] {
  const reader = protobuf.Reader.create(body);
  const samples: { input: string; expected: string }[] = [];
  try {
    readSamples(reader, samples);
  } catch (e) {
    throw new ConfigError(`${where} does not parse (${String((e as Error)?.message ?? e)})`);
  }
  return samples;
}

/** Appends the samples the reader holds; protobufjs throws on a field that runs past the end. */
function readSamples(reader: protobuf.Reader, samples: { input: string; expected: string }[]): void {
  while (reader.pos < reader.len) {
    const tag = reader.uint32();
    if (tag !== ((1 << 3) | 2)) {
      reader.skipType(tag & 7);
      continue;
    }
    const sample = protobuf.Reader.create(reader.bytes());
    const fields = { input: '', expected: '' };
    while (sample.pos < sample.len) {
      const t = sample.uint32();
      if (t === ((1 << 3) | 2)) fields.input = sample.string();
      else if (t === ((2 << 3) | 2)) fields.expected = sample.string();
      else sample.skipType(t & 7);
    }
    samples.push(fields);
  }
}

/** The Marian tokenizer files beside a checkpoint, if they are there. */
export function marianTokenizerBeside(weightsPath: string): string | undefined {
  const dir = dirname(weightsPath);
  return existsSync(join(dir, 'source.spm')) && existsSync(join(dir, 'vocab.json')) ? dir : undefined;
}
