/**
 * `loom inspect` in headless Chromium (playwright-core): each view on gpt2-tiny and the reverse
 * model, with assertions on what the page shows (node counts through the passes, the plan's kernels
 * and buffers, attention heatmaps against the float64 reference interpreter, the next-token list,
 * greedy decoding to the end token) and a screenshot of each view in test-results/inspect/.
 */
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { backendCompileOptions, referenceBackend } from '@loom/backends';
import { compile, withIntermediates, type IntermediateSpec } from '@loom/compiler';
import { walkthroughSpec } from '../src/inspect/page/walkthrough-spec.ts';
import { expandOps, getOp, graphToJson, isOpName, type Graph, type GraphNode, type NDArray } from '@loom/graph';
import { layerBlocks } from '../src/inspect/page/graph-blocks.ts';
import { chromium, type Browser, type Page } from 'playwright-core';
import axe from 'axe-core';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { browserMissing } from '../../backends/test/browser-session.ts';
import { backendRequired } from '../../backends/test/require-backend.ts';
import { loadInspectModel, type InspectModel } from '../src/inspect/inspect-model.ts';
import { parseReverseSpec } from '../src/transformer/reverse-spec.ts';
import { buildTransformerEncoder } from '../src/transformer/model.ts';
import { startInspectServer } from '../src/inspect/inspect-server.ts';
import { bufferLives, liveBytes } from '../src/inspect/page/plan-view.ts';
import { topK } from '../src/inspect/page/model-view.ts';
import { DECODE_STEPS } from '../src/inspect/page/learn-view.ts';
import { expectUserError, loom } from './cli-helpers.ts';
import { FIXTURES } from './helpers.ts';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const WEIGHTS = join(ROOT, 'packages/models/weights');
const SHOTS = process.env['LOOM_SCREENSHOTS'] ?? join(ROOT, 'test-results/inspect');
const CHROMIUM = process.env['LOOM_CHROMIUM'] ?? '/usr/bin/chromium';
const missing = browserMissing('webgl');

const GPT2 = { weights: join(FIXTURES, 'gpt2-tiny.safetensors'), config: join(FIXTURES, 'gpt2-tiny.config.json') };
const REVERSE = { weights: join(WEIGHTS, 'reverse-transformer.safetensors'), config: join(WEIGHTS, 'reverse.json') };

let browser: Browser | undefined;
beforeAll(async () => {
  if (missing) return;
  mkdirSync(SHOTS, { recursive: true });
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--enable-unsafe-webgpu', '--disable-gpu-sandbox'] });
});
afterAll(async () => browser?.close());

/** Serves the model, opens the page until it is ready, runs `body` on it, and closes both. */
async function inPage(model: InspectModel, body: (page: Page, errors: string[]) => Promise<void>, route = ''): Promise<void> {
  const server = await startInspectServer(model);
  const page = await browser!.newPage({ viewport: { width: 1400, height: 1000 } });
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  try {
    await page.goto(server.url + route);
    await page.waitForFunction(() => document.getElementById('status')?.textContent === 'ready', undefined, { timeout: 60_000 });
    await body(page, errors);
  } finally {
    await page.close();
    await server.close();
  }
}

async function waitReady(page: Page): Promise<void> {
  await page.waitForFunction(() => ['ready', 'error'].includes(document.getElementById('status')?.textContent ?? ''), undefined, { timeout: 60_000 });
  expect(await page.textContent('#status'), (await page.textContent('[data-testid=model-message]')) ?? '').toBe('ready');
}

const heatmapValues = async (page: Page, testId: string): Promise<number[][]> => JSON.parse((await page.getAttribute(`[data-testid="${testId}"]`, 'data-values'))!) as number[][];

/** Head `h` of an attention output [1, H, Tq, Tk] as rows. */
function head(t: NDArray, h: number): number[][] {
  const [tq, tk] = t.shape.slice(-2) as [number, number];
  return Array.from({ length: tq }, (_, q) => Array.from(t.data.subarray((h * tq + q) * tk, (h * tq + q + 1) * tk)));
}

function maxDiff(a: number[][], b: number[][]): number {
  expect(a.length).toBe(b.length);
  return Math.max(...a.flatMap((row, i) => row.map((v, j) => Math.abs(v - b[i]![j]!))));
}

async function reference(model: InspectModel, feeds: Record<string, NDArray>): Promise<Record<string, NDArray>> {
  const spec = withIntermediates(model.graph, { attentionWeights: true }).intermediates.length > 0 ? { attentionWeights: true } : {};
  return (await referenceBackend.prepare(model.graph, model.weights, { intermediates: spec })).run(feeds);
}

const compositeCount = (graph: Graph, where: (n: GraphNode) => boolean = () => true) => graph.nodes.filter((n) => isOpName(n.op) && getOp(n.op).category === 'composite' && where(n)).length;

