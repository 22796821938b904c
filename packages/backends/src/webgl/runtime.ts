import { WebGlContextLostError, WebGlFallbackError, WebGlKernelError, WebGlLimitError } from './errors.ts';
import { acquireContext, type AcquiredContext, type GlMode } from './gl-provider.ts';
import { sample, type GlLimits, type GlPass } from './kernel.ts';
import { KernelCache } from './kernel-cache.ts';
import { WeightCache } from './weight-cache.ts';
import { checkLoopBudget, LOOP_BUDGET, MIN_LOOP_BUDGET } from './loops.ts';
import { unpackTexels, type PackedRead } from './packed.ts';
import { pruneUnusedFunctions } from './shader-pruning.ts';

/**
 * The WebGL runtime: one GL context, gpu.js on it, and the textures that hold tensors. Renderers
 * produce passes (GLSL); this file turns a pass into a gpu.js kernel (`createKernel` with the pass
 * as a native GLSL function), runs it on textures (`pipeline: true`, so results stay on the GPU),
 * uploads and reads back, and counts every GL texture so tests can see leaks.
 *
 * Texture ownership: gpu.js reuses a kernel's output texture on its next run unless someone holds a
 * clone of it. Each result is cloned (so the kernel's next run draws into a fresh texture) and taken
 * out of the kernel's texture cache (so destroying the kernel cannot free it); `release` frees the
 * GL texture when the last holder lets go, whatever became of the kernel that drew it.
 */

/** The parts of gpu.js this runtime uses (its own typings describe the user-facing API only). */
interface GpuJsTexture {
  texture: WebGLTexture & { _refs?: number };
  readonly size: ArrayLike<number>;
  readonly internalFormat: number;
  clone(): GpuJsTexture;
  _deleted?: boolean;
}
/** gpu.js's class of one-float-per-texel outputs (GLTextureFloat), whose instances its kernels take as arguments. */
type GpuJsTextureClass = new (settings: { texture: WebGLTexture; size: number[]; dimensions: number[]; output: number[]; context: object; kernel: GpuJsKernel; internalFormat: number; textureFormat: number }) => GpuJsTexture;
interface GpuJsKernel {
  readonly constructor: { readonly name: string };
  textureCache?: WebGLTexture[];
  /** The texture the next run draws into, and the flag that makes the run re-attach it. */
  texture?: GpuJsTexture & { beforeMutate(): boolean };
  _textureSwitched?: boolean;
  /** The fragment shader's GLSL, built (and kept in compiledFragmentShader) at the first run. */
  getFragmentShader(args: unknown): string;
  compiledFragmentShader: string | null;
  /** The vertex buffer of the quad it draws (created at build when null). */
  buffer: WebGLBuffer | null;
  destroy(removeCanvasReferences?: boolean): void;
}

/** A kind of gpu.js texture: its class, a kernel to name as its owner, its formats. */
interface TextureKind {
  readonly type: GpuJsTextureClass;
  readonly kernel: GpuJsKernel;
  readonly internalFormat: number;
  readonly format: number;
}

interface GpuJsKernelFunction {
  (...args: unknown[]): GpuJsTexture;
  readonly kernel: GpuJsKernel;
  destroy?(): void;
}
interface GpuJsModule {
  GPU: new (settings: { mode: GlMode; canvas?: object; context: object }) => { createKernel(source: string, settings: object): GpuJsKernelFunction; destroy(): unknown };
  HeadlessGLKernel: new (...args: never[]) => GpuJsKernel;
  WebGL2Kernel: new (...args: never[]) => GpuJsKernel;
  utils: { closestSquareDimensions(length: number): Int32Array };
}

/** A tensor on the GPU: `size` floats in a float32 texture, one per texel (red channel). */
export class GlTensor {
  /** Holders; the texture is freed when the last one releases it. */
  holders = 1;
  /** Set when the texture holds a packed result (RGBA 2x2 blocks) rather than one float per texel: `read` unpacks it. */
  packed: PackedRead | undefined;
  constructor(
    readonly texture: GpuJsTexture,
    readonly size: number,
  ) {}
}

/** A compiled pass: a gpu.js kernel for one GLSL source, output size and input texture sizes. */
export interface GlKernel {
  readonly fn: GpuJsKernelFunction;
  readonly what: string;
  readonly source: string;
  checked: boolean;
}

