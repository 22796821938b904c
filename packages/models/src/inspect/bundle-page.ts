import { browserBundleOptions } from '@loom/backends';
import type { Plugin } from 'esbuild';
import { fileURLToPath } from 'node:url';

/** The inspector's HTML: the styles and the bundle; the page builds itself from /api/model. */
export const INSPECT_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Loom inspect</title>
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 0; color: #1d2330; background: #f7f8fa; }
  header { display: flex; gap: 16px; align-items: center; padding: 8px 16px; background: #1d2330; color: #fff; }
  header h1 { font-size: 16px; margin: 0; }
  header nav button { background: none; border: 0; color: #cfd6e4; font: inherit; padding: 6px 10px; cursor: pointer; }
  header nav button[aria-selected="true"] { color: #fff; border-bottom: 2px solid #7aa2ff; }
  main { padding: 12px 16px; }
  section[hidden] { display: none; }
  .toolbar { display: flex; gap: 12px; align-items: center; flex-wrap: wrap; margin-bottom: 8px; }
  .node rect { fill: #fff; stroke: #8b95a7; rx: 4; }
  .node.composite rect { fill: #eef3ff; stroke: #4d6fd6; cursor: pointer; }
  .node.absorbed rect { fill: #ffe9c7; stroke: #d98b00; }
  .node.added rect { fill: #dff5e3; stroke: #2d9a47; }
  .node.source rect { fill: #f1f1f1; }
  .node text { font: 11px ui-monospace, monospace; }
  .cluster rect { fill: #f3f6ff; stroke: #4d6fd6; stroke-dasharray: 4 3; cursor: pointer; }
  .node.block rect { fill: #e8f4ec; stroke: #2f7d4f; stroke-width: 1.5; cursor: pointer; }
  .cluster.block rect { fill: #f4faf6; stroke: #2f7d4f; }
  .edge { fill: none; stroke: #a3acbb; }
  table { border-collapse: collapse; font: 12px ui-monospace, monospace; }
  td, th { border-bottom: 1px solid #dde1e8; padding: 2px 8px; text-align: left; }
  .heatmaps { display: flex; flex-wrap: wrap; gap: 12px; }
  figure { margin: 0; }
  figcaption { font-size: 12px; color: #4a5468; }
  canvas.heatmap { image-rendering: pixelated; border: 1px solid #c8cdd6; }
  .tokens span { display: inline-block; border: 1px solid #c8cdd6; border-radius: 4px; padding: 1px 5px; margin: 2px; background: #fff; font: 12px ui-monospace, monospace; }
  .error { color: #b00020; white-space: pre-wrap; }
  .graph-stage { display: flex; gap: 8px; align-items: flex-start; }
  .graph-frame { flex: 1; height: 78vh; background: #fff; border: 1px solid #dde1e8; overflow: hidden; cursor: grab; touch-action: none; }
  .graph-overview { width: 160px; background: #fff; border: 1px solid #dde1e8; cursor: pointer; }
  .graph-overview .overview-box rect { fill: #c9d3e8; stroke: none; }
  .graph-overview .overview-edge { fill: none; stroke: #dde1e8; }
  .graph-overview .overview-window { fill: rgba(77, 111, 214, 0.12); stroke: #4d6fd6; stroke-width: 2; vector-effect: non-scaling-stroke; }
  .node.match rect { stroke: #d98b00; stroke-width: 2; }
  .node.current rect { fill: #fff3d6; stroke: #d98b00; stroke-width: 3; }
  .zoom-label { font: 12px ui-monospace, monospace; color: #4a5468; }
  .learn { display: flex; gap: 24px; align-items: flex-start; }
  .learn-steps { min-width: 280px; font-size: 13px; margin: 0; }
  .learn-steps a[aria-current] { font-weight: 700; color: #1d2330; }
  .learn-screen { max-width: 900px; outline: none; }
  .attention-panels { display: flex; gap: 24px; flex-wrap: wrap; align-items: flex-start; }
  .axis-label { font: 12px ui-monospace, monospace; fill: #1d2330; }
  .head-view line.faded { stroke-opacity: 0.02; }
  .head-view text.token { cursor: pointer; }
  .head-toggles label { margin-right: 8px; font: 12px ui-monospace, monospace; }
  output[data-testid=attention-readout] { font: 12px ui-monospace, monospace; color: #4a5468; }
</style>
</head>
<body>
<header><h1 id="title">Loom inspect</h1><nav></nav><label>backend <select id="backend"></select></label><span id="status">loading</span></header>
<main></main>
<script type="module" src="./inspect.js"></script>
</body>
</html>
`;

/** The page's bundle, and the backends it could not include (an optional peer that is not installed). */
export interface InspectBundle {
  readonly code: string;
  /** The Worker the page runs its models in (page/worker.ts). */
  readonly worker: string;
  /** 'webgl' when gpu.js is not installed: the page does not offer it and says why. */
  readonly missingBackends: readonly string[];
}

/** Optional peers of @loom/backends that a page backend needs, by the backend. */
const OPTIONAL_PEERS: Readonly<Record<string, string>> = { 'gpu.js': 'webgl' };

/**
 * Bundles page/main.ts (the compiler, the backends, the graph IR, dagre) and page/worker.ts (the
 * Worker the page runs its models in) into ES modules for browsers with the backends' `browserBundleOptions` (Node-only code stays out). An optional peer
 * that does not resolve (gpu.js, outside the workspace) is left out and its backend reported,
 * instead of failing the build. From the sources in the workspace the entry is page/main.ts; from
 * an installed package, the compiled page/main.js beside this file.
 */
export async function bundleInspectPage(): Promise<InspectBundle> {
  const { build } = await import('esbuild');
  const ext = import.meta.url.endsWith('.ts') ? 'ts' : 'js';
  const entry = (name: string) => fileURLToPath(new URL(`./page/${name}.${ext}`, import.meta.url));
  const missing = new Set<string>();
  const optionalPeers: Plugin = {
    name: 'loom-optional-peers',
    setup(b) {
      const names = Object.keys(OPTIONAL_PEERS).map((name) => name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
      b.onResolve({ filter: new RegExp(`^(${names.join('|')})$`) }, async (args) => {
        if ((args.pluginData as { again?: boolean } | undefined)?.again) return undefined;
        const resolved = await b.resolve(args.path, { kind: args.kind, importer: args.importer, resolveDir: args.resolveDir, pluginData: { again: true } });
        if (resolved.errors.length === 0) return resolved;
        missing.add(OPTIONAL_PEERS[args.path]!);
        return { path: args.path, external: true };
      });
    },
  };
  const result = await build({
    entryPoints: { inspect: entry('main'), 'inspect-worker': entry('worker') },
    ...browserBundleOptions,
    outdir: 'out',
    write: false,
    plugins: [optionalPeers],
    logLevel: 'silent',
  });
  const output = (name: string) => result.outputFiles.find((f) => f.path.endsWith(`/${name}.js`))!.text;
  return { code: output('inspect'), worker: output('inspect-worker'), missingBackends: [...missing] };
}
