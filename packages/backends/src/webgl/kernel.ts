import type { OpName } from '@loom/graph';
import type { GpuKernelContext, TensorInfo } from '../gpu/kernel-context.ts';
import type { AttrsOf } from '../op-attrs.ts';
import type { PackedMatrix, PackedRead } from './packed.ts';

/**
 * The contract between renderers and the runtime. A renderer turns one plan step (a node of the
 * compiled graph, with its shapes resolved for this run) into one or more passes; it never touches
 * the GL context. A pass draws one texture: every output element runs the pass's GLSL once (a
 * fragment), at linear index `i`, and reads its inputs as textures. The runtime owns the context,
 * the gpu.js kernels and the textures.
 */

export type { AttrsOf };

/** A tensor a kernel reads or writes, with its shape resolved for this run. */
export type { TensorInfo };

/** What the GL context allows (read from it, or lowered for tests). */
export interface GlLimits {
  /** MAX_TEXTURE_SIZE: a texture is at most this many texels wide and high. */
  readonly maxTextureSize: number;
  /** MAX_TEXTURE_IMAGE_UNITS: textures one pass can read. */
  readonly maxTextureUnits: number;
  /**
   * Loop iterations one fragment may run, all its loops together (loops.ts: LOOP_BUDGET, under
   * llvmpipe's silent cap of 65535). Renderers split longer reductions into chunks (reduction.ts).
   */
  readonly maxLoopIterations: number;
}

export type KernelContext<K extends OpName = OpName> = GpuKernelContext<K, GlLimits>;

/** A texture a pass reads: an input of the step, or the output of an earlier pass of the same step. */
export type PassInput = { readonly input: number } | { readonly pass: number };

/**
 * One draw. `body` is GLSL: statements computing output element `i` (an int, row-major over the
 * output) that end in `return <float>;`. Input `k` of `inputs` is read with `sample(k, index)`.
 * Everything is a float on the GPU: i32 tensors hold their integers as floats (exact to 2^24).
 * Loops are written `for (int j = A; j < B; j++) {` (or `j += S`) with literal bounds: the runtime
 * counts them from the source and refuses a pass over `GlLimits.maxLoopIterations` (loops.ts).
 */
export interface GlPass {
  readonly inputs: readonly PassInput[];
  /** Output elements. */
  readonly size: number;
  /** GLSL functions the body calls, as source (deduplicated by the runtime). */
  readonly helpers: readonly string[];
  readonly body: readonly string[];
  /** e.g. 'softmax row statistics', for messages and profiles. */
  readonly what: string;
  /**
   * A check of the step's indices rather than a part of its value: two elements, how many indices
   * are bad and the first bad position, which the runtime reads back after the run and turns into
   * an error naming the node (GLSL cannot throw). A step of status passes only has an empty value.
   */
  readonly status?: boolean;
  /**
   * An RGBA pass (packed.ts): the output is a grid of width x height texels of four floats, and the
   * body returns a vec4 for texel (threadId.x, threadId.y) instead of a float for `i`. `size` is
   * then width * height * 4. A pass reading it reads texels with `texel(slot, uv)`.
   */
  readonly texels?: readonly [number, number];
  /**
   * The pass reads one of the step's inputs and its result is worth keeping: when that input is a
   * weight or constant, the device draws it at the first run and keeps it with it, for every model
   * of the context using it (weight-cache.ts): a weight packed for matmul is packed once, not at
   * every run.
   */
  readonly keep?: boolean;
  /**
   * The pass only unpacks the RGBA pass `from` of the same step (no epilogue). When nothing but the
   * run's outputs reads the step, the device skips it and reads `from` back as it is (packed.ts:
   * a quarter of the texels, and no pass).
   */
  readonly unpacks?: { readonly from: number } & PackedRead;
  /**
   * The pass only packs its one input, a step input, as it is (packed.ts's packPass, not transposed)
   * into `layout`. When that input is fed to the run, the device packs the fed array on the host
   * instead (packTexels) and uploads the texels: no pass, and no one-float upload of the input.
   */
  readonly packsInput?: { readonly shape: readonly number[]; readonly layout: PackedMatrix };
}

/**
 * The passes of a step; the step's output is the last one that is not a status pass and that no
 * later pass of the step reads (partial results of a chunked reduction are read by the next).
 */
export type KernelRenderer<K extends OpName> = (ctx: KernelContext<K>) => GlPass[];

export const input = (index: number): PassInput => ({ input: index });
export const pass = (index: number): PassInput => ({ pass: index });

/** GLSL reading element `index` (an int expression) of the pass's input `slot`. */
export function sample(slot: number, index: string): string {
  return `getFloatFromSampler2D(t${slot}, t${slot}Size, t${slot}Dim, 0, 0, ${index})`;
}

/** GLSL reading the RGBA texel at normalized coordinates `uv` (a vec2 expression) of the pass's input `slot` (an RGBA pass's output). */
export function texel(slot: number, uv: string): string {
  return `loom_texel(t${slot}, ${uv})`;
}

export function sizeOfShape(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}