export interface GlRuntimeOptions {
  /**
   * Lower the context's limits, e.g. { maxTextureSize: 64 } to exercise the limit errors in tests,
   * or { maxLoopIterations: 16 } (at least 5) to run the chunked reductions on small shapes.
   */
  readonly limits?: Partial<GlLimits>;
}

/** Marks the stand-in an idle kernel holds instead of a texture (letGoOfOutput). */
const STAND_IN = Symbol('no texture');

/** Bytes of released textures a context keeps for reuse. */
export const POOL_BYTES = 64 * 2 ** 20;

export class GlRuntime {
  readonly limits: GlLimits;
  /** Compiled passes shared by the models of this context (idle ones kept for the next). */
  readonly kernels: KernelCache;
  /** Weight textures shared by the models of this context (idle ones kept for the next). */
  readonly weights: WeightCache;
  private readonly gpu: ReturnType<typeof createGpu>;
  private readonly framebuffer: WebGLFramebuffer;
  /**
   * The quad every kernel draws, one buffer for all (kernelWithSharedQuad): gpu.js gives each kernel
   * its own and points the vertex attributes at it when the kernel is built, never when it runs, so
   * destroying the kernel built last left every other kernel drawing from a deleted buffer
   * (INVALID_OPERATION, nothing drawn).
   */
  private readonly vertexBuffer: WebGLBuffer;
  private readonly expectedClass: new (...args: never[]) => GpuJsKernel;
  private live = 0;
  private destroyed = false;
  /** Released textures by size and format, drawn into or uploaded to again instead of allocated (POOL_BYTES at most). */
  private readonly pool = new Map<string, WebGLTexture[]>();
  private pooledBytes = 0;
  /** The classes of gpu.js's one-float and RGBA float textures, each with a kernel to own ours (uploads build textures gpu.js kernels accept). */
  private floatTexture: TextureKind | undefined;
  private rgbaTexture: TextureKind | undefined;

  private constructor(
    private readonly context: AcquiredContext,
    private readonly gpujs: GpuJsModule,
    options: GlRuntimeOptions,
  ) {
    const gl = context.gl;
    countTextures(gl, (delta) => (this.live += delta));
    this.gpu = createGpu(gpujs, context);
    this.expectedClass = context.mode === 'headlessgl' ? gpujs.HeadlessGLKernel : gpujs.WebGL2Kernel;
    this.framebuffer = gl.createFramebuffer()!;
    this.vertexBuffer = gl.createBuffer()!;
    gl.bindBuffer(gl.ARRAY_BUFFER, this.vertexBuffer);
    gl.bufferData(gl.ARRAY_BUFFER, VERTEX_BYTES, gl.STATIC_DRAW);
    this.kernels = new KernelCache(
      (pass, where, rgbaInputs) => this.compile(pass, where, rgbaInputs),
      (kernel) => this.destroyKernel(kernel.fn),
      (kernel) => this.letGoOfOutput(kernel),
    );
    this.weights = new WeightCache(
      (t) => this.release(t),
      (t) => textureBytes(t.texture.size[0]!, t.texture.size[1]!, t.texture.internalFormat, gl),
    );
    const maxTextureSize = Number(gl.getParameter(gl.MAX_TEXTURE_SIZE));
    // one unit is the output's while a kernel is set up
    const maxTextureUnits = Number(gl.getParameter(gl.MAX_TEXTURE_IMAGE_UNITS)) - 1;
    const maxLoopIterations = Math.min(LOOP_BUDGET, options.limits?.maxLoopIterations ?? Infinity);
    if (!(maxLoopIterations >= MIN_LOOP_BUDGET) || !Number.isInteger(maxLoopIterations)) {
      throw new RangeError(`limits.maxLoopIterations must be an integer of at least ${MIN_LOOP_BUDGET}, not ${options.limits?.maxLoopIterations}`);
    }
    this.limits = {
      maxTextureSize: Math.min(maxTextureSize, options.limits?.maxTextureSize ?? Infinity),
      maxTextureUnits: Math.min(maxTextureUnits, options.limits?.maxTextureUnits ?? Infinity),
      maxLoopIterations,
    };
  }

  static async create(options: GlRuntimeOptions = {}): Promise<GlRuntime> {
    const context = await acquireContext();
    const module = (await import('gpu.js')) as unknown as GpuJsModule & { default?: GpuJsModule };
    return new GlRuntime(context, module.default ?? module, options);
  }

