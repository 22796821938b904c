/**
 * The graph view: the model's graph as boxes and edges laid out by dagre. On the source graph the
 * composite ops (attention, ffn, add & norm, embeddings) are blue boxes; a click expands one into its
 * decomposition, drawn inside a dashed cluster (a click on the cluster folds it back). The pass
 * slider shows the graph after each compiler pass; nodes a pass created are green, and each lists
 * what it absorbed (diffPass), and "show what it replaced" draws the graph before the pass with the
 * absorbed nodes in orange. As Netron draws them, params and constants are not boxes of their own:
 * each is listed inside the boxes that read it. The drawing sits in a window that fits it on open,
 * zooms and pans (graph-viewport.ts); a search box finds nodes by op or name.
 */
import dagre from '@dagrejs/dagre';
import { diffPass, type PassDiff } from '@loom/compiler';
import { expandOps, getOp, isOpName, type Graph, type GraphNode } from '@loom/graph';
import { GraphViewport } from './graph-viewport.ts';
import type { Snapshot } from './session.ts';
import { html, shortSource, svg } from './svg.ts';

const CHAR_W = 6.7;
const LINE_H = 14;

interface DrawnNode {
  readonly node: GraphNode;
  readonly lines: string[];
  readonly classes: string[];
  /** The cluster (an expanded composite's source id) it is drawn inside. */
  readonly parent?: number;
  /** On the source graph: the id of the source node it stands for (expanding one renumbers the rest). */
  readonly origin?: number;
}

function isComposite(node: GraphNode): boolean {
  return isOpName(node.op) && getOp(node.op).category === 'composite';
}

/** Params and constants: listed inside the boxes that read them rather than drawn as boxes. */
function isFolded(node: GraphNode): boolean {
  return node.op === 'param' || node.op === 'constant';
}

const typeOf = (node: GraphNode) => `${node.type.dtype}[${node.type.shape.join(', ')}]`;

/** A box's lines: its op and name, type and model line, then the params and constants it reads. */
function label(node: GraphNode, graph: Graph): string[] {
  const name = node.attrs['name'];
  const head = `%${node.id} ${node.op}${typeof name === 'string' ? ` '${name}'` : ''}`;
  const folded = [...new Set(node.inputs)].map((i) => graph.nodes[i]!).filter(isFolded).map((p) => `  ${p.op === 'param' ? String(p.attrs['name']) : `constant %${p.id}`}: ${typeOf(p)}`);
  return [head, typeOf(node), shortSource(node.source), ...folded].filter((l) => l !== '');
}

export class GraphView {
  readonly element: HTMLElement;
  private readonly viewport = new GraphViewport();
  private readonly search = html('input', { type: 'search', placeholder: 'find an op or a name', 'aria-label': 'find a node by op or name', 'data-testid': 'graph-search' });
  private readonly found = html('span', { 'data-testid': 'graph-found', 'aria-live': 'polite' });
  private fitted = false;
  private current = -1;
  private readonly slider: HTMLInputElement;
  private readonly caption: HTMLElement;
  private readonly showBefore: HTMLInputElement;
  private snapshots: Snapshot[] = [];
  private readonly expanded = new Set<number>();
  /** Drawn stages (dagre's layout takes about a second on a 12-layer model): moving the slider back is instant. */
  private readonly drawn = new Map<string, SVGSVGElement>();
  /** What each pass changed (diffPass), by stage. */
  private readonly diffs = new Map<number, PassDiff>();

  constructor() {
    this.slider = html('input', { type: 'range', min: 0, max: 0, value: 0, 'data-testid': 'pass-slider' });
    this.caption = html('span', { 'data-testid': 'pass-name' });
    this.showBefore = html('input', { type: 'checkbox', 'data-testid': 'show-before' });
    this.element = html(
      'section',
      { id: 'graph-view' },
      html('div', { class: 'toolbar' }, html('label', {}, 'pass ', this.slider), this.caption, html('label', {}, this.showBefore, ' show what the pass replaced')),
      html('div', { class: 'toolbar' }, this.search, this.found),
      this.viewport.element,
    );
    this.slider.addEventListener('input', () => this.draw());
    this.showBefore.addEventListener('change', () => this.draw());
    this.search.addEventListener('input', () => this.find(false));
    this.search.addEventListener('keydown', (e) => e.key === 'Enter' && this.find(true));
  }

  setSnapshots(snapshots: Snapshot[]): void {
    this.snapshots = snapshots;
    this.drawn.clear();
    this.diffs.clear();
    this.slider.max = String(snapshots.length - 1);
    if (Number(this.slider.value) > snapshots.length - 1) this.slider.value = '0';
    this.draw();
  }

