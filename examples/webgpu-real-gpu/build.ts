/**
 * Bundles real-gpu.ts and everything it imports from the workspace into one ES module,
 * dist/real-gpu.mjs, for Node 20 on linux-x64. The `webgpu` package (Dawn, a native addon) stays
 * external: it must sit in node_modules/ next to the bundle (pack.ts puts it there).
 *   npx tsx examples/webgpu-real-gpu/build.ts [OUT_FILE]
 */
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

// esbuild is a dependency of @loom/backends (it bundles the browser page); resolve it from there
const require = createRequire(new URL('../../packages/backends/package.json', import.meta.url));
const { build } = require('esbuild') as { build(options: Record<string, unknown>): Promise<unknown> };

export async function bundleRealGpuScript(outfile: string): Promise<void> {
  await build({
    entryPoints: [fileURLToPath(new URL('./real-gpu.ts', import.meta.url))],
    outfile,
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    external: ['webgpu'],
    logLevel: 'warning',
  });
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const out = process.argv[2] ?? fileURLToPath(new URL('./dist/real-gpu.mjs', import.meta.url));
  await bundleRealGpuScript(out);
  console.log(`wrote ${out}`);
}
