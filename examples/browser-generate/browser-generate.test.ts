/**
 * examples/browser-generate in headless Chromium, driven as a user drives it: the checkpoint picked
 * from disk, a backend and weight store chosen, text streamed from the Worker. The tokens equal
 * Node's `generate` on the same checkpoint, and the page's main thread never misses more than 50 ms
 * of animation frames while GPT-2 tiny generates 64 tokens.
 */
import { execSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generate } from '@loom/models';
import { loadCausalLm } from '@loom/models/node';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { browserMissing } from '../../packages/backends/test/browser-session.ts';
import { backendRequired } from '../../packages/backends/test/require-backend.ts';
import { codeBlocks, readmeSection } from '../readme.ts';
import { buildExample } from './build.ts';
import { serveExample } from './serve.ts';

const FIXTURES = fileURLToPath(new URL('../../packages/models/test/fixtures/', import.meta.url));
const CHROMIUM = process.env['LOOM_CHROMIUM'] ?? '/usr/bin/chromium';
const missing = browserMissing('webgl');
const GPT2 = { weights: join(FIXTURES, 'gpt2-tiny.safetensors'), config: join(FIXTURES, 'gpt2-tiny.config.json') };
const LLAMA = { weights: join(FIXTURES, 'llama-tiny-dev.safetensors'), config: join(FIXTURES, 'llama-tiny-dev.config.json') };
const PROMPT = [464, 2068, 7586, 21831];

