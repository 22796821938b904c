/**
 * A GPU backend in a real browser, written once for webgpu and webgl: headless Chromium runs graphs
 * on the page's own device (navigator.gpu; WebGL2 through gpu.js), and the results are compared here
 * with the float64 interpreter. Each backend's file adds what only it has (the adapter, the kernel class).
 */
import { graphFromJson, graphParams, GraphBuilder, interpret, nodeName } from '@loom/graph';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { browserMissing, openBrowserSession, type BrowserSession } from '../browser-session.ts';
import { compare, randomF32, randomI32, rng } from '../webgpu-data.ts';
import { runsOn } from './exclusions.ts';

/** Registers the shared browser tests for `name`; `own` adds the backend's own tests, with the session. */
export function browserSuite(name: 'webgpu' | 'webgl', own: (session: () => BrowserSession) => void): void {
  if (!runsOn('browser', name)) return;
  const missing = browserMissing(name);
  describe.skipIf(missing)(`${name} in headless Chromium`, { timeout: 120_000 }, () => {
    let session: BrowserSession;

    beforeAll(async () => {
      session = await openBrowserSession();
    }, 120_000);

    afterAll(async () => {
      await session?.close();
    });

    it("runs the page's own transformer block and matches the float64 interpreter", async () => {
      const graph = graphFromJson(await session.page.evaluate(() => window.loom.smallTransformerBlock()));
      const r = rng(21);
      const weights = new Map(graphParams(graph).map((p) => [nodeName(p)!, randomF32(p.type.shape as number[], r, -0.5, 0.5)]));
      const feeds = { ids: randomI32([2, 5], r, 0, 19) };
      const got = await session.runInPage(graph, feeds, weights, name);
      const want = interpret(graph, feeds, weights);
      const { worst, maxAbs } = compare({ ...got['y']!, data: Float32Array.from(got['y']!.data) }, want['y']!, { atol: 2e-5, rtol: 2e-5 });
      console.log(`chromium ${name}: transformer block max abs err ${maxAbs.toExponential(2)}`);
      expect(worst).toBeLessThanOrEqual(1);
    });

    it('runs a graph built in Node: matmul and gather; a bad id is reported as an error naming it', async () => {
      const b = new GraphBuilder();
      const ids = b.input('ids', 'i32', [3]);
      const x = b.input('x', 'f32', [3, 33]);
      const y = b.add('matmul', [b.add('add', [x, b.add('gather', [b.param('t', 'f32', [7, 33]), ids])]), b.param('w', 'f32', [33, 65])]);
      const graph = b.build({ y });
      const r = rng(22);
      const weights = new Map([['t', randomF32([7, 33], r)], ['w', randomF32([33, 65], r)]]);
      const feeds = { ids: randomI32([3], r, 0, 6), x: randomF32([3, 33], r) };
      const got = await session.runInPage(graph, feeds, weights, name);
      expect(compare({ ...got['y']!, data: Float32Array.from(got['y']!.data) }, interpret(graph, feeds, weights)['y']!, { atol: 1e-5 }).worst).toBeLessThanOrEqual(1);
      const bad = { ...feeds, ids: { dtype: 'i32' as const, shape: [3], data: Int32Array.of(0, 7, 1) } };
      await expect(session.runInPage(graph, bad, weights, name)).rejects.toThrow(/input 'ids' holds 7 at position 1, outside the 7 rows of weight 't'/);
      expect(session.pageErrors).toEqual([]);
    });

    own(() => session);
  });
}