  /** e.g. "WebGL 1.0 (ANGLE) on Xvfb :99, HeadlessGLKernel". */
  get description(): string {
    return `${this.context.description}, gpu.js ${this.expectedClass.name}`;
  }

  /** The gpu.js kernel class every kernel must have (HeadlessGLKernel in Node, WebGL2Kernel in a browser). */
  get kernelClass(): string {
    return this.expectedClass.name;
  }

  /** Released textures the pool keeps for reuse (counted in liveTextures). */
  get pooledTextures(): number {
    let n = 0;
    for (const list of this.pool.values()) n += list.length;
    return n;
  }

  /** GL textures alive in this context (tensors, and gpu.js's own per-kernel textures). */
  get liveTextures(): number {
    return this.live;
  }

  get lost(): boolean {
    return this.destroyed || this.context.gl.isContextLost();
  }

  checkAlive(what: string): void {
    if (this.lost) throw new WebGlContextLostError(`cannot ${what}; prepare the model again`);
  }

  /** Loses the context on purpose (tests of context loss; a browser tab losing its GPU looks the same). */
  loseContext(): void {
    this.context.destroy();
    this.destroyed = true;
  }

  /** Texture dimensions gpu.js uses for `size` floats (one per texel), checked against the limits. */
  textureShape(size: number, what: string): [number, number] {
    const [w, h] = this.gpujs.utils.closestSquareDimensions(Math.max(size, 1)) as unknown as [number, number];
    const max = this.limits.maxTextureSize;
    if (w > max || h > max) {
      throw new WebGlLimitError(`${what} holds ${size} elements, a ${w} x ${h} texture: more than the context's MAX_TEXTURE_SIZE of ${max} (at most ${max * max} elements per tensor)`);
    }
    return [w, h];
  }

  /**
   * Compiles a pass (one gpu.js kernel, built on its first run). gpu.js bakes the input textures'
   * sizes into the shader: callers cache kernels by input sizes too. A pass whose loops would pass
   * the loop budget is refused here, before it can run short. `rgbaInputs[k]`: input k is an RGBA
   * pass's output (GlPass.texels), read by texels.
   */
  compile(pass: GlPass, where: string, rgbaInputs: readonly boolean[] = []): GlKernel {
    const what = `${where}: ${pass.what}`;
    checkLoopBudget(pass, what, this.limits.maxLoopIterations);
    if (pass.inputs.length > this.limits.maxTextureUnits) {
      throw new WebGlLimitError(`${what} reads ${pass.inputs.length} tensors, more than the ${this.limits.maxTextureUnits} textures one kernel can read (MAX_TEXTURE_IMAGE_UNITS)`);
    }
    const rgba = pass.texels !== undefined;
    if (rgba) this.checkTexels(pass.texels, `the output of ${what}`);
    else this.textureShape(pass.size, `the output of ${what}`);
    const names = pass.inputs.map((_, k) => `t${k}`);
    const types = names.map((_, k) => (rgbaInputs[k] ? 'ArrayTexture(4)' : 'ArrayTexture(1)'));
    // GLSL ES 1.00 (headless-gl's WebGL 1) samples with texture2D, GLSL ES 3.00 with texture
    const texelRead = `vec4 loom_texel(sampler2D t, vec2 uv) { return ${this.context.mode === 'webgl2' ? 'texture' : 'texture2D'}(t, uv); }`;
    const source = [
      ...new Set([texelRead, ...pass.helpers]),
      `${rgba ? 'vec4' : 'float'} loom_main(${names.map((n) => `sampler2D ${n}, ivec2 ${n}Size, ivec3 ${n}Dim`).join(', ')}) {`,
      ...(rgba ? [] : ['  int i = threadId.x;']),
      ...pass.body.map((l) => `  ${l}`),
      '}',
    ].join('\n');
    const returnType = rgba ? 'Array(4)' : 'Number';
    const fn = this.kernelWithSharedQuad(`function (${names.join(', ')}) { return loom_main(${names.join(', ')}); }`, {
      output: rgba ? [...pass.texels] : [pass.size],
      pipeline: true,
      precision: 'single',
      tactic: 'precision',
      optimizeFloatMemory: false,
      dynamicOutput: false,
      returnType,
      argumentTypes: types,
      nativeFunctions: [{ name: 'loom_main', source, returnType, argumentTypes: Object.fromEntries(names.map((n, k) => [n, types[k]])) }],
    });
    withPrunedFragmentShader(fn.kernel);
    return { fn, what, source, checked: false };
  }