describe.skipIf(Boolean(missing))('loom inspect in a browser', () => {
  it('gpt2-tiny: graph through the passes, attention and next tokens against the reference, the plan with a profiled run', async () => {
    const model = loadInspectModel(GPT2);
    await inPage(model, async (page, errors) => {
      // graph view: the source graph, each layer one box (h.0, h.1), composites outside the layers drawn
      const svg = '[data-testid=graph-svg]';
      expect(Number(await page.getAttribute(svg, 'data-nodes'))).toBe(model.graph.nodes.length);
      const layers = layerBlocks(model.graph);
      expect(await page.locator('g.node.block').evaluateAll((boxes) => boxes.map((b) => b.getAttribute('data-layer')))).toEqual(['h.0', 'h.1']);
      expect((await page.locator('g.node.block[data-layer="h.0"] text').allTextContents()).join('\n')).toMatch(/^layer h\.0\n\d+ ops: layer_norm, linear, slice, attention, add, ffn\n12 params; click to open$/);
      expect(await page.locator('g.node.composite').count()).toBe(compositeCount(model.graph, (n) => layers[n.id] === undefined));
      // a layer opens on a click: its composites drawn, in a cluster that folds it back
      await page.click('g.node.block[data-layer="h.0"]');
      expect(await page.locator('g.node.composite').count()).toBe(compositeCount(model.graph, (n) => layers[n.id] !== 'h.1'));
      expect(await page.locator('g.cluster.block[data-cluster="h.0"]').count()).toBe(1);
      const attention = model.graph.nodes.find((n) => n.op === 'attention')!;
      await page.click(`g.node[data-id="${attention.id}"]`);
      await page.locator('g.cluster:not(.block)').scrollIntoViewIfNeeded();
      const expanded = expandOps(model.graph, (def, node) => def.category === 'composite' && node.id === attention.id);
      expect(Number(await page.getAttribute(svg, 'data-nodes'))).toBe(expanded.nodes.length);
      expect(await page.locator('g.cluster:not(.block)').count()).toBe(1);
      await page.screenshot({ path: join(SHOTS, 'graph-source.png'), fullPage: false });
      // the pass slider: after fuse-attention the two fused attentions are new, each naming what it absorbed
      const trace: string[] = ['source'];
      const compiled = compile(model.graph, { ...backendCompileOptions('cpu'), onPass: (p) => trace.push(p.name) });
      const stage = trace.indexOf('fuse-attention');
      await page.locator('[data-testid=pass-slider]').fill(String(stage));
      expect(await page.textContent('[data-testid=pass-name]')).toMatch(/fuse-attention: \d+ nodes \(2 new/);
      // h.0 stays open; h.1, folded, is marked as holding new nodes until opened
      expect(await page.locator('g.node.block.added[data-layer="h.1"]').count()).toBe(1);
      await page.click('[data-testid=zoom-fit]');
      await page.click('g.node.block[data-layer="h.1"]');
      const fused = page.locator('g.node.added[data-op=fused_attention]');
      expect(await fused.count()).toBe(2);
      expect(await fused.first().textContent()).toMatch(/absorbed: matmul, mul, add, softmax, matmul/);
      await fused.first().scrollIntoViewIfNeeded();
      await page.screenshot({ path: join(SHOTS, 'graph-fuse-attention.png') });
      await page.check('[data-testid=show-before]');
      expect(await page.locator('g.node.absorbed').count()).toBeGreaterThanOrEqual(10);
      await page.uncheck('[data-testid=show-before]');
      await page.locator('[data-testid=pass-slider]').fill(String(trace.length - 1));
      expect(Number(await page.getAttribute(svg, 'data-nodes'))).toBe(compiled.graph.nodes.length);

      // model view: a prompt, its attention (the causal zero triangle), the next-token list
      await page.click('button[data-tab=model]');
      await page.fill('[data-testid=prompt]', 'The quick brown fox');
      await page.click('[data-testid=run]');
      await waitReady(page);
      const ids = model.tokenizer!.encode('The quick brown fox');
      expect(await page.locator('[data-testid=tokens-tokens] span').count()).toBe(ids.length);
      // the model ran in the page's Worker on every core (the page is cross-origin isolated)
      const cores = await page.evaluate(() => navigator.hardwareConcurrency);
      expect(await page.evaluate(() => crossOriginIsolated)).toBe(true);
      expect(await page.textContent('[data-testid=model-message]')).toBe(`ran on cpu (${cores} thread${cores === 1 ? '' : 's'}) in a Worker`);
      const feeds = { input_ids: { dtype: 'i32' as const, shape: [1, ids.length], data: Int32Array.from(ids) }, attention_mask: { dtype: 'i32' as const, shape: [1, ids.length], data: Int32Array.from(ids.map(() => 1)) } };
      const want = await reference(model, feeds);
      for (const [layer, h] of [[0, 0], [1, 3]] as const) {
        const shown = await heatmapValues(page, `heatmap-attention.${layer}-head-${h}`);
        expect(maxDiff(shown, head(want[`attention.${layer}`]!, h))).toBeLessThan(1e-5);
        shown.forEach((row, q) => row.forEach((v, k) => k > q && expect(v).toBe(0)));
      }
      expect(await page.textContent('[data-attention="attention.1"] h4')).toMatch(/^attention\.1: self-attention in h\.1\.attn\.c_attn, queries x keys \(seq x seq\)/);
      // one layer and head up close: tokens on both axes, the value under the pointer, a colour scale, BertViz's head view
      const pieces = await page.locator('[data-testid=tokens-tokens] span').evaluateAll((spans) => spans.map((s) => s.firstChild!.textContent!.trimEnd()));
      await page.selectOption('[data-testid=attention-layer]', 'attention.1');
      await page.selectOption('[data-testid=attention-head]', '3');
      const matrix = page.locator('[data-testid=attention-matrix]');
      expect(await matrix.getAttribute('data-layer')).toBe('attention.1');
      expect(await page.locator('[data-testid=attention-matrix] text[data-axis=query]').allTextContents()).toEqual(pieces.map((p) => p.replace(/ /g, '\u2423')));
      expect(await page.locator('[data-testid=attention-matrix] text[data-axis=key]').count()).toBe(ids.length);
      const cells = page.locator('[data-testid=attention-matrix] rect[data-q]');
      expect(await cells.count()).toBe(ids.length * ids.length);
      expect(Number(await cells.first().getAttribute('width'))).toBeGreaterThanOrEqual(30); // readable: 40 px cells up to 12 tokens
      const weights = await cells.evaluateAll((rects) => rects.map((r) => [Number(r.getAttribute('data-q')), Number(r.getAttribute('data-k')), Number(r.getAttribute('data-weight'))]));
      const want3 = head(want['attention.1']!, 3);
      for (const [q, k, w] of weights) expect(Math.abs(w! - want3[q!]![k!]!)).toBeLessThan(1e-5);
      await page.hover('[data-testid=attention-matrix] rect[data-q="2"][data-k="1"]');
      expect(await page.textContent('[data-testid=attention-readout]')).toBe(`query 2 ${JSON.stringify(pieces[2]!.replace(/ /g, '\u2423'))} → key 1 ${JSON.stringify(pieces[1]!.replace(/ /g, '\u2423'))}: ${want3[2]![1]!.toFixed(4)}`);
      expect(await page.locator('[data-testid=attention-scale] text').allTextContents()).toEqual(['1.0', '0.5', '0.0']);
      const heads = want['attention.1']!.shape[1]!;
      const lines = page.locator('[data-testid=attention-head-view] line');
      expect(await lines.count()).toBe(heads * ids.length * ids.length);
      const line = page.locator('[data-testid=attention-head-view] line[data-head="3"][data-q="2"][data-k="1"]');
      expect(Math.abs(Number(await line.getAttribute('stroke-opacity')) - want3[2]![1]!)).toBeLessThan(1e-5);
      await page.uncheck('[data-testid=head-toggle-0]');
      expect(await lines.count()).toBe((heads - 1) * ids.length * ids.length);
      await page.hover('[data-testid=attention-head-view] text[data-side=query][data-index="2"]');
      expect(await page.locator('[data-testid=attention-head-view] line:not(.faded)').count()).toBe((heads - 1) * ids.length);
      await page.locator('[data-testid=attention-focus]').screenshot({ path: join(SHOTS, 'attention-focus.png') });

      expect(await page.locator('[data-testid^=heatmap-embedding]').count()).toBe(2);
      const ranked = topK(want['logits']!, 10);
      const rows = page.locator('[data-testid=top-k] tbody tr');
      expect(await rows.count()).toBe(10);
      expect(Number(await rows.first().getAttribute('data-id'))).toBe(ranked[0]!.id);
      for (let i = 0; i < 10; i++) {
        const id = Number(await rows.nth(i).getAttribute('data-id'));
        const p = Number(await rows.nth(i).locator('td.p').textContent());
        expect(Math.abs(p - (ranked.find((r) => r.id === id)?.p ?? -1))).toBeLessThan(1e-4);
      }
      await page.screenshot({ path: join(SHOTS, 'model-gpt2-tiny.png'), fullPage: true });
      await page.click('[data-testid=step]');
      await waitReady(page);
      expect(await page.locator('[data-testid=tokens-tokens] span').count()).toBe(ids.length + 1);
      expect(Number(await page.getAttribute('[data-testid=tokens-tokens] span:last-child', 'data-id'))).toBe(ranked[0]!.id);
      // plan view: the kernels of the cpu plan at this prompt's length, the memory timeline, a profiled run
      await page.click('button[data-tab=plan]');
      await page.click('[data-testid=profile]');
      await waitReady(page);
      const bindings = new Map([['batch', 1], ['seq', ids.length + 1]]);
      const plan = compile(model.graph, { ...backendCompileOptions('cpu'), bindings: Object.fromEntries(bindings) });
      expect(await page.locator('[data-testid=kernels] tbody tr').count()).toBe(plan.steps.length);
      expect(Number(await page.getAttribute('[data-testid=memory-timeline]', 'data-buffers'))).toBe(bufferLives(plan, bindings).length);
      expect(await page.textContent('[data-testid=memory-timeline]')).toMatch(/peak .* live at step \d+/);
      expect(Number(await page.getAttribute('[data-testid=memory-timeline]', 'data-peak-bytes'))).toBe(Math.max(...liveBytes(plan, bindings).planned));
      expect(await page.getAttribute('[data-testid=memory-timeline]', 'data-scale')).toBe('log');
      await page.uncheck('[data-testid=log-scale]');
      expect(await page.getAttribute('[data-testid=memory-timeline]', 'data-scale')).toBe('linear');
      await page.check('[data-testid=log-scale]');
      const times = await page.locator('[data-testid=kernels] td.ms').allTextContents();
      expect(times.every((t) => Number.isFinite(Number(t)) && t !== '')).toBe(true);
      expect(await page.textContent('[data-testid=kernels] th.ms')).toMatch(/ms \(cpu, total [0-9.]+; the second run\)/);
      await page.screenshot({ path: join(SHOTS, 'plan-gpt2-tiny.png') });
      await page.click('button[data-tab=model]');
      // greedy decoding to the end token: GPT-2 tiny may not reach it; then the page stops after 48 and says so
      await page.click('[data-testid=to-end]');
      await waitReady(page);
      const decoded = (await page.locator('[data-testid=tokens-tokens] span').count()) - ids.length;
      const said = (await page.textContent('[data-testid=model-message]'))!;
      if (/stopped after 48 tokens without the end token/.test(said)) expect(decoded).toBe(1 + 48);
      else expect(said).toMatch(new RegExp(`end token 50256 reached after ${decoded} tokens`));
      // the last token is the reference's most likely one after those before it
      const all = (await page.locator('[data-testid=tokens-tokens] span').evaluateAll((spans) => spans.map((e) => Number(e.getAttribute('data-id')))));
      const before = all.slice(0, -1);
      const i32 = (v: number[]): NDArray => ({ dtype: 'i32', shape: [1, v.length], data: Int32Array.from(v) });
      const last = await reference(model, { input_ids: i32(before), attention_mask: i32(before.map(() => 1)) });
      expect(all[all.length - 1]).toBe(topK(last['logits']!, 1)[0]!.id);
      expect(errors).toEqual([]);
    });
  }, 180_000);

  it('the reverse model: greedy decoding to the end token, cross-attention heatmaps, on cpu, webgl and webgpu', async () => {
    const model = loadInspectModel(REVERSE);
    await inPage(model, async (page, errors) => {
      await page.click('button[data-tab=model]');
      await page.fill('[data-testid=prompt]', 'hello');
      await page.click('[data-testid=run]');
      await waitReady(page);
      await page.click('[data-testid=to-end]');
      await waitReady(page);
      expect(await page.textContent('[data-testid=decoded-text]')).toBe('decoded text: "olleh"');
      expect(await page.textContent('[data-testid=model-message]')).toMatch(/end token 2 reached after 6 tokens/);
      const cross = withIntermediates(model.graph, { attentionWeights: true }).intermediates.filter((i) => i.cross);
      expect(cross.length).toBe(2);
      const src = model.tokenizer!.encode('hello');
      const tgt = [model.bos!, ...model.tokenizer!.encode('olleh')];
      const want = await reference(model, { src_ids: { dtype: 'i32', shape: [1, src.length], data: Int32Array.from(src) }, tgt_ids: { dtype: 'i32', shape: [1, tgt.length], data: Int32Array.from(tgt) } });
      const name = cross[0]!.name;
      expect(await page.textContent(`[data-attention="${name}"] h4`)).toMatch(/cross-attention in decoder\.layers\.0\.cross_attn\.q, queries x keys \(tgt_seq x src_seq\)/);
      // the last run: the decoder read [bos, o, l, l, e, h] (the end token is chosen from it)
      const shown = await heatmapValues(page, `heatmap-${name}-head-0`);
      expect(shown.length).toBe(tgt.length);
      expect(shown[0]!.length).toBe(src.length);
      expect(maxDiff(shown, head(want[name]!, 0))).toBeLessThan(1e-5);
      // the Loom-trained model reads the source backwards: each decoded position looks hardest at the mirrored character
      for (let q = 0; q < src.length; q++) expect(shown[q]!.indexOf(Math.max(...shown[q]!)), `row ${q}`).toBe(src.length - 1 - q);
      await page.screenshot({ path: join(SHOTS, 'model-reverse.png'), fullPage: true });
      // up close, cross-attention reads the decoded tokens (queries) against the source's (keys)
      await page.selectOption('[data-testid=attention-layer]', name);
      expect(await page.locator('[data-testid=attention-matrix] text[data-axis=query]').allTextContents()).toEqual(['<start>', 'o', 'l', 'l', 'e', 'h']);
      expect(await page.locator('[data-testid=attention-matrix] text[data-axis=key]').allTextContents()).toEqual(['h', 'e', 'l', 'l', 'o']);
      const self = withIntermediates(model.graph, { attentionWeights: true }).intermediates.find((i) => !i.cross && i.block?.startsWith('encoder'))!;
      await page.selectOption('[data-testid=attention-layer]', self.name);
      expect(await page.locator('[data-testid=attention-matrix] text[data-axis=query]').allTextContents()).toEqual(['h', 'e', 'l', 'l', 'o']);
      await page.selectOption('[data-testid=attention-layer]', name);
      await page.locator('[data-testid=attention-focus]').screenshot({ path: join(SHOTS, 'attention-reverse-cross.png') });
      // the same run on the GPU backends of the page
      const backends = await page.locator('#backend option').allTextContents();
      expect(backends).toContain('webgl');
      // the page offers webgpu where the browser has navigator.gpu; CI requires it to run here
      if (backendRequired('webgpu')) expect(backends).toContain('webgpu');
      else if (!backends.includes('webgpu')) console.warn('inspect page: this Chromium has no navigator.gpu; the webgpu run is skipped');
      for (const backend of backends.filter((b) => b !== 'cpu')) {
        await page.selectOption('#backend', backend);
        await page.click('[data-testid=run]');
        await waitReady(page);
        expect(await page.textContent('[data-testid=model-message]')).toBe(`ran on ${backend} in a Worker`);
        const first = await heatmapValues(page, `heatmap-${name}-head-0`);
        const want1 = await reference(model, { src_ids: { dtype: 'i32', shape: [1, src.length], data: Int32Array.from(src) }, tgt_ids: { dtype: 'i32', shape: [1, 1], data: Int32Array.from([model.bos!]) } });
        expect(maxDiff(first, head(want1[name]!, 0)), backend).toBeLessThan(1e-4);
        // the plan view shows this backend's plan (as its prepare compiles it), profiled on it
        await page.click('button[data-tab=plan]');
        await page.click('[data-testid=profile]');
        await waitReady(page);
        const bindings = { batch: 1, src_seq: src.length, tgt_seq: 1 };
        const plan = compile(model.graph, { ...backendCompileOptions(backend as 'webgpu' | 'webgl'), bindings });
        expect(await page.locator('[data-testid=kernels] tbody tr').count(), backend).toBe(plan.steps.length);
        expect(await page.textContent('[data-testid=kernels] th.ms')).toMatch(new RegExp(`ms \\(${backend}, total \\d`));
        const times = (await page.locator('[data-testid=kernels] td.ms').allTextContents()).filter((t) => t !== '').map(Number);
        expect(times.length, `${backend}: steps with a time`).toBeGreaterThan(plan.steps.length / 2);
        expect(times.every((t) => Number.isFinite(t) && t >= 0)).toBe(true);
        await page.click('button[data-tab=model]');
      }
      expect(errors).toEqual([]);
    });
  }, 180_000);
});

describe.skipIf(Boolean(missing))('loom inspect in a browser, a graph JSON of the user', () => {
  it("an encoder as graph JSON (random weights): the prompt's ids as its input, attention and the output against the reference", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'loom-inspect-'));
    onTestFinished(() => rmSync(dir, { recursive: true }));
    const file = join(dir, 'encoder.graph.json');
    writeFileSync(file, graphToJson(buildTransformerEncoder(parseReverseSpec(readFileSync(REVERSE.config, 'utf8'), REVERSE.config).config)));
    const model = loadInspectModel({ model: file });
    expect(model.family).toBe('graph');
    await inPage(model, async (page, errors) => {
      await page.click('button[data-tab=model]');
      await page.fill('[data-testid=prompt]', '5, 17, 3, 9');
      await page.click('[data-testid=run]');
      await waitReady(page);
      expect(await page.textContent('[data-testid=model-message]')).toMatch(/ran on cpu \(\d+ threads?\) in a Worker \(random weights\); inputs: src_ids i32\[1, 4\] \(the prompt's ids\)/);
      const want = await reference(model, { src_ids: { dtype: 'i32', shape: [1, 4], data: Int32Array.from([5, 17, 3, 9]) } });
      expect(maxDiff(await heatmapValues(page, 'heatmap-attention.1-head-2'), head(want['attention.1']!, 2))).toBeLessThan(1e-5);
      const memory = want['memory']!;
      const cols = memory.shape[2]!;
      const rows = Array.from({ length: 4 }, (_, r) => Array.from(memory.data.subarray(r * cols, (r + 1) * cols)));
      expect(maxDiff(await heatmapValues(page, 'heatmap-output-memory'), rows)).toBeLessThan(1e-4);
      expect(errors).toEqual([]);
    });
  }, 120_000);
});

