/**
 * One attention layer up close, read the way BertViz shows it: a layer and a head picker; the head's
 * weights as a matrix with the query tokens down the side and the key tokens along the top, a colour
 * scale, and the value under the pointer; and a head view: the query tokens on the left, the key
 * tokens on the right, a line from each query to each key with the weight as its opacity, one colour
 * per head (heads toggled on and off; hovering a token keeps only its lines). Cells and lines carry
 * their weights (`data-weight`) so that a test can check them against the reference.
 */
import { html, svg } from './svg.ts';

/** One attention output of a run: its weights [heads, queries, keys] with the tokens on both axes. */
export interface AttentionLayer {
  readonly name: string;
  readonly title: string;
  readonly heads: number;
  readonly values: ArrayLike<number>;
  readonly queries: readonly string[];
  readonly keys: readonly string[];
}

/** Head colours (Tableau 10), as BertViz colours its heads. */
const HEAD_COLOURS = ['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac'];
export const headColour = (h: number): string => HEAD_COLOURS[h % HEAD_COLOURS.length]!;

/** Sequential scale for weights in [0, 1] (white to dark blue). */
function weightColour(w: number): string {
  const t = Math.max(0, Math.min(1, w));
  const mix = (a: number, b: number) => Math.round(a + (b - a) * t);
  return `rgb(${mix(255, 8)}, ${mix(255, 48)}, ${mix(255, 107)})`;
}

const LABEL_WIDTH = 110;
const fmt = (w: number) => w.toFixed(4);

export class AttentionFocus {
  readonly element: HTMLElement;
  private readonly layerPicker = html('select', { 'data-testid': 'attention-layer', 'aria-label': 'attention layer' });
  private readonly headPicker = html('select', { 'data-testid': 'attention-head', 'aria-label': 'attention head' });
  private readonly readout = html('output', { 'data-testid': 'attention-readout', 'aria-live': 'polite' }, 'point at a cell to read its weight');
  private readonly matrix = html('div', { class: 'attention-matrix' });
  private readonly headToggles = html('div', { class: 'head-toggles', 'data-testid': 'head-toggles' });
  private readonly headView = html('div', { class: 'head-view' });
  private layers: AttentionLayer[] = [];
  private shownHeads = new Set<number>();
  /** Called with the layer and head shown after each pick (the page's address follows it). */
  onSelect: ((layer: string, head: number) => void) | undefined;

  constructor() {
    this.element = html(
      'div',
      { class: 'attention-focus', 'data-testid': 'attention-focus' },
      html('div', { class: 'toolbar' }, html('label', {}, 'layer ', this.layerPicker), html('label', {}, 'head ', this.headPicker), this.readout),
      html('div', { class: 'attention-panels' }, this.matrix, html('div', {}, this.headToggles, this.headView)),
    );
    this.layerPicker.addEventListener('change', () => (this.selectLayer(this.layerPicker.value), this.picked()));
    this.headPicker.addEventListener('change', () => (this.draw(), this.picked()));
  }

  /** The layers of a new run; the layer and head picked before stay picked when the run has them. */
  setLayers(layers: AttentionLayer[]): void {
    const [layer, head] = [this.layerPicker.value, this.headPicker.value];
    this.layers = layers;
    this.element.hidden = layers.length === 0;
    this.layerPicker.replaceChildren(...layers.map((l) => html('option', { value: l.name }, l.title)));
    if (layers.some((l) => l.name === layer)) this.layerPicker.value = layer;
    this.selectLayer(this.layerPicker.value, head);
  }

  /** Picks a layer (and head) by name, as a link or a test does. */
  select(layer: string, head = 0): boolean {
    const found = this.layers.find((l) => l.name === layer);
    if (!found || !(Number.isInteger(head) && head >= 0 && head < found.heads)) return false;
    this.layerPicker.value = layer;
    this.selectLayer(layer, String(head));
    return true;
  }

  private picked(): void {
    this.onSelect?.(this.layerPicker.value, Number(this.headPicker.value));
  }

  private get current(): AttentionLayer | undefined {
    return this.layers.find((l) => l.name === this.layerPicker.value);
  }

  private selectLayer(name: string, head?: string): void {
    const layer = this.layers.find((l) => l.name === name);
    if (!layer) return;
    this.headPicker.replaceChildren(...Array.from({ length: layer.heads }, (_, h) => html('option', { value: h }, `head ${h}`)));
    if (head !== undefined && Number(head) < layer.heads) this.headPicker.value = head;
    this.shownHeads = new Set(Array.from({ length: layer.heads }, (_, h) => h));
    this.headToggles.replaceChildren(
      'heads: ',
      ...Array.from({ length: layer.heads }, (_, h) => {
        const box = html('input', { type: 'checkbox', checked: '', 'data-testid': `head-toggle-${h}`, 'aria-label': `show head ${h}` });
        box.addEventListener('change', () => {
          if (box.checked) this.shownHeads.add(h);
          else this.shownHeads.delete(h);
          this.drawHeadView(layer);
        });
        return html('label', { style: `color: ${headColour(h)}` }, box, String(h));
      }),
    );
    this.draw();
  }

  private draw(): void {
    const layer = this.current;
    if (!layer) return;
    this.drawMatrix(layer, Number(this.headPicker.value));
    this.drawHeadView(layer);
  }

