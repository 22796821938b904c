import { cpuThreads } from '../cpu-threads.ts';
import { unsharedMemoryImports } from './unshared-memory.ts';
import { WasmHeap } from './heap.ts';
import { kernelModule, PANEL_QUAD_KERNELS, relaxedSimdSupported, type KernelExports, type KernelName, type SimdFlavor } from './simd.ts';
import { FIRST_GENERATED_MODULE, MAX_CHUNKS, ThreadPool, type GeneratedModule, type Job, type KernelArg } from './thread-pool.ts';

/** How the cpu backend runs its WebAssembly kernels (prepare options; every field has a default). */
export interface CpuKernelOptions {
  /** Threads for matmuls and attention, the calling one included: at most twice the machine's cores (cpu-threads.ts). Default: the machine's (LOOM_CPU_THREADS overrides). */
  readonly threads?: number;
  /** `relaxed` (FMA), `plain`, or `auto`: relaxed where the engine has it (LOOM_CPU_SIMD overrides). */
  readonly simd?: 'auto' | SimdFlavor;
  /**
   * How weights are stored for one-row products (decoding): `f32` (exact), or `bf16`, half the
   * bytes per token, each weight rounded to bfloat16 (8 significant bits) and widened in the
   * kernel, products accumulated in float32. Prefill (more than one row) always reads float32.
   */
  readonly weightStore?: 'f32' | 'bf16';
  /**
   * Products of int8 activations in the quads layout (relaxed SIMD's i8 x i7 dot product, 16
   * multiply-adds an instruction; gemv_i4r for one row, gemm_i for more rows):
   * default where the engine computes that instruction exactly (a probe at settle); `true` forces it
   * (spelled in plain SIMD with `simd: 'plain'`: for tests; on a relaxed engine whose probe says no,
   * an error), `false` takes the pairs layout (i32x4.dot_i16x8_s; gemv_i8 for one row, gemm_i's
   * pairs for more). All give the same integers.
   */
  readonly quadsLayout?: boolean;
  /**
   * 8-bit products of int8 activations with the codes whole (the bytes layout: one dot per 16
   * multiply-adds instead of two, one a nibble): default where the relaxed dot reads its second operand
   * as unsigned bytes exactly, past 127 too (x86 with AVX-VNNI; a probe at settle; not ARM's signed
   * dot, nor x86's pmaddubsw, which saturates). `true` forces it (the plain build spells that reading:
   * for tests; on a relaxed engine whose probe says no, an error), `false` takes two planes of
   * nibbles (as does `quadsLayout: true` without this option where the probe says no). Where the
   * probe says no and neither is asked for, 8-bit codes take two planes of nibbles
   * if the dot reads bytes as signed (one instruction, as ARM's sdot), and otherwise (x86's pmaddubsw,
   * three instructions a dot: two planes took 1.55x pairs' time to decode GPT-2 and 1.74x the float
   * products' to prefill, measured) the pairs layout, as with quadsLayout false. All give the same
   * integers. Only with quadsLayout.
   */
  readonly bytesLayout?: boolean;
  /**
   * 4-bit codes with int8 activations (quads layout, groups of at most 32; gemv_i4r and gemm_i)
   * summed in 16-bit lanes (relaxed SIMD's i16x8 dot): default where the relaxed dot saturates bytes
   * past 127, x86 without AVX-VNNI, whose i16x8 dot is one `pmaddubsw` against three instructions for
   * the i32x4 one (GPT-2's head 1.19x faster on one thread; GPT-2's q4 prefill 15-18% less, measured). `true` forces it (spelled in plain
   * SIMD with `simd: 'plain'`: for tests), `false` keeps 32-bit lanes. Both give the same integers.
   */
  readonly shortSums?: boolean;
  /** Products with fewer multiply-adds run in plain JavaScript (default 4096; tests set 0 to run every product on the kernels). */
  readonly smallProduct?: number;
  /** Products with fewer multiply-adds stay on one thread (default 2^17: waking a worker costs microseconds); elementwise kernels, sums and packing scale it by their cost per value (kernels/*.ts). */
  readonly parallelFrom?: number;
  /**
   * Run parallel calls on the calling thread alone while the workers cannot keep up because another
   * process takes their cores (stall-guard.ts). Default true; tests that must exercise the split turn it off.
   */
  readonly pauseWhenContended?: boolean;
}

