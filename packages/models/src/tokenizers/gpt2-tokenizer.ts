import bpeRanks from 'gpt-tokenizer/bpeRanks/r50k_base';
import { encode } from 'gpt-tokenizer/encoding/r50k_base';
import { ModelInputError } from '../errors.ts';

const END_OF_TEXT = 50256;
const textEncoder = new TextEncoder();

/** The bytes of one GPT-2 token: the BPE table holds a string or, where it is not UTF-8, the bytes. */
function tokenBytes(id: number): Uint8Array {
  if (id === END_OF_TEXT) return textEncoder.encode('<|endoftext|>');
  const entry = Number.isInteger(id) && id >= 0 ? bpeRanks[id] : undefined;
  if (entry === undefined) throw new ModelInputError(`cannot decode token id ${id}: GPT-2's BPE has ids 0..${END_OF_TEXT}`);
  return typeof entry === 'string' ? textEncoder.encode(entry) : Uint8Array.from(entry);
}

/**
 * GPT-2's byte-level BPE (the r50k_base encoding). Text that spells a special token such as
 * `<|endoftext|>` is encoded as ordinary text, never as the special token. Decoding joins the
 * tokens' bytes and reads them as UTF-8 as Hugging Face does (errors='replace': an incomplete
 * character is U+FFFD; a leading BOM is kept). It does not use gpt-tokenizer's decode, which reads
 * bytes with one streaming TextDecoder shared by all calls: a partial character left by one call
 * began the text of the next, and only the first call dropped a leading BOM.
 */
export const gpt2Tokenizer = {
  vocabSize: 50257,
  largestId: { id: END_OF_TEXT, where: "GPT-2's BPE: <|endoftext|>" },
  encode(text: string): number[] {
    return encode(text, { disallowedSpecial: new Set() });
  },
  decode(ids: readonly number[]): string {
    const parts = ids.map(tokenBytes);
    const bytes = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const part of parts) {
      bytes.set(part, at);
      at += part.length;
    }
    return new TextDecoder('utf-8', { ignoreBOM: true }).decode(bytes);
  },
};
