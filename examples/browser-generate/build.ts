/**
 * Bundles the example into one folder (default examples/browser-generate/dist): index.html, main.js
 * (the page) and loom-worker.js (the Worker), ES modules for browsers with the backends' bundling
 * options (no CDN: every byte comes from the workspace and npm packages).
 *
 *   npx tsx examples/browser-generate/build.ts [OUT_DIR]
 */
import { copyFileSync, mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { browserBundleOptions } from '@loom/backends';
import { build } from 'esbuild';

const here = (file: string) => fileURLToPath(new URL(file, import.meta.url));

/** Writes the page into `out` (with `extra` entry points beside it); returns the folder. */
export async function buildExample(out = here('./dist'), extra: Record<string, string> = {}): Promise<string> {
  mkdirSync(out, { recursive: true });
  await build({
    entryPoints: { main: here('./main.ts'), 'loom-worker': here('./loom-worker.ts'), ...extra },
    ...browserBundleOptions,
    outdir: out,
    minify: true,
    // the Worker's errors reach the page by their class's name, which minifying would shorten (keepNames
    // wraps functions in __name(); a library that sends a function's source to a Worker would break)
    keepNames: true,
    sourcemap: true,
    logLevel: 'warning',
  });
  copyFileSync(here('./index.html'), `${out}/index.html`);
  return out;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  console.log(`wrote ${await buildExample(process.argv[2])}: serve it with examples/browser-generate/serve.ts`);
}
