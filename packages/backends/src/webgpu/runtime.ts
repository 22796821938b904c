import { DeviceLostError, GpuOutOfMemoryError, KernelError } from './errors.ts';
import type { AcquiredDevice, DeviceLimits } from './gpu-provider.ts';

/** GPUBufferUsage / GPUMapMode values (from the spec), so no global constants are needed in Node. */
export const BufferUsage = { MAP_READ: 0x1, COPY_SRC: 0x4, COPY_DST: 0x8, UNIFORM: 0x40, STORAGE: 0x80 } as const;
const MAP_READ = 0x1;

/** Binding kinds of a kernel's bind group, in binding order: r = read-only storage, w = read-write storage, u = uniform. */
export type LayoutSignature = string;

export interface BufferRequest {
  readonly size: number;
  readonly usage: number;
  readonly label: string;
}

/**
 * One GPU device and what is shared by every model on it: compiled pipelines (keyed by WGSL source
 * and binding layout), bind group layouts, the device-lost state and a count of live buffers.
 */
export class GpuRuntime {
  readonly device: GPUDevice;
  readonly limits: DeviceLimits;
  readonly description: string;
  private lostInfo: GPUDeviceLostInfo | undefined;
  private readonly pipelines = new Map<string, Promise<GPUComputePipeline>>();
  private readonly layouts = new Map<LayoutSignature, GPUBindGroupLayout>();
  /** Buffers created through this runtime and not yet destroyed. */
  liveBuffers = 0;
  liveBytes = 0;

  constructor(acquired: AcquiredDevice, limitOverrides: Partial<DeviceLimits> = {}) {
    this.device = acquired.device;
    this.limits = { ...acquired.limits, ...limitOverrides };
    this.description = acquired.description;
    void this.device.lost.then((info) => {
      this.lostInfo = info;
    });
  }

  get lost(): boolean {
    return this.lostInfo !== undefined;
  }

  /** Throws DeviceLostError when the device is gone. */
  checkAlive(what: string): void {
    if (this.lostInfo) throw new DeviceLostError(this.lostInfo.reason, `${what}: ${this.lostInfo.message || 'no message'}; prepare the model again`);
  }

  /**
   * After a failed GPU operation: waits briefly for `device.lost` so that a lost device is reported
   * as DeviceLostError rather than as the operation's own failure.
   */
  async explainFailure(what: string, error: unknown): Promise<Error> {
    if (!this.lostInfo) await Promise.race([this.device.lost, new Promise((resolve) => setTimeout(resolve, 200))]);
    if (this.lostInfo) return new DeviceLostError(this.lostInfo.reason, `${what}: ${this.lostInfo.message || (error as Error).message}`);
    return error instanceof Error ? error : new Error(String(error));
  }

  /** Creates buffers inside an out-of-memory error scope; on failure destroys them and throws GpuOutOfMemoryError. */
  async createBuffers(requests: readonly BufferRequest[]): Promise<GPUBuffer[]> {
    this.checkAlive('allocating buffers');
    const device = this.device;
    device.pushErrorScope('out-of-memory');
    device.pushErrorScope('validation');
    const buffers = requests.map((r) => device.createBuffer({ size: r.size, usage: r.usage, label: r.label }));
    const [validation, oom] = [await device.popErrorScope(), await device.popErrorScope()];
    if (validation || oom) {
      for (const b of buffers) b.destroy();
      const total = requests.reduce((s, r) => s + r.size, 0);
      const names = requests.map((r) => `${r.label} (${formatBytes(r.size)})`).join(', ');
      if (oom) throw new GpuOutOfMemoryError(`allocating ${formatBytes(total)} for ${names}: ${oom.message}`);
      this.checkAlive('allocating buffers');
      throw new GpuOutOfMemoryError(`allocating ${formatBytes(total)} for ${names} failed validation: ${validation!.message}`);
    }
    for (const r of requests) {
      this.liveBuffers++;
      this.liveBytes += r.size;
    }
    return buffers;
  }

  destroyBuffer(buffer: GPUBuffer): void {
    this.liveBuffers--;
    this.liveBytes -= buffer.size;
    buffer.destroy();
  }

  bindGroupLayout(signature: LayoutSignature): GPUBindGroupLayout {
    let layout = this.layouts.get(signature);
    if (!layout) {
      const entries: GPUBindGroupLayoutEntry[] = [...signature].map((kind, binding) => ({
        binding,
        visibility: 0x4, // GPUShaderStage.COMPUTE
        buffer: { type: kind === 'r' ? 'read-only-storage' : kind === 'w' ? 'storage' : 'uniform' },
      }));
      layout = this.device.createBindGroupLayout({ entries, label: `loom layout ${signature}` });
      this.layouts.set(signature, layout);
    }
    return layout;
  }

  /** A compute pipeline for the source, compiled once per (source, layout) on this device. */
  pipeline(wgsl: string, signature: LayoutSignature, what: string): Promise<GPUComputePipeline> {
    const key = `${signature}\n${wgsl}`;
    let pipeline = this.pipelines.get(key);
    if (!pipeline) {
      const device = this.device;
      const layout = device.createPipelineLayout({ bindGroupLayouts: [this.bindGroupLayout(signature)] });
      const module = device.createShaderModule({ code: wgsl, label: what });
      pipeline = device.createComputePipelineAsync({ layout, compute: { module, entryPoint: 'main' }, label: what }).catch(async (e: unknown) => {
        this.pipelines.delete(key);
        const info = await module.getCompilationInfo().catch(() => undefined);
        const messages = info?.messages.map((m) => `  ${m.type} at ${m.lineNum}:${m.linePos}: ${m.message}`).join('\n') ?? '';
        throw new KernelError(`${what}: the WGSL kernel does not compile: ${(e as Error).message}\n${messages}\n--- source ---\n${wgsl}`);
      });
      this.pipelines.set(key, pipeline);
    }
    return pipeline;
  }

  get pipelineCount(): number {
    return this.pipelines.size;
  }

  /** Maps a MAP_READ buffer and copies `size` bytes out. */
  async readBuffer(buffer: GPUBuffer, size: number): Promise<ArrayBuffer> {
    await buffer.mapAsync(MAP_READ, 0, size);
    try {
      return buffer.getMappedRange(0, size).slice(0);
    } finally {
      buffer.unmap();
    }
  }
}

export function formatBytes(bytes: number): string {
  if (bytes >= 2 ** 30) return `${(bytes / 2 ** 30).toFixed(2)} GiB`;
  if (bytes >= 2 ** 20) return `${(bytes / 2 ** 20).toFixed(1)} MiB`;
  if (bytes >= 2 ** 10) return `${(bytes / 2 ** 10).toFixed(1)} KiB`;
  return `${bytes} B`;
}