describe.skipIf(Boolean(missing))('loom inspect in a browser: links', () => {
  it('links: #model/<layer>/<head> opens a run of the prompt on that layer and head; tabs and picks set the address', async () => {
    const model = loadInspectModel(GPT2);
    await inPage(model, async (page, errors) => {
      await page.waitForSelector('[data-testid=attention-matrix][data-layer="attention.1"][data-head="2"]', { timeout: 60_000 });
      expect(await page.getAttribute('button[data-tab=model]', 'aria-selected')).toBe('true');
      expect(await page.locator('#model-view').isVisible()).toBe(true);
      await page.selectOption('[data-testid=attention-head]', '3');
      expect(await page.evaluate(() => location.hash)).toBe('#model/attention.1/3');
      await page.selectOption('[data-testid=attention-layer]', 'attention.0');
      expect(await page.evaluate(() => location.hash)).toBe('#model/attention.0/0');
      await page.click('button[data-tab=plan]');
      expect(await page.evaluate(() => location.hash)).toBe('#plan');
      // following a link in the same page (hashchange) opens it too
      await page.evaluate(() => (location.hash = '#model/attention.1/1'));
      await page.waitForSelector('[data-testid=attention-matrix][data-layer="attention.1"][data-head="1"]');
      expect(await page.locator('#model-view').isVisible()).toBe(true);
      // a layer the model lacks is an error on the page that names the link
      await page.evaluate(() => (location.hash = '#model/attention.9/0'));
      await page.waitForSelector('[data-testid=load-error]');
      expect(await page.textContent('[data-testid=load-error]')).toBe("#model/attention.9/0: the model has no attention layer 'attention.9' with that head");
      expect(errors).toEqual([]);
    }, '#model/attention.1/2');
  });
});