  /** An RGBA output grid must fit a texture as it is (its passes address texels by row and column). */
  private checkTexels([w, h]: readonly [number, number], what: string): void {
    const max = this.limits.maxTextureSize;
    if (w > max || h > max) throw new WebGlLimitError(`${what} is a ${w} x ${h} texture: more than the context's MAX_TEXTURE_SIZE of ${max}`);
    // gpu.js lays a one-row output out as a square, which would move the texels
    if (h < 2) throw new WebGlKernelError(`${what} is ${w} x ${h} texels: an RGBA pass needs at least 2 rows (a renderer bug)`);
  }

  /** Launches a kernel on tensors; the result belongs to the caller (release it). `what` names the pass (the op, the node) in errors. */
  launch(kernel: GlKernel, inputs: readonly GlTensor[], size: number, what = kernel.what): GlTensor {
    let result: GpuJsTexture;
    const target = kernel.fn.kernel.texture;
    if (target && (target.texture._refs ?? 1) > 1) {
      // we hold the kernel's last result: gpu.js would allocate a new texture to draw into (as it
      // must when that result is also an input), so give it a released one of the same size
      const reused = this.fromPool(target.size[0]!, target.size[1]!, target.internalFormat);
      if (reused) {
        target.texture._refs! -= 1;
        (reused as { _refs?: number })._refs = 1;
        target.texture = reused;
      } else target.beforeMutate();
      kernel.fn.kernel._textureSwitched = true;
    }
    try {
      result = kernel.fn(...inputs.map((t) => t.texture));
    } catch (e) {
      this.checkAlive(`run ${what}`);
      throw new WebGlKernelError(`${what} failed to compile or run (a renderer bug): ${(e as Error).message.slice(0, 2000)}\n--- GLSL ---\n${kernel.source}`);
    }
    if (!kernel.checked) {
      // gpu.js falls back to its CPU or WebAssembly kernels without a word; a GL backend must not
      this.checkClass(kernel.fn.kernel, what);
      kernel.checked = true;
    }
    return this.own(result, kernel.fn.kernel, size);
  }

  /**
   * Uploads floats into a texture of one float per texel (texImage2D, or texSubImage2D into a pooled
   * texture of that size), as gpu.js's own float textures so its kernels take it: R32F on WebGL2,
   * LUMINANCE on WebGL 1 (sampled as red; not renderable, so `read` copies it through a pass first).
   */
  upload(data: Float32Array, what: string): GlTensor {
    const [w, h] = this.textureShape(data.length, what);
    const floats = this.floatTextureClass();
    const gl = this.context.gl;
    const webgl2 = this.context.mode === 'webgl2';
    const format = webgl2 ? (gl as WebGL2RenderingContext).RED : gl.LUMINANCE;
    const internalFormat = webgl2 ? floats.internalFormat : gl.LUMINANCE;
    const raw = this.uploadTexels(padded(data, w * h), w, h, internalFormat, format, what);
    const texture = new floats.type({ texture: raw, size: [w, h], dimensions: [data.length, 1, 1], output: [data.length], context: gl, kernel: floats.kernel, internalFormat, textureFormat: format });
    return new GlTensor(texture, data.length);
  }

  /**
   * Uploads RGBA texels (w x h x 4 floats, as packed.ts lays a packed matrix out) into a texture of
   * the kind an RGBA pass draws (GlPass.texels), for the passes that read packed blocks: a fed
   * matrix packed on the host instead of by a pass (`packTexels`).
   */
  uploadTexels4(rgba: Float32Array, [w, h]: readonly [number, number], what: string): GlTensor {
    if (rgba.length !== w * h * 4) throw new WebGlKernelError(`${what}: ${rgba.length} floats for a ${w} x ${h} RGBA texture (a renderer bug)`);
    this.checkTexels([w, h], what);
    const texels = this.rgbaTextureClass();
    const raw = this.uploadTexels(rgba, w, h, texels.internalFormat, texels.format, what);
    const texture = new texels.type({ texture: raw, size: [w, h], dimensions: [w, h, 1], output: [w, h], context: this.context.gl, kernel: texels.kernel, internalFormat: texels.internalFormat, textureFormat: texels.format });
    return new GlTensor(texture, w * h * 4);
  }

