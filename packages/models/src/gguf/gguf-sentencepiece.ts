/**
 * The SentencePiece tokenizer a GGUF file's metadata describes (`tokenizer.ggml.model` "llama": Llama
 * 1 and 2, Mistral, TinyLlama, Gemma), as convert_hf_to_gguf.py writes it from the model's
 * tokenizer.model: every piece with its score and type, the special ids and two flags. The ModelProto
 * those came from is rebuilt here (a BPE model: merges by the pieces' scores, byte fallback when the
 * vocabulary has byte pieces, no normalization, spaces escaped as '▁' with a leading one when
 * add_space_prefix) and run by the official SentencePiece library, so ids are SentencePiece's (and
 * llama.cpp's, whose SPM tokenizer follows it). BOS is prepended when add_bos_token (the default),
 * EOS appended when add_eos_token; decoding skips control tokens and maps byte pieces back to bytes.
 */
import protobuf from 'protobufjs/minimal.js';
import { loadSentencePieceModel } from '../tokenizers/sentencepiece-processor.ts';
import { quoted, unknownIdError, type TextTokenizer } from '../tokenizers/text-tokenizer.ts';
import { GgufError, type GgufFile } from './read-gguf.ts';

/** llama.cpp's token types, which are SentencePiece's piece types (sentencepiece_model.proto). */
const PIECE_TYPES: Readonly<Record<number, string>> = { 1: 'normal', 2: 'unknown', 3: 'control', 4: 'user defined', 5: 'unused', 6: 'byte' };
const [UNKNOWN, CONTROL, BYTE] = [2, 3, 6];

/** The tokenizer, or a GgufError naming the metadata key (and index) that is wrong. */
export async function sentencePieceFromGguf(file: GgufFile): Promise<TextTokenizer> {
  const where = `${file.path}: tokenizer.ggml`;
  const pieces = list(file, 'tokens', (v): v is string => typeof v === 'string', 'strings');
  const scores = list(file, 'scores', (v): v is number => typeof v === 'number' && Number.isFinite(v), 'finite numbers', pieces.length);
  const types = list(file, 'token_type', (v): v is number => typeof v === 'number' && PIECE_TYPES[v] !== undefined, 'token types (1 to 6)', pieces.length);
  const seen = new Map<string, number>();
  pieces.forEach((piece, id) => {
    const other = seen.get(piece);
    if (other !== undefined) throw new GgufError(`${where}.tokens[${id}]: ${quoted(piece)} is also token ${other}`);
    seen.set(piece, id);
    if (types[id] === BYTE && !/^<0x[0-9A-F]{2}>$/.test(piece)) throw new GgufError(`${where}.tokens[${id}]: ${quoted(piece)} is a byte token (token_type 6), which SentencePiece spells <0xHH>`);
  });
  const unk = specialId(file, 'unknown_token_id', pieces.length) ?? types.indexOf(UNKNOWN);
  if (unk < 0 || types[unk] !== UNKNOWN) throw new GgufError(`${where}: SentencePiece needs an unknown token: ${unk < 0 ? 'no token has token_type 2' : `unknown_token_id ${unk} is ${quoted(pieces[unk]!)} of token_type ${types[unk]}`}`);
  const bos = specialId(file, 'bos_token_id', pieces.length);
  const eos = specialId(file, 'eos_token_id', pieces.length);
  const addBos = flag(file, 'add_bos_token', true);
  const addEos = flag(file, 'add_eos_token', false);
  if (addBos && bos === undefined) throw new GgufError(`${where}.add_bos_token is true, but there is no bos_token_id`);
  if (addEos && eos === undefined) throw new GgufError(`${where}.add_eos_token is true, but there is no eos_token_id`);
  const model = modelProto(pieces, scores, types, { unk, bos, eos, pad: specialId(file, 'padding_token_id', pieces.length), addSpacePrefix: flag(file, 'add_space_prefix', true) });
  const spm = await loadSentencePieceModel(model, `${file.path} (its tokenizer.ggml metadata as a SentencePiece model)`);
  const source = `${file.path} (tokenizer.ggml.tokens)`;
  return {
    largestId: { id: pieces.length - 1, where: `${where}.tokens[${pieces.length - 1}] ${quoted(pieces.at(-1)!)}` },
    encode: (text) => [...(addBos ? [bos!] : []), ...spm.encodeIds(text), ...(addEos ? [eos!] : [])],
    decode(ids) {
      const missing = ids.find((id) => !(Number.isInteger(id) && id >= 0 && id < pieces.length));
      if (missing !== undefined) throw unknownIdError(missing, source);
      return spm.decodeIds(Int32Array.from(ids.filter((id) => types[id] !== CONTROL)));
    },
  };
}

