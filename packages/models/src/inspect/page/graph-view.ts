/**
 * The graph view: the model's graph as boxes and edges laid out by dagre. On the source graph the
 * composite ops (attention, ffn, add & norm, embeddings) are blue boxes; a click expands one into its
 * decomposition, drawn inside a dashed cluster (a click on the cluster folds it back). The pass
 * slider shows the graph after each compiler pass; nodes a pass created are green, and each lists
 * what it absorbed (diffPass), and "show what it replaced" draws the graph before the pass with the
 * absorbed nodes in orange. As Netron draws them, params and constants are not boxes of their own:
 * each is listed inside the boxes that read it. Each numbered layer (graph-blocks.ts) is one green
 * box until clicked, so a deep model opens as its stack of layers. The drawing sits in a window that
 * fits it on open, zooms and pans (graph-viewport.ts); a search box finds nodes by op or name.
 */
import dagre from '@dagrejs/dagre';
import { diffPass, type PassDiff } from '@loom/compiler';
import { expandOps, getOp, isOpName, type Graph, type GraphNode } from '@loom/graph';
import { layerBlocks } from './graph-blocks.ts';
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
  /** The numbered layers opened (each is one box until then). */
  private readonly openLayers = new Set<string>();
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
    const key = `${stage}/${before}/${stage === 0 ? [...this.expanded].sort((a, b) => a - b).join(',') : ''}/${[...this.openLayers].sort().join(',')}`;
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

  /** Searches for `text` and brings the first match into view (a link into the graph); `node:ID,ID` names nodes of the source graph. */
  searchFor(text: string): void {
    if (text.startsWith('node:') && this.slider.value !== '0') this.showStage(0);
    this.search.value = text;
    this.current = -1;
    this.find(true);
  }

  /**
   * The boxes the search text finds: `node:ID,ID` those nodes of the source graph (the walkthrough's
   * links), `op:NAME` that op exactly; other text, any box whose op, name or listed params hold it. A
   * folded layer is found by what it holds.
   */
  private matches(): SVGGElement[] {
    const query = this.search.value.trim().toLowerCase();
    if (query === '') return [];
    // top to bottom, then left to right: the order Enter visits them
    const at = (b: SVGGElement) => [Number(b.dataset['cy']), Number(b.dataset['cx'])] as const;
    const boxes = Array.from(this.element.querySelectorAll<SVGGElement>('[data-testid=graph-svg] g.node')).sort((a, b) => at(a)[0] - at(b)[0] || at(a)[1] - at(b)[1]);
    const ids = (b: SVGGElement) => (b.dataset['members'] ?? b.dataset['sourceId'] ?? '').split(' ');
    const ops = (b: SVGGElement) => (b.dataset['ops'] ?? b.dataset['op'] ?? '').split(' ');
    if (query.startsWith('node:')) {
      const wanted = query.slice(5).split(',');
      return boxes.filter((b) => ids(b).some((id) => wanted.includes(id)));
    }
    if (query.startsWith('op:')) return boxes.filter((b) => ops(b).includes(query.slice(3)));
    return boxes.filter((b) => (b.querySelector('title')?.textContent ?? '').toLowerCase().includes(query));
  }

  /** Marks the boxes the search finds; `next` moves to the next one and brings it into view (opening the layer it is folded in). */
  private find(next: boolean): void {
    const matches = this.matches();
    this.element.querySelectorAll('[data-testid=graph-svg] g.node').forEach((b) => b.classList.remove('match', 'current'));
    matches.forEach((b) => b.classList.add('match'));
    if (matches.length === 0) {
      this.current = -1;
      this.found.textContent = this.search.value.trim() === '' ? '' : 'no node matches';
      return;
    }
    // Enter on a folded layer opens it (on its first match); else it moves to the next match
    const folded = (b: SVGGElement | undefined) => b?.dataset['members'] !== undefined;
    if (!(next && folded(matches[this.current]))) this.current = next ? (this.current + 1) % matches.length : Math.min(Math.max(this.current, 0), matches.length - 1);
    const at = matches[this.current]!;
    if (next && folded(at)) {
      // a folded layer: open it and go to the first match inside
      const layer = at.dataset['layer']!;
      this.openLayers.add(layer);
      this.draw();
      this.current = Math.max(0, this.matches().findIndex((b) => b.dataset['layer'] === layer)) - 1;
      return this.find(true);
    }
    at.classList.add('current');
    const what = at.dataset['members'] !== undefined ? `layer ${at.dataset['layer']}` : `${at.dataset['op']} %${at.dataset['id']}`;
    this.found.textContent = `${this.current + 1} of ${matches.length}: ${what}`;
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
    const boxes = shown.nodes.filter((d) => !isFolded(d.node));
    // the numbered layers (graph-blocks.ts): a layer of more than one box is one box until opened
    const layers = layerBlocks(shown.graph);
    const members = new Map<string, DrawnNode[]>();
    for (const d of boxes) {
      const layer = layers[d.node.id];
      if (layer === undefined) continue;
      if (!members.has(layer)) members.set(layer, []);
      members.get(layer)!.push(d);
    }
    const foldedLayer = (id: number): string | undefined => {
      const layer = layers[id];
      return layer !== undefined && !this.openLayers.has(layer) && members.get(layer)!.length > 1 ? layer : undefined;
    };
    const keyOf = (id: number) => (foldedLayer(id) !== undefined ? `b:${foldedLayer(id)}` : `n${id}`);
    const sourceId = (d: DrawnNode) => d.origin ?? d.node.id;
    const clusters = new Map<string, { x: number; y: number; width: number; height: number; label: string; fold: () => void; classes: string }>();
    const setCluster = (name: string, label: string, fold: () => void, classes: string, parent?: string) => {
      if (!clusters.has(name)) {
        g.setNode(name, { label: '' });
        if (parent) g.setParent(name, parent);
        clusters.set(name, { x: 0, y: 0, width: 0, height: 0, label, fold, classes });
      }
    };
    const folded = new Map<string, DrawnNode[]>();
    for (const d of boxes) {
      const layer = foldedLayer(d.node.id);
      if (layer !== undefined) {
        if (!folded.has(layer)) folded.set(layer, []);
        folded.get(layer)!.push(d);
        continue;
      }
      const width = Math.max(...d.lines.map((l) => l.length)) * CHAR_W + 16;
      g.setNode(`n${d.node.id}`, { width, height: d.lines.length * LINE_H + 10 });
      // an open layer is a dashed cluster around its boxes (and around the expanded composites inside it)
      const open = layers[d.node.id] !== undefined && members.get(layers[d.node.id]!)!.length > 1 ? layers[d.node.id] : undefined;
      if (open !== undefined) setCluster(`l:${open}`, `${open} (click to fold the layer)`, () => this.openLayers.delete(open), 'cluster block');
      if (d.parent !== undefined) {
        setCluster(`c${d.parent}`, `${this.snapshots[0]!.graph.nodes[d.parent]!.op} %${d.parent} (click to fold)`, () => this.expanded.delete(d.parent!), 'cluster', open !== undefined ? `l:${open}` : undefined);
        g.setParent(`n${d.node.id}`, `c${d.parent}`);
      } else if (open !== undefined) g.setParent(`n${d.node.id}`, `l:${open}`);
    }
    const layerLines = new Map<string, string[]>();
    for (const [layer, inside] of folded) {
      const ops = [...new Set(inside.map((d) => d.node.op))];
      const params = new Set(inside.flatMap((d) => d.node.inputs).filter((i) => shown.graph.nodes[i]!.op === 'param')).size;
      const lines = [`layer ${layer}`, `${inside.length} ops: ${ops.join(', ')}`, `${params} params; click to open`];
      layerLines.set(layer, lines);
      g.setNode(`b:${layer}`, { width: Math.max(...lines.map((l) => l.length)) * CHAR_W + 16, height: lines.length * LINE_H + 10 });
    }
    for (const d of boxes) {
      for (const i of new Set(d.node.inputs)) {
        if (isFolded(shown.graph.nodes[i]!)) continue;
        const [from, to] = [keyOf(i), keyOf(d.node.id)];
        if (from !== to) g.setEdge(from, to);
      }
    }
    dagre.layout(g);
    const layout = g.graph() as { width?: number; height?: number };
    const root = svg('svg', { 'data-width': layout.width ?? 100, 'data-height': layout.height ?? 100, 'data-testid': 'graph-svg', 'data-nodes': shown.nodes.length, 'data-boxes': boxes.length, 'data-stage': stage, role: 'img', 'aria-label': `the graph: ${boxes.length} nodes in ${g.nodes().length - clusters.size} boxes (params and constants listed inside the boxes that read them; each numbered layer one box until opened)` });
    for (const [name, c] of clusters) {
      const box = g.node(name) as { x: number; y: number; width: number; height: number };
      const rect = svg('g', { class: c.classes, 'data-cluster': name.slice(name.startsWith('c') ? 1 : 2) }, svg('rect', { x: box.x - box.width / 2, y: box.y - box.height / 2, width: box.width, height: box.height }), svg('text', { x: box.x - box.width / 2 + 6, y: box.y - box.height / 2 + 12, 'font-size': 11 }, c.label));
      rect.addEventListener('click', () => {
        c.fold();
        this.draw();
      });
      root.append(rect);
    }
    for (const e of g.edges()) {
      const points = (g.edge(e) as { points: { x: number; y: number }[] }).points;
      root.append(svg('path', { class: 'edge', d: points.map((p, i) => `${i === 0 ? 'M' : 'L'}${p.x},${p.y}`).join(' '), 'marker-end': 'url(#arrow)' }));
    }
    root.prepend(svg('defs', {}, svg('marker', { id: 'arrow', viewBox: '0 0 8 8', refX: 8, refY: 4, markerWidth: 6, markerHeight: 6, orient: 'auto' }, svg('path', { d: 'M0,0 L8,4 L0,8 z', fill: '#a3acbb' }))));
    const drawBox = (key: string, lines: string[], title: string, classes: string[], data: Record<string, string | number>, onClick?: () => void) => {
      const box = g.node(key) as { x: number; y: number; width: number; height: number };
      const [x, y] = [box.x - box.width / 2, box.y - box.height / 2];
      const el = svg('g', { class: ['node', ...classes].join(' '), ...data, 'data-cx': box.x, 'data-cy': box.y }, svg('rect', { x, y, width: box.width, height: box.height }));
      lines.forEach((line, i) => el.append(svg('text', { x: x + 8, y: y + 16 + i * LINE_H }, line)));
      el.append(svg('title', {}, title));
      if (onClick) el.addEventListener('click', () => (onClick(), this.draw()));
      root.append(el);
    };
    for (const [layer, inside] of folded) {
      const classes = ['block', ...['added', 'absorbed'].filter((c) => inside.some((d) => d.classes.includes(c)))];
      drawBox(`b:${layer}`, layerLines.get(layer)!, inside.map((d) => d.lines.join('\n')).join('\n'), classes, { 'data-op': 'layer', 'data-layer': layer, 'data-members': inside.map(sourceId).join(' '), 'data-ops': [...new Set(inside.map((d) => d.node.op))].join(' ') }, () => this.openLayers.add(layer));
    }
    for (const d of boxes) {
      if (foldedLayer(d.node.id) !== undefined) continue;
      const layer = layers[d.node.id];
      const expand = stage === 0 && d.classes.includes('composite') ? () => this.expanded.add(d.origin ?? d.node.id) : undefined;
      drawBox(`n${d.node.id}`, d.lines, d.lines.join('\n'), d.classes, { 'data-id': d.node.id, 'data-source-id': sourceId(d), 'data-op': d.node.op, ...(layer !== undefined ? { 'data-layer': layer } : {}) }, expand);
    }
    return root;
  }
}
