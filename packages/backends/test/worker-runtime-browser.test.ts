import { graphParams, interpret, nodeName, graphFromJson } from '@loom/graph';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { browserMissing, json, nd, openBrowserSession, type BrowserSession } from './browser-session.ts';
import { compare, randomF32, randomI32, rng } from './webgpu-data.ts';
import { backendRequired } from './require-backend.ts';

/**
 * WorkerRuntime in headless Chromium: a graph prepared and run in the page's Worker (browser/worker.ts
 * calls serveWorker) on the cpu backend, against the float64 interpreter and bit for bit against the
 * same backend on the page; feeds transferred (detached on the page), outputs arriving as float32;
 * the Worker's errors named; dispose rejecting what is pending and what comes after.
 */
const missing = browserMissing('webgl');

describe.skipIf(Boolean(missing))('WorkerRuntime in headless Chromium', { timeout: 120_000 }, () => {
  let session: BrowserSession;
  beforeAll(async () => {
    session = await openBrowserSession({ isolated: true });
  }, 120_000);
  afterAll(async () => session?.close());

  /** The page's transformer block with random weights and ids drawn from `seed`, and the weights as JSON for the page. */
  async function pageBlock(seed: number) {
    const graphJson = await session.page.evaluate(() => window.loom.smallTransformerBlock());
    const graph = graphFromJson(graphJson);
    const r = rng(seed);
    const weights = new Map(graphParams(graph).map((p) => [nodeName(p)!, randomF32(p.type.shape as number[], r, -0.5, 0.5)]));
    const feeds = { ids: randomI32([2, 5], r, 0, 19) };
    return { graphJson, graph, weights, feeds, jsonWeights: Object.fromEntries([...weights].map(([k, v]) => [k, json(v)])) };
  }

  it('runs a transformer block in the Worker: the interpreter\'s values, the page\'s own bits, feeds transferred', async () => {
    const { graphJson, graph, weights, feeds, jsonWeights } = await pageBlock(41);
    const got = await session.page.evaluate(([g, f, w]) => window.loom.runInWorker(g, f, w, 'cpu', { cpu: { threads: 1 } }), [graphJson, { ids: json(feeds.ids) }, jsonWeights] as const);
    expect(got.outputTypes).toEqual(['Float32Array']);
    expect(got.feedsDetached).toBe(true);
    expect(got.afterDispose).toMatch(/^WorkerTaskError: no prepared model \d+ in this Worker \(disposed\?\)$/);
    const y = nd(got.outputs['y']!);
    expect(compare({ ...y, data: Float32Array.from(y.data) }, interpret(graph, feeds, weights)['y']!, { atol: 2e-5, rtol: 2e-5 }).worst).toBeLessThanOrEqual(1);
    const onPage = await session.runInPage(graph, feeds, weights, 'cpu', { cpu: { threads: 1 } });
    expect(Array.from(y.data)).toEqual(Array.from(onPage['y']!.data));
  });

  it('webgl in the Worker, through an OffscreenCanvas (gpu.js WebGL2 kernels); webgpu on the Worker\'s navigator.gpu', async () => {
    const { graphJson, graph, weights, feeds, jsonWeights } = await pageBlock(42);
    const want = interpret(graph, feeds, weights)['y']!;
    const hasGpu = await session.page.evaluate(() => window.loom.hasGpu());
    if (!hasGpu && backendRequired('webgpu')) throw new Error('this Chromium has no navigator.gpu, and LOOM_REQUIRE_BACKENDS names webgpu');
    if (!hasGpu) console.warn('SKIP webgpu in a Worker: this Chromium has no navigator.gpu');
    for (const backend of hasGpu ? (['webgl', 'webgpu'] as const) : (['webgl'] as const)) {
      const got = await session.page.evaluate(([g, f, w, b]) => window.loom.runInWorker(g, f, w, b), [graphJson, { ids: json(feeds.ids) }, jsonWeights, backend] as const);
      const y = nd(got.outputs['y']!);
      const { worst, maxAbs } = compare({ ...y, data: Float32Array.from(y.data) }, want, { atol: 2e-5, rtol: 2e-5 });
      console.log(`chromium ${backend} in a Worker: transformer block max abs err ${maxAbs.toExponential(2)}`);
      expect(worst, backend).toBeLessThanOrEqual(1);
    }
    expect(await session.page.evaluate(() => window.loom.webglInWorker())).toMatch(/WebGL 2.* on an OffscreenCanvas, gpu\.js WebGL2Kernel$/);
  });

  it("the Worker's errors reach the page with their names; an index out of range names the table, the index and its position", async () => {
    expect(await session.page.evaluate(() => window.loom.unknownTask())).toBe("WorkerTaskError: this Worker has no task 'no-such-task' (it serves: webgl.describe, count, count.last)");
    const graphJson = await session.page.evaluate(() => window.loom.smallTransformerBlock());
    const weights = Object.fromEntries(graphParams(graphFromJson(graphJson)).map((p) => [nodeName(p)!, json(randomF32(p.type.shape as number[], rng(1)))]));
    const bad = await session.page.evaluate(([g, w]) => window.loom.runInWorker(g, { ids: { dtype: 'i32', shape: [1, 2], data: [1, 99] } }, w, 'cpu', { cpu: { threads: 1 } }).then(() => 'ran', (e: Error) => `${e.name}: ${e.message}`), [graphJson, weights] as const);
    expect(bad).toMatch(/^LoomError: gather from 'emb': index 99 at position 1 is outside its 20 rows/);
  });

  it('a stream the page stops reading is cancelled in the Worker, which goes on serving; a Worker that cannot start is an error', async () => {
    const { read, counted, again } = await session.page.evaluate(() => window.loom.streamAndBreak());
    expect(read).toEqual([0, 1, 2]);
    expect(counted).toBeGreaterThanOrEqual(3);
    expect(counted).toBeLessThan(1000);
    expect(again).toEqual([0, 1, 2, 3, 4]);
    expect(await session.page.evaluate(() => window.loom.missingWorker())).toMatch(/^WorkerError: the Loom Worker failed: /);
  });

  it('uploaded weights serve several prepares until released; then a prepare from them names what is gone', async () => {
    const graphJson = await session.page.evaluate(() => window.loom.smallTransformerBlock());
    const weights = Object.fromEntries(graphParams(graphFromJson(graphJson)).map((p) => [nodeName(p)!, json(randomF32(p.type.shape as number[], rng(3)))]));
    const [after, again] = await session.page.evaluate(([g, w]) => window.loom.releasedWeights(g, w), [graphJson, weights] as const);
    expect(after).toMatch(/^WorkerTaskError: no weights \d+ in this Worker$/);
    expect(again).toMatch(/^WorkerTaskError: no weights \d+ in this Worker$/);
  });

  it('dispose ends the Worker: a pending request and a later one reject, saying so', async () => {
    expect(await session.page.evaluate(() => window.loom.disposeWorker())).toEqual({ pending: 'the Loom Worker was disposed', after: 'the Loom Worker was disposed' });
    expect(session.pageErrors).toEqual([]);
  });
});
