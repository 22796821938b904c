/**
 * `loom inspect`'s local server: 127.0.0.1 only, a free port unless one is asked for. It serves the
 * page (bundled from the project's own sources and npm packages at start: no CDN), the model's
 * graph and weights, and the tokenizer. The page runs the model itself, on the backend chosen there.
 * Cross-origin isolation headers let the cpu backend's shared WebAssembly memory work in the page.
 * Requests must name this server in their Host header and be GETs: a page of another site cannot
 * read the model through a name it resolved to 127.0.0.1. No request can stop the server: each is
 * answered inside one error boundary (400, 403, 404, 405, 413 for the request's faults; 500, logged
 * to stderr, for the server's), and what a request may ask for is bounded (REQUEST_LIMITS).
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { graphToJson, layoutSafetensors, LoomError, type SafetensorsLayout } from '@loom/graph';
import { bundleInspectPage, INSPECT_HTML } from './bundle-page.ts';
import type { InspectModel } from './inspect-model.ts';
import { streamSafetensors } from './stream-safetensors.ts';

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

/**
 * Bounds on what a request may ask for; the page's own requests are far inside them. GPT-2's BPE
 * takes time quadratic in a word's length (8 Ki characters of one CJK "word": about 0.4 s here; 64 Ki,
 * extrapolated: 25 s), and tokenizing runs on the event loop, so the text is bounded, not the time.
 */
export const REQUEST_LIMITS = {
  /** The request target (path and query string), in bytes. */
  targetBytes: 64 * 1024,
  /** /api/tokenize's text, in UTF-16 code units. */
  tokenizeChars: 8 * 1024,
  /** /api/decode's ids. */
  decodeIds: 4096,
} as const;

/** A request this server refuses: the status and the reason sent back as `{ "error": ... }`. */
class RequestError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** What a route answers: a whole body, or the weights streamed. */
type Reply = { readonly type: string; readonly body: string | Uint8Array } | { readonly weights: SafetensorsLayout };

function headers(type: string, length: number): Record<string, string | number> {
  return { 'content-type': type, 'content-length': length, 'cache-control': 'no-store', ...ISOLATION };
}

/** Sends a reply; to a HEAD request, the same headers and no body. */
async function send(req: IncomingMessage, res: ServerResponse, status: number, reply: Reply): Promise<void> {
  if ('weights' in reply) {
    res.writeHead(status, headers('application/octet-stream', reply.weights.size));
    if (req.method === 'HEAD') return void res.end();
    return streamSafetensors(reply.weights, res);
  }
  const body = typeof reply.body === 'string' ? Buffer.from(reply.body) : reply.body;
  res.writeHead(status, headers(reply.type, body.length)).end(req.method === 'HEAD' ? undefined : body);
}

/** Whether the request carries a body (a `content-length: 0` is no body). */
function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

const json = (value: unknown): Reply => ({ type: 'application/json', body: JSON.stringify(value) });

/**
 * The request's URL, after the checks every route shares: a GET or HEAD, no body, a target in origin
 * form ('/...') of bounded length with well-formed %-escapes.
 */
function checkedUrl(req: IncomingMessage): URL {
  if (req.method !== 'GET' && req.method !== 'HEAD') throw new RequestError(405, `${req.method}: this server only serves GET and HEAD`);
  if (hasBody(req)) throw new RequestError(413, 'this server takes no request body');
  const target = req.url ?? '';
  if (target.length > REQUEST_LIMITS.targetBytes) throw new RequestError(413, `the URL is ${target.length} bytes; this server takes at most ${REQUEST_LIMITS.targetBytes}`);
  // prefixed, not resolved against a base: '//host/...' would otherwise name another host
  if (!target.startsWith('/')) throw new RequestError(400, 'the request target must be a path (/...)');
  let url: URL;
  try {
    url = new URL(`http://127.0.0.1${target}`);
    decodeURIComponent(url.pathname);
    decodeURIComponent(url.search);
  } catch {
    throw new RequestError(400, 'the URL is malformed (a bad %-escape?)');
  }
  return url;
}

/** `ids=1,2,3`: decimal ids inside the vocabulary, at most REQUEST_LIMITS.decodeIds; anything else names the entry. */
function parseIds(text: string | null, vocabSize: number | undefined): number[] {
  if (!text) return [];
  const parts = text.split(',');
  if (parts.length > REQUEST_LIMITS.decodeIds) throw new RequestError(413, `ids: ${parts.length} entries; at most ${REQUEST_LIMITS.decodeIds} at a time`);
  return parts.map((part, i) => {
    const entry = `ids: entry ${i + 1} (${JSON.stringify(part.length > 20 ? `${part.slice(0, 20)}...` : part)})`;
    if (!/^\d+$/.test(part)) throw new RequestError(400, `${entry} is not a token id (a decimal integer)`);
    const id = Number(part);
    if (vocabSize !== undefined && id >= vocabSize) throw new RequestError(400, `${entry} is outside the model's vocabulary (ids 0 to ${vocabSize - 1})`);
    return id;
  });
}