/** The settled options of one prepared model. */
export interface KernelSettings {
  readonly threads: number;
  readonly flavor: SimdFlavor;
  readonly weightStore: 'f32' | 'bf16';
  readonly quadsLayout: boolean;
  readonly bytesLayout: boolean;
  /** 8-bit codes in the quads layout as two planes of nibbles (where not bytes; see bytesLayout). */
  readonly planesLayout: boolean;
  /** 4-bit codes summed in 16-bit lanes (see CpuKernelOptions.shortSums). */
  readonly shortSums: boolean;
  readonly smallProduct: number;
  readonly parallelFrom: number;
  readonly pauseWhenContended: boolean;
}

const env = (name: string): string | undefined => (typeof process !== 'undefined' ? process.env?.[name] : undefined);

/**
 * The process-wide kernel runtime: one shared memory (the heap), the kernel modules instantiated on
 * it, a scratch block for one kernel call's temporaries, and the worker pool (grown on demand).
 */
export class WasmRuntime {
  readonly heap = new WasmHeap();
  private readonly local: Partial<Record<SimdFlavor, KernelExports>> = {};
  private pool: ThreadPool | undefined;
  private scratchAt = 0;
  private scratchBytes = 0;
  /** Modules generated at prepare time (wasm-codegen), by their key; index i is job module FIRST_GENERATED_MODULE + i. */
  private readonly generated: GeneratedModule[] = [];
  private readonly generatedByKey = new Map<string, number>();

  private constructor() {
    this.instantiate('plain');
  }

  private static instance: WasmRuntime | undefined;
  static get(): WasmRuntime {
    WasmRuntime.instance ??= new WasmRuntime();
    return WasmRuntime.instance;
  }

  /** Resolves options against the environment and the engine; starts workers the settings need. */
  async settle(options: CpuKernelOptions = {}): Promise<KernelSettings> {
    const simd = (env('LOOM_CPU_SIMD') as CpuKernelOptions['simd']) ?? options.simd ?? 'auto';
    const relaxed = simd !== 'plain' && (await relaxedSimdSupported());
    if (simd === 'relaxed' && !relaxed) throw new Error('cpu: relaxed SIMD was asked for, but this engine does not run it');
    const flavor: SimdFlavor = relaxed ? 'relaxed' : 'plain';
    this.instantiate(flavor);
    const threads = await cpuThreads(options.threads);
    if (threads > (this.pool?.threads ?? 1) || (flavor === 'relaxed' && this.pool && !this.poolHasRelaxed)) {
      const previous = this.pool;
      this.pool = await ThreadPool.create(Math.max(threads, previous?.threads ?? 1) - 1, this.heap.memory, this.modules(), this.local, this.generated);
      this.poolHasRelaxed = Boolean(this.local.relaxed);
      this.retiredWorkerChunks += previous?.workerChunks ?? 0;
      previous?.close();
    }
    // forced layouts: the plain build spells what they need; the relaxed one only where the probes say so
    const quadsLayout = options.quadsLayout ?? (flavor === 'relaxed' && this.relaxedDotExact());
    if (flavor === 'relaxed' && options.quadsLayout && !this.relaxedDotExact()) throw new Error("cpu: quadsLayout was asked for, but this engine's relaxed i8 dot is not exact (use simd: 'plain')");
    const reading = flavor === 'relaxed' && quadsLayout ? this.relaxedDotBytes() : undefined;
    if (quadsLayout && options.bytesLayout && reading !== undefined && reading !== 'unsigned') throw new Error("cpu: bytesLayout was asked for, but this engine's relaxed i8 dot does not read bytes past 127 unsigned (use simd: 'plain')");
    const bytesLayout = quadsLayout && (options.bytesLayout ?? reading === 'unsigned');
    const planesLayout = quadsLayout && !bytesLayout && (options.bytesLayout === false || options.quadsLayout === true || reading === 'signed');
    // the i32x4 dot is pmaddubsw and two more where bytes past 127 saturate
    const shortSums = quadsLayout && (options.shortSums ?? reading === 'saturated');
    return { threads, flavor, weightStore: options.weightStore ?? 'f32', quadsLayout, bytesLayout, planesLayout, shortSums, smallProduct: options.smallProduct ?? 4096, parallelFrom: options.parallelFrom ?? 1 << 17, pauseWhenContended: options.pauseWhenContended ?? true };
  }

