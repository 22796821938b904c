/**
 * The model view for a prompt: the tokens with their ids, the embedding heatmaps (token embedding,
 * and embedding + positions), each layer's and head's attention weights (causal masks show as the
 * zero triangle; cross-attention is queries x source), the top-k next tokens after the final
 * softmax, and greedy decoding one token at a time until the end token. Every value shown is an
 * output of the compiled model, asked for through the `intermediates` prepare option.
 */
import type { Intermediate } from '@loom/compiler';
import type { NDArray } from '@loom/graph';
import { AttentionFocus, type AttentionLayer } from './attention-view.ts';
import { graphFeeds } from './graph-feeds.ts';
import type { WalkthroughInput } from './learn-view.ts';
import { attentionSides } from './walkthrough-spec.ts';
import { heatmap } from './heatmap.ts';
import type { Session } from './session.ts';
import { html, shortSource } from './svg.ts';

const TOP_K = 10;
const MAX_STEPS = 48;

interface Ranked {
  readonly id: number;
  readonly p: number;
}

/** Probabilities of the last position's logits (softmax in float64), the k most likely first. */
export function topK(logits: NDArray, k: number): Ranked[] {
  const v = logits.shape[logits.shape.length - 1]!;
  const rows = logits.data.length / v;
  const off = (rows - 1) * v;
  let max = -Infinity;
  for (let i = 0; i < v; i++) max = Math.max(max, logits.data[off + i]!);
  let sum = 0;
  const p = new Float64Array(v);
  for (let i = 0; i < v; i++) sum += p[i] = Math.exp(logits.data[off + i]! - max);
  const ids = Array.from({ length: v }, (_, i) => i).sort((a, b) => p[b]! - p[a]! || a - b);
  return ids.slice(0, k).map((id) => ({ id, p: p[id]! / sum }));
}

async function api<T>(path: string): Promise<T> {
  const res = await fetch(path);
  const body = (await res.json()) as T & { error?: string };
  if (!res.ok) throw new Error(body.error ?? `${path}: ${res.status}`);
  return body;
}

export class ModelView {
  readonly element: HTMLElement;
  private readonly prompt: HTMLInputElement;
  private readonly tokens: HTMLElement;
  private readonly embeddings: HTMLElement;
  private readonly attention: HTMLElement;
  /** One layer and head up close: the matrix with its tokens, and the head view. */
  readonly focus = new AttentionFocus();
  private readonly next: HTMLElement;
  private readonly nextTitle = html('h3', {}, `Next token: the ${TOP_K} most likely after the final softmax`);
  private readonly message: HTMLElement;
  /** The prompt's ids (the source for an encoder-decoder) and the tokens decoded so far. */
  private promptIds: number[] = [];
  private generated: number[] = [];
  private done = false;
  /** The feeds of the last run (the plan view profiles them). */
  lastFeeds: Record<string, NDArray> | undefined;

  constructor(private readonly session: Session) {
    const info = session.info;
    this.prompt = html('input', { size: 40, value: info.examplePrompt, 'data-testid': 'prompt' });
    const run = html('button', { 'data-testid': 'run' }, 'run');
    const step = html('button', { 'data-testid': 'step' }, 'next token');
    const toEnd = html('button', { 'data-testid': 'to-end' }, 'decode to the end token');
    this.tokens = html('div', { class: 'tokens', 'data-testid': 'tokens' });
    this.embeddings = html('div', { class: 'heatmaps', 'data-testid': 'embeddings' });
    this.attention = html('div', { 'data-testid': 'attention' });
    this.next = html('div', { 'data-testid': 'next-tokens' });
    this.message = html('p', { 'data-testid': 'model-message' });
    const kind = info.tokenizer ? `text (${info.tokenizer})` : 'token ids, comma-separated';
    this.element = html(
      'section',
      { id: 'model-view' },
      html('div', { class: 'toolbar' }, html('label', {}, `prompt, ${kind} `, this.prompt), run, step, toEnd),
      this.message,
      html('h3', {}, 'Tokens'),
      this.tokens,
      html('h3', {}, 'Embeddings'),
      this.embeddings,
      html('h3', {}, 'Attention weights'),
      this.focus.element,
      html('h4', {}, 'Every layer and head'),
      this.attention,
      this.nextTitle,
      this.next,
    );
    run.addEventListener('click', () => void this.guard(() => this.start()));
    step.addEventListener('click', () => void this.guard(() => this.step()));
    toEnd.addEventListener('click', () => void this.guard(async () => {
      for (let i = 0; i < MAX_STEPS && !this.done; i++) await this.step();
      if (!this.done) this.message.textContent += `; stopped after ${MAX_STEPS} tokens without the end token (press again to go on)`;
    }));
  }