/** The walkthrough's intermediates, as the page asks for them. */
const walkthroughIntermediates = (model: InspectModel): IntermediateSpec => walkthroughSpec(model.graph, model.family);

/** Walks every step of the walkthrough with the next button, checking each step's values (head 0) against the reference's. */
async function walkSteps(page: Page, want: Record<string, NDArray>): Promise<string[]> {
  const titles: string[] = [];
  const count = await page.locator('[data-testid=learn-steps] li').count();
  for (let i = 0; i < count; i++) {
    if (i > 0) await page.click('[data-testid=learn-next]');
    expect(await page.evaluate(() => location.hash)).toBe(`#learn/${i}`);
    titles.push((await page.textContent('[data-testid=learn-title]'))!);
    const output = (await page.getAttribute('[data-testid=learn-screen]', 'data-output'))!;
    if (output === '' || output === 'logits') continue;
    const shown = await heatmapValues(page, 'learn-values');
    const expected = matrices2(want[output]!)[0]!;
    // masked cells (-inf or -1e30) are drawn as the lowest other value: the same done to the reference's
    const unmasked = (v: number) => Number.isFinite(v) && v > -1e9;
    const low = Math.min(...expected.flat().filter(unmasked));
    expect(maxDiff(shown, expected.map((r) => r.map((v) => (unmasked(v) ? v : low)))), `${titles.at(-1)}`).toBeLessThan(1e-4);
  }
  return titles;
}

