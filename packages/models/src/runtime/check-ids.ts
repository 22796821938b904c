import { ModelInputError } from '../errors.ts';

/** Throws a ModelInputError naming the first id outside [0, vocab) and the first row longer than maxLen. */
export function checkTokenRows(rows: readonly (readonly number[])[], vocab: number, maxLen: number, what = 'sequence'): void {
  rows.forEach((row, r) => {
    const where = rows.length > 1 ? ` of ${what} ${r + 1}` : ` of the ${what}`;
    row.forEach((id, i) => {
      if (!Number.isInteger(id) || id < 0 || id >= vocab) throw new ModelInputError(`token id ${id} at position ${i + 1}${where} is outside the vocabulary (0..${vocab - 1})`);
    });
    if (row.length > maxLen) throw new ModelInputError(`${what}${rows.length > 1 ? ` ${r + 1}` : ''} has ${row.length} tokens, longer than the model's ${maxLen} positions`);
  });
}