  /** texImage2D of floats into a new texture, or texSubImage2D into a pooled one of that size and format. */
  private uploadTexels(texels: Float32Array, w: number, h: number, internalFormat: number, format: number, what: string): WebGLTexture {
    const gl = this.context.gl;
    const reused = this.fromPool(w, h, internalFormat);
    const raw = reused ?? gl.createTexture()!;
    gl.activeTexture(gl.TEXTURE15);
    gl.bindTexture(gl.TEXTURE_2D, raw);
    // the pixel-store state as an upload of plain floats needs it, whatever set it before (gpu.js sets it for images)
    gl.pixelStorei(gl.UNPACK_FLIP_Y_WEBGL, false);
    gl.pixelStorei(gl.UNPACK_PREMULTIPLY_ALPHA_WEBGL, false);
    gl.pixelStorei(gl.UNPACK_ALIGNMENT, 4);
    if (this.context.mode === 'webgl2') (gl as WebGL2RenderingContext).pixelStorei((gl as WebGL2RenderingContext).UNPACK_ROW_LENGTH, 0);
    if (reused) gl.texSubImage2D(gl.TEXTURE_2D, 0, 0, 0, w, h, format, gl.FLOAT, texels);
    else {
      for (const [name, value] of [[gl.TEXTURE_WRAP_S, gl.CLAMP_TO_EDGE], [gl.TEXTURE_WRAP_T, gl.CLAMP_TO_EDGE], [gl.TEXTURE_MIN_FILTER, gl.NEAREST], [gl.TEXTURE_MAG_FILTER, gl.NEAREST]] as const) gl.texParameteri(gl.TEXTURE_2D, name, value);
      gl.texImage2D(gl.TEXTURE_2D, 0, internalFormat, w, h, 0, format, gl.FLOAT, texels);
    }
    gl.bindTexture(gl.TEXTURE_2D, null);
    this.checkAlive(`upload ${what}`);
    return raw;
  }

  /**
   * gpu.js's RGBA float texture class (an `Array(4)` kernel's output), learnt once from a 2 x 2 probe
   * kernel, which then goes with its texture (the one-float probe's kernel owns ours).
   */
  private rgbaTextureClass(): TextureKind {
    if (this.rgbaTexture) return this.rgbaTexture;
    const fn = this.kernelWithSharedQuad('function () { return [0, 0, 0, 0]; }', { output: [2, 2], pipeline: true, precision: 'single', tactic: 'precision', optimizeFloatMemory: false, returnType: 'Array(4)' });
    const kind = this.textureKind(fn, fn(), 'the RGBA upload probe');
    this.destroyKernel(fn);
    this.rgbaTexture = { ...kind, kernel: this.floatTextureClass().kernel };
    return this.rgbaTexture;
  }

  /** gpu.js's float texture class, learnt once from a one-float kernel (kept: our textures name it as their kernel). */
  private floatTextureClass(): TextureKind {
    if (this.floatTexture) return this.floatTexture;
    const fn = this.kernelWithSharedQuad('function (a) { return a[this.thread.x]; }', { output: [1], pipeline: true, precision: 'single', tactic: 'precision', optimizeFloatMemory: false, argumentTypes: ['Array'] });
    this.floatTexture = this.textureKind(fn, fn(Float32Array.of(0)), 'the upload probe');
    return this.floatTexture;
  }

  private textureKind(fn: GpuJsKernelFunction, sample: GpuJsTexture, what: string): TextureKind {
    this.checkClass(fn.kernel, what);
    const kernel = fn.kernel as GpuJsKernel & { getTextureFormat(): number };
    return { type: sample.constructor as GpuJsTextureClass, kernel, internalFormat: sample.internalFormat, format: kernel.getTextureFormat() };
  }

  /** A released texture of this size and format, if the pool has one. */
  private fromPool(w: number, h: number, internalFormat: number): WebGLTexture | undefined {
    const list = this.pool.get(poolKey(w, h, internalFormat));
    const raw = list?.pop();
    if (raw) this.pooledBytes -= textureBytes(w, h, internalFormat, this.context.gl);
    return raw;
  }

