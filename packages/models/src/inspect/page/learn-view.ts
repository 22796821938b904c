/**
 * The walkthrough ("learn"): a prompt taken through a Transformer step by step, one step a screen,
 * as the paper's explainers tell it (tokens, embedding, positions, queries, keys and values, the
 * scores, their scaling, the mask, the softmax, the weighted sum of values, the next token), with the
 * values the compiled model computes on this prompt: a run prepared with the attention steps of the
 * first attention (and, for an encoder-decoder, of the decoder's first self- and cross-attention) as
 * intermediates. Each screen says what the step does, the tensor's shape, its values (head 0), the
 * model line that computes it and a link to its place in the graph; `#learn/<n>` opens step n.
 */
import { withIntermediates, type Intermediate, type IntermediateSpec } from '@loom/compiler';
import type { Graph, GraphNode, NDArray } from '@loom/graph';
import { heatmap } from './heatmap.ts';
import { attentionSides, blockSteps, walkthroughSpec, type BlockStep } from './walkthrough-spec.ts';
import { topK } from './model-view.ts';
import type { Session } from './session.ts';
import { html, shortSource } from './svg.ts';

/** The prompt as the model view ran it: the decoder's (or the only) tokens, the source's, their pieces, the feeds. */
export interface WalkthroughInput {
  readonly queries: number[];
  readonly source: number[];
  readonly pieces: Map<number, string>;
  readonly feeds: Record<string, NDArray>;
  /** The feeds with `more` tokens appended to what the decoder reads (greedy decoding's next run). */
  readonly feedsAfter: (more: readonly number[]) => Record<string, NDArray>;
  /** A token's text (special tokens named). */
  readonly piece: (id: number) => Promise<string>;
}

/** How many tokens the decoding step writes at most before it stops without the end token. */
export const DECODE_STEPS = 24;

interface Step {
  readonly title: string;
  readonly text: string;
  /** The output holding the step's values (head 0 of a per-head tensor), if it has values. */
  readonly output?: string;
  readonly rows?: readonly string[];
  readonly cols?: readonly string[];
  readonly signed?: boolean;
  /** Where it sits in the graph: nodes of the source graph, and the op they are, for the link. */
  readonly graph?: { readonly nodes: readonly number[]; readonly op: string };
  /** The last step: greedy decoding from the prompt to the end token. */
  readonly decoding?: boolean;
}

/** What the walkthrough explains at each attention step, by step name. */
const ATTENTION_TEXT: Readonly<Record<string, [string, string]>> = {
  q: ['Queries', 'Each token\'s vector is projected to a query per head: what this token looks for. Head 0 is shown; the other heads do the same with their own weights.'],
  k: ['Keys', 'The same vectors projected to keys: what each token offers to be found by. A query and a key that point the same way give a large score.'],
  v: ['Values', 'And projected to values: what each token passes on once it is attended to.'],
  scores: ['The score matrix, q kᵀ', 'Every query against every key: row i, column j is how much token i\'s query matches token j\'s key.'],
  scaled: ['Scaled by 1/√d_k', 'The scores are divided by the square root of the head size, so that they do not grow with it and the softmax stays soft.'],
  capped: ['Soft-capped', 'This model squashes the scores with c·tanh(x/c), so no score passes c.'],
  masked: ['The mask', 'A mask is added: minus infinity where a token may not look (the future, in a decoder; padding). Those cells become zero after the softmax.'],
  weights: ['Softmax: the attention weights', 'Each row is turned into probabilities: how much of each token\'s value this token takes. Rows sum to 1.'],
  context: ['The weighted sum of values', 'Each token\'s new vector is its row of weights times the values. The heads\' results are then concatenated and projected back to the model\'s width.'],
};

export class LearnView {
  readonly element: HTMLElement;
  private readonly list = html('ol', { class: 'learn-steps', 'data-testid': 'learn-steps' });
  private readonly screen = html('div', { class: 'learn-screen', 'data-testid': 'learn-screen', tabindex: 0, 'aria-live': 'polite' });
  private readonly prev = html('button', { 'data-testid': 'learn-prev' }, '← previous');
  private readonly next = html('button', { 'data-testid': 'learn-next' }, 'next →');
  private steps: Step[] = [];
  private outputs: Record<string, NDArray> = {};
  private described: Intermediate[] = [];
  private index = 0;
  /** Called with the step shown (the page's address follows it). */
  onStep: ((index: number) => void) | undefined;

  private tokenLine = '';
  /** The prompt of the last run, and its greedy decoding (started when that step is first shown). */
  private input: WalkthroughInput | undefined;
  private decoding: HTMLElement | undefined;
  /** Runs so far: a decoding started by an earlier run stops when a new run begins. */
  private runs = 0;

