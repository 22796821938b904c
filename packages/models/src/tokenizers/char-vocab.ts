import { ModelInputError } from '../errors.ts';

/**
 * A character vocabulary with three special ids before the characters: 0 PAD, 1 BOS, 2 EOS, then
 * character c = 3 + its index in `chars` (the reverse model's table).
 */
export class CharVocab {
  readonly size: number;

  constructor(
    readonly chars: string,
    readonly pad = 0,
    readonly bos = 1,
    readonly eos = 2,
    private readonly offset = 3,
  ) {
    this.size = offset + [...chars].length;
  }

  /** Ids of the characters of `text`; an unknown character is a ModelInputError naming it and its position. */
  encode(text: string): number[] {
    const table = [...this.chars];
    return [...text].map((ch, i) => {
      const k = table.indexOf(ch);
      if (k < 0) {
        const shown = /^[\x20-\x7e]$/u.test(ch) ? `'${ch}'` : `U+${ch.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`;
        throw new ModelInputError(`unknown character ${shown} at position ${i + 1} of "${text}"; the model knows only ${JSON.stringify(this.chars)}`);
      }
      return this.offset + k;
    });
  }

  /** Text of the ids, skipping PAD, BOS and EOS. */
  decode(ids: readonly number[]): string {
    const table = [...this.chars];
    return ids
      .filter((id) => id >= this.offset && id < this.size)
      .map((id) => table[id - this.offset]!)
      .join('');
  }
}
