/** One set of GPU error classes: each backend's errors are the shared ones with the backend filled in, so one catch serves both. */
import { LoomError } from '@loom/graph';
import { describe, expect, it } from 'vitest';
import { GpuDeviceLostError, GpuDisposedError, GpuKernelError, GpuLimitError, GpuUnavailableError, GpuUnsupportedOpError } from '../src/index.ts';
import { WebGlContextLostError, WebGlDisposedError, WebGlKernelError, WebGlLimitError, WebGlUnavailableError, WebGlUnsupportedOpError } from '../src/webgl/errors.ts';
import { DeviceLostError, KernelError, ModelDisposedError, UnsupportedOpError, WebGpuLimitError, WebGpuUnavailableError } from '../src/webgpu/errors.ts';

describe('GPU errors', () => {
  it.each([
    [new WebGpuLimitError('too big'), new WebGlLimitError('too big'), GpuLimitError, 'limit'],
    [new WebGpuUnavailableError('no adapter'), new WebGlUnavailableError('no adapter'), GpuUnavailableError, 'unavailable'],
    [new KernelError('bad'), new WebGlKernelError('bad'), GpuKernelError, 'kernel'],
    [new UnsupportedOpError('top_k', 'none'), new WebGlUnsupportedOpError('top_k', 'none'), GpuUnsupportedOpError, 'unsupported-op'],
  ] as const)('%s and its WebGL twin are one class with the backend named', (webgpu, webgl, shared, code) => {
    for (const [error, backend] of [[webgpu, 'webgpu'], [webgl, 'webgl']] as const) {
      expect(error).toBeInstanceOf(shared);
      expect(error).toBeInstanceOf(LoomError);
      expect(error.backend).toBe(backend);
      expect(error.code).toBe(`${backend}-${code}`);
      expect(error.message.startsWith(`${backend}: `)).toBe(true);
    }
  });

  it('keeps each backend’s wording: the unsupported op and the lost device', () => {
    expect(new UnsupportedOpError('top_k', 'none').message).toBe("webgpu: no kernel for op 'top_k': none");
    expect(new WebGlUnsupportedOpError('top_k', 'none').op).toBe('top_k');
    expect(new DeviceLostError('destroyed', 'prepare again').message).toBe('webgpu: device lost (destroyed): prepare again');
    expect(new WebGlContextLostError('prepare again').message).toBe('webgl: the GL context was lost: prepare again');
    expect(new WebGlContextLostError('x')).toBeInstanceOf(GpuDeviceLostError);
    expect(new ModelDisposedError().message).toBe('webgpu: the model was disposed');
    expect(new WebGlDisposedError()).toBeInstanceOf(GpuDisposedError);
  });
});