  constructor(private readonly session: Session, private readonly tokens: () => Promise<WalkthroughInput>) {
    this.element = html('section', { id: 'learn-view' }, html('div', { class: 'toolbar' }, this.prev, this.next), html('div', { class: 'learn' }, this.list, this.screen));
    this.prev.addEventListener('click', () => this.show(this.index - 1));
    this.next.addEventListener('click', () => this.show(this.index + 1));
    this.screen.addEventListener('keydown', (e) => {
      if (e.key === 'ArrowRight') this.show(this.index + 1);
      if (e.key === 'ArrowLeft') this.show(this.index - 1);
    });
  }

  /** The walkthrough's intermediates, what each is, and the first block's steps (walkthrough-spec.ts): once, the graph does not change. */
  private plan(): { spec: IntermediateSpec; described: Intermediate[]; block: BlockStep[] } {
    if (!this.planned) {
      const spec = walkthroughSpec(this.session.graph, this.session.info.family);
      this.planned = { spec, described: withIntermediates(this.session.graph, spec).intermediates, block: blockSteps(this.session.graph) };
    }
    return this.planned;
  }

  private planned: { spec: IntermediateSpec; described: Intermediate[]; block: BlockStep[] } | undefined;

  /** Runs the prompt with the walkthrough's intermediates on the page's backend, then shows step `index`. */
  async run(index = 0): Promise<void> {
    const { spec, described } = this.plan();

    this.input = await this.tokens();
    this.decoding = undefined;
    this.runs++;
    const { queries, source, pieces, feeds } = this.input;
    const line = (ids: number[]) => ids.map((id) => `${pieces.get(id) ?? id} (${id})`).join('  ');
    this.tokenLine = this.session.info.family === 'seq2seq' ? `source: ${line(source)}; decoder: ${line(queries)}` : line(queries);
    this.outputs = await (await this.session.prepare(spec)).run(feeds, false);
    this.described = described;
    this.steps = this.build(queries, source, pieces);
    this.list.replaceChildren(...this.steps.map((s, i) => html('li', {}, html('a', { href: `#learn/${i}`, 'data-step': i }, s.title))));
    this.show(Math.min(index, this.steps.length - 1));
  }

