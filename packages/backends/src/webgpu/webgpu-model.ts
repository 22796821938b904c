import type { Plan } from '@loom/compiler';
import type { Weights } from '@loom/graph';
import { GpuProgram, type GpuProgramOptions } from '../gpu/gpu-program.ts';
import type { ModelBytes } from '../memory-budget.ts';
import { StateStore } from '../state-store.ts';
import type { KernelSource } from './kernel.ts';
import type { GpuRuntime } from './runtime.ts';
import { WebGpuDevice, type KernelTiming, type WebGpuMemoryStats, type WebGpuSchedule } from './webgpu-device.ts';

export type { KernelTiming, WebGpuMemoryStats };

export interface WebGpuModelOptions extends GpuProgramOptions {
  /** The renderer of each step's launches (`kernelFor` for the backend; the stored launches of an exported module). */
  readonly kernels: KernelSource;
}

/**
 * A compiled plan on one WebGPU device: the shared GPU program (runs, budget, checks, schedules,
 * states; gpu/gpu-program.ts) over this device's buffers, pipelines and command encoder (webgpu-device.ts).
 */
export class WebGpuModel extends GpuProgram<WebGpuSchedule, KernelTiming> {
  private constructor(plan: Plan, state: StateStore, private readonly gpu: WebGpuDevice, budget: { held: ModelBytes; maxBytes: number }) {
    super(plan, state, gpu, budget);
  }

  /** Checks the weights, the budget and that every step has a kernel, then uploads weights and constants. */
  static async create(runtime: GpuRuntime, plan: Plan, weights: Weights, options: WebGpuModelOptions): Promise<WebGpuModel> {
    const budget = await GpuProgram.budget('webgpu', plan, weights, options.maxMemory);
    const state = options.state ?? new StateStore();
    const model = new WebGpuModel(plan, state, new WebGpuDevice(runtime, plan, options.kernels, state), budget);
    await model.upload(weights);
    return model;
  }

  get runtime(): GpuRuntime {
    return this.gpu.runtime;
  }

  /** GPU buffers and bytes this model holds now (not counting shared state buffers). */
  memory(): WebGpuMemoryStats {
    return this.gpu.memory();
  }
}
