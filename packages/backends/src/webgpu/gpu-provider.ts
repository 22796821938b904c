import { WebGpuUnavailableError } from './errors.ts';
import { driverCandidates, ensureRuntimeDir, noDriverAdvice, useDriver } from './vulkan-drivers.ts';

/**
 * The only file that knows where a GPU comes from: `navigator.gpu` in a browser (and in any runtime
 * that provides it), else the npm `webgpu` package (Dawn) in Node. Everything else takes a GPUDevice.
 */

/** The device limits the renderers and the runtime plan with (the values granted by requestDevice). */
export interface DeviceLimits {
  readonly maxComputeWorkgroupSizeX: number;
  readonly maxComputeInvocationsPerWorkgroup: number;
  readonly maxComputeWorkgroupStorageSize: number;
  readonly maxComputeWorkgroupsPerDimension: number;
  readonly maxStorageBufferBindingSize: number;
  readonly maxBufferSize: number;
  readonly maxStorageBuffersPerShaderStage: number;
  readonly maxUniformBufferBindingSize: number;
  readonly minStorageBufferOffsetAlignment: number;
  readonly minUniformBufferOffsetAlignment: number;
}

/**
 * The WebGPU spec's default limits: what every device grants. Kernels rendered within them (an
 * exported module's, rendered where no GPU may be) run on any device.
 */
export const SPEC_DEFAULT_LIMITS: DeviceLimits = {
  maxComputeWorkgroupSizeX: 256,
  maxComputeInvocationsPerWorkgroup: 256,
  maxComputeWorkgroupStorageSize: 16384,
  maxComputeWorkgroupsPerDimension: 65535,
  maxStorageBufferBindingSize: 134217728,
  maxBufferSize: 268435456,
  maxStorageBuffersPerShaderStage: 8,
  maxUniformBufferBindingSize: 65536,
  minStorageBufferOffsetAlignment: 256,
  minUniformBufferOffsetAlignment: 256,
};

/** The limits a device was granted, in Loom's terms. */
export function deviceLimits(device: GPUDevice): DeviceLimits {
  const l = device.limits;
  return {
    maxComputeWorkgroupSizeX: l.maxComputeWorkgroupSizeX,
    maxComputeInvocationsPerWorkgroup: l.maxComputeInvocationsPerWorkgroup,
    maxComputeWorkgroupStorageSize: l.maxComputeWorkgroupStorageSize,
    maxComputeWorkgroupsPerDimension: l.maxComputeWorkgroupsPerDimension,
    maxStorageBufferBindingSize: l.maxStorageBufferBindingSize,
    maxBufferSize: l.maxBufferSize,
    maxStorageBuffersPerShaderStage: l.maxStorageBuffersPerShaderStage,
    maxUniformBufferBindingSize: l.maxUniformBufferBindingSize,
    minStorageBufferOffsetAlignment: l.minStorageBufferOffsetAlignment,
    minUniformBufferOffsetAlignment: l.minUniformBufferOffsetAlignment,
  };
}

/** Limits requested at their adapter maximum: Dawn otherwise grants only the spec defaults (e.g. 128 MiB bindings). */
const REQUESTED_LIMITS = [
  'maxComputeWorkgroupSizeX',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupStorageSize',
  'maxComputeWorkgroupsPerDimension',
  'maxStorageBufferBindingSize',
  'maxBufferSize',
  'maxStorageBuffersPerShaderStage',
] as const satisfies readonly (keyof DeviceLimits)[];

export interface AcquiredDevice {
  readonly device: GPUDevice;
  readonly limits: DeviceLimits;
  /** e.g. "google swiftshader (vulkan)", for reports. */
  readonly description: string;
}

export interface AcquireOptions {
  /** Dawn options for `create()` in Node, e.g. ['backend=vulkan']. Ignored in browsers. */
  readonly dawnOptions?: readonly string[];
  readonly powerPreference?: GPUPowerPreference;
}

/** Where Node keeps the Dawn instances: each must stay referenced for the whole process (see WEBGPU.md). */
const DAWN_KEY = Symbol.for('loom.webgpu.dawn');
const DAWN_TRIED_KEY = Symbol.for('loom.webgpu.dawn-tried');

type DawnHolder = Record<symbol, unknown> & { [DAWN_KEY]?: GPU; [DAWN_TRIED_KEY]?: GPU[] };

/** An adapter: from `navigator.gpu` in a browser, else from Dawn in Node on the first Vulkan driver that gives one. */
async function requestAdapter(options: AcquireOptions): Promise<GPUAdapter> {
  const request = { powerPreference: options.powerPreference ?? 'high-performance' } as const;
  const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
  if (nav?.gpu) {
    const adapter = await nav.gpu.requestAdapter(request);
    if (!adapter) throw new WebGpuUnavailableError('no GPU adapter found (navigator.gpu.requestAdapter gave none)');
    return adapter;
  }
  const isNode = typeof process !== 'undefined' && typeof process.versions?.node === 'string';
  if (!isNode) throw new WebGpuUnavailableError('this browser has no navigator.gpu (WebGPU needs a secure context: https or http://127.0.0.1)');
  return nodeAdapter(options, request);
}

async function nodeAdapter(options: AcquireOptions, request: GPURequestAdapterOptions): Promise<GPUAdapter> {
  const holder = globalThis as unknown as DawnHolder;
  const found = holder[DAWN_KEY];
  if (found) {
    const adapter = await found.requestAdapter(request);
    if (adapter) return adapter;
  }
  let dawn: { create(options: string[]): GPU };
  try {
    dawn = await import('webgpu');
  } catch (e) {
    throw new WebGpuUnavailableError(`the npm package 'webgpu' could not be loaded: ${(e as Error).message}`);
  }
  const fs = (await import(/* @vite-ignore */ `node:${'fs'}`)) as typeof import('node:fs');
  const os = (await import(/* @vite-ignore */ `node:${'os'}`)) as typeof import('node:os');
  ensureRuntimeDir(process.env, fs, os.tmpdir(), process.getuid?.() ?? 'user');
  const { candidates, skipped } = driverCandidates(process.env, fs);
  const tried: string[] = [];
  for (const candidate of candidates) {
    useDriver(candidate, process.env);
    // Dawn crashes the process if an instance is garbage-collected while a device is alive: keep every one
    const gpu = dawn.create([...(options.dawnOptions ?? [])]);
    (holder[DAWN_TRIED_KEY] ??= []).push(gpu);
    const adapter = await gpu.requestAdapter(request);
    if (adapter) {
      holder[DAWN_KEY] = gpu;
      return adapter;
    }
    tried.push(candidate.label);
  }
  throw new WebGpuUnavailableError(`no GPU adapter found: ${noDriverAdvice(tried, skipped)}`);
}

/** Acquires an adapter and a device with the adapter's maximum limits. */
export async function acquireDevice(options: AcquireOptions = {}): Promise<AcquiredDevice> {
  const adapter = await requestAdapter(options);
  const requiredLimits: Record<string, number> = {};
  for (const key of REQUESTED_LIMITS) requiredLimits[key] = adapter.limits[key];
  const device = await adapter.requestDevice({ requiredLimits });
  const limits = deviceLimits(device);
  const info = adapter.info;
  const description = [info.vendor, info.architecture, info.device, info.description].filter((s) => s).join(' ') || 'unknown adapter';
  return { device, limits, description };
}