  private build(queries: number[], source: number[], pieces: Map<number, string>): Step[] {
    const label = (ids: number[]) => ids.map((id) => pieces.get(id) ?? String(id));
    const seq2seq = this.session.info.family === 'seq2seq';
    const [src, tgt] = [label(source), label(queries)];
    const graph = this.session.graph;
    // where an output sits in the graph: the node it was computed in (an attention's steps, in the attention)
    const at = (name: string) => {
      const origin = this.described.find((i) => i.name === name)!.origin;
      return { nodes: [origin], op: graph.nodes[origin]!.op };
    };
    const steps: Step[] = [{ title: 'Tokens', text: `The prompt is cut into tokens, each a number: its id in the vocabulary. ${seq2seq ? 'The encoder reads the source; the decoder starts from the start token.' : 'The model reads them all at once and predicts what follows each.'}` }];
    const { block } = this.plan();
    const nodes = this.described.filter((i) => i.kind === 'node' && !block.some((b) => b.name === i.name));
    for (const n of nodes) {
      const positions = n.name.startsWith('embedding + positions');
      // an encoder-decoder embeds the source and the decoder's tokens: told apart by their lengths
      const length = this.outputs[n.name]!.shape.at(-2);
      const rows = seq2seq && length === src.length ? src : tgt;
      steps.push({
        title: `${seq2seq ? (rows === src ? 'Encoder: ' : 'Decoder: ') : ''}${positions ? 'Positional encoding' : 'Token embedding'}`,
        text: positions ? 'A vector that depends only on the position is added to each token\'s embedding, so the model can tell "dog bites man" from "man bites dog".' : `Each id selects one row of the embedding matrix: a learned vector of the model's width for every token of the vocabulary${embeddingSize(graph, at(n.name).nodes[0]!)}.`,
        output: n.name,
        rows,
        signed: true,
        graph: at(n.name),
      });
    }
    if (!nodes.some((n) => n.name.startsWith('embedding + positions'))) steps.push({ title: 'Positions: rotary (RoPE)', text: 'This model adds no position vector: it rotates each query and key by an angle that grows with the position (RoPE), so the scores below depend on how far apart two tokens are.' });
    for (const attention of this.described.filter((i) => i.kind === 'attention' && this.described.some((s) => s.of === i.name))) {
      const cross = attention.cross === true;
      const [rows, cols] = attentionSides(attention, this.session.info.family, this.outputs[attention.name]!.shape.at(-2)!, src.length).map((side) => (side === 'source' ? src : tgt)) as [string[], string[]];
      const encoder = seq2seq && !cross && rows === src;
      const where = seq2seq ? (cross ? 'Cross-attention (decoder to encoder): ' : encoder ? 'Encoder self-attention: ' : 'Decoder masked self-attention: ') : '';
      const grouped = groupedQuery(graph.nodes[attention.origin]!);
      const stepsOf = this.described.filter((s) => s.of === attention.name);
      for (const s of [...stepsOf.filter((x) => ['q', 'k', 'v', 'scores', 'scaled', 'capped', 'masked'].includes(x.step!)), { ...attention, step: 'weights' as const }, ...stepsOf.filter((x) => x.step === 'context')]) {
        let [title, text] = ATTENTION_TEXT[s.step!]!;
        if (grouped && s.step === 'k') {
          title = 'Keys, shared by groups of query heads (grouped-query attention)';
          text = `${text} This model has ${grouped.heads} query heads but only ${grouped.kvHeads} key and value heads: each serves ${grouped.heads / grouped.kvHeads} query heads (grouped-query attention, as in Llama 2 and 3), so the keys and values kept for decoding are ${grouped.heads / grouped.kvHeads} times smaller.`;
        }
        if (grouped && s.step === 'v') text = `${text} Like the keys, ${grouped.kvHeads} value heads are shared by the ${grouped.heads} query heads.`;
        const square = ['scores', 'scaled', 'capped', 'masked', 'weights'].includes(s.step!);
        steps.push({ title: `${where}${title}`, text: cross && s.step === 'weights' ? `${text} Here the decoder's tokens (rows) read the source's (columns).` : text, output: s.step === 'weights' ? attention.name : s.name, rows: s.step === 'k' || s.step === 'v' ? cols : rows, ...(square ? { cols } : {}), signed: !['weights'].includes(s.step!), graph: at(s.name) });
      }
      // after the first attention, the rest of its block
      if (attention.name === 'attention.0') for (const b of block) steps.push({ title: `${where}${b.title}`, text: b.text, output: b.name, rows, signed: true, graph: at(b.name) });
    }
    const logits = graph.outputs.find((o) => o.name === 'logits');
    steps.push({ title: 'The final linear layer and softmax: the next token', text: 'The last token\'s vector is multiplied by the output matrix, one score (logit) per vocabulary entry, and a softmax turns the scores into probabilities: the five most likely next tokens are below.', output: 'logits', ...(logits ? { graph: { nodes: [logits.node], op: graph.nodes[logits.node]!.op } } : {}) });
    if (logits) steps.push({ title: 'Decoding until the end token', text: `Greedy decoding takes the most likely token, appends it to what the ${seq2seq ? 'decoder reads' : 'model reads'} and runs the model again, one token at a time, until the model gives the end token (or ${DECODE_STEPS} tokens here). Each row below is one run of the compiled model.`, decoding: true });
    return steps;
  }

  /** Shows step `index` (clamped). */
  show(index: number): void {
    if (this.steps.length === 0) return;
    this.index = Math.max(0, Math.min(this.steps.length - 1, index));
    const step = this.steps[this.index]!;
    this.list.querySelectorAll('a').forEach((a) => a.toggleAttribute('aria-current', Number(a.dataset['step']) === this.index));
    const parts: HTMLElement[] = [html('h3', { 'data-testid': 'learn-title' }, `${this.index + 1}. ${step.title}`), html('p', {}, step.text)];
    const t = step.output ? this.outputs[step.output] : undefined;
    const described = this.described.find((i) => i.name === step.output);
    if (step.title === 'Tokens') parts.push(html('p', { 'data-testid': 'learn-tokens' }, this.tokenLine));
    if (t && step.output === 'logits') parts.push(this.nextTokens(t));
    else if (t) {
      const [rows, cols] = t.shape.slice(-2) as [number, number];
      const masked = Array.from(t.data.subarray(0, rows * cols)).some((v) => !(Number.isFinite(v) && v > -1e9));
      parts.push(html('p', { 'data-testid': 'learn-shape' }, `shape [${t.shape.join(', ')}]${t.shape.length > 3 ? ': head 0 shown' : ''}${step.rows ? `; rows: ${step.rows.join(' ')}` : ''}${step.cols ? `; columns: ${step.cols.join(' ')}` : ''}${masked ? '; masked cells (minus infinity) in the lowest colour' : ''}`));
      // masked cells (-infinity, or the -1e30 some models add) shown as the lowest other value, so the colours stay readable
      const values = Array.from(t.data.subarray(0, rows * cols), (v) => (Number.isFinite(v) && v > -1e9 ? v : NaN));
      const low = Math.min(...values.filter((v) => !Number.isNaN(v)));
      parts.push(heatmap(values.map((v) => (Number.isNaN(v) ? low : v)), rows, cols, { caption: `${step.output} (head 0)`, signed: step.signed ?? true, cell: cols > 64 ? 3 : cols <= 16 && rows <= 16 ? 36 : 12, testId: 'learn-values', scale: true, ...(step.rows ? { rowLabels: step.rows } : {}), ...(step.cols ? { colLabels: step.cols } : {}) }));
    }
    if (described?.source) parts.push(html('p', {}, 'computed by ', html('code', { 'data-testid': 'learn-source' }, shortSource(described.source))));
    if (step.decoding) parts.push(this.decoded());
    if (step.graph) parts.push(html('p', {}, html('a', { href: `#graph/node:${step.graph.nodes.join(',')}`, 'data-testid': 'learn-graph-link' }, `find it in the graph (${step.graph.op} %${step.graph.nodes.join(', %')})`)));
    this.screen.replaceChildren(...parts);
    this.screen.dataset['output'] = step.output ?? '';
    this.prev.disabled = this.index === 0;
    this.next.disabled = this.index === this.steps.length - 1;
    this.onStep?.(this.index);
  }

