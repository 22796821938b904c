import { build } from 'esbuild';
import { browserBundleOptions } from '../src/browser-bundle.ts';
import { fileURLToPath } from 'node:url';

/** The page's HTML: loads the bundle as a module; `window.loom` appears when it has run. */
export const PAGE_HTML = `<!doctype html>
<html>
<head><meta charset="utf-8"><title>Loom WebGPU and WebGL</title></head>
<body>
<p id="status">loading</p>
<script type="module" src="./loom-page.js"></script>
<script type="module">document.getElementById('status').textContent = 'gpu' in navigator ? 'navigator.gpu present' : 'no navigator.gpu';</script>
</body>
</html>
`;

/**
 * Bundles browser/page.ts (the WebGPU and WebGL backends, the compiler and the graph IR) into one ES
 * module for browsers with `browserBundleOptions`: Node-only code stays out, and in a browser the
 * backends take `navigator.gpu` and a canvas's WebGL2 context.
 */
export async function bundlePage(options: { minify?: boolean } = {}): Promise<string> {
  return bundle('./page.ts', options);
}

/** Bundles browser/worker.ts, the page's Worker (serveWorker), served beside the page as loom-worker.js. */
export async function bundleWorker(options: { minify?: boolean } = {}): Promise<string> {
  return bundle('./worker.ts', options);
}

async function bundle(entry: string, options: { minify?: boolean }): Promise<string> {
  const result = await build({
    entryPoints: [fileURLToPath(new URL(entry, import.meta.url))],
    ...browserBundleOptions,
    write: false,
    minify: options.minify ?? false,
    logLevel: 'silent',
  });
  return result.outputFiles[0]!.text;
}

// `npx tsx packages/backends/browser/build-page.ts OUT_DIR` writes index.html and loom-page.js
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const { mkdirSync, writeFileSync } = await import('node:fs');
  const out = process.argv[2] ?? 'dist/browser-page';
  mkdirSync(out, { recursive: true });
  writeFileSync(`${out}/index.html`, PAGE_HTML);
  writeFileSync(`${out}/loom-page.js`, await bundlePage());
  writeFileSync(`${out}/loom-worker.js`, await bundleWorker());
  console.log(`wrote ${out}/index.html and ${out}/loom-page.js; serve the folder from http://127.0.0.1 (WebGPU needs a secure context)`);
}
