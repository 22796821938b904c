import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { graphToJson, type Graph, type NDArray } from '@loom/graph';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { bundlePage, bundleWorker, PAGE_HTML } from '../browser/build-page.ts';
import type { PrepareOptions } from '../src/backend.ts';
import type { JsonTensor } from '../browser/page.ts';
import { backendRequired } from './require-backend.ts';

/**
 * The test page in headless Chromium, shared by the WebGPU and WebGL browser tests: the page (an
 * esbuild bundle of both backends, the compiler and the graph IR) is served from http://127.0.0.1
 * (WebGPU needs a secure context), and `runInPage` runs a graph there and brings the outputs back.
 */

const CHROMIUM = process.env['LOOM_CHROMIUM'] ?? '/usr/bin/chromium';
const ARGS = ['--no-sandbox', '--enable-unsafe-webgpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/** Why the browser tests cannot run here ('' when they can); throws when CI requires `backend`. */
export function browserMissing(backend: 'webgpu' | 'webgl'): string {
  const missing = existsSync(CHROMIUM) ? '' : `no browser at ${CHROMIUM} (install Debian's chromium or set LOOM_CHROMIUM)`;
  if (missing) {
    if (backendRequired(backend)) throw new Error(`${backend} browser test: ${missing} (required by LOOM_REQUIRE_BACKENDS)`);
    console.warn(`SKIP ${backend} browser test: ${missing}`);
  }
  return missing;
}

export const json = (a: NDArray): JsonTensor => ({ dtype: a.dtype, shape: [...a.shape], data: Array.from(a.data) });
export const nd = (t: JsonTensor): NDArray => ({ dtype: t.dtype, shape: t.shape, data: t.dtype === 'i32' ? Int32Array.from(t.data) : Float64Array.from(t.data) });

export interface BrowserSession {
  readonly page: Page;
  /** Uncaught errors the page reported. */
  readonly pageErrors: string[];
  /** `on`: another page of the session (default: the session's own). */
  runInPage(graph: Graph, feeds: Record<string, NDArray>, weights: Map<string, NDArray>, backend?: 'webgpu' | 'webgl' | 'cpu', options?: PrepareOptions, on?: Page): Promise<Record<string, NDArray>>;
  /** The server's address (http://127.0.0.1:PORT). */
  readonly origin: string;
  close(): Promise<void>;
}

/** The headers that make a page cross-origin isolated (SharedArrayBuffer: the cpu backend and its threads). */
export const ISOLATION_HEADERS = { 'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp' };

/**
 * Opens the test page, cross-origin isolated unless `isolated` is false; the same page without the
 * isolation headers is at `/plain/` either way.
 */
export async function openBrowserSession(options: { isolated?: boolean } = {}): Promise<BrowserSession> {
  const [bundle, worker] = await Promise.all([bundlePage(), bundleWorker()]);
  const server: Server = createServer((req, res) => {
    const plain = req.url?.startsWith('/plain/') === true;
    const headers = options.isolated === false || plain ? {} : ISOLATION_HEADERS;
    const path = plain ? req.url!.slice('/plain'.length) : req.url;
    if (path === '/' || path === '/index.html') res.writeHead(200, { 'content-type': 'text/html', ...headers }).end(PAGE_HTML);
    else if (path === '/loom-page.js') res.writeHead(200, { 'content-type': 'text/javascript', ...headers }).end(bundle);
    else if (path === '/loom-worker.js') res.writeHead(200, { 'content-type': 'text/javascript', ...headers }).end(worker);
    else res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const profile = mkdtempSync(join(tmpdir(), 'loom-chromium-'));
  let context: BrowserContext | undefined;
  const close = async () => {
    await context?.close();
    await new Promise((resolve) => server.close(resolve));
    rmSync(profile, { recursive: true, force: true });
  };
  try {
    context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: ARGS });
    const page = context.pages()[0] ?? (await context.newPage());
    const pageErrors: string[] = [];
    page.on('pageerror', (e) => pageErrors.push(e.message));
    await page.goto(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
    await page.waitForFunction(() => 'loom' in window, undefined, { timeout: 30_000 });
    return {
      page,
      pageErrors,
      origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      async runInPage(graph, feeds, weights, backend = 'webgpu', prepareOptions = {}, on = page) {
        const out = await on.evaluate(
          ([g, f, w, which, o]) => window.loom.run(g, f, w, which, o),
          [graphToJson(graph), Object.fromEntries(Object.entries(feeds).map(([k, v]) => [k, json(v)])), Object.fromEntries([...weights].map(([k, v]) => [k, json(v)])), backend, prepareOptions] as const,
        );
        return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, nd(v)]));
      },
      close,
    };
  } catch (e) {
    await close();
    throw e;
  }
}
