import { graphFromJson, graphParams, GraphBuilder, interpret, nodeName } from '@loom/graph';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { browserMissing, openBrowserSession, type BrowserSession } from './browser-session.ts';
import { compare, randomF32, randomI32, rng } from './webgpu-data.ts';

/**
 * The WebGL backend in a real browser: headless Chromium gives the page a WebGL2 context (ANGLE on
 * SwiftShader), gpu.js runs WebGL2Kernels on it, and the results are compared here with the float64
 * interpreter. The runtime checks the class of every kernel, so a silent gpu.js fallback would fail.
 */

const missing = browserMissing('webgl');

describe.skipIf(missing)('webgl in headless Chromium', { timeout: 120_000 }, () => {
  let session: BrowserSession;

  beforeAll(async () => {
    session = await openBrowserSession();
  }, 120_000);

  afterAll(async () => {
    await session?.close();
  });

  it('gets a WebGL2 context and runs gpu.js WebGL2Kernels', async () => {
    const info = await session.page.evaluate(() => window.loom.webgl());
    console.log(`chromium webgl: ${info.description}`);
    expect(info.kernelClass).toBe('WebGL2Kernel');
    expect(info.description).toMatch(/WebGL 2/);
  });

  it("runs the page's own transformer block and matches the float64 interpreter", async () => {
    const graph = graphFromJson(await session.page.evaluate(() => window.loom.smallTransformerBlock()));
    const r = rng(31);
    const weights = new Map(graphParams(graph).map((p) => [nodeName(p)!, randomF32(p.type.shape as number[], r, -0.5, 0.5)]));
    const feeds = { ids: randomI32([2, 5], r, 0, 19) };
    const got = await session.runInPage(graph, feeds, weights, 'webgl');
    const want = interpret(graph, feeds, weights);
    const { worst, maxAbs } = compare({ ...got['y']!, data: Float32Array.from(got['y']!.data) }, { ...want['y']!, data: want['y']!.data }, { atol: 2e-5, rtol: 2e-5 });
    console.log(`chromium webgl: transformer block max abs err ${maxAbs.toExponential(2)}`);
    expect(worst).toBeLessThanOrEqual(1);
  });

  it('runs matmul and gather; a bad id and an id above 2^24 are reported as errors', async () => {
    const b = new GraphBuilder();
    const ids = b.input('ids', 'i32', [3]);
    const x = b.input('x', 'f32', [3, 33]);
    const y = b.add('matmul', [b.add('add', [x, b.add('gather', [b.param('t', 'f32', [7, 33]), ids])]), b.param('w', 'f32', [33, 65])]);
    const graph = b.build({ y });
    const r = rng(32);
    const weights = new Map([['t', randomF32([7, 33], r)], ['w', randomF32([33, 65], r)]]);
    const feeds = { ids: randomI32([3], r, 0, 6), x: randomF32([3, 33], r) };
    const got = await session.runInPage(graph, feeds, weights, 'webgl');
    expect(compare({ ...got['y']!, data: Float32Array.from(got['y']!.data) }, interpret(graph, feeds, weights)['y']!, { atol: 1e-5 }).worst).toBeLessThanOrEqual(1);
    const bad = { ...feeds, ids: { dtype: 'i32' as const, shape: [3], data: Int32Array.of(0, 7, 1) } };
    await expect(session.runInPage(graph, bad, weights, 'webgl')).rejects.toThrow(/input 'ids' holds 7 at position 1, outside the 7 rows of weight 't'/);
    const b2 = new GraphBuilder();
    const big = b2.input('n', 'i32', [2]);
    const g2 = b2.build({ y: b2.add('add', [big, b2.constant(1, [], 'i32')]) });
    await expect(session.runInPage(g2, { n: { dtype: 'i32', shape: [2], data: Int32Array.of(1, 2 ** 24 + 1) } }, new Map(), 'webgl')).rejects.toThrow(/input 'n' holds 16777217 at position 1: .*exact only within/);
    expect(session.pageErrors).toEqual([]);
  });

  it('times a 256^3 matmul on webgl and webgpu in the page', async () => {
    const gl = await session.page.evaluate(() => window.loom.timeMatmul(256, 'webgl', 3));
    const gpu = await session.page.evaluate(() => window.loom.timeMatmul(256, 'webgpu', 3));
    console.log(`chromium (SwiftShader) matmul 256^3 median: webgl ${gl.toFixed(1)} ms, webgpu ${gpu.toFixed(1)} ms`);
    expect(gl).toBeGreaterThan(0);
    expect(gpu).toBeGreaterThan(0);
  });
});
