/**
 * `@loom/backends/aot`: what a module written by `loom export --format ts` imports. It holds its
 * plan and kernels itself; this runs them on the cpu backend's runtime (the WebAssembly GEMM, the
 * kernel helpers, buffer arenas). Nothing here imports the compiler.
 */
import type { Plan } from '@loom/compiler';
import type { NDArray, Weights } from '@loom/graph';
import { CpuProgram, type AotKernel, type CpuPrepareOptions } from './cpu/cpu-program.ts';
import { StateStore } from './state-store.ts';

export type { AotKernel, CpuPrepareOptions };
export type { Layout } from './cpu/layout.ts';
export type { CpuRuntime } from './cpu/runtime.ts';
export type { Plan } from '@loom/compiler';

/** A plan and its kernels, prepared with the weights: `run` as often as wanted, `dispose` at the end. */
export interface AotModel {
  run(feeds: Readonly<Record<string, NDArray>>): Record<string, NDArray>;
  dispose(): void;
}

export async function prepareAot(plan: Plan, kernels: readonly AotKernel[], weights: Weights, options: Omit<CpuPrepareOptions, 'kernels'> = {}): Promise<AotModel> {
  const program = await CpuProgram.create(plan, weights, new StateStore(), { ...options, kernels });
  return { run: (feeds) => program.run(feeds), dispose: () => program.dispose() };
}