/** Greedy decoding by the reference interpreter: the most likely token after each run, until the end token or DECODE_STEPS tokens. */
async function greedyReference(model: InspectModel, feedsAfter: (more: number[]) => Record<string, NDArray>): Promise<number[]> {
  const prepared = await referenceBackend.prepare(model.graph, model.weights);
  const more: number[] = [];
  while (more.length < DECODE_STEPS && more.at(-1) !== model.eos) more.push(topK((await prepared.run(feedsAfter(more)))['logits']!, 1)[0]!.id);
  return more;
}

/** The tokens the walkthrough's last step decoded, once it has finished. */
async function decodedOnPage(page: Page): Promise<number[]> {
  await page.waitForSelector('[data-testid=learn-decoding][data-done=true]', { timeout: 60_000 });
  expect(await page.textContent('[data-testid=learn-decoded]')).not.toMatch(/failed/);
  return page.locator('[data-testid=learn-decoding] tbody tr').evaluateAll((rows) => rows.map((r) => Number(r.getAttribute('data-id'))));
}

/** The first matrix of [..., rows, cols] (head 0). */
function matrices2(t: NDArray): number[][][] {
  const [rows, cols] = t.shape.slice(-2) as [number, number];
  return [Array.from({ length: rows }, (_, r) => Array.from(t.data.subarray(r * cols, (r + 1) * cols)))];
}

