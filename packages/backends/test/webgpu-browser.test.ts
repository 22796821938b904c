import { expect, it } from 'vitest';
import { browserSuite } from './suites/browser-suite.ts';

/** WebGPU in headless Chromium: the shared browser suite, and the page's adapter (served from 127.0.0.1: WebGPU needs a secure context). */
browserSuite('webgpu', (session) => {
  it('has navigator.gpu and a WebGPU adapter in a secure context', async () => {
    expect(await session().page.evaluate(() => window.loom.hasGpu())).toBe(true);
    const adapter = await session().page.evaluate(() => window.loom.adapter());
    console.log(`chromium webgpu adapter: ${adapter}`);
    expect(adapter.length).toBeGreaterThan(0);
  });
});
