/**
 * `@loom/backends/aot-webgpu`: what a module written by `loom export --format ts --target webgpu`
 * imports. The module holds its plan, its WGSL kernels and its dispatch list, rendered for fixed
 * symbol values within the WebGPU spec's default limits; this runs them on a device (buffers,
 * pipelines, one command encoder per run, the read-back). Nothing here imports the compiler or the
 * kernel renderers.
 */
/// <reference types="@webgpu/types" preserve="true" />
import type { Plan } from '@loom/compiler';
import { bindInputs, InputError, stateNames, type NDArray, type Weights } from '@loom/graph';
import { StateStore } from './state-store.ts';
import { WebGpuLimitError } from './webgpu/errors.ts';
import { acquireDevice, deviceLimits, type AcquireOptions, type DeviceLimits } from './webgpu/gpu-provider.ts';
import type { KernelLaunch, StorageBinding } from './webgpu/kernel.ts';
import { GpuRuntime } from './webgpu/runtime.ts';
import { WebGpuModel, type KernelTiming } from './webgpu/webgpu-model.ts';

export type { Plan } from '@loom/compiler';
export type { DeviceLimits, KernelTiming, StorageBinding };

/** One compute dispatch of an exported module: plan step `step`'s kernel, its grid, buffers and parameters. */
export interface AotDispatch {
  readonly step: number;
  readonly wgsl: string;
  readonly workgroups: readonly [number, number, number];
  /** Storage bindings in @binding order (the parameters block comes after them). */
  readonly bindings: readonly StorageBinding[];
  /** The kernel's parameters block, as 32-bit words. */
  readonly params: readonly number[];
}

/** Everything an exported module holds. */
export interface AotWebGpuProgram {
  readonly plan: Plan;
  /** The symbol values the kernels were rendered for; inputs must give these sizes. */
  readonly symbols: Readonly<Record<string, number>>;
  /** The limits the kernels were rendered within; the device must grant at least these. */
  readonly limits: DeviceLimits;
  readonly dispatches: readonly AotDispatch[];
}

export interface AotWebGpuOptions extends AcquireOptions {
  /** A device to run on (e.g. the page's); by default one is acquired and shared by the modules of the process. */
  readonly device?: GPUDevice;
  /** Bytes the model and a run may hold (default: 3/4 of the machine's memory). */
  readonly maxMemory?: number;
  /** The states (KV caches) the model reads and writes; a fresh store by default. */
  readonly state?: StateStore;
}

/** A prepared module: `run` as often as wanted, `dispose` at the end. */
export interface AotWebGpuModel {
  run(feeds: Readonly<Record<string, NDArray>>): Promise<Record<string, NDArray>>;
  /** One run with each dispatch submitted and timed on its own. */
  profile(feeds: Readonly<Record<string, NDArray>>): Promise<KernelTiming[]>;
  /** The adapter, e.g. "google swiftshader (vulkan)". */
  readonly device: string;
  dispose(): void;
}

let shared: Promise<GpuRuntime> | undefined;

async function sharedRuntime(options: AcquireOptions): Promise<GpuRuntime> {
  const current = await shared?.catch(() => undefined);
  if (current && !current.lost) return current;
  shared = acquireDevice(options).then((acquired) => new GpuRuntime(acquired));
  return shared;
}

/** The device must grant what the kernels were rendered for: at least each maximum, at most each alignment. */
function checkLimits(granted: DeviceLimits, needed: DeviceLimits): void {
  for (const key of Object.keys(needed) as (keyof DeviceLimits)[]) {
    const alignment = key.startsWith('min');
    if (alignment ? granted[key] > needed[key] : granted[key] < needed[key]) {
      throw new WebGpuLimitError(`this module's kernels were rendered for ${key} ${needed[key]}; the device grants ${granted[key]}`);
    }
  }
}

/** Inputs must bind the symbols to the values the kernels were rendered for. */
function checkSymbols(program: AotWebGpuProgram, feeds: Readonly<Record<string, NDArray>>): void {
  const bound = bindInputs(program.plan.graph, feeds, { optional: stateNames(program.plan.graph) });
  for (const [symbol, value] of Object.entries(program.symbols)) {
    const got = bound.get(symbol);
    if (got !== undefined && got !== value) {
      const was = Object.entries(program.symbols).map(([k, v]) => `${k} = ${v}`).join(', ');
      throw new InputError(`the inputs give ${symbol} = ${got}, but this module's kernels were rendered for ${was} (export it again with other sizes)`);
    }
  }
}

export async function prepareAotWebGpu(program: AotWebGpuProgram, weights: Weights, options: AotWebGpuOptions = {}): Promise<AotWebGpuModel> {
  const runtime = options.device
    ? new GpuRuntime({ device: options.device, limits: deviceLimits(options.device), description: options.device.label || 'the given device' })
    : await sharedRuntime(options);
  checkLimits(runtime.limits, program.limits);
  const byStep: KernelLaunch[][] = program.plan.steps.map(() => []);
  for (const [i, d] of program.dispatches.entries()) {
    const launches = byStep[d.step];
    if (!launches) throw new InputError(`dispatch ${i} names step ${d.step}; the plan has ${program.plan.steps.length} steps`);
    launches.push({ wgsl: d.wgsl, workgroups: d.workgroups, bindings: d.bindings, params: Uint32Array.from(d.params) });
  }
  const model = await WebGpuModel.create(runtime, program.plan, weights, {
    kernels: (_node, step) => () => byStep[step]!,
    state: options.state,
    maxMemory: options.maxMemory,
  });
  return {
    device: runtime.description,
    async run(feeds) {
      checkSymbols(program, feeds);
      return model.run(feeds);
    },
    async profile(feeds) {
      checkSymbols(program, feeds);
      return model.profile(feeds);
    },
    dispose: () => model.dispose(),
  };
}
