import { decode, encode } from 'gpt-tokenizer/encoding/r50k_base';

/**
 * GPT-2's byte-level BPE (the r50k_base encoding). Text that spells a special token such as
 * `<|endoftext|>` is encoded as ordinary text, never as the special token.
 */
export const gpt2Tokenizer = {
  vocabSize: 50257,
  encode(text: string): number[] {
    return encode(text, { disallowedSpecial: new Set() });
  },
  decode(ids: readonly number[]): string {
    return decode(ids);
  },
};
