import { graphFromJson, graphParams, GraphBuilder, interpret, nodeName } from '@loom/graph';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { browserMissing, openBrowserSession, type BrowserSession } from './browser-session.ts';
import { compare, randomF32, randomI32, rng } from './webgpu-data.ts';

/**
 * The same backend in a real browser: headless Chromium runs graphs on navigator.gpu (the page is
 * served from http://127.0.0.1: WebGPU needs a secure context), and the results are compared here
 * with the float64 interpreter.
 */

const missing = browserMissing('webgpu');

describe.skipIf(missing)('webgpu in headless Chromium', { timeout: 120_000 }, () => {
  let session: BrowserSession;
  const page = () => session.page;
  const runInPage: BrowserSession['runInPage'] = (...args) => session.runInPage(...args);

  beforeAll(async () => {
    session = await openBrowserSession();
  }, 120_000);

  afterAll(async () => {
    await session?.close();
  });

  it('has navigator.gpu and a WebGPU adapter in a secure context', async () => {
    expect(await page().evaluate(() => window.loom.hasGpu())).toBe(true);
    const adapter = await page().evaluate(() => window.loom.adapter());
    console.log(`chromium webgpu adapter: ${adapter}`);
    expect(adapter.length).toBeGreaterThan(0);
  });

  it("runs the page's own transformer block and matches the float64 interpreter", async () => {
    const graph = graphFromJson(await page().evaluate(() => window.loom.smallTransformerBlock()));
    const r = rng(21);
    const weights = new Map(graphParams(graph).map((p) => [nodeName(p)!, randomF32(p.type.shape as number[], r, -0.5, 0.5)]));
    const feeds = { ids: randomI32([2, 5], r, 0, 19) };
    const got = await runInPage(graph, feeds, weights);
    const want = interpret(graph, feeds, weights);
    const { worst, maxAbs } = compare({ ...got['y']!, data: Float32Array.from(got['y']!.data) }, { ...want['y']!, data: want['y']!.data }, { atol: 2e-5, rtol: 2e-5 });
    console.log(`chromium webgpu: transformer block max abs err ${maxAbs.toExponential(2)}`);
    expect(worst).toBeLessThanOrEqual(1);
  });

  it('runs a graph built in Node: matmul, gather and a bad id reported as an error', async () => {
    const b = new GraphBuilder();
    const ids = b.input('ids', 'i32', [3]);
    const x = b.input('x', 'f32', [3, 33]);
    const y = b.add('matmul', [b.add('add', [x, b.add('gather', [b.param('t', 'f32', [7, 33]), ids])]), b.param('w', 'f32', [33, 65])]);
    const graph = b.build({ y });
    const r = rng(22);
    const weights = new Map([['t', randomF32([7, 33], r)], ['w', randomF32([33, 65], r)]]);
    const feeds = { ids: randomI32([3], r, 0, 6), x: randomF32([3, 33], r) };
    const got = await runInPage(graph, feeds, weights);
    expect(compare({ ...got['y']!, data: Float32Array.from(got['y']!.data) }, interpret(graph, feeds, weights)['y']!, { atol: 1e-5 }).worst).toBeLessThanOrEqual(1);
    const bad = { ...feeds, ids: { dtype: 'i32' as const, shape: [3], data: Int32Array.of(0, 7, 1) } };
    await expect(runInPage(graph, bad, weights)).rejects.toThrow(/input 'ids' holds 7 at position 1, outside the 7 rows of weight 't'/);
    expect(session.pageErrors).toEqual([]);
  });
});