  private poolHasRelaxed = false;
  private retiredWorkerChunks = 0;
  private dotExact: boolean | undefined;
  private dotBytes: 'unsigned' | 'signed' | 'saturated' | undefined;

  /** Lane 0 of the relaxed build's dot of four signed bytes `a` by four bytes `b`. */
  private dotProbe(a: readonly number[], b: readonly number[]): number {
    const at = this.scratch(32);
    new Int8Array(this.heap.memory.buffer, at, 16).set(a);
    new Uint8Array(this.heap.memory.buffer, at + 16, 16).set(b);
    return this.local.relaxed!.dot_probe(at, at + 16);
  }

  /** Whether the relaxed build's i8 x i7 dot product gives the exact sums on this engine (checked once). */
  private relaxedDotExact(): boolean {
    this.dotExact ??= this.dotProbe([1, -2, 3, -4], [1, 2, 3, 4]) === 1 - 4 + 9 - 16;
    return this.dotExact;
  }

  /**
   * How the relaxed dot reads its second operand's bytes past 127 (checked once): `unsigned` and
   * exact (x86 with AVX-VNNI, vpdpbusd: see bytesLayout), `signed` (one instruction, as ARM's sdot),
   * else `saturated` (x86's pmaddubsw and two more instructions, saturating pairs: see shortSums).
   */
  private relaxedDotBytes(): 'unsigned' | 'signed' | 'saturated' {
    if (this.dotBytes === undefined) {
      const high = this.dotProbe([127, 127, 127, 127], [255, 255, 255, 255]);
      const unsigned = high === 4 * 127 * 255 && this.dotProbe([-128, -128, 127, -128], [255, 254, 128, 200]) === -128 * 255 - 128 * 254 + 127 * 128 - 128 * 200;
      this.dotBytes = unsigned ? 'unsigned' : high === -4 * 127 ? 'signed' : 'saturated';
    }
    return this.dotBytes;
  }

  /** Chunks of parallel kernels the worker threads have run, over the process's life (the tests' proof that threads took part). */
  get workerChunks(): number {
    return this.retiredWorkerChunks + (this.pool?.workerChunks ?? 0);
  }

  kernels(flavor: SimdFlavor): KernelExports {
    return this.local[flavor]!;
  }

  /**
   * Runs `kernel` over `total` work items (column panels, heads, rows) on up to `threads` threads,
   * this one included: on one thread, one call for the whole range; otherwise chunks of at least
   * `minChunk` items that the threads claim as they come free (thread-pool.ts), so a thread slowed
   * by another process does less. `args` place the chunk's bounds (CHUNK_START, CHUNK_END) and
   * per-thread blocks (perThread).
   */
  parallel(s: KernelSettings, kernel: KernelName, args: readonly KernelArg[], total: number, threads: number, minChunk = 1): void {
    this.split(s, { kernel }, this.local[s.flavor]![kernel] as (...a: number[]) => void, args, total, threads, minChunk);
  }

  /** One call here, or a job for the pool: what `parallel` and `parallelGenerated` share. */
  private split(s: KernelSettings, target: Pick<Job, 'kernel' | 'module'>, here: (...a: number[]) => void, args: readonly KernelArg[], total: number, threads: number, minChunk: number): void {
    if (total <= 0) return;
    // one call on this thread when there is no one to share with, or the workers are paused (another process has their cores)
    if (threads <= 1 || !this.pool || this.pool.threads === 1 || total <= minChunk || (s.pauseWhenContended && !this.pool.workersWelcome)) {
      here(...args.map((arg) => evaluateArg(arg, 0, total)));
      return;
    }
    let chunk = Math.max(minChunk, Math.ceil(total / (threads * CHUNKS_PER_THREAD)), Math.ceil(total / MAX_CHUNKS));
    if (PANEL_QUAD_KERNELS.has(target.kernel as KernelName)) chunk = Math.ceil(chunk / 4) * 4;
    this.pool.dispatch({ flavor: s.flavor, ...target, args, total, chunk, threads });
  }