describe.skipIf(Boolean(missing))('loom inspect in a browser: the walkthrough (#learn)', () => {
  it('gpt2-tiny: tokens, embedding, positions, q, k, v, scores, scaling, mask, softmax, weighted sum, next token, each against the reference', async () => {
    const model = loadInspectModel(GPT2);
    await inPage(model, async (page, errors) => {
      await page.waitForSelector('[data-testid=learn-title]', { timeout: 60_000 });
      expect(await page.textContent('[data-testid=learn-title]')).toBe('1. Tokens');
      const ids = model.tokenizer!.encode(model.examplePrompt);
      expect(await page.textContent('[data-testid=learn-tokens]')).toContain(`(${ids[0]})`);
      const feeds = { input_ids: { dtype: 'i32' as const, shape: [1, ids.length], data: Int32Array.from(ids) }, attention_mask: { dtype: 'i32' as const, shape: [1, ids.length], data: Int32Array.from(ids.map(() => 1)) } };
      const want = await (await referenceBackend.prepare(model.graph, model.weights, { intermediates: walkthroughIntermediates(model) })).run(feeds);
      const titles = await walkSteps(page, want);
      expect(titles.map((t) => t.replace(/^\d+\. /, ''))).toEqual(['Tokens', 'Token embedding', 'Positional encoding', 'Queries', 'Keys', 'Values', 'The score matrix, q kᵀ', 'Scaled by 1/√d_k', 'The mask', 'Softmax: the attention weights', 'The weighted sum of values',
        'Heads concatenated', 'The output projection', 'Residual add', 'Layer norm', 'The feed-forward network', 'Residual add, again', 'The final linear layer and softmax: the next token', 'Decoding until the end token']);
      // the last step decodes greedily on the page's model: the reference's tokens, one run each
      const i32 = (v: number[]): NDArray => ({ dtype: 'i32', shape: [1, v.length], data: Int32Array.from(v) });
      const expected = await greedyReference(model, (more) => ({ input_ids: i32([...ids, ...more]), attention_mask: i32([...ids, ...more].map(() => 1)) }));
      expect(await decodedOnPage(page)).toEqual(expected);
      await page.click('[data-testid=learn-prev]');
      expect(Number(await page.getAttribute('[data-testid=learn-next-tokens] tr:first-child', 'data-id'))).toBe(topK(want['logits']!, 1)[0]!.id);
      await page.evaluate(() => (location.hash = '#learn/9'));
      await page.waitForFunction(() => document.querySelector('[data-testid=learn-title]')?.textContent?.startsWith('10.'));
      await page.screenshot({ path: join(SHOTS, 'learn-gpt2-tiny.png') });
      // a colour scale from 0 to the largest weight under the softmax's map
      const weightsShown = (await heatmapValues(page, 'learn-values')).flat();
      expect(Number(await page.getAttribute('[data-testid=learn-values-scale]', 'data-min'))).toBe(0);
      expect(Number(await page.getAttribute('[data-testid=learn-values-scale]', 'data-max'))).toBeCloseTo(Math.max(...weightsShown), 6);
      expect(await page.locator('[data-testid=learn-values-scale] text').count()).toBe(3);
      // the tokens label the rows and columns; the value under the pointer is the canvas's tooltip
      const weights0 = head(want['attention.0']!, 0);
      await page.hover('[data-testid=learn-values]', { position: { x: 90 + 36 + 5, y: 56 + 2 * 36 + 5 } });
      expect(await page.getAttribute('[data-testid=learn-values]', 'title')).toBe(`row 2 "\u2423brown", column 1 "\u2423quick": ${weights0[2]![1]!.toPrecision(4)}`);
      await page.click('[data-testid=learn-next]');
      await page.click('[data-testid=learn-next]');
      expect(await accessibilityViolations(page), 'learn').toEqual([]);
      expect(await page.locator('[data-testid=learn-steps] a', { hasText: 'Token embedding' }).count()).toBe(1);
      // the keyboard moves between steps; a step links to its place in the graph
      await page.focus('[data-testid=learn-screen]');
      await page.keyboard.press('ArrowLeft');
      expect(await page.evaluate(() => location.hash)).toBe(`#learn/10`);
      // the link opens the graph on the node itself (the first attention, inside its layer h.0)
      const firstAttention = model.graph.nodes.find((n) => n.op === 'attention')!;
      expect(await page.textContent('[data-testid=learn-graph-link]')).toBe(`find it in the graph (attention %${firstAttention.id})`);
      await page.click('[data-testid=learn-graph-link]');
      expect(await page.getAttribute('button[data-tab=graph]', 'aria-selected')).toBe('true');
      expect(await page.textContent('[data-testid=graph-found]')).toBe(`1 of 1: attention %${firstAttention.id}`);
      expect(await page.locator(`[data-testid=graph-svg] g.node.current[data-id="${firstAttention.id}"]`).count()).toBe(1);
      expect(await accessibilityViolations(page.context().pages()[0]!)).toEqual([]);
      expect(errors).toEqual([]);
    }, '#learn/0');
  }, 120_000);

  it('llama-tiny-dev: rotary positions named where GPT-2 adds a position vector; grouped-query heads; each step against the reference', async () => {
    const model = loadInspectModel({ weights: join(FIXTURES, 'llama-tiny-dev.safetensors'), config: join(FIXTURES, 'llama-tiny-dev.config.json') });
    await inPage(model, async (page, errors) => {
      await page.waitForSelector('[data-testid=learn-title]', { timeout: 60_000 });
      const ids = model.examplePrompt.split(',').map((t) => Number(t.trim()));
      const feeds: Record<string, NDArray> = { input_ids: { dtype: 'i32', shape: [1, ids.length], data: Int32Array.from(ids) } };
      if (model.graph.nodes.some((n) => n.op === 'input' && n.attrs['name'] === 'attention_mask')) feeds['attention_mask'] = { dtype: 'i32', shape: [1, ids.length], data: Int32Array.from(ids.map(() => 1)) };
      const want = await (await referenceBackend.prepare(model.graph, model.weights, { intermediates: walkthroughIntermediates(model) })).run(feeds);
      const titles = (await walkSteps(page, want)).map((t) => t.replace(/^\d+\. /, ''));
      expect(titles).toContain('Positions: rotary (RoPE)');
      expect(titles).not.toContain('Positional encoding');
      expect(titles).toContain('Queries');
      expect(titles).toContain('Keys, shared by groups of query heads (grouped-query attention)');
      expect(await page.locator('[data-testid=learn-steps] li', { hasText: 'Keys, shared' }).count()).toBe(1);
      expect(titles).toContain('RMSNorm');
      expect(titles).toContain('The feed-forward network');
      expect(errors).toEqual([]);
    }, '#learn/0');
  }, 120_000);

  it('the reverse model: the encoder\'s self-attention, the decoder\'s masked self-attention and its cross-attention on the source', async () => {
    const model = loadInspectModel(REVERSE);
    await inPage(model, async (page, errors) => {
      await page.waitForSelector('[data-testid=learn-title]', { timeout: 60_000 });
      const src = model.tokenizer!.encode(model.examplePrompt);
      const want = await (await referenceBackend.prepare(model.graph, model.weights, { intermediates: walkthroughIntermediates(model) })).run({ src_ids: { dtype: 'i32', shape: [1, src.length], data: Int32Array.from(src) }, tgt_ids: { dtype: 'i32', shape: [1, 1], data: Int32Array.from([model.bos!]) } });
      const titles = await walkSteps(page, want);
      for (const part of ['Encoder: Token embedding', 'Encoder: Positional encoding', 'Decoder: Token embedding', 'Decoder: Positional encoding', 'Encoder self-attention: Queries', 'Decoder masked self-attention: The mask', 'Cross-attention (decoder to encoder): Softmax: the attention weights']) expect(titles.some((t) => t.endsWith(part)), part).toBe(true);
      // decoding to the end token: the reversed prompt, token by token as the reference decodes it
      const i32 = (v: number[]): NDArray => ({ dtype: 'i32', shape: [1, v.length], data: Int32Array.from(v) });
      const expected = await greedyReference(model, (more) => ({ src_ids: i32(src), tgt_ids: i32([model.bos!, ...more]) }));
      expect(await decodedOnPage(page)).toEqual(expected);
      expect(expected.at(-1)).toBe(model.eos);
      const reversed = [...model.examplePrompt].reverse().join('');
      expect(await page.textContent('[data-testid=learn-decoded]')).toBe(`the end token (${model.eos}) after ${expected.length} tokens: ${JSON.stringify(reversed)}`);
      await page.screenshot({ path: join(SHOTS, 'learn-reverse-decoding.png') });
      expect(errors).toEqual([]);
    }, '#learn/0');
  }, 120_000);
});