  /** Keeps a texture nobody holds for the next output or upload of its size, or deletes it past the pool's bytes. */
  private toPool(texture: GpuJsTexture): void {
    const gl = this.context.gl;
    const [w, h] = [texture.size[0]!, texture.size[1]!];
    const bytes = textureBytes(w, h, texture.internalFormat, gl);
    if (this.pooledBytes + bytes > POOL_BYTES) {
      gl.deleteTexture(texture.texture);
      return;
    }
    const key = poolKey(w, h, texture.internalFormat);
    const list = this.pool.get(key) ?? [];
    list.push(texture.texture);
    this.pool.set(key, list);
    this.pooledBytes += bytes;
  }

  /** Deletes the idle kernels and weights and the pooled textures: what is then alive is what models hold. */
  dropCaches(): void {
    this.kernels.trim();
    this.weights.trim();
    if (!this.destroyed) for (const list of this.pool.values()) for (const raw of list) this.context.gl.deleteTexture(raw);
    this.pool.clear();
    this.pooledBytes = 0;
  }

  /**
   * An idle kernel keeps no texture: the one it last drew into goes to the pool once nobody holds it
   * (an attention's score texture can be hundreds of MB). In its place the kernel holds a stand-in
   * marked as shared, so that its next launch draws into a pooled or new texture (`launch`, or
   * gpu.js's own beforeMutate) and its destruction deletes nothing.
   */
  private letGoOfOutput(kernel: GlKernel): void {
    const target = kernel.fn.kernel.texture;
    if (!target || this.destroyed) return;
    const raw = target.texture;
    if ((raw as { [STAND_IN]?: boolean })[STAND_IN]) return;
    const refs = (raw._refs ?? 1) - 1;
    raw._refs = refs;
    if (refs === 0) this.toPool(target);
    target.texture = { _refs: 2, [STAND_IN]: true } as unknown as WebGLTexture & { _refs?: number };
  }

  private checkClass(kernel: GpuJsKernel, what: string): void {
    if ((kernel as object) instanceof (this.expectedClass as unknown as new () => object)) return;
    const name = (kernel as { constructor: { name: string } }).constructor.name;
    throw new WebGlFallbackError(name, `${what} ran as a gpu.js ${name}, not a ${this.expectedClass.name}: gpu.js fell back from WebGL`);
  }

  private own(result: GpuJsTexture, kernel: GpuJsKernel, size: number): GlTensor {
    const clone = result.clone();
    const cache = kernel.textureCache;
    const at = cache?.indexOf(result.texture) ?? -1;
    if (at >= 0) cache!.splice(at, 1);
    return new GlTensor(clone, size);
  }

  retain(t: GlTensor): GlTensor {
    t.holders++;
    return t;
  }

  /** Drops one holder; the last frees the GL texture (unless the kernel that drew it still renders into it). */
  release(t: GlTensor): void {
    if (t.holders <= 0) return;
    if (--t.holders > 0) return;
    const raw = t.texture.texture;
    t.texture._deleted = true;
    const refs = raw._refs ?? 1;
    if (refs > 1) raw._refs = refs - 1;
    else {
      raw._refs = 0;
      if (!this.destroyed) this.toPool(t.texture);
    }
  }

  /** Reads a tensor back (readPixels of its texture: the red channel of each texel, or a packed result's blocks). */
  read(t: GlTensor): Float32Array {
    const gl = this.context.gl;
    if (t.texture.internalFormat === gl.LUMINANCE) return this.readCopy(t);
    const [w, h] = [t.texture.size[0]!, t.texture.size[1]!];
    gl.bindFramebuffer(gl.FRAMEBUFFER, this.framebuffer);
    gl.framebufferTexture2D(gl.FRAMEBUFFER, gl.COLOR_ATTACHMENT0, gl.TEXTURE_2D, t.texture.texture, 0);
    const rgba = new Float32Array(w * h * 4);
    gl.readPixels(0, 0, w, h, gl.RGBA, gl.FLOAT, rgba);
    gl.bindFramebuffer(gl.FRAMEBUFFER, null);
    this.checkAlive('read results');
    if (t.packed) return unpackTexels(rgba, t.packed);
    const out = new Float32Array(t.size);
    for (let k = 0; k < t.size; k++) out[k] = rgba[k * 4]!;
    return out;
  }

  /** A LUMINANCE upload (not renderable, so not readable) read through a copy drawn into a float texture. */
  private readCopy(t: GlTensor): Float32Array {
    const copy: GlPass = { inputs: [{ input: 0 }], size: t.size, helpers: [], body: [`return ${sample(0, 'i')};`], what: 'a copy for reading back' };
    const key = `read-back copy|${t.size}`;
    const kernel = this.kernels.acquire(key, copy, 'read', [false]);
    const drawn = this.launch(kernel, [t], t.size);
    try {
      return this.read(drawn);
    } finally {
      this.release(drawn);
      this.kernels.release(key);
    }
  }