  private async guard(work: () => Promise<void>): Promise<void> {
    const status = document.getElementById('status')!;
    status.textContent = 'running';
    try {
      await work();
      status.textContent = 'ready';
    } catch (e) {
      this.message.className = 'error';
      this.message.textContent = (e as Error).message;
      status.textContent = 'error';
    }
  }

  /** The prompt as last run (running it first when it has not been): for the walkthrough. */
  async walkthroughInput(): Promise<WalkthroughInput> {
    if (this.promptIds.length === 0) await this.start();
    const { source, target, pieces } = await this.labelledTokens();
    const generated = [...this.generated];
    return { queries: target, source, pieces, feeds: this.feeds().feeds, feedsAfter: (more) => this.feeds([...generated, ...more]).feeds, piece: async (id) => (await this.pieces([id]))[0]! };
  }

  /**
   * The source's tokens (the prompt) and the ones the decoder reads (an encoder-decoder's start token
   * and what it decoded; else the prompt and what followed), with their pieces, spaces shown as ␣.
   */
  private async labelledTokens(): Promise<{ source: number[]; target: number[]; pieces: Map<number, string> }> {
    const source = [...this.promptIds];
    const target = this.session.info.family === 'seq2seq' ? [this.session.info.bos ?? 0, ...this.generated] : [...this.promptIds, ...this.generated];
    const all = [...new Set([...source, ...target])];
    const pieces = await this.pieces(all);
    return { source, target, pieces: new Map(all.map((id, i) => [id, pieces[i]!.replace(/ /g, '\u2423')])) };
  }

  /** Runs the prompt as the run button does (status and errors shown), for a link that opens a run. */
  run(): Promise<void> {
    return this.guard(() => this.start());
  }

  /** Tokenizes the prompt and runs the model on it. */
  async start(): Promise<void> {
    const text = this.prompt.value;
    this.promptIds = this.session.info.tokenizer ? (await api<{ ids: number[] }>(`/api/tokenize?text=${encodeURIComponent(text)}`)).ids : parseIds(text);
    if (this.promptIds.length === 0) throw new Error('the prompt has no tokens');
    this.generated = [];
    this.done = false;
    await this.runOnce();
  }

  /** Appends the most likely token and runs again (greedy decoding). */
  async step(): Promise<void> {
    if (this.promptIds.length === 0) await this.start();
    if (this.done) return;
    const best = this.best;
    if (best === undefined) return;
    this.generated.push(best);
    if (best === this.session.info.eos) {
      this.done = true;
      await this.showTokens();
      this.message.className = '';
      this.message.textContent = `end token ${best} reached after ${this.generated.length} tokens`;
      return;
    }
    await this.runOnce();
  }

  private best: number | undefined;

  /** The model's inputs for the prompt and the tokens decoded after it (`generated`, by default those of the page). */
  private feeds(generated: readonly number[] = this.generated): { feeds: Record<string, NDArray>; queries: number[]; described?: string } {
    const i32 = (ids: number[]): NDArray => ({ dtype: 'i32', shape: [1, ids.length], data: Int32Array.from(ids) });
    if (this.session.info.family === 'seq2seq') {
      const tgt = [this.session.info.bos ?? 0, ...generated];
      return { feeds: { src_ids: i32(this.promptIds), tgt_ids: i32(tgt) }, queries: tgt };
    }
    if (this.session.info.family === 'graph') return { ...graphFeeds(this.session.graph, [...this.promptIds, ...generated]), queries: this.promptIds };
    const ids = [...this.promptIds, ...generated];
    const feeds: Record<string, NDArray> = { input_ids: i32(ids) };
    if (this.session.graph.nodes.some((n) => n.op === 'input' && n.attrs['name'] === 'attention_mask')) feeds['attention_mask'] = i32(ids.map(() => 1));
    return { feeds, queries: ids };
  }