  private weight(layer: AttentionLayer, h: number, q: number, k: number): number {
    return layer.values[(h * layer.queries.length + q) * layer.keys.length + k]!;
  }

  /** The head's matrix: large cells (40 px at 12 tokens), tokens on both axes, a colour scale beside it. */
  private drawMatrix(layer: AttentionLayer, h: number): void {
    const [tq, tk] = [layer.queries.length, layer.keys.length];
    const cell = Math.max(14, Math.min(40, Math.floor(480 / Math.max(tq, tk))));
    const top = LABEL_WIDTH;
    const width = LABEL_WIDTH + tk * cell;
    const chart = svg('svg', { width: width + 90, height: top + tq * cell + 4, role: 'img', 'aria-label': `${layer.title}, head ${h}: attention weights, queries down, keys across`, 'data-testid': 'attention-matrix', 'data-layer': layer.name, 'data-head': h });
    layer.keys.forEach((token, k) => {
      const x = LABEL_WIDTH + k * cell + cell / 2;
      chart.append(svg('text', { x, y: top - 6, transform: `rotate(-45 ${x} ${top - 6})`, class: 'axis-label', 'data-axis': 'key', 'data-index': k }, token));
    });
    layer.queries.forEach((token, q) => {
      chart.append(svg('text', { x: LABEL_WIDTH - 6, y: top + q * cell + cell / 2 + 4, 'text-anchor': 'end', class: 'axis-label', 'data-axis': 'query', 'data-index': q }, token));
      for (let k = 0; k < tk; k++) {
        const w = this.weight(layer, h, q, k);
        const what = `query ${q} ${JSON.stringify(token)} → key ${k} ${JSON.stringify(layer.keys[k])}: ${fmt(w)}`;
        const rect = svg('rect', { x: LABEL_WIDTH + k * cell, y: top + q * cell, width: cell - 1, height: cell - 1, fill: weightColour(w), 'data-q': q, 'data-k': k, 'data-weight': w }, svg('title', {}, what));
        rect.addEventListener('mouseenter', () => (this.readout.textContent = what));
        chart.append(rect);
      }
    });
    chart.append(this.scale(width + 16, top, tq * cell));
    this.matrix.replaceChildren(chart);
  }

  /** A vertical colour bar for weights 0 to 1 with its ticks. */
  private scale(x: number, y: number, height: number): SVGGElement {
    const id = 'attention-scale-gradient';
    const stops = [0, 0.25, 0.5, 0.75, 1].map((t) => svg('stop', { offset: `${t * 100}%`, 'stop-color': weightColour(1 - t) }));
    const ticks = [1, 0.5, 0].map((t) => svg('text', { x: x + 18, y: y + (1 - t) * height + 4, class: 'axis-label' }, t.toFixed(1)));
    return svg('g', { 'data-testid': 'attention-scale' }, svg('defs', {}, svg('linearGradient', { id, x1: 0, y1: 0, x2: 0, y2: 1 }, ...stops)), svg('rect', { x, y, width: 12, height, fill: `url(#${id})`, stroke: '#8b95a7' }), ...ticks);
  }

  /** BertViz's head view: queries left, keys right, a line per query, key and shown head. */
  private drawHeadView(layer: AttentionLayer): void {
    const [tq, tk] = [layer.queries.length, layer.keys.length];
    const row = 22;
    const [left, right] = [LABEL_WIDTH, LABEL_WIDTH + 160];
    const view = svg('svg', { width: right + LABEL_WIDTH, height: Math.max(tq, tk) * row + 10, role: 'img', 'aria-label': `${layer.title}: which token attends to which, every shown head`, 'data-testid': 'attention-head-view' });
    const lines = svg('g', {});
    for (const h of [...this.shownHeads].sort((a, b) => a - b)) {
      for (let q = 0; q < tq; q++) {
        for (let k = 0; k < tk; k++) {
          const w = this.weight(layer, h, q, k);
          lines.append(svg('line', { x1: left, y1: q * row + row / 2, x2: right, y2: k * row + row / 2, stroke: headColour(h), 'stroke-width': 2, 'stroke-opacity': w, 'data-head': h, 'data-q': q, 'data-k': k, 'data-weight': w }));
        }
      }
    }
    view.append(lines);
    const focus = (q: number | undefined) => lines.querySelectorAll('line').forEach((line) => line.classList.toggle('faded', q !== undefined && line.dataset['q'] !== String(q)));
    layer.queries.forEach((token, q) => {
      const label = svg('text', { x: left - 6, y: q * row + row / 2 + 4, 'text-anchor': 'end', class: 'axis-label token', 'data-side': 'query', 'data-index': q, tabindex: 0 }, token);
      for (const on of ['mouseenter', 'focus']) label.addEventListener(on, () => focus(q));
      for (const off of ['mouseleave', 'blur']) label.addEventListener(off, () => focus(undefined));
      view.append(label);
    });
    layer.keys.forEach((token, k) => view.append(svg('text', { x: right + 6, y: k * row + row / 2 + 4, class: 'axis-label token', 'data-side': 'key', 'data-index': k }, token)));
    this.headView.replaceChildren(view);
  }
}
