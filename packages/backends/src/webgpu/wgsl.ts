import type { DType } from '@loom/graph';
import { f32Digits, withPoint } from '../expr/float-literal.ts';
import { WebGpuLimitError, UnsupportedOpError } from './errors.ts';
import type { DeviceLimits } from './gpu-provider.ts';

/** Small pieces every renderer uses: the uniform block, literals, declarations, dispatch grids. */

export type ScalarType = 'u32' | 'i32' | 'f32';

/**
 * The per-launch uniform block. Sizes, strides and offsets live here rather than in the source, so
 * one pipeline serves every value of a symbolic dimension (seq grows while decoding).
 */
export class Params {
  private readonly fields: { name: string; type: ScalarType; value: number }[] = [];

  u32(name: string, value: number): this {
    if (!(Number.isInteger(value) && value >= 0 && value < 2 ** 32)) throw new WebGpuLimitError(`value ${value} of '${name}' does not fit a u32 index`);
    return this.add(name, 'u32', value);
  }

  i32(name: string, value: number): this {
    return this.add(name, 'i32', value);
  }

  f32(name: string, value: number): this {
    return this.add(name, 'f32', value);
  }

  private add(name: string, type: ScalarType, value: number): this {
    this.fields.push({ name, type, value });
    return this;
  }

  /** The struct and its binding. WGSL structs need a member, so an empty block holds `unused`. */
  declare(binding: number): string {
    const fields = this.fields.length > 0 ? this.fields : [{ name: 'unused', type: 'u32' as const, value: 0 }];
    return [
      'struct Params {',
      ...fields.map((f) => `  ${f.name}: ${f.type},`),
      '}',
      `@group(0) @binding(${binding}) var<uniform> p: Params;`,
    ].join('\n');
  }

  /** The values, packed as the struct lays them out (4-byte scalars, size rounded to 16 bytes). */
  data(): Uint32Array {
    const words = new Uint32Array(Math.max(4, Math.ceil(this.fields.length / 4) * 4));
    const view = new DataView(words.buffer);
    this.fields.forEach((f, i) => {
      if (f.type === 'f32') view.setFloat32(i * 4, f.value, true);
      else if (f.type === 'i32') view.setInt32(i * 4, f.value, true);
      else view.setUint32(i * 4, f.value, true);
    });
    return words;
  }
}

export function wgslType(dtype: DType): 'f32' | 'i32' {
  return dtype;
}

export function storageDecl(binding: number, name: string, dtype: DType, access: 'read' | 'read_write'): string {
  return `@group(0) @binding(${binding}) var<storage, ${access}> ${name}: array<${wgslType(dtype)}>;`;
}

/**
 * The status buffer (STATUS) of kernels that check indices: two words per checking step at `p.slot`,
 * how many indices were bad and the first bad position, which the runtime reads after the run.
 */
export function statusDecl(binding: number): string {
  return `@group(0) @binding(${binding}) var<storage, read_write> status: array<atomic<u32>>;`;
}

/** The statement counting one bad index at `position` (a u32) in the step's status slot. */
export function reportBadIndex(position: string): string {
  return `atomicAdd(&status[p.slot], 1u); atomicMin(&status[p.slot + 1u], ${position});`;
}

/**
 * The shortest decimal that rounds to the same float32, as a WGSL f32 expression. WGSL has no
 * non-finite constants (and lets implementations assume none at run time): +-Infinity become the
 * largest finite f32, and NaN is rejected.
 */
export function f32Literal(value: number): string {
  const f = Math.fround(value);
  if (Number.isNaN(f)) throw new UnsupportedOpError('constant', 'NaN cannot be a WGSL constant');
  if (f === Infinity) return 'bitcast<f32>(0x7f7fffffu)';
  if (f === -Infinity) return 'bitcast<f32>(0xff7fffffu)';
  if (Object.is(f, -0)) return '(-0.0f)';
  const text = withPoint(f32Digits(f));
  return f < 0 ? `(-${text}f)` : `${text}f`;
}

export function i32Literal(value: number): string {
  const v = value | 0;
  if (v === -2147483648) return 'i32(-2147483647 - 1)';
  return v < 0 ? `(${v}i)` : `${v}i`;
}

export function literal(value: number, dtype: DType): string {
  return dtype === 'f32' ? f32Literal(value) : i32Literal(value);
}

/**
 * Workgroups for `groups` workgroups of a 1-D kernel, as a 2-D grid when one dimension would exceed
 * the device's maxComputeWorkgroupsPerDimension. Kernels recover the linear id with `groupIndex()`.
 */
export function linearGrid(groups: number, limits: DeviceLimits, what: string): [number, number, number] {
  const max = limits.maxComputeWorkgroupsPerDimension;
  if (groups <= max) return [Math.max(groups, 1), 1, 1];
  const y = Math.ceil(groups / max);
  if (y > max) throw new WebGpuLimitError(`${what}: ${groups} workgroups exceed the device's ${max} x ${max} grid`);
  return [Math.ceil(groups / y), y, 1];
}

/** The entry point's signature; `wg` is the linear workgroup index over a (possibly 2-D) grid. */
export function entryPoint(workgroupSize: number | readonly [number, number, number]): string {
  const size = typeof workgroupSize === 'number' ? `${workgroupSize}` : workgroupSize.join(', ');
  return [
    `@compute @workgroup_size(${size})`,
    'fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,',
    '        @builtin(local_invocation_index) lid: u32, @builtin(local_invocation_id) lid3: vec3<u32>) {',
    '  let wg = wid.y * nwg.x + wid.x;',
  ].join('\n');
}

/** Largest power of two <= n (at least 1). */
export function floorPow2(n: number): number {
  let p = 1;
  while (p * 2 <= n) p *= 2;
  return p;
}

/** Workgroup size for reductions over rows of `n` elements: a power of two, 32..max. */
export function rowWorkgroupSize(n: number, limits: DeviceLimits): number {
  const max = floorPow2(Math.min(256, limits.maxComputeInvocationsPerWorkgroup, limits.maxComputeWorkgroupSizeX));
  let size = 32;
  while (size < max && size < n) size *= 2;
  return Math.min(size, max);
}
