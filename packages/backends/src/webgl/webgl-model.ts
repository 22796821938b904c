import type { Plan } from '@loom/compiler';
import type { Weights } from '@loom/graph';
import { GpuProgram, type GpuProgramOptions } from '../gpu/gpu-program.ts';
import type { ModelBytes } from '../memory-budget.ts';
import { StateStore } from '../state-store.ts';
import type { GlRuntime } from './runtime.ts';
import { WebGlDevice, type GlPassTiming, type WebGlSchedule } from './webgl-device.ts';

export { I32_EXACT_LIMIT, type GlPassTiming } from './webgl-device.ts';

/**
 * A compiled plan in one GL context: the shared GPU program (runs, budget, checks, schedules,
 * states; gpu/gpu-program.ts) over this context's textures and gpu.js passes (webgl-device.ts).
 */
export class WebGlModel extends GpuProgram<WebGlSchedule, GlPassTiming> {
  private constructor(plan: Plan, state: StateStore, private readonly gl: WebGlDevice, budget: { held: ModelBytes; maxBytes: number }) {
    super(plan, state, gl, budget);
  }

  /** Checks the weights, the budget and that every step has a kernel, then uploads weights and constants. */
  static async create(runtime: GlRuntime, plan: Plan, weights: Weights, options: GpuProgramOptions = {}): Promise<WebGlModel> {
    const budget = await GpuProgram.budget('webgl', plan, weights, options.maxMemory);
    const state = options.state ?? new StateStore();
    const model = new WebGlModel(plan, state, new WebGlDevice(runtime, plan, state), budget);
    await model.upload(weights);
    return model;
  }

  get runtime(): GlRuntime {
    return this.gl.runtime;
  }

  /** Compiled kernels this model holds (textures are counted context-wide: `runtime.liveTextures`). */
  get kernelCount(): number {
    return this.gl.kernelCount;
  }
}
