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
 * The lowest finite f32, the start of running maxima. Not -inf: WGSL rejects non-finite constants,
 * and implementations may assume no infinities at run time.
 */
export const F32_LOWEST = 'bitcast<f32>(0xff7fffffu)';
export const I32_LOWEST = 'i32(-2147483647 - 1)';
