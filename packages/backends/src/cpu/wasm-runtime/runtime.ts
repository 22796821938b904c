import { WasmHeap } from './heap.ts';
import { kernelModule, relaxedSimdSupported, type KernelExports, type KernelName, type SimdFlavor } from './simd.ts';
import { ThreadPool } from './thread-pool.ts';

/** How the cpu backend runs its WebAssembly kernels (prepare options; every field has a default). */
export interface CpuKernelOptions {
  /** Threads for matmuls and attention, the calling one included. Default: the machine's (LOOM_CPU_THREADS overrides). */
  readonly threads?: number;
  /** `relaxed` (FMA), `plain`, or `auto`: relaxed where the engine has it (LOOM_CPU_SIMD overrides). */
  readonly simd?: 'auto' | SimdFlavor;
  /**
   * How weights are stored for one-row products (decoding): `f32` (exact), or `bf16`, half the
   * bytes per token, each weight rounded to bfloat16 (8 significant bits) and widened in the
   * kernel, products accumulated in float32. Prefill (more than one row) always reads float32.
   */
  readonly weightStore?: 'f32' | 'bf16';
  /** Products with fewer multiply-adds run in plain JavaScript (default 4096; tests set 0 to run every product on the kernels). */
  readonly smallProduct?: number;
  /** Products with fewer multiply-adds stay on one thread (default 2^17: waking a worker costs microseconds). */
  readonly parallelFrom?: number;
}

/** The settled options of one prepared model. */
export interface KernelSettings {
  readonly threads: number;
  readonly flavor: SimdFlavor;
  readonly weightStore: 'f32' | 'bf16';
  readonly smallProduct: number;
  readonly parallelFrom: number;
}

const env = (name: string): string | undefined => (typeof process !== 'undefined' ? process.env?.[name] : undefined);

async function machineThreads(): Promise<number> {
  if (typeof process !== 'undefined' && process.versions?.node) {
    const os = (await import(/* @vite-ignore */ `node:${'os'}`)) as typeof import('node:os');
    return Math.max(1, os.availableParallelism?.() ?? os.cpus().length);
  }
  return 1;
}

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
    const fromEnv = env('LOOM_CPU_THREADS');
    const threads = Math.max(1, Math.floor(fromEnv ? Number(fromEnv) : options.threads ?? (await machineThreads())));
    if (!Number.isFinite(threads)) throw new Error(`cpu: threads must be a positive integer (LOOM_CPU_THREADS=${fromEnv})`);
    if (threads > (this.pool?.threads ?? 1) || (flavor === 'relaxed' && this.pool && !this.poolHasRelaxed)) {
      const previous = this.pool;
      this.pool = await ThreadPool.create(Math.max(threads, previous?.threads ?? 1) - 1, this.heap.memory, this.modules(), this.local);
      this.poolHasRelaxed = Boolean(this.local.relaxed);
      previous?.close();
    }
    return { threads, flavor, weightStore: options.weightStore ?? 'f32', smallProduct: options.smallProduct ?? 4096, parallelFrom: options.parallelFrom ?? 1 << 17 };
  }

  private poolHasRelaxed = false;

  kernels(flavor: SimdFlavor): KernelExports {
    return this.local[flavor]!;
  }

  /** Runs one kernel call per argument list in parallel (list 0 on this thread). */
  parallel(flavor: SimdFlavor, kernel: KernelName, argLists: readonly (readonly number[])[]): void {
    if (argLists.length === 1) (this.local[flavor]![kernel] as (...a: number[]) => void)(...argLists[0]!);
    else this.pool!.run(flavor, kernel, argLists);
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
    return Object.fromEntries((Object.keys(this.local) as SimdFlavor[]).map((f) => [f, kernelModule(f)]));
  }

  private instantiate(flavor: SimdFlavor): void {
    this.local[flavor] ??= new WebAssembly.Instance(kernelModule(flavor), { env: { memory: this.heap.memory } }).exports as unknown as KernelExports;
  }
}

/** [start, end) ranges splitting `total` items into at most `parts` parts of at least `minEach`. */
export function splitRange(total: number, parts: number, minEach = 1): [number, number][] {
  const count = Math.max(1, Math.min(parts, Math.floor(total / Math.max(minEach, 1))));
  const ranges: [number, number][] = [];
  for (let i = 0; i < count; i++) ranges.push([Math.floor((total * i) / count), Math.floor((total * (i + 1)) / count)]);
  return ranges;
}