interface Specials {
  readonly unk: number;
  readonly bos: number | undefined;
  readonly eos: number | undefined;
  readonly pad: number | undefined;
  readonly addSpacePrefix: boolean;
}

/**
 * A serialized SentencePiece ModelProto (sentencepiece_model.proto's field numbers): the pieces
 * (piece 1, score 2, type 3), a TrainerSpec (model_type 3 = BPE, vocab_size 4,
 * allow_whitespace_only_pieces 26, byte_fallback 35, unk/bos/eos/pad ids 40-43, -1 for none) and a
 * NormalizerSpec (name 1 "identity": no character map; add_dummy_prefix 3; remove_extra_whitespaces 4
 * off, as Llama's keep runs of spaces; escape_whitespaces 5).
 */
function modelProto(pieces: readonly string[], scores: readonly number[], types: readonly number[], s: Specials): Uint8Array {
  const w = protobuf.Writer.create();
  pieces.forEach((piece, id) => {
    w.uint32((1 << 3) | 2).fork();
    w.uint32((1 << 3) | 2).string(piece);
    w.uint32((2 << 3) | 5).float(scores[id]!);
    w.uint32(3 << 3).int32(types[id]!);
    w.ldelim();
  });
  w.uint32((2 << 3) | 2).fork();
  w.uint32(3 << 3).int32(2);
  w.uint32(4 << 3).int32(pieces.length);
  w.uint32(26 << 3).bool(true);
  w.uint32(35 << 3).bool(types.includes(BYTE));
  w.uint32(40 << 3).int32(s.unk);
  w.uint32(41 << 3).int32(s.bos ?? -1);
  w.uint32(42 << 3).int32(s.eos ?? -1);
  w.uint32(43 << 3).int32(s.pad ?? -1);
  w.ldelim();
  w.uint32((3 << 3) | 2).fork();
  w.uint32((1 << 3) | 2).string('identity');
  w.uint32(3 << 3).bool(s.addSpacePrefix);
  w.uint32(4 << 3).bool(false);
  w.uint32(5 << 3).bool(true);
  w.ldelim();
  return w.finish();
}

function list<T>(file: GgufFile, key: string, ok: (v: unknown) => v is T, what: string, length?: number): T[] {
  const value = file.metadata[`tokenizer.ggml.${key}`];
  const where = `${file.path}: tokenizer.ggml.${key}`;
  if (!Array.isArray(value)) throw new GgufError(`${where} must be a list of ${what}${length === undefined ? '' : `, one per token (${length})`}`);
  if (length !== undefined && value.length !== length) throw new GgufError(`${where} has ${value.length} entries, one per token needs ${length}`);
  const bad = value.findIndex((v) => !ok(v));
  if (bad >= 0) throw new GgufError(`${where}[${bad}] is ${quoted(String(value[bad]))}: the list must hold ${what}`);
  return value as T[];
}

function specialId(file: GgufFile, key: string, count: number): number | undefined {
  const value = file.metadata[`tokenizer.ggml.${key}`];
  if (value === undefined) return undefined;
  const id = typeof value === 'bigint' ? Number(value) : value;
  if (typeof id !== 'number' || !Number.isInteger(id) || id < 0 || id >= count) throw new GgufError(`${file.path}: tokenizer.ggml.${key} is ${String(value)}, not one of the ${count} token ids`);
  return id;
}

function flag(file: GgufFile, key: string, fallback: boolean): boolean {
  const value = file.metadata[`tokenizer.ggml.${key}`];
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') throw new GgufError(`${file.path}: tokenizer.ggml.${key} must be a boolean, got ${String(value)}`);
  return value;
}
