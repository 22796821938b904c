/**
 * Serves the built example on 127.0.0.1 with the two headers that make the page cross-origin
 * isolated (SharedArrayBuffer: the cpu backend's memory and its threads), which any host serving
 * Loom's cpu backend must send:
 *
 *   Cross-Origin-Opener-Policy: same-origin
 *   Cross-Origin-Embedder-Policy: require-corp
 *
 *   npx tsx examples/browser-generate/serve.ts [DIR] [--port N]
 */
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const TYPES: Record<string, string> = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.map': 'application/json' };
export const ISOLATION_HEADERS = { 'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp' };

/** A static server of `dir` on 127.0.0.1 (files under it only), cross-origin isolated. */
export async function serveExample(dir: string, port = 0): Promise<{ server: Server; url: string }> {
  const root = resolve(dir);
  const server = createServer((req, res) => {
    let path: string;
    try {
      path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    } catch {
      return void res.writeHead(400).end('bad path');
    }
    const file = resolve(root, `.${path.endsWith('/') ? `${path}index.html` : path}`);
    // nothing outside the folder
    if (!file.startsWith(root + sep)) return void res.writeHead(403).end();
    readFile(file).then(
      (body) => res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream', ...ISOLATION_HEADERS }).end(body),
      () => res.writeHead(404).end(),
    );
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/` };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const args = process.argv.slice(2);
  const at = args.indexOf('--port');
  const port = at >= 0 ? Number(args[at + 1]) : 8080;
  const dir = args.find((a, i) => !a.startsWith('--') && (at < 0 || i !== at + 1)) ?? fileURLToPath(new URL('./dist', import.meta.url));
  const { url } = await serveExample(dir, port);
  console.log(`serving ${dir} at ${url} (cross-origin isolated); Ctrl-C to stop`);
}
