/**
 * The GGML tensor types Loom reads from GGUF files, with their block layout: `block` values stored in
 * `bytes` bytes (ggml.c's type_traits). Others (Q4_1, Q5_*, IQ*, ...) are refused by name.
 */
export const GGUF_TYPES = {
  0: { name: 'F32', block: 1, bytes: 4 },
  1: { name: 'F16', block: 1, bytes: 2 },
  2: { name: 'Q4_0', block: 32, bytes: 18 }, // float16 scale, 16 bytes of 4-bit values
  8: { name: 'Q8_0', block: 32, bytes: 34 }, // float16 scale, 32 int8 values
  12: { name: 'Q4_K', block: 256, bytes: 144 }, // float16 d and dmin, 12 bytes of 6-bit scales and mins, 128 bytes of 4-bit values
  14: { name: 'Q6_K', block: 256, bytes: 210 }, // 128 bytes of low 4 bits, 64 of high 2 bits, 16 int8 scales, float16 d
  30: { name: 'BF16', block: 1, bytes: 2 },
} as const;

export type GgufTypeId = keyof typeof GGUF_TYPES;
export type GgufTypeName = (typeof GGUF_TYPES)[GgufTypeId]['name'];

/** Names of the GGML types Loom does not read yet, for messages. */
export const OTHER_GGML_TYPES: Readonly<Record<number, string>> = {
  3: 'Q4_1', 6: 'Q5_0', 7: 'Q5_1', 9: 'Q8_1', 10: 'Q2_K', 11: 'Q3_K', 13: 'Q5_K', 15: 'Q8_K',
  16: 'IQ2_XXS', 17: 'IQ2_XS', 18: 'IQ3_XXS', 19: 'IQ1_S', 20: 'IQ4_NL', 21: 'IQ3_S', 22: 'IQ2_S', 23: 'IQ4_XS',
  24: 'I8', 25: 'I16', 26: 'I32', 27: 'I64', 28: 'F64', 29: 'IQ1_M',
};

export function isGgufType(id: number): id is GgufTypeId {
  return Object.hasOwn(GGUF_TYPES, id);
}
