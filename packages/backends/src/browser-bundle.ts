/**
 * How to bundle the backends for a browser page (esbuild's options; other bundlers take the same
 * choices): ES modules, the browser build of each dependency (this package's `browser` field swaps
 * the Node-only headless-gl context for its browser twin, gpu.js resolves to its browser build), and
 * `webgpu` (Dawn, native, Node only) left out, since in a browser the backend takes `navigator.gpu`.
 */
export const browserBundleOptions: { bundle: true; format: 'esm'; platform: 'browser'; target: string; external: string[] } = {
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: 'es2022',
  // node:* only behind Node checks (a minifier folds `node:${'os'}` into a path it would then try to resolve)
  external: ['webgpu', 'node:*'],
};
