import { WebGpuUnavailableError } from './errors.ts';

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

/** Where Node keeps the Dawn instance: it must stay referenced for the whole process (see WEBGPU.md). */
const DAWN_KEY = Symbol.for('loom.webgpu.dawn');

async function getGpu(options: AcquireOptions): Promise<GPU> {
  const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
  if (nav?.gpu) return nav.gpu;
  const holder = globalThis as unknown as Record<symbol, GPU | undefined>;
  const cached = holder[DAWN_KEY];
  if (cached) return cached;
  const isNode = typeof process !== 'undefined' && typeof process.versions?.node === 'string';
  if (!isNode) throw new WebGpuUnavailableError('this browser has no navigator.gpu (WebGPU needs a secure context: https or http://127.0.0.1)');
  let dawn: { create(options: string[]): GPU };
  try {
    dawn = await import('webgpu');
  } catch (e) {
    throw new WebGpuUnavailableError(`the npm package 'webgpu' could not be loaded: ${(e as Error).message}`);
  }
  // Dawn crashes the process if this object is garbage-collected while a device is alive.
  const gpu = dawn.create([...(options.dawnOptions ?? [])]);
  holder[DAWN_KEY] = gpu;
  return gpu;
}

/** Acquires an adapter and a device with the adapter's maximum limits. */
export async function acquireDevice(options: AcquireOptions = {}): Promise<AcquiredDevice> {
  const gpu = await getGpu(options);
  const adapter = await gpu.requestAdapter({ powerPreference: options.powerPreference ?? 'high-performance' });
  if (!adapter) {
    const hint =
      typeof process !== 'undefined' && process.versions?.node
        ? ' (in Node: install libvulkan1 and a Vulkan driver, e.g. VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json)'
        : '';
    throw new WebGpuUnavailableError(`no GPU adapter found${hint}`);
  }
  const requiredLimits: Record<string, number> = {};
  for (const key of REQUESTED_LIMITS) requiredLimits[key] = adapter.limits[key];
  const device = await adapter.requestDevice({ requiredLimits });
  const limits = deviceLimits(device);
  const info = adapter.info;
  const description = [info.vendor, info.architecture, info.device, info.description].filter((s) => s).join(' ') || 'unknown adapter';
  return { device, limits, description };
}