describe.skipIf(Boolean(missing))('loom inspect in a browser: the graph view as Netron draws graphs', () => {
  it('the encoder-decoder opens fitted to the window with its blocks in view; params listed inside their boxes; zoom, pan, overview and search', async () => {
    const model = loadInspectModel(REVERSE);
    await inPage(model, async (page, errors) => {
      const svg = page.locator('[data-testid=graph-svg]');
      const params = model.graph.nodes.filter((n) => n.op === 'param' || n.op === 'constant').length;
      expect(Number(await svg.getAttribute('data-nodes'))).toBe(model.graph.nodes.length);
      expect(Number(await svg.getAttribute('data-boxes'))).toBe(model.graph.nodes.length - params);
      expect(await page.locator('[data-testid=graph-svg] g.node[data-op=param]').count()).toBe(0);
      // a box lists the params it reads, with their types
      const embedding = model.graph.nodes.find((n) => n.inputs.some((i) => model.graph.nodes[i]!.op === 'param'))!;
      const param = model.graph.nodes[embedding.inputs.find((i) => model.graph.nodes[i]!.op === 'param')!]!;
      expect(await page.textContent(`[data-testid=graph-svg] g.node[data-id="${embedding.id}"]`)).toContain(`${String(param.attrs['name'])}: ${param.type.dtype}[${param.type.shape.join(', ')}]`);
      // fitted on open: the whole drawing inside the window, every box on screen
      const [width, height] = [Number(await svg.getAttribute('data-width')), Number(await svg.getAttribute('data-height'))];
      const viewBox = (await svg.getAttribute('viewBox'))!.split(' ').map(Number);
      expect(viewBox[2]! >= width - 1 || viewBox[3]! >= height - 1).toBe(true);
      const frame = (await page.locator('[data-testid=graph-frame]').boundingBox())!;
      for (const box of await page.locator('[data-testid=graph-svg] g.node rect').evaluateAll((rects) => rects.map((r) => r.getBoundingClientRect().toJSON() as DOMRect))) {
        expect(box.x).toBeGreaterThanOrEqual(frame.x - 1);
        expect(box.y + box.height).toBeLessThanOrEqual(frame.y + frame.height + 1);
      }
      await page.screenshot({ path: join(SHOTS, 'graph-reverse-open.png') });
      // zoom with the buttons and the wheel, pan by dragging
      const zoom = async () => Number((await page.textContent('[data-testid=zoom]'))!.replace('%', ''));
      const fitted = await zoom();
      // each layer is one box until opened, so the first view is readable
      expect(await page.locator('g.node.block').count()).toBe(new Set(layerBlocks(model.graph).filter((l) => l !== undefined)).size);
      expect(fitted).toBeGreaterThanOrEqual(50);
      await page.click('[data-testid=zoom-in]');
      expect(await zoom()).toBeGreaterThan(fitted);
      await page.mouse.move(frame.x + 20, frame.y + 20);
      await page.mouse.wheel(0, 300);
      expect(await zoom()).toBeLessThan(fitted * 1.25);
      const before = (await svg.getAttribute('viewBox'))!.split(' ').map(Number);
      await page.mouse.move(frame.x + 10, frame.y + frame.height - 10);
      await page.mouse.down();
      await page.mouse.move(frame.x + 110, frame.y + frame.height - 60, { steps: 4 });
      await page.mouse.up();
      const after = (await svg.getAttribute('viewBox'))!.split(' ').map(Number);
      expect(after[0]!).toBeLessThan(before[0]!);
      expect(after[1]!).toBeGreaterThan(before[1]!);
      // the overview frames the window; a click there moves it
      expect(await page.locator('[data-testid=overview-window]').count()).toBe(1);
      const overview = (await page.locator('[data-testid=graph-overview] svg').boundingBox())!;
      await page.mouse.click(overview.x + overview.width / 2, overview.y + overview.height - 4);
      expect((await svg.getAttribute('viewBox'))!.split(' ').map(Number)[1]!).toBeGreaterThan(after[1]!);
      // search by op or by a param's name: a folded layer is found by what it holds, and Enter opens it on the node
      const layers = [...new Set(layerBlocks(model.graph).filter((l) => l !== undefined))];
      await page.fill('[data-testid=graph-search]', 'add_norm');
      expect(await page.textContent('[data-testid=graph-found]')).toBe(`1 of ${layers.length}: layer ${layers[0]}`);
      await page.press('[data-testid=graph-search]', 'Enter');
      const first = model.graph.nodes.find((n) => n.op === 'add_norm')!;
      expect(await page.textContent('[data-testid=graph-found]')).toBe(`1 of ${layers.length - 1 + model.graph.nodes.filter((n) => n.op === 'add_norm' && layerBlocks(model.graph)[n.id] === layers[0]).length}: add_norm %${first.id}`);
      expect(await page.locator('[data-testid=graph-svg] g.node.current').count()).toBe(1);
      // a link to nodes of the source graph (the walkthrough's): the node, inside its layer, marked
      await page.click('[data-testid=zoom-fit]');
      const deep = model.graph.nodes.filter((n) => n.op === 'attention').at(-1)!;
      await page.evaluate((id) => (location.hash = `#graph/node:${id}`), deep.id);
      await page.waitForSelector(`[data-testid=graph-svg] g.node.current[data-id="${deep.id}"]`);
      expect(await page.textContent('[data-testid=graph-found]')).toBe(`1 of 1: attention %${deep.id}`);
      await page.fill('[data-testid=graph-search]', String(param.attrs['name']));
      expect(await page.textContent('[data-testid=graph-found]')).toMatch(/^1 of \d+: /);
      await page.fill('[data-testid=graph-search]', 'no such op');
      expect(await page.textContent('[data-testid=graph-found]')).toBe('no node matches');
      expect(errors).toEqual([]);
    });
  }, 120_000);
});

/** axe-core's serious and critical violations on the page as it is now (rule, impact, how many, the first element). */
async function accessibilityViolations(page: Page): Promise<string[]> {
  if (!(await page.evaluate(() => 'axe' in window))) await page.addScriptTag({ content: axe.source });
  const violations = await page.evaluate(async () => {
    const run = (window as unknown as { axe: { run(context: Document): Promise<{ violations: { id: string; impact: string; nodes: { target: unknown[] }[] }[] }> } }).axe.run;
    return (await run(document)).violations.map((v) => ({ id: v.id, impact: v.impact, count: v.nodes.length, first: JSON.stringify(v.nodes[0]?.target) }));
  });
  return violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => `${v.id} (${v.impact}, ${v.count}: ${v.first})`);
}