/** /api/tokenize's text, bounded (see REQUEST_LIMITS). */
function tokenizeText(url: URL): string {
  const text = url.searchParams.get('text') ?? '';
  if (text.length > REQUEST_LIMITS.tokenizeChars) throw new RequestError(413, `text: ${text.length} characters; tokenize takes at most ${REQUEST_LIMITS.tokenizeChars}`);
  return text;
}

/** How an error is answered: the user's mistakes with their status, anything else as a bug (500, logged). */
function errorReply(e: unknown, what: string, log: (message: string) => void): { status: number; reply: Reply } {
  if (e instanceof RequestError) return { status: e.status, reply: json({ error: e.message }) };
  // a LoomError is the input's fault (a character the model's vocabulary lacks), not the server's
  if (e instanceof LoomError) return { status: 400, reply: json({ error: e.message }) };
  log(`loom inspect: internal error on ${what}: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  return { status: 500, reply: json({ error: 'internal error: the server logged it' }) };
}

export interface InspectServerOptions {
  /** The port on 127.0.0.1; default a free one. */
  port?: number;
  /** Where internal errors are logged; default stderr. */
  log?: (message: string) => void;
}

export async function startInspectServer(model: InspectModel, options: InspectServerOptions = {}): Promise<InspectServer> {
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
  const log = options.log ?? ((message: string) => void process.stderr.write(message));
  const tokenizer = (): NonNullable<InspectModel['tokenizer']> => {
    if (!model.tokenizer) throw new RequestError(404, 'this model has no tokenizer here: give token ids');
    return model.tokenizer;
  };
  const infoJson = JSON.stringify(info);
  // laid out once (the header only); each request streams the tensors' bytes
  const weights = layoutSafetensors(model.weights);
  const routes: Readonly<Record<string, (url: URL) => Reply>> = {
    '/': () => ({ type: 'text/html; charset=utf-8', body: INSPECT_HTML }),
    '/index.html': () => ({ type: 'text/html; charset=utf-8', body: INSPECT_HTML }),
    '/inspect.js': () => ({ type: 'text/javascript; charset=utf-8', body: bundle.code }),
    '/inspect-worker.js': () => ({ type: 'text/javascript; charset=utf-8', body: bundle.worker }),
    '/api/model': () => ({ type: 'application/json', body: infoJson }),
    '/api/weights': () => ({ weights }),
    '/api/tokenize': (url) => {
      const { encode, decode } = tokenizer();
      const ids = encode(tokenizeText(url));
      return json({ ids, pieces: ids.map((id) => decode([id])) });
    },
    '/api/decode': (url) => json({ text: tokenizer().decode(parseIds(url.searchParams.get('ids'), model.vocabSize)) }),
  };
  let hosts: ReadonlySet<string> = new Set();

  const serve = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    // another site's page that got its name resolved to 127.0.0.1 (DNS rebinding) sends its own Host
    if (!hosts.has(req.headers.host ?? '')) throw new RequestError(403, `this server answers requests for ${[...hosts][0]} only`);
    const url = checkedUrl(req);
    const route = Object.hasOwn(routes, url.pathname) ? routes[url.pathname] : undefined;
    if (!route) throw new RequestError(404, `no such page: ${url.pathname}`);
    await send(req, res, 200, route(url));
  };
  // the one error boundary: whatever a request does, the server answers it (or drops it) and stays up
  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    serve(req, res).catch(async (e: unknown) => {
      const { status, reply } = errorReply(e, `${req.method} ${String(req.url).slice(0, 200)}`, log);
      if (res.headersSent) return void res.destroy(); // mid-stream: the client sees a cut response
      // a body we did not read would be read to its end to keep the connection: close it instead
      if (hasBody(req)) res.setHeader('connection', 'close');
      if (status === 405) res.setHeader('allow', 'GET, HEAD');
      await send(req, res, status, reply);
    }).catch(() => res.destroy());
  };
  // room for a request target of REQUEST_LIMITS.targetBytes and the headers, so that checkedUrl answers
  // it (413); beyond this Node answers 431 itself
  const server = createServer({ maxHeaderSize: REQUEST_LIMITS.targetBytes + 16 * 1024 }, handle);
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