describe.skipIf(Boolean(missing))('examples/browser-generate in Chromium', { timeout: 180_000 }, () => {
  let browser: Browser;
  let close: () => Promise<void>;
  let url: string;
  const dir = mkdtempSync(join(tmpdir(), 'loom-browser-generate-'));
  beforeAll(async () => {
    const served = await serveExample(await buildExample(join(dir, 'site'), { 'readme-usage': fileURLToPath(new URL('./readme-usage.ts', import.meta.url)) }));
    url = served.url;
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--enable-unsafe-webgpu'] });
    close = async () => {
      await browser.close();
      await new Promise((resolve) => served.server.close(resolve));
    };
  }, 120_000);
  afterAll(async () => {
    await close?.();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Fills the form, presses generate and waits; returns the ids shown, the status and the heartbeat. */
  async function generateOnPage(page: Page, form: { weights: string; config: string; tokenizer?: string; backend?: string; store?: string; threads?: number; prompt: string; tokens: number; toTheEnd?: boolean }) {
    await page.setInputFiles('#weights', form.weights);
    await page.setInputFiles('#config', form.config);
    if (form.tokenizer) await page.setInputFiles('#tokenizer', form.tokenizer);
    await page.selectOption('#backend', form.backend ?? 'cpu');
    await page.selectOption('#store', form.store ?? 'f32');
    await page.fill('#threads', String(form.threads ?? 1));
    await page.fill('#prompt', form.prompt);
    await page.fill('#tokens', String(form.tokens));
    await page.setChecked('#to-the-end', form.toTheEnd ?? false);
    await page.click('#generate');
    await page.waitForSelector('#status[data-done]', { timeout: 120_000 });
    const status = (await page.textContent('#status'))!;
    expect(await page.getAttribute('#status', 'data-done'), status).toBe('true');
    return {
      ids: ((await page.getAttribute('#output', 'data-ids')) ?? '').split(',').filter((t) => t !== '').map(Number),
      text: (await page.textContent('#output'))!,
      status,
      maxGapMs: Number(await page.getAttribute('#heartbeat', 'data-max-gap-ms')),
    };
  }

  async function nodeTokens(checkpoint: { weights: string; config: string }, prompt: number[], maxNewTokens: number, stopAt?: null): Promise<number[]> {
    const lm = await loadCausalLm(checkpoint.weights, checkpoint.config, 'cpu', { cpu: { threads: 1 } });
    const [row] = await generate(lm, [prompt], { maxNewTokens, ...(stopAt === null ? { stopAt } : {}) });
    return row!.slice(prompt.length);
  }

  // timed: on a 2-core machine running other test files beside it, one retry (a page that blocks fails both)
  it('GPT-2 tiny in the Worker: 64 tokens equal to Node\'s, the page never kept from a frame for more than 50 ms', { retry: 1 }, async () => {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(url);
    const want = await nodeTokens(GPT2, PROMPT, 64, null);
    const shown = await generateOnPage(page, { ...GPT2, prompt: PROMPT.join(', '), tokens: 64, toTheEnd: true });
    console.log(`browser-generate, gpt2-tiny, cpu in a Worker: ${shown.status}; longest frame gap ${shown.maxGapMs.toFixed(1)} ms`);
    expect(shown.ids).toEqual(want);
    expect(shown.maxGapMs).toBeGreaterThan(0);
    expect(shown.maxGapMs).toBeLessThanOrEqual(50);
    // the cpu's threads as Workers nested in the Worker (the page is cross-origin isolated): the same tokens
    const threaded = await generateOnPage(page, { ...GPT2, prompt: PROMPT.join(', '), tokens: 16, threads: 2 });
    expect(threaded.ids).toEqual(want.slice(0, threaded.ids.length));
    expect(errors).toEqual([]);
    await page.close();
  });

  it('stop cancels the generation in the Worker (a cpu run never yields, the task yields between tokens): the next one starts at once', { retry: 1 }, async () => {
    const page = await browser.newPage();
    await page.goto(url);
    const full = await generateOnPage(page, { ...GPT2, prompt: PROMPT.join(', '), tokens: 120, toTheEnd: true });
    const fullMs = 1000 * Number(/in ([\d.]+) s/.exec(full.status)![1]);
    expect(full.ids.length).toBe(120);
    await page.click('#generate');
    await page.waitForFunction(() => (document.getElementById('output')?.dataset['ids'] ?? '').split(',').length >= 3);
    await page.click('#stop');
    const stopped = Date.now();
    await page.waitForSelector('#status[data-done]');
    expect(await page.textContent('#status')).toMatch(/, stopped$/);
    // the next generation waits for nothing the Worker is still doing
    await page.fill('#tokens', '1');
    await page.click('#generate');
    await page.waitForSelector('#status[data-done]');
    const afterStop = Date.now() - stopped;
    console.log(`browser-generate: 120 tokens took ${fullMs.toFixed(0)} ms; stop and a 1-token generation ${afterStop} ms`);
    expect(afterStop).toBeLessThan(fullMs / 2);
    await page.close();
  });

  it('the static server answers a malformed path with 400 and nothing outside its folder', async () => {
    const relative = await serveExample('./examples/browser-generate');
    try {
      expect((await fetch(`${relative.url}index.html`)).status).toBe(200);
      expect((await fetch(`${relative.url}%`)).status).toBe(400);
      expect((await fetch(`${relative.url}..%2f..%2fpackage.json`)).status).toBe(403);
    } finally {
      await new Promise((resolve) => relative.server.close(resolve));
    }
  });

  it('a Llama-style checkpoint with a tokenizer.json: the prompt as text, the decoded text streamed; webgpu and webgl in the Worker too', async () => {
    // a word-level tokenizer over the fixture's 256 ids: token k is "t<k>"
    const vocab = Object.fromEntries(Array.from({ length: 256 }, (_, k) => [`t${k}`, k]));
    const tokenizer = join(dir, 'tokenizer.json');
    writeFileSync(tokenizer, JSON.stringify({ version: '1.0', truncation: null, padding: null, added_tokens: [], normalizer: null, pre_tokenizer: { type: 'Whitespace' }, post_processor: null, decoder: { type: 'WordPiece', prefix: '##', cleanup: true }, model: { type: 'WordLevel', vocab, unk_token: 't0' } }));
    const prompt = [5, 17, 3, 99, 42];
    const want = await nodeTokens(LLAMA, prompt, 12);
    const page = await browser.newPage();
    await page.goto(url);
    const shown = await generateOnPage(page, { ...LLAMA, tokenizer, prompt: prompt.map((id) => `t${id}`).join(' '), tokens: 12 });
    expect(shown.ids).toEqual(want);
    expect(shown.text).toBe(want.map((id) => `t${id}`).join(' '));
    const hasGpu = await page.evaluate(() => 'gpu' in navigator);
    if (backendRequired('webgpu')) expect(hasGpu, 'navigator.gpu in the page (LOOM_REQUIRE_BACKENDS names webgpu)').toBe(true);
    else if (!hasGpu) console.warn('browser-generate: this Chromium has no navigator.gpu; the webgpu run in the Worker is skipped');
    if (hasGpu) {
      const gpu = await generateOnPage(page, { ...LLAMA, tokenizer, backend: 'webgpu', prompt: prompt.map((id) => `t${id}`).join(' '), tokens: 12 });
      expect(gpu.ids).toEqual(want);
    }
    // webgl in the Worker: gpu.js on an OffscreenCanvas
    const gl = await generateOnPage(page, { ...LLAMA, tokenizer, backend: 'webgl', prompt: prompt.map((id) => `t${id}`).join(' '), tokens: 12 });
    expect(gl.ids).toEqual(want);
    // a prompt the tokenizer cannot read is an error on the page, naming what was wrong
    await page.setChecked('#to-the-end', false);
    await page.fill('#prompt', '');
    await page.click('#generate');
    await page.waitForSelector('#status[data-done=error]');
    // the Worker's error keeps its class's name through the minified bundle
    expect(await page.textContent('#status')).toMatch(/^error: ModelInputError: prompt 1 is empty/);
    await page.close();
  });

  it("README's In the browser section: its Worker script is loom-worker.ts, its usage readme-usage.ts, which runs as written", async () => {
    const section = readmeSection('In the browser');
    const [worker, usage] = codeBlocks(section, 'ts');
    expect(worker).toBe(readFileSync(new URL('./loom-worker.ts', import.meta.url), 'utf8'));
    const file = readFileSync(new URL('./readme-usage.ts', import.meta.url), 'utf8').split('\n');
    const body = file.slice(file.findIndex((l) => l.startsWith('export async function')) + 1, file.lastIndexOf('  return ids;')).map((l) => l.slice(2));
    const importLine = file.find((l) => l.startsWith('import '))!;
    expect(usage).toBe([importLine, '', ...body].join('\n') + '\n');
    expect(codeBlocks(section, 'sh')[0]).toMatch(/^npx tsx examples\/browser-generate\/build\.ts .*\nnpx tsx examples\/browser-generate\/serve\.ts --port 8080/);
    // run it: the llama fixture with a word-level tokenizer, the files as a page gets them from an <input>
    const vocab = Object.fromEntries(Array.from({ length: 256 }, (_, k) => [`t${k}`, k]));
    const tokenizer = JSON.stringify({ version: '1.0', truncation: null, padding: null, added_tokens: [], normalizer: null, pre_tokenizer: { type: 'Whitespace' }, post_processor: null, decoder: { type: 'WordPiece', prefix: '##', cleanup: true }, model: { type: 'WordLevel', vocab, unk_token: 't0' } });
    const page = await browser.newPage();
    await page.goto(url);
    // a string, so that vitest leaves its import() alone
    await page.evaluate("import('/readme-usage.js').then((m) => { window.readmeUsage = m.readmeUsage; })");
    const ids = await page.evaluate(async ([tok, config, weights]) => {
      const { readmeUsage } = window as unknown as { readmeUsage(t: File, c: File, w: File, o: HTMLElement): Promise<number[]> };
      return readmeUsage(new File([tok], 'tokenizer.json'), new File([config], 'config.json'), new File([Uint8Array.from(weights)], 'model.safetensors'), document.createElement('pre'));
    }, [tokenizer, readFileSync(LLAMA.config, 'utf8'), Array.from(readFileSync(LLAMA.weights))] as const);
    // 'Hello' is no word of this vocabulary: unk_token t0 stands for it; q8 weights, so ids only checked for range and count
    expect(ids.length).toBeGreaterThan(0);
    expect(ids.length).toBeLessThanOrEqual(32);
    expect(ids.every((id) => Number.isInteger(id) && id >= 0 && id < 256)).toBe(true);
    await page.close();
  });
});

describe("README's In the browser commands, run as written", () => {
  it('build.ts writes the page, serve.ts serves it on port 8080 with the isolation headers', async () => {
    const root = fileURLToPath(new URL('../../', import.meta.url));
    const [build, serve] = codeBlocks(readmeSection('In the browser'), 'sh')[0]!.trim().split('\n').map((line) => line.replace(/\s+#.*$/, ''));
    expect(build).toBe('npx tsx examples/browser-generate/build.ts');
    execSync(build!, { cwd: root, stdio: 'pipe' });
    for (const file of ['index.html', 'main.js', 'loom-worker.js']) expect(existsSync(join(root, 'examples/browser-generate/dist', file)), file).toBe(true);
    // its own process group: npx, tsx and node all stop with it
    const child = spawn('bash', ['-c', `exec ${serve}`], { cwd: root, detached: true });
    const exited = new Promise((resolve) => child.on('exit', resolve));
    try {
      const url = await new Promise<string>((resolve, reject) => {
        let out = '';
        child.stdout.on('data', (d: Buffer) => {
          out += d.toString();
          const m = /at (http:\/\/127\.0\.0\.1:8080\/)/.exec(out);
          if (m) resolve(m[1]!);
        });
        child.on('exit', (code) => reject(new Error(`serve.ts exited ${code}: ${out}`)));
        setTimeout(() => reject(new Error(`serve.ts printed no URL: ${out}`)), 30_000);
      });
      const page = await fetch(url);
      expect(page.status).toBe(200);
      expect(page.headers.get('cross-origin-opener-policy')).toBe('same-origin');
      expect(page.headers.get('cross-origin-embedder-policy')).toBe('require-corp');
      expect(await page.text()).toContain('src="./main.js"');
      expect((await fetch(`${url}loom-worker.js`)).status).toBe(200);
    } finally {
      process.kill(-child.pid!, 'SIGTERM');
      await exited;
    }
  }, 120_000);
});