describe.skipIf(Boolean(missing))('loom inspect in a browser: keyboard and accessibility', () => {
  it('every view has no serious accessibility violations (axe-core); tabs, pickers and tokens work from the keyboard', async () => {
    const model = loadInspectModel(REVERSE);
    await inPage(model, async (page, errors) => {
      expect(await accessibilityViolations(page), 'graph').toEqual([]);
      // the tabs from the keyboard
      await page.focus('button[data-tab=plan]');
      await page.keyboard.press('Enter');
      expect(await page.getAttribute('button[data-tab=plan]', 'aria-selected')).toBe('true');
      expect(await accessibilityViolations(page), 'plan').toEqual([]);
      await page.keyboard.press('Tab');
      await page.focus('button[data-tab=model]');
      await page.keyboard.press('Enter');
      await page.focus('[data-testid=run]');
      await page.keyboard.press('Enter');
      await waitReady(page);
      expect(await accessibilityViolations(page), 'model').toEqual([]);
      // Tab reaches the pickers (native selects) and the head view's query tokens, whose focus keeps their lines
      const focusedAfterTabs = async (from: string, presses: number) => {
        await page.focus(from);
        for (let i = 0; i < presses; i++) await page.keyboard.press('Tab');
        return page.evaluate(() => (document.activeElement as HTMLElement | null)?.dataset['testid'] ?? document.activeElement?.getAttribute('data-side'));
      };
      expect(await focusedAfterTabs('[data-testid=attention-layer]', 1)).toBe('attention-head');
      expect(await focusedAfterTabs('[data-testid=head-toggle-3]', 1)).toBe('query');
      const shown = await page.locator('[data-testid=attention-head-view] line:not(.faded)').count();
      const heads = await page.locator('[data-testid=head-toggles] input:checked').count();
      expect(shown).toBe(heads * (await page.locator('[data-testid=attention-head-view] text[data-side=key]').count()));
      expect(errors).toEqual([]);
    });
  }, 120_000);
});

describe.skipIf(Boolean(missing))('loom inspect in a browser, the Llama family', () => {
  it('llama-tiny-dev (grouped-query attention, token ids): every head of every kv group against the reference', async () => {
    const model = loadInspectModel({ weights: join(FIXTURES, 'llama-tiny-dev.safetensors'), config: join(FIXTURES, 'llama-tiny-dev.config.json') });
    await inPage(model, async (page, errors) => {
      await page.click('button[data-tab=model]');
      await page.fill('[data-testid=prompt]', '5, 17, 3, 99, 42');
      await page.click('[data-testid=run]');
      await waitReady(page);
      const ids = [5, 17, 3, 99, 42];
      const feeds: Record<string, NDArray> = { input_ids: { dtype: 'i32', shape: [1, 5], data: Int32Array.from(ids) } };
      if (model.graph.nodes.some((n) => n.op === 'input' && n.attrs['name'] === 'attention_mask')) feeds['attention_mask'] = { dtype: 'i32', shape: [1, 5], data: Int32Array.from([1, 1, 1, 1, 1]) };
      const want = await reference(model, feeds);
      const heads = want['attention.1']!.shape.slice(1, -2).reduce((a, b) => a * b, 1);
      expect(await page.locator('[data-attention="attention.1"] canvas').count()).toBe(heads);
      for (let h = 0; h < heads; h++) expect(maxDiff(await heatmapValues(page, `heatmap-attention.1-head-${h}`), head(want['attention.1']!, h))).toBeLessThan(1e-5);
      expect(Number(await page.getAttribute('[data-testid=top-k] tbody tr:first-child', 'data-id'))).toBe(topK(want['logits']!, 1)[0]!.id);
      await page.screenshot({ path: join(SHOTS, 'model-llama-tiny.png'), fullPage: true });
      expect(errors).toEqual([]);
    });
  }, 120_000);
});

describe('loom inspect (the process)', () => {
  it('bad arguments are one-line user errors: the port, the model, a port in use', async () => {
    expectUserError(await loom('inspect', 'gpt2', '--port', '70000', '--no-open'), /--port must be an integer from 0 to 65535/);
    expectUserError(await loom('inspect', 'no-such-model', '--no-open'), /unknown model 'no-such-model'/);
    // a Hugging Face checkpoint given with the config as MODEL (Loom-named weights) instead of --config
    expectUserError(await loom('inspect', GPT2.config, '--weights', GPT2.weights, '--no-open'), /none of the graph's weights \('wte\.weight', 'wpe\.weight', \.\.\. \(28\)\) is in it \(it holds 'transformer\..*--config C --weights W/);
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    try {
      const port = String((taken.address() as AddressInfo).port);
      expectUserError(await loom('inspect', '--weights', REVERSE.weights, '--config', REVERSE.config, '--port', port, '--no-open'), new RegExp(`port ${port} is in use: choose another with --port`));
    } finally {
      taken.close();
    }
  }, 60_000);

  it('with no model, serves the shipped reversing model on 127.0.0.1 at a free port, prints the URL, and stops on SIGINT', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'packages/models/src/cli/main.ts'), 'inspect', '--no-open'], { cwd: ROOT });
    let stdout = '';
    const url = await new Promise<string>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => {
        stdout += d.toString();
        const m = /^loom inspect: transformer: .*weights\/reverse\.json at (http:\/\/127\.0\.0\.1:\d+\/) \(the walkthrough: \1#learn\)/.exec(stdout);
        if (m) resolve(m[1]!);
      });
      child.on('exit', (code) => reject(new Error(`exited ${code} before serving: ${stdout}`)));
      setTimeout(() => reject(new Error('no URL within 60 s')), 60_000);
    });
    const info = (await (await fetch(`${url}api/model`)).json()) as { kind: string; family: string; eos: number };
    expect(info).toMatchObject({ kind: 'transformer', family: 'seq2seq', eos: 2 });
    expect(await (await fetch(`${url}api/tokenize?text=hi`)).json()).toMatchObject({ ids: [expect.any(Number), expect.any(Number)] });
    // another Host (DNS rebinding) or another method is refused
    const { request } = await import('node:http');
    const status = (method: string, host: string) => new Promise<number>((resolve, reject) => {
      const r = request(new URL('api/weights', url), { method, headers: { host } }, (res) => { res.resume(); resolve(res.statusCode!); });
      r.on('error', reject);
      r.end();
    });
    const port = new URL(url).port;
    expect(await status('GET', `evil.example:${port}`)).toBe(403);
    expect(await status('POST', `127.0.0.1:${port}`)).toBe(405);
    expect(await status('GET', `localhost:${port}`)).toBe(200);
    const page = await fetch(url);
    expect(page.headers.get('cross-origin-opener-policy')).toBe('same-origin');
    expect(await page.text()).toMatch(/<script type="module" src=".\/inspect.js">/);
    const code = await new Promise<number | null>((resolve) => {
      child.on('exit', resolve);
      child.kill('SIGINT');
    });
    expect(code).toBe(0);
  }, 90_000);
});
