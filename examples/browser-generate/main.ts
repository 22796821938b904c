/**
 * The page: reads a checkpoint from disk, loads it in a Loom Worker on the chosen backend and weight
 * store, and streams the generated text. A requestAnimationFrame heartbeat measures how long the
 * main thread was ever kept from drawing during a generation (it is free: the model is in the Worker).
 */
import { RemoteCausalLm, RemoteTokenizer, WorkerRuntime } from '@loom/models/worker';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const status = $('status');
const output = $('output');
const heartbeat = $('heartbeat');

const runtime = new WorkerRuntime(new Worker(new URL('./loom-worker.js', import.meta.url), { type: 'module', name: 'loom' }));
let loaded: { key: string; lm: RemoteCausalLm } | undefined;
let stopping = false;

/** The files and settings that make a model: loading again only when one of them changed. */
function modelKey(): string {
  const file = (id: string) => {
    const f = $<HTMLInputElement>(id).files?.[0];
    return f ? `${f.name}:${f.size}:${f.lastModified}` : '';
  };
  return [file('weights'), file('config'), $<HTMLSelectElement>('backend').value, $<HTMLSelectElement>('store').value, $<HTMLInputElement>('threads').value].join('|');
}

async function model(): Promise<RemoteCausalLm> {
  const key = modelKey();
  if (loaded?.key === key) return loaded.lm;
  const weights = $<HTMLInputElement>('weights').files?.[0];
  const config = $<HTMLInputElement>('config').files?.[0];
  if (!weights || !config) throw new Error('pick the weights (.safetensors) and the config.json first');
  await loaded?.lm.dispose();
  loaded = undefined;
  status.textContent = `loading ${weights.name} (${(weights.size / 2 ** 20).toFixed(1)} MiB)`;
  const backend = $<HTMLSelectElement>('backend').value as 'cpu' | 'webgpu' | 'webgl';
  const lm = await RemoteCausalLm.load(runtime, {
    config: JSON.parse(await config.text()),
    weights: await weights.arrayBuffer(),
    backend,
    options: { weightStore: $<HTMLSelectElement>('store').value as 'f32' | 'bf16' | 'q8' | 'q4', cpu: { threads: Number($<HTMLInputElement>('threads').value) } },
  });
  loaded = { key, lm };
  return lm;
}

let loadedTokenizer: { key: string; tokenizer: RemoteTokenizer } | undefined;

/** The tokenizer.json picked, loaded in the Worker (it is checked there, and the page stays small); again only when another file is picked. */
async function tokenizer(): Promise<RemoteTokenizer | undefined> {
  const file = $<HTMLInputElement>('tokenizer').files?.[0];
  const key = file ? `${file.name}:${file.size}:${file.lastModified}` : '';
  if (loadedTokenizer?.key === key) return loadedTokenizer.tokenizer;
  await loadedTokenizer?.tokenizer.dispose();
  loadedTokenizer = undefined;
  if (!file) return undefined;
  loadedTokenizer = { key, tokenizer: await RemoteTokenizer.load(runtime, await file.text(), file.name) };
  return loadedTokenizer.tokenizer;
}

/** The prompt as ids: through the tokenizer, or comma-separated ids without one. */
async function promptIds(text: string, tok: RemoteTokenizer | undefined): Promise<number[]> {
  if (tok) return tok.encode(text);
  return text.split(',').map((part, i) => {
    const id = Number(part.trim());
    if (!Number.isInteger(id) || id < 0) throw new Error(`without a tokenizer.json the prompt is token ids: entry ${i + 1} ('${part}') is not one`);
    return id;
  });
}

/** The longest gap between animation frames while `work` runs, in ms. */
async function withHeartbeat<T>(work: () => Promise<T>): Promise<{ result: T; maxGapMs: number }> {
  let last = performance.now();
  let maxGapMs = 0;
  let running = true;
  const frame = (now: number) => {
    maxGapMs = Math.max(maxGapMs, now - last);
    last = now;
    if (running) requestAnimationFrame(frame);
  };
  requestAnimationFrame(frame);
  try {
    return { result: await work(), maxGapMs };
  } finally {
    running = false;
  }
}

async function generateText(): Promise<void> {
  const generate = $<HTMLButtonElement>('generate');
  const stop = $<HTMLButtonElement>('stop');
  generate.disabled = true;
  output.textContent = '';
  output.className = '';
  try {
    const tok = await tokenizer();
    const lm = await model();
    const prompt = await promptIds($<HTMLInputElement>('prompt').value, tok);
    const ids: number[] = [];
    stopping = false;
    stop.disabled = false;
    status.textContent = `generating on ${$<HTMLSelectElement>('backend').value} in a Worker`;
    const started = performance.now();
    const { maxGapMs } = await withHeartbeat(async () => {
      const options = { maxNewTokens: Number($<HTMLInputElement>('tokens').value), ...($<HTMLInputElement>('to-the-end').checked ? { stopAt: null } : {}) };
      for await (const token of lm.generate(prompt, options)) {
        ids.push(token);
        output.textContent = tok ? await tok.decode(ids) : ids.join(', ');
        output.dataset['ids'] = ids.join(',');
        if (stopping) break;
      }
    });
    const seconds = (performance.now() - started) / 1000;
    status.textContent = `${ids.length} tokens in ${seconds.toFixed(2)} s (${(ids.length / seconds).toFixed(1)} tokens/s)${stopping ? ', stopped' : ''}`;
    heartbeat.textContent = `the page's longest wait between frames while generating: ${maxGapMs.toFixed(1)} ms`;
    heartbeat.dataset['maxGapMs'] = String(maxGapMs);
    status.dataset['done'] = 'true';
  } catch (e) {
    output.className = 'error';
    status.textContent = `error: ${(e as Error).name}: ${(e as Error).message}`;
    status.dataset['done'] = 'error';
  } finally {
    generate.disabled = false;
    stop.disabled = true;
  }
}

$('generate').addEventListener('click', () => {
  delete status.dataset['done'];
  void generateText();
});
$('stop').addEventListener('click', () => (stopping = true));
