/** Element types a tensor can hold. Booleans (masks, comparisons) are i32 0/1. */
export const DTYPES = ['f32', 'i32'] as const;
export type DType = (typeof DTYPES)[number];

export function isDType(value: unknown): value is DType {
  return typeof value === 'string' && (DTYPES as readonly string[]).includes(value);
}