  private async runOnce(): Promise<void> {
    const { feeds, described } = this.feeds();
    this.lastFeeds = feeds;
    const model = await this.session.model(true);
    const out = await model.run(feeds, false);
    this.message.className = '';
    const threads = this.session.backend === 'cpu' ? ` (${this.session.threads} thread${this.session.threads === 1 ? '' : 's'})` : '';
    this.message.textContent = `ran on ${this.session.backend}${threads} in a Worker${this.session.info.randomWeights ? ' (random weights)' : ''}${described ? `; ${described}` : ''}`;
    await this.showTokens();
    const intermediates = this.session.intermediates();
    this.showEmbeddings(out, intermediates);
    const axes = await this.attentionAxes(out, intermediates);
    this.showAttention(out, intermediates, axes);
    this.showFocus(out, intermediates, axes);
    const logits = out['logits'];
    if (!logits) {
      this.showOutputs(out, intermediates);
      this.best = undefined;
      return;
    }
    const ranked = topK(logits, TOP_K);
    this.best = ranked[0]?.id;
    const pieces = await this.pieces(ranked.map((r) => r.id));
    const rows = ranked.map((r, i) => html('tr', { 'data-id': r.id }, html('td', {}, String(i + 1)), html('td', {}, String(r.id)), html('td', {}, JSON.stringify(pieces[i])), html('td', { class: 'p' }, r.p.toFixed(4))));
    this.next.replaceChildren(html('table', { 'data-testid': 'top-k' }, html('thead', {}, html('tr', {}, ...['rank', 'id', 'token', 'probability'].map((t) => html('th', {}, t)))), html('tbody', {}, ...rows)));
  }

  private async pieces(ids: number[]): Promise<string[]> {
    if (!this.session.info.tokenizer) return ids.map(String);
    // special tokens decode to nothing: name them
    const named = (id: number, text: string) => (text !== '' ? text : id === this.session.info.eos ? '<end>' : id === this.session.info.bos ? '<start>' : `<${id}>`);
    return Promise.all(ids.map(async (id) => named(id, (await api<{ text: string }>(`/api/decode?ids=${id}`)).text)));
  }

  private async showTokens(): Promise<void> {
    const all = this.session.info.family === 'seq2seq' ? [['source', this.promptIds], ['decoded', this.generated]] as const : [['tokens', [...this.promptIds, ...this.generated]]] as const;
    const parts: HTMLElement[] = [];
    for (const [name, ids] of all) {
      const pieces = await this.pieces([...ids]);
      parts.push(html('div', { 'data-testid': `tokens-${name}` }, `${name}: `, ...ids.map((id, i) => html('span', { 'data-id': id, title: `id ${id}` }, `${pieces[i]} `, html('sub', {}, String(id))))));
    }
    if (this.session.info.tokenizer && this.generated.length > 0) {
      const text = (await api<{ text: string }>(`/api/decode?ids=${this.generated.join(',')}`)).text;
      parts.push(html('div', { 'data-testid': 'decoded-text' }, `decoded text: ${JSON.stringify(text)}`));
    }
    this.tokens.replaceChildren(...parts);
  }

  private showEmbeddings(out: Record<string, NDArray>, intermediates: Intermediate[]): void {
    const maps = intermediates.filter((i) => i.kind === 'node').map((i) => {
      const t = out[i.name]!;
      const d = t.shape[t.shape.length - 1]!;
      const rows = t.shape[t.shape.length - 2] ?? 1;
      return heatmap(t.data.subarray(0, rows * d), rows, d, { caption: `${i.name} [${rows} x ${d}] (${shortSource(i.source)})`, signed: true, cell: 4, testId: `heatmap-${i.name}` });
    });
    this.embeddings.replaceChildren(...maps);
  }

