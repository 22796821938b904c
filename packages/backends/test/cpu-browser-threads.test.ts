import { graphParams, ModelBuilder, nodeName, type Graph } from '@loom/graph';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cpuBackend } from '../src/cpu/cpu-backend.ts';
import type { PrepareOptions } from '../src/backend.ts';
import { browserMissing, openBrowserSession, type BrowserSession } from './browser-session.ts';
import { randomF32, randomI32, rng } from './webgpu-data.ts';

/**
 * The cpu backend's thread pool in a browser: nested Workers on the shared WebAssembly memory, in a
 * cross-origin isolated page; the same bits as Node at the same thread count (every chunk is
 * computed the same way whoever claims it), with the workers shown to have taken chunks. A page
 * without isolation runs one thread on a fixed plain heap, and more threads are one error naming both headers.
 */
const missing = browserMissing('webgl');

/** A transformer block wide enough that its products and heads are cut into chunks. */
function block(): Graph {
  const m = new ModelBuilder();
  const ids = m.input('ids', 'i32', ['batch', 'seq'] as const);
  const x = m.embed(ids, m.param('emb', [50, 96] as const));
  const attn = m.attention(x, x, x, 4, m.causalMask(ids));
  const h = m.addNorm(x, attn, m.param('ln.g', [96] as const), m.param('ln.b', [96] as const));
  const y = m.ffn(h, m.param('w1', [96, 384] as const), m.param('b1', [384] as const), m.param('w2', [384, 96] as const), m.param('b2', [96] as const), 'gelu');
  return m.build({ y });
}

// every product parallel, whatever its size, and the workers never paused: the test is about them
const TWO_THREADS: PrepareOptions = { cpu: { threads: 2, parallelFrom: 0, smallProduct: 0, pauseWhenContended: false } };

describe.skipIf(Boolean(missing))('cpu backend in headless Chromium: threads as nested Workers', { timeout: 120_000 }, () => {
  let session: BrowserSession;
  beforeAll(async () => {
    session = await openBrowserSession({ isolated: true });
  }, 120_000);
  afterAll(async () => session?.close());

  it('2 threads in a cross-origin isolated page: bit-identical to Node at 2 threads, the workers taking chunks', async () => {
    expect(await session.page.evaluate(() => window.loom.isolated())).toBe(true);
    const graph = block();
    const r = rng(31);
    const weights = new Map(graphParams(graph).map((p) => [nodeName(p)!, randomF32(p.type.shape as number[], r, -0.5, 0.5)]));
    const feeds = { ids: randomI32([2, 24], r, 0, 49) };
    const model = await cpuBackend.prepare(graph, weights, TWO_THREADS);
    const want = await model.run(feeds);
    model.dispose();
    // on a busy machine the caller may claim every chunk before the worker wakes: run until it has taken some
    let taken = 0;
    for (let run = 1; run <= 20 && taken === 0; run++) {
      const before = await session.page.evaluate(() => window.loom.cpuWorkerChunks());
      const got = await session.runInPage(graph, feeds, weights, 'cpu', TWO_THREADS);
      taken = (await session.page.evaluate(() => window.loom.cpuWorkerChunks())) - before;
      console.log(`chromium cpu, 2 threads, run ${run}: the worker ran ${taken} chunks`);
      expect(got['y']!.shape).toEqual(want['y']!.shape);
      // bit for bit: the page's values are float32 carried as JSON numbers
      expect(Array.from(Float32Array.from(got['y']!.data))).toEqual(Array.from(want['y']!.data));
    }
    expect(taken).toBeGreaterThan(0);
    expect(session.pageErrors).toEqual([]);
  });

  it('a page that is not cross-origin isolated: threads: 1 runs on a fixed plain heap, bit-identical to Node; more threads are one error naming both headers', async () => {
    const page = await session.page.context().newPage();
    try {
      await page.goto(`${session.origin}/plain/`);
      await page.waitForFunction(() => 'loom' in window, undefined, { timeout: 30_000 });
      expect(await page.evaluate(() => window.loom.isolated())).toBe(false);
      const graphJson = await page.evaluate(() => window.loom.smallTransformerBlock());
      const message = await page.evaluate((g) => window.loom.run(g, { ids: { dtype: 'i32', shape: [1, 2], data: [1, 2] } }, {}, 'cpu', { cpu: { threads: 2 } }).then(() => 'ran', (e: Error) => e.message), graphJson);
      expect(message).toMatch(/Cross-Origin-Opener-Policy: same-origin and Cross-Origin-Embedder-Policy: require-corp/);
      const graph = block();
      const r = rng(32);
      const weights = new Map(graphParams(graph).map((p) => [nodeName(p)!, randomF32(p.type.shape as number[], r, -0.5, 0.5)]));
      const feeds = { ids: randomI32([2, 24], r, 0, 49) };
      const model = await cpuBackend.prepare(graph, weights, { cpu: { threads: 1 } });
      const want = await model.run(feeds);
      model.dispose();
      const got = await session.runInPage(graph, feeds, weights, 'cpu', { cpu: { threads: 1 } }, page);
      expect(Array.from(Float32Array.from(got['y']!.data))).toEqual(Array.from(want['y']!.data));
      // the heap cannot grow there: a model larger than it is the heap's error, naming the headers
      const big = await page.evaluate(() => window.loom.cpuHeapFull()).catch((e: Error) => e.message);
      expect(big).toMatch(/not cross-origin isolated, so the cpu backend's heap is a plain WebAssembly memory of a fixed \d+ MiB .* Cross-Origin-Opener-Policy: same-origin and Cross-Origin-Embedder-Policy: require-corp/);
    } finally {
      await page.close();
    }
  });
});