  /**
   * The generated module for `key`, made by `compile` on first use and then kept for the process
   * (instantiated on this thread and on every worker): its index for `parallelGenerated`.
   */
  generatedModule(key: string, compile: () => Uint8Array<ArrayBuffer>): number {
    let index = this.generatedByKey.get(key);
    if (index === undefined) {
      const bytes = compile();
      const module = new WebAssembly.Module(this.heap.shared ? bytes : unsharedMemoryImports(bytes));
      const generated = { module, exports: new WebAssembly.Instance(module, { env: { memory: this.heap.memory } }).exports as GeneratedModule['exports'] };
      this.generated.push(generated);
      index = FIRST_GENERATED_MODULE + this.generated.length - 1;
      if (this.pool && this.pool.addModule(generated) !== index) throw new Error('cpu: generated module numbering out of step with the thread pool');
      this.generatedByKey.set(key, index);
    }
    return index;
  }

  /** `run` of generated module `module` over `total` items, as `parallel` runs a hand-written kernel. */
  parallelGenerated(s: KernelSettings, module: number, args: readonly KernelArg[], total: number, threads: number, minChunk = 1): void {
    this.split(s, { kernel: 'run', module }, this.generated[module - FIRST_GENERATED_MODULE]!.exports['run']!, args, total, threads, minChunk);
  }

  /** Runs `kernel` once on each of `threads` threads at the same time, with `args` (for measuring the arithmetic bound). */
  everyThread(flavor: SimdFlavor, kernel: KernelName, args: readonly KernelArg[], threads: number): void {
    if (threads <= 1 || !this.pool) (this.local[flavor]![kernel] as (...a: number[]) => void)(...args.map((arg) => evaluateArg(arg, 0, 1)));
    else this.pool.dispatch({ flavor, kernel, args, total: threads, chunk: 1, threads, static: true });
  }

  /**
   * A block of at least `bytes` for one kernel call's temporaries (inputs that live outside the heap,
   * packed activations). Valid until the next call of scratch.
   */
  scratch(bytes: number): number {
    if (bytes > this.scratchBytes) {
      if (this.scratchBytes) this.heap.release(this.scratchAt);
      this.scratchBytes = Math.ceil(bytes / 65536) * 65536;
      this.scratchAt = this.heap.alloc(this.scratchBytes);
    }
    return this.scratchAt;
  }

  /** Returns a large scratch block to the heap (after packing weights at prepare). */
  shrinkScratch(): void {
    if (this.scratchBytes > 16 * 2 ** 20) {
      this.heap.release(this.scratchAt);
      this.scratchBytes = 0;
    }
  }

  private modules(): Partial<Record<SimdFlavor, WebAssembly.Module>> {
    return Object.fromEntries((Object.keys(this.local) as SimdFlavor[]).map((f) => [f, kernelModule(f, this.heap.shared)]));
  }

  private instantiate(flavor: SimdFlavor): void {
    this.local[flavor] ??= new WebAssembly.Instance(kernelModule(flavor, this.heap.shared), { env: { memory: this.heap.memory } }).exports as unknown as KernelExports;
  }
}

/**
 * Chunks per thread when work is claimed: enough that a thread slowed by another process leaves its
 * share to the others, few enough that each chunk's call costs nothing next to its work (8 against
 * 4: GPT-2 prefill's products 10-15% faster on a shared 2-vCPU machine, decoding unchanged).
 */
const CHUNKS_PER_THREAD = 8;

/** A kernel argument's value for the chunk [start, end) on thread 0 (thread-pool.ts gives the others theirs). */
function evaluateArg(arg: KernelArg, start: number, end: number): number {
  return typeof arg === 'number' ? arg : (arg.base ?? 0) + (arg.start ?? 0) * start + (arg.end ?? 0) * end;
}
