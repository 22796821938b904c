/**
 * `loom inspect`'s local server: 127.0.0.1 only, a free port unless one is asked for. It serves the
 * page (bundled from the project's own sources and npm packages at start: no CDN), the model's
 * graph and weights, and the tokenizer. The page runs the model itself, on the backend chosen there.
 * Cross-origin isolation headers let the cpu backend's shared WebAssembly memory work in the page.
 * Requests must name this server in their Host header and be GETs: a page of another site cannot
 * read the model through a name it resolved to 127.0.0.1.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { graphToJson, LoomError, writeSafetensors } from '@loom/graph';
import { bundleInspectPage, INSPECT_HTML } from './bundle-page.ts';
import type { InspectModel } from './inspect-model.ts';

/** What the page reads from /api/model. */
export interface InspectInfo {
  readonly title: string;
  readonly kind: string;
  readonly family: InspectModel['family'];
  readonly graph: string;
  readonly randomWeights: boolean;
  readonly tokenizer?: string;
  readonly bos?: number;
  readonly eos?: number;
  readonly examplePrompt: string;
  /** Backends the page's bundle could not include, with the reason ('webgl': gpu.js is not installed). */
  readonly unavailable: Readonly<Record<string, string>>;
}

export interface InspectServer {
  readonly url: string;
  /** The page's backends left out of its bundle, with the reason (see InspectInfo). */
  readonly unavailable: InspectInfo['unavailable'];
  close(): Promise<void>;
}

const ISOLATION = { 'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp' };

function send(res: ServerResponse, status: number, type: string, body: string | Uint8Array): void {
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store', ...ISOLATION }).end(body);
}

/** `ids=1,2,3` as numbers, or a LoomError naming the bad entry. */
function parseIds(text: string | null): number[] {
  if (!text) return [];
  return text.split(',').map((part, i) => {
    const id = Number(part.trim());
    if (!Number.isInteger(id) || id < 0) throw new LoomError('inspect', `ids: entry ${i + 1} ('${part}') is not a token id`);
    return id;
  });
}

export async function startInspectServer(model: InspectModel, options: { port?: number } = {}): Promise<InspectServer> {
  const bundle = await bundleInspectPage();
  const info: InspectInfo = {
    title: model.title,
    kind: model.kind,
    family: model.family,
    graph: graphToJson(model.graph),
    randomWeights: model.randomWeights,
    ...(model.tokenizer ? { tokenizer: model.tokenizer.name } : {}),
    ...(model.bos !== undefined ? { bos: model.bos } : {}),
    ...(model.eos !== undefined ? { eos: model.eos } : {}),
    examplePrompt: model.examplePrompt,
    unavailable: Object.fromEntries(bundle.missingBackends.map((b) => [b, `${b}: its optional peer is not installed (npm install gpu.js), so the page was bundled without it`])),
  };
  const infoJson = JSON.stringify(info);
  const weights = writeSafetensors(model.weights);
  let hosts: ReadonlySet<string> = new Set();
  const handle = (req: IncomingMessage, res: ServerResponse) => {
    // another site's page that got its name resolved to 127.0.0.1 (DNS rebinding) sends its own Host
    if (!hosts.has(req.headers.host ?? '')) return send(res, 403, 'text/plain', `this server answers requests for ${[...hosts][0]} only`);
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'text/plain', `${req.method}: this server only serves GET`);
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    try {
      if (url.pathname === '/' || url.pathname === '/index.html') return send(res, 200, 'text/html; charset=utf-8', INSPECT_HTML);
      if (url.pathname === '/inspect.js') return send(res, 200, 'text/javascript; charset=utf-8', bundle.code);
      if (url.pathname === '/api/model') return send(res, 200, 'application/json', infoJson);
      if (url.pathname === '/api/weights') return send(res, 200, 'application/octet-stream', weights);
      if (url.pathname === '/api/tokenize' || url.pathname === '/api/decode') {
        if (!model.tokenizer) return send(res, 404, 'application/json', JSON.stringify({ error: 'this model has no tokenizer here: give token ids' }));
        if (url.pathname === '/api/tokenize') {
          const ids = model.tokenizer.encode(url.searchParams.get('text') ?? '');
          return send(res, 200, 'application/json', JSON.stringify({ ids, pieces: ids.map((id) => model.tokenizer!.decode([id])) }));
        }
        return send(res, 200, 'application/json', JSON.stringify({ text: model.tokenizer.decode(parseIds(url.searchParams.get('ids'))) }));
      }
      send(res, 404, 'text/plain', `no such page: ${url.pathname}`);
    } catch (e) {
      send(res, 400, 'application/json', JSON.stringify({ error: (e as Error).message }));
    }
  };
  const server = createServer(handle);
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) => reject(new LoomError('inspect', e.code === 'EADDRINUSE' ? `port ${options.port} is in use: choose another with --port, or leave it out for a free one` : e.message)));
    server.listen(options.port ?? 0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;
  hosts = new Set([`127.0.0.1:${port}`, `localhost:${port}`]);
  return {
    url: `http://127.0.0.1:${port}/`,
    unavailable: info.unavailable,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}
