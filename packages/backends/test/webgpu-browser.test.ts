import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { graphFromJson, graphParams, graphToJson, GraphBuilder, interpret, nodeName, type Graph, type NDArray } from '@loom/graph';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundlePage, PAGE_HTML } from '../browser/build-page.ts';
import type { JsonTensor } from '../browser/page.ts';
import { compare, randomF32, randomI32, rng } from './webgpu-data.ts';
import { backendRequired } from './require-backend.ts';

/**
 * The same backend in a real browser: the page (an esbuild bundle of the backend, the compiler and
 * the graph IR) is served from http://127.0.0.1 (WebGPU needs a secure context), headless Chromium
 * runs graphs on navigator.gpu, and the results are compared here with the float64 interpreter.
 */

const CHROMIUM = process.env['LOOM_CHROMIUM'] ?? '/usr/bin/chromium';
const ARGS = ['--no-sandbox', '--enable-unsafe-webgpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

const missing = existsSync(CHROMIUM) ? '' : `no browser at ${CHROMIUM} (install Debian's chromium or set LOOM_CHROMIUM)`;
if (missing) {
  if (backendRequired('webgpu')) throw new Error(`webgpu browser test: ${missing} (required by LOOM_REQUIRE_BACKENDS)`);
  console.warn(`SKIP webgpu browser test: ${missing}`);
}

const json = (a: NDArray): JsonTensor => ({ dtype: a.dtype, shape: [...a.shape], data: Array.from(a.data) });
const nd = (t: JsonTensor): NDArray => ({ dtype: t.dtype, shape: t.shape, data: t.dtype === 'i32' ? Int32Array.from(t.data) : Float64Array.from(t.data) });

describe.skipIf(missing)('webgpu in headless Chromium', { timeout: 120_000 }, () => {
  let server: Server;
  let context: BrowserContext;
  let page: Page;
  let profile: string;
  const pageErrors: string[] = [];

  beforeAll(async () => {
    const bundle = await bundlePage();
    server = createServer((req, res) => {
      if (req.url === '/' || req.url === '/index.html') res.writeHead(200, { 'content-type': 'text/html' }).end(PAGE_HTML);
      else if (req.url === '/loom-page.js') res.writeHead(200, { 'content-type': 'text/javascript' }).end(bundle);
      else res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    profile = mkdtempSync(join(tmpdir(), 'loom-chromium-'));
    context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: ARGS });
    page = context.pages()[0] ?? (await context.newPage());
    page.on('pageerror', (e) => pageErrors.push(e.message));
    await page.goto(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
    await page.waitForFunction(() => 'loom' in window, undefined, { timeout: 30_000 });
  }, 120_000);

  afterAll(async () => {
    await context?.close();
    await new Promise((resolve) => server?.close(resolve));
    if (profile) rmSync(profile, { recursive: true, force: true });
  });

  async function runInPage(graph: Graph, feeds: Record<string, NDArray>, weights: Map<string, NDArray>): Promise<Record<string, NDArray>> {
    const out = await page.evaluate(
      ([g, f, w]) => window.loom.run(g, f, w),
      [graphToJson(graph), Object.fromEntries(Object.entries(feeds).map(([k, v]) => [k, json(v)])), Object.fromEntries([...weights].map(([k, v]) => [k, json(v)]))] as const,
    );
    return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, nd(v)]));
  }

  it('has navigator.gpu and a WebGPU adapter in a secure context', async () => {
    expect(await page.evaluate(() => window.loom.hasGpu())).toBe(true);
    const adapter = await page.evaluate(() => window.loom.adapter());
    console.log(`chromium webgpu adapter: ${adapter}`);
    expect(adapter.length).toBeGreaterThan(0);
  });

  it("runs the page's own transformer block and matches the float64 interpreter", async () => {
    const graph = graphFromJson(await page.evaluate(() => window.loom.smallTransformerBlock()));
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
    expect(pageErrors).toEqual([]);
  });
});
