import { PLAIN_BASE64, RELAXED_BASE64 } from '../wasm/kernels-wasm.ts';
import { unsharedMemoryImports } from './unshared-memory.ts';

/**
 * Which build of the kernels runs: `relaxed` uses `f32x4.relaxed_madd` (a fused multiply-add where
 * the CPU has one: one rounding per step instead of two, twice the arithmetic per instruction);
 * `plain` spells it as a multiply and an add, for engines without relaxed SIMD.
 */
export type SimdFlavor = 'relaxed' | 'plain';

export interface KernelExports {
  pack_panels(b: number, k: number, n: number, transB: number, dst: number, p0: number, p1: number): void;
  to_bf16(src: number, dst: number, count: number): void;
  pack_a(a: number, lda: number, m: number, k: number, dst: number, rb0: number, rb1: number): void;
  pack_a_t(x: number, ldx: number, m: number, k: number, dst: number, rb0: number, rb1: number): void;
  gemm(packedA: number, m: number, packed: number, k: number, n: number, c: number, ldc: number, p0: number, p1: number): void;
  /** gemm, then the epilogue (as `epilogue`) on its panels' columns */
  gemm_epilogue(packedA: number, m: number, packed: number, k: number, n: number, c: number, ldc: number, bias: number, res: number, ldr: number, act: number, p0: number, p1: number): void;
  gemm_jobs(table: number, j0: number, j1: number): void;
  gemm_batches(a: number, sa: number, lda: number, b: number, sb: number, transB: number, c: number, sc: number, m: number, k: number, n: number, scratch: number, b0: number, b1: number): void;
  gemv(x: number, packed: number, k: number, n: number, out: number, p0: number, p1: number): void;
  gemv_bf16(x: number, packed: number, k: number, n: number, out: number, p0: number, p1: number): void;
  gemv_q8(x: number, packed: number, scales: number, biases: number, xsums: number, k: number, n: number, group: number, out: number, p0: number, p1: number): void;
  gemv_q4(x: number, packed: number, scales: number, biases: number, xsums: number, k: number, n: number, group: number, out: number, p0: number, p1: number): void;
  gemm_q(packedA: number, m: number, packed: number, scales: number, biases: number, k: number, n: number, group: number, bits: number, c: number, ldc: number, buf: number, p0: number, p1: number): void;
  round_rows(x: number, out: number, k: number, group: number, r0: number, r1: number): void;
  quantize_row(x: number, k: number, kp: number, group: number, xq: number, xs: number, xsum: number, narrow: number): void;
  quantize_rows(x: number, k: number, kp: number, group: number, xq: number, xs: number, xsum: number, narrow: number, r0: number, r1: number): void;
  gemm_i(xq: number, xs: number, xsum: number, packed: number, scales: number, biases: number, kp: number, n: number, group: number, bits: number, codes: number, short: number, m: number, c: number, ldc: number, tile: number, p0: number, p1: number): void;
  dot_probe(a: number, b: number): number;
  gemv_i4r(xq: number, xs: number, xsum: number, packed: number, scales: number, biases: number, kp: number, n: number, group: number, codes: number, out: number, sums: number, p0: number, p1: number): void;
  gemv_i8(xq: number, xs: number, xsum: number, packed: number, scales: number, biases: number, kp: number, n: number, group: number, bits: number, out: number, p0: number, p1: number): void;
  attention(...args: number[]): void;
  attention_gemm(...args: number[]): void;
  simd_peak(iterations: number): number;
  layer_norm(x: number, residual: number, gamma: number, beta: number, out: number, d: number, epsBits: number, r0: number, r1: number): void;
  epilogue(c: number, ldc: number, n: number, bias: number, residual: number, ldr: number, act: number, r0: number, r1: number): void;
  softmax_rows(x: number, out: number, d: number, r0: number, r1: number): void;
  softmax_stats(x: number, stats: number, d: number, r0: number, r1: number): void;
  sum_rows(x: number, out: number, d: number, r0: number, r1: number): void;
  sum_columns(x: number, out: number, rows: number, n: number, b0: number, b1: number): void;
}

export type KernelName = keyof KernelExports;
export const KERNEL_NAMES: readonly KernelName[] = ['pack_a', 'pack_a_t', 'pack_panels', 'to_bf16', 'gemm', 'gemm_epilogue', 'gemm_jobs', 'gemm_batches', 'gemv', 'gemv_bf16', 'gemv_q8', 'gemv_q4', 'gemm_q', 'gemv_i8', 'gemv_i4r', 'dot_probe', 'round_rows', 'quantize_row', 'quantize_rows', 'gemm_i', 'attention', 'attention_gemm', 'epilogue', 'simd_peak', 'layer_norm', 'softmax_rows', 'softmax_stats', 'sum_rows', 'sum_columns'];

/**
 * Kernels that stream four column panels at once and run a range's last one to three panels one at
 * a time, at about half the rate: the threads' chunks of them are cut in whole quads of panels.
 */
export const PANEL_QUAD_KERNELS: ReadonlySet<KernelName> = new Set<KernelName>(['gemv', 'gemv_bf16', 'gemv_i8']);

const decode = (base64: string): Uint8Array<ArrayBuffer> => Uint8Array.from(atob(base64), (ch) => ch.charCodeAt(0));

let compiled: Partial<Record<`${SimdFlavor}${'' | ' unshared'}`, WebAssembly.Module>> = {};
let relaxedChecked: Promise<boolean> | undefined;

/**
 * Whether this engine runs relaxed SIMD. Node 21+ and Chrome 114+ have it on; Node 20 has it behind
 * V8's --experimental-wasm-relaxed-simd, which this turns on at run time (before any relaxed module
 * is compiled) when `WebAssembly.validate` says the module is not yet accepted.
 */
export function relaxedSimdSupported(): Promise<boolean> {
  relaxedChecked ??= (async () => {
    const bytes = decode(RELAXED_BASE64);
    if (WebAssembly.validate(bytes)) return true;
    if (typeof process === 'undefined' || !process.versions?.node) return false;
    try {
      const v8 = (await import(/* @vite-ignore */ `node:${'v8'}`)) as typeof import('node:v8');
      v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
    } catch {
      return false;
    }
    return WebAssembly.validate(bytes);
  })();
  return relaxedChecked;
}

/** The compiled module of a flavor (compiled once per process; workers get the same Module); `shared`: whether it imports a shared memory (unshared-memory.ts). */
export function kernelModule(flavor: SimdFlavor, shared = true): WebAssembly.Module {
  const bytes = () => decode(flavor === 'relaxed' ? RELAXED_BASE64 : PLAIN_BASE64);
  const key = shared ? flavor : (`${flavor} unshared` as const);
  compiled[key] ??= new WebAssembly.Module(shared ? bytes() : unsharedMemoryImports(bytes()));
  return compiled[key]!;
}

/** For tests: forget compiled modules (the relaxed-SIMD check is kept). */
export function resetKernelModules(): void {
  compiled = {};
}