  /** Shows stage `index` (0 = the source graph). */
  showStage(index: number): void {
    this.slider.value = String(index);
    this.draw();
  }

  private draw(): void {
    const stage = Number(this.slider.value);
    const snapshot = this.snapshots[stage]!;
    let diff = this.diffs.get(stage);
    if (stage > 0 && !diff) this.diffs.set(stage, (diff = diffPass(this.snapshots[stage - 1]!.graph, snapshot.graph)));
    const before = Boolean(diff && this.showBefore.checked);
    const graph = before ? this.snapshots[stage - 1]!.graph : snapshot.graph;
    const changed = diff ? `${diff.added.length} new, ${diff.removed.length} removed` : 'composites are blue: click one to expand it';
    this.caption.textContent = `${stage}/${this.snapshots.length - 1} ${snapshot.name}: ${snapshot.graph.nodes.length} nodes (${changed})`;
    const key = `${stage}/${before}/${stage === 0 ? [...this.expanded].sort((a, b) => a - b).join(',') : ''}`;
    let root = this.drawn.get(key);
    if (!root) {
      const nodes = stage === 0 ? this.sourceNodes(graph) : before ? this.beforeNodes(graph, snapshot.graph, diff!) : this.afterNodes(graph, this.snapshots[stage - 1]!.graph, diff!);
      root = this.render(nodes, stage);
      this.drawn.set(key, root);
    }
    this.viewport.show(root, !this.fitted);
    this.fitted = true;
    this.find(false);
  }

  /** Searches for `text` and brings the first match into view (a link into the graph). */
  searchFor(text: string): void {
    this.search.value = text;
    this.current = -1;
    this.find(true);
  }

  /** Marks the boxes whose op or name (or a param they list) holds the search text; `next` moves to the next one and brings it into view. */
  private find(next: boolean): void {
    const query = this.search.value.trim().toLowerCase();
    const boxes = Array.from(this.element.querySelectorAll<SVGGElement>('[data-testid=graph-svg] g.node'));
    // `op:NAME` finds that op exactly (the walkthrough's links); other text, any box whose op, name or listed params hold it
    const op = query.startsWith('op:') ? query.slice(3) : undefined;
    const matches = query === '' ? [] : boxes.filter((b) => (op !== undefined ? b.dataset['op'] === op : (b.querySelector('title')?.textContent ?? '').toLowerCase().includes(query)));
    boxes.forEach((b) => b.classList.remove('match', 'current'));
    matches.forEach((b) => b.classList.add('match'));
    if (matches.length === 0) {
      this.current = -1;
      this.found.textContent = query === '' ? '' : 'no node matches';
      return;
    }
    this.current = next ? (this.current + 1) % matches.length : Math.min(Math.max(this.current, 0), matches.length - 1);
    const at = matches[this.current]!;
    at.classList.add('current');
    this.found.textContent = `${this.current + 1} of ${matches.length}: ${at.dataset['op']} %${at.dataset['id']}`;
    if (next) this.viewport.centreOn(Number(at.dataset['cx']), Number(at.dataset['cy']));
  }

  /** The source graph, with the expanded composites replaced by their decompositions. */
  private sourceNodes(graph: Graph): { graph: Graph; nodes: DrawnNode[] } {
    if (this.expanded.size === 0) return { graph, nodes: graph.nodes.map((n) => ({ node: n, lines: label(n, graph), classes: isComposite(n) ? ['composite'] : [], origin: n.id })) };
    const origins: number[] = [];
    const shown = expandOps(graph, (def, node) => def.category === 'composite' && this.expanded.has(node.id), origins);
    return {
      graph: shown,
      nodes: shown.nodes.map((n) => {
        const origin = origins[n.id]!;
        const inside = this.expanded.has(origin);
        return { node: n, lines: label(n, shown), classes: isComposite(n) ? ['composite'] : [], origin, ...(inside ? { parent: origin } : {}) };
      }),
    };
  }

  private afterNodes(graph: Graph, previous: Graph, diff: PassDiff): { graph: Graph; nodes: DrawnNode[] } {
    const added = new Set(diff.added);
    return {
      graph,
      nodes: graph.nodes.map((n) => {
        const absorbed = diff.absorbedInto.get(n.id) ?? [];
        const ops = absorbed.map((id) => previous.nodes[id]!.op).filter((op) => op !== 'constant');
        const lines = label(n, graph);
        if (added.has(n.id) && ops.length > 0) lines.push(`absorbed: ${ops.join(', ')}`);
        return { node: n, lines, classes: added.has(n.id) ? ['added'] : [] };
      }),
    };
  }