  get ran(): boolean {
    return this.steps.length > 0;
  }

  /** The decoding step's table, filled one token at a time by greedy decoding from the prompt (once per run). */
  private decoded(): HTMLElement {
    if (!this.decoding) {
      const body = html('tbody', {});
      const summary = html('p', { 'data-testid': 'learn-decoded' }, 'decoding...');
      const head = html('thead', {}, html('tr', {}, ...['step', 'id', 'token', 'probability'].map((t) => html('th', {}, t))));
      this.decoding = html('div', { 'data-testid': 'learn-decoding' }, html('table', {}, head, body), summary);
      void this.decode(this.decoding, body, summary);
    }
    return this.decoding;
  }

  private async decode(element: HTMLElement, body: HTMLElement, summary: HTMLElement): Promise<void> {
    const input = this.input!;
    const run = this.runs;
    const eos = this.session.info.eos;
    const more: number[] = [];
    const texts: string[] = [];
    try {
      const model = await this.session.model(false);
      while (more.length < DECODE_STEPS && (more.length === 0 || more.at(-1) !== eos)) {
        if (run !== this.runs) return; // the walkthrough ran again: this table is gone
        const best = topK((await model.run(input.feedsAfter(more), false))['logits']!, 1)[0]!;
        more.push(best.id);
        texts.push(await input.piece(best.id));
        body.append(html('tr', { 'data-id': best.id }, html('td', {}, String(more.length)), html('td', {}, String(best.id)), html('td', {}, JSON.stringify(texts.at(-1))), html('td', {}, best.p.toFixed(4))));
      }
      const ended = more.at(-1) === eos;
      summary.textContent = `${ended ? `the end token (${eos}) after ${more.length} tokens` : `stopped after ${DECODE_STEPS} tokens without the end token`}: ${JSON.stringify(texts.slice(0, ended ? -1 : undefined).join(''))}`;
    } catch (e) {
      summary.className = 'error';
      summary.textContent = `decoding failed: ${(e as Error).message}`;
    }
    element.dataset['done'] = 'true';
  }

  private nextTokens(logits: NDArray): HTMLElement {
    const ranked = topK(logits, 5);
    return html('table', { 'data-testid': 'learn-next-tokens' }, html('tbody', {}, ...ranked.map((r) => html('tr', { 'data-id': r.id }, html('td', {}, String(r.id)), html('td', {}, r.p.toFixed(4))))));
  }
}

/** An attention node's query and key/value heads when it shares key/value heads among query heads (grouped-query attention). */
function groupedQuery(node: GraphNode): { heads: number; kvHeads: number } | undefined {
  const [heads, kvHeads] = [node.attrs['heads'], node.attrs['kvHeads']];
  return node.op === 'attention' && typeof heads === 'number' && typeof kvHeads === 'number' && kvHeads < heads ? { heads, kvHeads } : undefined;
}

/** ' (here V x d: V tokens, d wide)' from an embed node's table, or '' when it reads no parameter. */
function embeddingSize(graph: Graph, embed: number): string {
  const table = graph.nodes[graph.nodes[embed]!.inputs[1] ?? -1];
  const [rows, cols] = table?.op === 'param' ? table.type.shape : [];
  return typeof rows === 'number' && typeof cols === 'number' ? ` (here ${rows.toLocaleString('en')} x ${cols}: ${rows.toLocaleString('en')} tokens, ${cols} wide; GPT-2 small's is 50,257 x 768)` : '';
}
