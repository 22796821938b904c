/**
 * `loom inspect`'s server against crafted requests (issue 19), over plain node http and raw sockets
 * (no browser): every one is answered with its status and the server keeps serving. And /api/weights
 * is streamed tensor by tensor (`streamSafetensors`), never built as one array.
 */
import { createServer, request } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { layoutSafetensors, writeSafetensors, type NDArray, type SafetensorsLayout } from '@loom/graph';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadInspectModel, type InspectModel } from '../src/inspect/inspect-model.ts';
import { REQUEST_LIMITS, startInspectServer, type InspectServer } from '../src/inspect/inspect-server.ts';
import { streamSafetensors } from '../src/inspect/stream-safetensors.ts';

const WEIGHTS = fileURLToPath(new URL('../weights', import.meta.url));
const REVERSE = { weights: join(WEIGHTS, 'reverse-transformer.safetensors'), config: join(WEIGHTS, 'reverse.json') };

interface Answer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: Buffer;
}

/** One request on a fresh connection, the path sent as given (not normalised by a URL parser). */
function send(port: number, path: string, options: { method?: string; host?: string; body?: string; headers?: Record<string, string> } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: options.method ?? 'GET', agent: false, headers: { host: options.host ?? `127.0.0.1:${port}`, ...options.headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

/** Bytes written on a raw socket, and the status line that comes back. */
function sendRaw(port: number, bytes: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.end(bytes));
    let text = '';
    socket.on('data', (d: Buffer) => (text += d.toString('latin1')));
    socket.on('close', () => resolve(text.split('\r\n')[0] ?? ''));
    socket.on('error', reject);
  });
}

const errorOf = (a: Answer): string => (JSON.parse(a.body.toString()) as { error: string }).error;