  /** Blocks until the GPU has finished everything queued, `drawn` included (for per-pass timings). */
  finish(drawn?: GlTensor): void {
    const gl = this.context.gl;
    if (drawn && drawn.texture.internalFormat !== gl.LUMINANCE) {
      // llvmpipe waits, at a read, only for the draws into what is read: read a texel of the result
      gl.bindFramebuffer(gl.FRAMEBUFFER, this.framebuffer);
      gl.framebufferTexture2D(gl.FRAMEBUFFER, gl.COLOR_ATTACHMENT0, gl.TEXTURE_2D, drawn.texture.texture, 0);
      gl.readPixels(0, 0, 1, 1, gl.RGBA, gl.FLOAT, new Float32Array(4));
    }
    gl.bindFramebuffer(gl.FRAMEBUFFER, null);
    gl.finish();
  }

  destroyKernel(fn: GpuJsKernelFunction): void {
    if (this.destroyed) return;
    // the quad is the runtime's: gpu.js would delete it with the kernel
    fn.kernel.buffer = null;
    fn.kernel.destroy();
  }

  /** A gpu.js kernel that draws the runtime's quad (vertexBuffer) rather than a buffer of its own. */
  private kernelWithSharedQuad(source: string, settings: object): GpuJsKernelFunction {
    const fn = this.gpu.createKernel(source, settings);
    // gpu.js creates a buffer at build only when the kernel has none, and then writes the quad into it
    fn.kernel.buffer = this.vertexBuffer;
    return fn;
  }
}

function createGpu(gpujs: GpuJsModule, context: AcquiredContext) {
  return new gpujs.GPU({ mode: context.mode, ...(context.canvas ? { canvas: context.canvas } : {}), context: context.gl });
}

/** Counts live GL textures by wrapping the context's create and delete calls. */
function countTextures(gl: WebGLRenderingContext | WebGL2RenderingContext, change: (delta: number) => void): void {
  const created = new WeakSet<WebGLTexture>();
  const create = gl.createTexture.bind(gl);
  const remove = gl.deleteTexture.bind(gl);
  gl.createTexture = () => {
    const t = create();
    if (t) {
      created.add(t);
      change(1);
    }
    return t;
  };
  gl.deleteTexture = (t: WebGLTexture | null) => {
    if (t && created.delete(t)) change(-1);
    remove(t);
  };
}

/** gpu.js's quad: four vertices and four texture coordinates, two floats each. */
const VERTEX_BYTES = 16 * 4;

/** Pooled textures are interchangeable when their size and internal format are. */
function poolKey(w: number, h: number, internalFormat: number): string {
  return `${w}x${h}:${internalFormat}`;
}

/** `data` in a Float32Array of `length` (zeros after it). */
function padded(data: Float32Array, length: number): Float32Array {
  if (data.length === length) return data;
  const out = new Float32Array(length);
  out.set(data);
  return out;
}

/** Bytes a float texture of this size and internal format holds (RGBA, or one channel). */
function textureBytes(w: number, h: number, internalFormat: number, gl: WebGLRenderingContext | WebGL2RenderingContext): number {
  const oneChannel = internalFormat === gl.LUMINANCE || ('R32F' in gl && internalFormat === (gl as WebGL2RenderingContext).R32F);
  return w * h * 4 * (oneChannel ? 1 : 4);
}

/**
 * gpu.js builds a kernel's fragment shader at its first run (`getFragmentShader`, then compiles it):
 * this kernel's drops the library functions it never calls (shader-pruning.ts), a third of the
 * compile and link time on software GL.
 */
function withPrunedFragmentShader(kernel: GpuJsKernel): void {
  const build = kernel.getFragmentShader;
  if (typeof build !== 'function') throw new WebGlKernelError(`gpu.js ${kernel.constructor.name} has no getFragmentShader (a gpu.js version Loom was not written for)`);
  kernel.getFragmentShader = function (this: GpuJsKernel, args: unknown) {
    if (this.compiledFragmentShader) return this.compiledFragmentShader;
    return (this.compiledFragmentShader = pruneUnusedFunctions(build.call(this, args)));
  };
}
