/** WGSL for a workgroup-wide reduction of one value per invocation, through workgroup memory. */

export function workgroupScratch(name: string, type: 'f32' | 'i32', size: number): string {
  return `var<workgroup> ${name}: array<${type}, ${size}>;`;
}

/**
 * Statements that reduce `value` (one per invocation) over a workgroup of `size` (a power of two)
 * and leave the result in the `let` named `result`, visible to every invocation. Must be reached in
 * uniform control flow (it contains barriers).
 */
export function workgroupReduce(scratch: string, size: number, value: string, result: string, combine: (a: string, b: string) => string): string[] {
  return [
    `${scratch}[lid] = ${value};`,
    'workgroupBarrier();',
    `for (var s = ${size / 2}u; s > 0u; s = s >> 1u) {`,
    `  if (lid < s) { ${scratch}[lid] = ${combine(`${scratch}[lid]`, `${scratch}[lid + s]`)}; }`,
    '  workgroupBarrier();',
    '}',
    `let ${result} = ${scratch}[0];`,
    // everyone has read the result before the scratch is reused
    'workgroupBarrier();',
  ];
}

/**
 * Statements (one level indented) that leave `row_max` and `row_sum`, the sum of exp(x - row_max),
 * of a row of `count` elements, element k read by `at(k)`, each reduced over the workgroup of `size`
 * with the scratch array `scratch`: the first two sweeps of a numerically stable softmax.
 */
export function rowMaxAndSumExp(scratch: string, size: number, count: string, at: (k: string) => string): string[] {
  return [
    `var m = ${F32_LOWEST};`,
    `for (var k = lid; k < ${count}; k += ${size}u) { m = max(m, ${at('k')}); }`,
    ...workgroupReduce(scratch, size, 'm', 'row_max', (a, b) => `max(${a}, ${b})`),
    'var s = 0.0;',
    `for (var k = lid; k < ${count}; k += ${size}u) { s += exp(${at('k')} - row_max); }`,
    ...workgroupReduce(scratch, size, 's', 'row_sum', (a, b) => `${a} + ${b}`),
  ].map((l) => `  ${l}`);
}

/**
 * The lowest finite f32, the start of running maxima. Not -inf: WGSL rejects non-finite constants,
 * and implementations may assume no infinities at run time.
 */
export const F32_LOWEST = 'bitcast<f32>(0xff7fffffu)';
export const I32_LOWEST = 'i32(-2147483647 - 1)';