  private beforeNodes(graph: Graph, after: Graph, diff: PassDiff): { graph: Graph; nodes: DrawnNode[] } {
    const into = new Map<number, number>();
    for (const [id, absorbed] of diff.absorbedInto) for (const a of absorbed) into.set(a, id);
    const removed = new Set(diff.removed);
    return {
      graph,
      nodes: graph.nodes.map((n) => {
        const lines = label(n, graph);
        const target = into.get(n.id);
        if (target !== undefined) lines.push(`-> %${target} ${after.nodes[target]!.op}`);
        return { node: n, lines, classes: removed.has(n.id) ? ['absorbed'] : [] };
      }),
    };
  }

  private render(shown: { graph: Graph; nodes: DrawnNode[] }, stage: number): SVGSVGElement {
    const g = new dagre.graphlib.Graph({ compound: true, multigraph: false });
    g.setGraph({ rankdir: 'TB', nodesep: 16, ranksep: 28, marginx: 12, marginy: 12 });
    g.setDefaultEdgeLabel(() => ({}));
    const clusters = new Set<number>();
    const boxes = shown.nodes.filter((d) => !isFolded(d.node));
    for (const d of boxes) {
      const width = Math.max(...d.lines.map((l) => l.length)) * CHAR_W + 16;
      g.setNode(`n${d.node.id}`, { width, height: d.lines.length * LINE_H + 10 });
      if (d.parent !== undefined) {
        if (!clusters.has(d.parent)) g.setNode(`c${d.parent}`, { label: '' });
        clusters.add(d.parent);
        g.setParent(`n${d.node.id}`, `c${d.parent}`);
      }
    }
    for (const d of boxes) for (const i of new Set(d.node.inputs)) if (!isFolded(shown.graph.nodes[i]!)) g.setEdge(`n${i}`, `n${d.node.id}`);
    dagre.layout(g);
    const layout = g.graph() as { width?: number; height?: number };
    const root = svg('svg', { 'data-width': layout.width ?? 100, 'data-height': layout.height ?? 100, 'data-testid': 'graph-svg', 'data-nodes': shown.nodes.length, 'data-boxes': boxes.length, 'data-stage': stage, role: 'img', 'aria-label': `the graph: ${boxes.length} boxes (params and constants listed inside the boxes that read them)` });
    for (const c of clusters) {
      const box = g.node(`c${c}`) as { x: number; y: number; width: number; height: number };
      const source = this.snapshots[0]!.graph.nodes[c]!;
      const rect = svg('g', { class: 'cluster', 'data-cluster': c }, svg('rect', { x: box.x - box.width / 2, y: box.y - box.height / 2, width: box.width, height: box.height }), svg('text', { x: box.x - box.width / 2 + 6, y: box.y - box.height / 2 + 12, 'font-size': 11 }, `${source.op} %${c} (click to fold)`));
      rect.addEventListener('click', () => {
        this.expanded.delete(c);
        this.draw();
      });
      root.append(rect);
    }
    for (const e of g.edges()) {
      const points = (g.edge(e) as { points: { x: number; y: number }[] }).points;
      root.append(svg('path', { class: 'edge', d: points.map((p, i) => `${i === 0 ? 'M' : 'L'}${p.x},${p.y}`).join(' '), 'marker-end': 'url(#arrow)' }));
    }
    root.prepend(svg('defs', {}, svg('marker', { id: 'arrow', viewBox: '0 0 8 8', refX: 8, refY: 4, markerWidth: 6, markerHeight: 6, orient: 'auto' }, svg('path', { d: 'M0,0 L8,4 L0,8 z', fill: '#a3acbb' }))));
    for (const d of boxes) {
      const box = g.node(`n${d.node.id}`) as { x: number; y: number; width: number; height: number };
      const x = box.x - box.width / 2;
      const y = box.y - box.height / 2;
      const el = svg('g', { class: ['node', ...d.classes].join(' '), 'data-id': d.node.id, 'data-op': d.node.op, 'data-cx': box.x, 'data-cy': box.y }, svg('rect', { x, y, width: box.width, height: box.height }));
      d.lines.forEach((line, i) => el.append(svg('text', { x: x + 8, y: y + 16 + i * LINE_H }, line)));
      el.append(svg('title', {}, d.lines.join('\n')));
      if (stage === 0 && d.classes.includes('composite')) {
        el.addEventListener('click', () => {
          this.expanded.add(d.origin ?? d.node.id);
          this.draw();
        });
      }
      root.append(el);
    }
    return root;
  }
}