describe('loom inspect server: hostile requests', () => {
  let model: InspectModel;
  let server: InspectServer;
  let port: number;
  const logged: string[] = [];
  beforeAll(async () => {
    model = loadInspectModel(REVERSE);
    server = await startInspectServer(model, { log: (m) => logged.push(m) });
    port = Number(new URL(server.url).port);
  });
  afterAll(() => server?.close());

  it('the reverse model knows ids 0 to 29 (its logits and its 27 characters + PAD, BOS, EOS)', () => {
    expect(model.vocabSize).toBe(30);
  });

  it('answers a protocol-relative target, a bad %-escape and an absolute-form target without dying', async () => {
    expect((await send(port, '//a:99999/')).status).toBe(404);
    expect((await send(port, '/%')).status).toBe(400);
    expect((await send(port, '/api/model?x=%zz')).status).toBe(400);
    expect((await send(port, `http://127.0.0.1:${port}/api/model`)).status).toBe(400);
  });

  it('answers 413 to a URL over the bound, and Node answers 431 to one over its header limit', async () => {
    expect((await send(port, `/api/model?x=${'a'.repeat(REQUEST_LIMITS.targetBytes)}`)).status).toBe(413);
    expect((await send(port, `/api/model?x=${'a'.repeat(100_000)}`)).status).toBe(431);
  });

  it('answers 405 (with Allow) to other methods, 413 to a body', async () => {
    const post = await send(port, '/api/model', { method: 'POST' });
    expect(post.status).toBe(405);
    expect(post.headers['allow']).toBe('GET, HEAD');
    expect((await send(port, '/api/model', { method: 'PUT', body: 'x'.repeat(4096) })).status).toBe(405);
    expect((await send(port, '/api/model', { method: 'DELETE' })).status).toBe(405);
    // (a GET's body goes unframed unless its length is given)
    expect((await send(port, '/api/model', { body: 'hello', headers: { 'content-length': '5' } })).status).toBe(413);
    expect((await send(port, '/api/model', { body: 'hello', headers: { 'transfer-encoding': 'chunked' } })).status).toBe(413);
    expect((await send(port, '/api/model', { headers: { 'content-length': '0' } })).status).toBe(200);
  });

  it('answers HEAD with the headers and no body', async () => {
    const get = await send(port, '/api/model');
    const head = await send(port, '/api/model', { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.body.length).toBe(0);
    expect(head.headers['content-length']).toBe(String(get.body.length));
    const weights = await send(port, '/api/weights', { method: 'HEAD' });
    expect(weights.body.length).toBe(0);
    expect(Number(weights.headers['content-length'])).toBe(writeSafetensors(model.weights).length);
  });

  it('answers 404 to paths it does not serve, inherited property names included', async () => {
    for (const path of ['/nope', '/api', '/api/', '/__proto__', '/constructor', '/api/model/x']) {
      expect((await send(port, path)).status, path).toBe(404);
    }
  });

  it('answers 403 to another Host, or none', async () => {
    expect((await send(port, '/api/model', { host: `evil.example:${port}` })).status).toBe(403);
    expect((await send(port, '/api/model', { host: '127.0.0.1' })).status).toBe(403);
    expect(await sendRaw(port, 'GET /api/model HTTP/1.0\r\n\r\n')).toMatch(/^HTTP\/1\.1 403/);
    expect(await sendRaw(port, 'NOT A REQUEST\r\n\r\n')).toMatch(/^HTTP\/1\.1 400/);
  });

  it('/api/decode takes decimal ids inside the vocabulary only, and names the bad entry', async () => {
    const decode = (ids: string) => send(port, `/api/decode?ids=${ids}`);
    const cases: [string, RegExp][] = [
      ['1e3', /entry 1 \("1e3"\) is not a token id/],
      ['0x10', /entry 1 \("0x10"\) is not a token id/],
      ['1,,2', /entry 2 \(""\) is not a token id/],
      ['1,2,', /entry 3 \(""\) is not a token id/],
      ['%20', /entry 1 \(" "\) is not a token id/],
      ['+3', /entry 1 \(" 3"\) is not a token id/],
      ['-1', /entry 1 \("-1"\) is not a token id/],
      ['3.0', /entry 1 \("3.0"\) is not a token id/],
      ['3,30', /entry 2 \("30"\) is outside the model's vocabulary \(ids 0 to 29\)/],
      ['99999999999999999999999', /outside the model's vocabulary/],
    ];
    for (const [ids, message] of cases) {
      const answer = await decode(ids);
      expect(answer.status, ids).toBe(400);
      expect(errorOf(answer), ids).toMatch(message);
    }
    const many = await decode(Array.from({ length: REQUEST_LIMITS.decodeIds + 1 }, () => '3').join(','));
    expect(many.status).toBe(413);
    const good = await decode('10,7,14,14,17,2');
    expect(good.status).toBe(200);
    expect(JSON.parse(good.body.toString())).toEqual({ text: 'hello' });
  });

  it('/api/tokenize bounds its text, and answers a character the model lacks with 400', async () => {
    expect((await send(port, `/api/tokenize?text=${'a'.repeat(70_000)}`)).status).toBe(413);
    const long = await send(port, `/api/tokenize?text=${'a'.repeat(REQUEST_LIMITS.tokenizeChars + 1)}`);
    expect(long.status).toBe(413);
    expect(errorOf(long)).toMatch(/tokenize takes at most/);
    const unknown = await send(port, '/api/tokenize?text=Hi!');
    expect(unknown.status).toBe(400);
    expect(errorOf(unknown)).toMatch(/unknown character/);
    expect(JSON.parse((await send(port, '/api/tokenize?text=hi')).body.toString())).toEqual({ ids: [10, 11], pieces: ['h', 'i'] });
  });

  it('still serves the model after all of that, and logged no internal error', async () => {
    const answer = await send(port, '/api/model');
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body.toString())).toMatchObject({ kind: 'transformer', family: 'seq2seq' });
    expect(logged).toEqual([]);
  });

  it('serves /api/weights byte for byte as writeSafetensors of the weights', async () => {
    const answer = await send(port, '/api/weights');
    expect(answer.status).toBe(200);
    expect(answer.body.equals(Buffer.from(writeSafetensors(model.weights)))).toBe(true);
  });

  it('answers a handler bug with 500, logs it, and keeps serving', async () => {
    const broken: InspectModel = {
      ...model,
      tokenizer: { name: 'broken', encode: () => { throw new TypeError('a bug in the tokenizer'); }, decode: () => '' },
    };
    const log: string[] = [];
    const other = await startInspectServer(broken, { log: (m) => log.push(m) });
    try {
      const otherPort = Number(new URL(other.url).port);
      const answer = await send(otherPort, '/api/tokenize?text=hi');
      expect(answer.status).toBe(500);
      expect(errorOf(answer)).not.toMatch(/a bug in the tokenizer/);
      expect(log.join('')).toMatch(/internal error on GET \/api\/tokenize\?text=hi: TypeError: a bug in the tokenizer/);
      expect((await send(otherPort, '/api/model')).status).toBe(200);
    } finally {
      await other.close();
    }
  });
});

/** A layout of `count` parts of `bytes` bytes each, recording when each part's bytes are made. */
function recordingLayout(count: number, bytes: number, events: string[]): SafetensorsLayout {
  const tensors = Array.from({ length: count }, (_, i) => ({
    name: `t${i}`,
    byteLength: bytes,
    bytes: () => {
      events.push(`make ${i}`);
      return new Uint8Array(bytes).fill(i);
    },
  }));
  return { size: 16 + count * bytes, header: new Uint8Array(16), tensors };
}

describe('streamSafetensors', () => {
  it('makes each tensor only once the one before has been taken (backpressure)', async () => {
    const events: string[] = [];
    const taken: number[] = [];
    const out = new Writable({
      highWaterMark: 1024,
      write(chunk: Buffer, _encoding, done) {
        setImmediate(() => {
          taken.push(chunk.length);
          if (chunk.length === 4096) events.push(`taken ${chunk[0]}`);
          done();
        });
      },
    });
    await streamSafetensors(recordingLayout(4, 4096, events), out);
    expect(events).toEqual(['make 0', 'taken 0', 'make 1', 'taken 1', 'make 2', 'taken 2', 'make 3', 'taken 3']);
    expect(taken).toEqual([16, 4096, 4096, 4096, 4096]);
  });

  it('stops, without error, when the client goes away', async () => {
    const events: string[] = [];
    // takes nothing: every write waits for a drain that never comes
    const out = new Writable({ highWaterMark: 1024, write() {} });
    const streaming = streamSafetensors(recordingLayout(4, 4096, events), out);
    await new Promise((resolve) => setImmediate(resolve));
    out.destroy();
    await streaming;
    expect(events).toEqual(['make 0']);
  });

  it('stops making tensors when an http client hangs up mid-download', async () => {
    const events: string[] = [];
    const layout = recordingLayout(200, 1 << 20, events);
    let streaming: Promise<void> | undefined;
    const server = createServer((_req, res) => {
      res.writeHead(200, { 'content-length': layout.size });
      streaming = streamSafetensors(layout, res);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      await new Promise<void>((resolve) => {
        const req = request({ host: '127.0.0.1', port: (server.address() as AddressInfo).port, path: '/', agent: false }, (res) => {
          let received = 0;
          res.on('data', (c: Buffer) => {
            received += c.length;
            if (received > 3 << 20) req.destroy();
          });
          res.on('close', resolve);
        });
        req.on('error', () => {});
        req.end();
      });
      await streaming;
      expect(events.length).toBeLessThan(20);
    } finally {
      server.close();
    }
  });

  it('sends a file larger than one typed array may hold (4 GiB in Node 20), one tensor at a time', async () => {
    const shared = new Float32Array(25_000_000); // 100 MB, viewed by every tensor: no copies are made
    const weights = new Map<string, NDArray>(Array.from({ length: 44 }, (_, i) => [`w${String(i).padStart(2, '0')}`, { dtype: 'f32', shape: [shared.length], data: shared }]));
    const layout = layoutSafetensors(weights);
    expect(layout.size).toBeGreaterThan(2 ** 32);
    let total = 0;
    let largest = 0;
    const out = new Writable({
      write(chunk: Buffer, _encoding, done) {
        total += chunk.length;
        largest = Math.max(largest, chunk.length);
        done();
      },
    });
    await streamSafetensors(layout, out);
    expect(total).toBe(layout.size);
    expect(largest).toBe(shared.byteLength);
  });

  it('is what writeSafetensors writes, f64 storage and i32 included', async () => {
    const weights = new Map<string, NDArray>([
      ['b', { dtype: 'f32', shape: [3], data: new Float64Array([0.1, -2, 3.5]) }],
      ['a', { dtype: 'i32', shape: [2, 2], data: new Int32Array([1, -2, 3, 4]) }],
      ['c', { dtype: 'f32', shape: [0], data: new Float32Array(0) }],
    ]);
    const chunks: Buffer[] = [];
    const out = new Writable({
      write(chunk: Buffer, _encoding, done) {
        chunks.push(Buffer.from(chunk));
        done();
      },
    });
    await streamSafetensors(layoutSafetensors(weights), out);
    expect(Buffer.concat(chunks).equals(Buffer.from(writeSafetensors(weights)))).toBe(true);
  });
});
