import { GraphBuilder } from '@loom/graph';
import { expect, it } from 'vitest';
import { browserSuite } from './suites/browser-suite.ts';

/**
 * WebGL in headless Chromium (a WebGL2 context: ANGLE on SwiftShader): the shared browser suite, then
 * the kernel class the runtime checks (a silent gpu.js fallback would fail), integers beyond float32's
 * exact range, and a matmul timed on both GPU backends of the page.
 */
browserSuite('webgl', (session) => {
  it('gets a WebGL2 context and runs gpu.js WebGL2Kernels', async () => {
    const info = await session().page.evaluate(() => window.loom.webgl());
    console.log(`chromium webgl: ${info.description}`);
    expect(info.kernelClass).toBe('WebGL2Kernel');
    expect(info.description).toMatch(/WebGL 2/);
  });

  it('an id above 2^24 is an error naming the input', async () => {
    const b = new GraphBuilder();
    const graph = b.build({ y: b.add('add', [b.input('n', 'i32', [2]), b.constant(1, [], 'i32')]) });
    await expect(session().runInPage(graph, { n: { dtype: 'i32', shape: [2], data: Int32Array.of(1, 2 ** 24 + 1) } }, new Map(), 'webgl')).rejects.toThrow(/input 'n' holds 16777217 at position 1: .*exact only within/);
  });

  it('times a 256^3 matmul on webgl and webgpu in the page', async () => {
    const gl = await session().page.evaluate(() => window.loom.timeMatmul(256, 'webgl', 3));
    const gpu = await session().page.evaluate(() => window.loom.timeMatmul(256, 'webgpu', 3));
    console.log(`chromium (SwiftShader) matmul 256^3 median: webgl ${gl.toFixed(1)} ms, webgpu ${gpu.toFixed(1)} ms`);
    expect(gl).toBeGreaterThan(0);
    expect(gpu).toBeGreaterThan(0);
  });
});