  /** Without logits (a graph of the user's): each output's first matrix, signed, with its shape. */
  private showOutputs(out: Record<string, NDArray>, intermediates: Intermediate[]): void {
    const extra = new Set(intermediates.map((i) => i.name));
    const maps = Object.entries(out).filter(([name]) => !extra.has(name)).map(([name, t]) => {
      const cols = t.shape[t.shape.length - 1] ?? 1;
      const rows = t.shape.length >= 2 ? t.shape[t.shape.length - 2]! : 1;
      const first = t.shape.length > 2 ? ' (the first matrix)' : '';
      return heatmap(t.data.subarray(0, rows * cols), rows, cols, { caption: `output ${name} [${t.shape.join(', ')}]${first}`, signed: true, cell: cols > 64 ? 3 : 8, testId: `heatmap-output-${name}` });
    });
    this.nextTitle.textContent = "Outputs (no 'logits' output, so no next token)";
    this.next.replaceChildren(html('div', { class: 'heatmaps' }, ...maps));
  }

  /** Each attention output's tokens on its two axes (queries, keys): the decoder's or the source's, as attentionSides says. */
  private async attentionAxes(out: Record<string, NDArray>, intermediates: Intermediate[]): Promise<Map<string, { queries: string[]; keys: string[] }>> {
    const { source, target, pieces } = await this.labelledTokens();
    const axis = (ids: readonly number[], length: number) => (ids.length === length ? ids.map((id) => pieces.get(id)!) : Array.from({ length }, (_, i) => `#${i}`));
    return new Map(intermediates.filter((i) => i.kind === 'attention').map((i) => {
      const [tq, tk] = out[i.name]!.shape.slice(-2) as [number, number];
      const [queries, keys] = attentionSides(i, this.session.info.family, tq, source.length).map((side) => (side === 'source' ? source : target));
      return [i.name, { queries: axis(queries!, tq), keys: axis(keys!, tk) }];
    }));
  }

  /** The attention outputs with their tokens on both axes, for the close-up view. */
  private showFocus(out: Record<string, NDArray>, intermediates: Intermediate[], axes: Map<string, { queries: string[]; keys: string[] }>): void {
    const layers = intermediates.filter((i) => i.kind === 'attention').map((i): AttentionLayer => {
      const t = out[i.name]!;
      const what = i.cross ? 'cross-attention' : 'self-attention';
      return { name: i.name, title: `${i.name}: ${what}${i.block ? ` in ${i.block}` : ''}`, heads: t.shape.slice(1, -2).reduce((a, b) => a * b, 1), values: t.data, ...axes.get(i.name)! };
    });
    this.focus.setLayers(layers);
  }

  /** Every layer's and head's weights, small, each with its tokens on both axes. */
  private showAttention(out: Record<string, NDArray>, intermediates: Intermediate[], axes: Map<string, { queries: string[]; keys: string[] }>): void {
    const blocks = intermediates.filter((i) => i.kind === 'attention').map((i) => {
      const t = out[i.name]!;
      const tk = t.shape[t.shape.length - 1]!;
      const tq = t.shape[t.shape.length - 2]!;
      const heads = t.shape.slice(1, -2).reduce((a, b) => a * b, 1);
      const dims = i.shape.slice(-2).join(' x ');
      const what = i.cross ? 'cross-attention' : 'self-attention';
      const { queries, keys } = axes.get(i.name)!;
      const maps = Array.from({ length: heads }, (_, h) => heatmap(t.data.subarray(h * tq * tk, (h + 1) * tq * tk), tq, tk, { caption: `head ${h}`, testId: `heatmap-${i.name}-head-${h}`, rowLabels: queries, colLabels: keys }));
      return html('div', { 'data-attention': i.name }, html('h4', {}, `${i.name}: ${what}${i.block ? ` in ${i.block}` : ''}, queries x keys (${dims}), ${shortSource(i.source)}`), html('div', { class: 'heatmaps' }, ...maps));
    });
    this.attention.replaceChildren(...blocks);
  }
}

function parseIds(text: string): number[] {
  return text.split(',').map((part, i) => {
    const id = Number(part.trim());
    if (!Number.isInteger(id) || id < 0) throw new Error(`prompt: entry ${i + 1} ('${part}') is not a token id`);
    return id;
  });
}
