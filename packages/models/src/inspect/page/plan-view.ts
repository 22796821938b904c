/**
 * The plan view: the kernels in execution order with their buffers, a memory timeline (each planned
 * buffer's lifetime over the steps; the bytes live per step against one buffer per value, never
 * reused; the peak marked), and per-kernel times from a profiled run on the chosen backend.
 */
import type { Plan } from '@loom/compiler';
import { resolveDim } from '@loom/graph';
import { formatBytes, html, shortSource, svg } from './svg.ts';

export interface BufferLife {
  readonly buffer: number;
  readonly bytes: number;
  readonly first: number;
  readonly last: number;
}

/** Lifetimes of the intermediate and output buffers (the ones the plan shares), in steps. */
export function bufferLives(plan: Plan, bindings: ReadonlyMap<string, number>): BufferLife[] {
  const lives = new Map<number, { first: number; last: number }>();
  const touch = (buffer: number, step: number) => {
    const kind = plan.buffers[buffer]!.kind;
    if (kind !== 'intermediate' && kind !== 'output') return;
    const life = lives.get(buffer) ?? { first: step, last: step };
    life.first = Math.min(life.first, step);
    life.last = Math.max(life.last, step);
    lives.set(buffer, life);
  };
  plan.steps.forEach((s, k) => {
    touch(s.output, k);
    for (const i of s.inputs) touch(i, k);
  });
  const end = plan.steps.length - 1;
  return [...lives].map(([buffer, life]) => ({
    buffer,
    bytes: resolveDim(plan.buffers[buffer]!.size, bindings) * 4,
    first: life.first,
    // an output stays until the run returns
    last: plan.buffers[buffer]!.kind === 'output' ? end : life.last,
  }));
}

/** Bytes live at each step: the planned buffers, and one buffer per value allocated for the whole run. */
export function liveBytes(plan: Plan, bindings: ReadonlyMap<string, number>): { planned: number[]; naive: number[] } {
  const lives = bufferLives(plan, bindings);
  const planned = plan.steps.map((_, k) => lives.filter((l) => l.first <= k && k <= l.last).reduce((s, l) => s + l.bytes, 0));
  let total = 0;
  const naive = plan.steps.map((s) => {
    const node = plan.graph.nodes[s.node]!;
    total += node.type.shape.reduce<number>((p, d) => p * resolveDim(d, bindings), 1) * 4;
    return total;
  });
  return { planned, naive };
}

export class PlanView {
  readonly element: HTMLElement;
  private readonly table: HTMLElement;
  private readonly timeline: HTMLElement;
  readonly profileButton: HTMLButtonElement;
  readonly summary: HTMLElement;
  private plan: Plan | undefined;
  private bindings: ReadonlyMap<string, number> = new Map();
  /** Log scale by default: one large buffer (a model's logits) would flatten every other step. */
  private readonly logScale: HTMLInputElement;

  constructor() {
    this.logScale = html('input', { type: 'checkbox', checked: '', 'data-testid': 'log-scale' });
    this.logScale.addEventListener('change', () => this.plan && this.drawTimeline(this.plan, this.bindings));
    this.profileButton = html('button', { 'data-testid': 'profile' }, 'profile a run');
    this.summary = html('span', { 'data-testid': 'plan-summary' });
    // scrolled regions take the focus (tabindex), so the keyboard can scroll them
    this.table = html('div', { style: 'max-height: 45vh; overflow: auto', tabindex: 0, role: 'region', 'aria-label': 'kernels' });
    this.timeline = html('div', { style: 'overflow: auto', tabindex: 0, role: 'region', 'aria-label': 'memory timeline' });
    this.element = html('section', { id: 'plan-view' }, html('div', { class: 'toolbar' }, this.summary, this.profileButton), html('h3', {}, 'Memory timeline'), html('label', {}, this.logScale, ' log scale'), this.timeline, html('h3', {}, 'Kernels'), this.table);
  }

  setPlan(plan: Plan, bindings: ReadonlyMap<string, number>): void {
    this.plan = plan;
    this.bindings = bindings;
    const sizes = [...bindings].map(([k, v]) => `${k} = ${v}`).join(', ');
    this.summary.textContent = `${plan.steps.length} kernels, ${plan.buffers.length} buffers at ${sizes}: planned ${formatBytes(plan.stats.plannedBytes)} of intermediates, naive ${formatBytes(plan.stats.naiveBytes)}`;
    this.drawTable(plan);
    this.drawTimeline(plan, bindings);
  }

  /** Per-step milliseconds of a profiled run (NaN where the backend ran no kernel of its own). */
  setTimes(ms: readonly number[], backend: string): void {
    const rows = this.table.querySelectorAll<HTMLTableRowElement>('tbody tr');
    rows.forEach((row, k) => {
      const cell = row.querySelector('td.ms')!;
      const v = ms[k];
      cell.textContent = v === undefined || Number.isNaN(v) ? '' : v.toFixed(3);
    });
    const total = ms.filter((v) => !Number.isNaN(v)).reduce((s, v) => s + v, 0);
    this.table.querySelector('th.ms')!.textContent = `ms (${backend}, total ${total.toFixed(2)}; the second run)`;
  }

  private drawTable(plan: Plan): void {
    const buffer = (id: number) => {
      const b = plan.buffers[id]!;
      return `#${id}${b.name ? ` '${b.name}'` : ` ${b.kind}`}`;
    };
    const body = html('tbody');
    plan.steps.forEach((s, k) => {
      const node = plan.graph.nodes[s.node]!;
      body.append(
        html('tr', { 'data-step': k }, html('td', {}, String(k)), html('td', {}, `%${node.id} ${node.op}`), html('td', {}, `${node.type.dtype}[${node.type.shape.join(', ')}]`), html('td', {}, s.inputs.map(buffer).join(', ')), html('td', {}, buffer(s.output) + (s.inPlace ? ' (in place)' : '')), html('td', {}, shortSource(node.source)), html('td', { class: 'ms' })),
      );
    });
    const head = html('thead', {}, html('tr', {}, ...['step', 'kernel', 'type', 'reads', 'writes', 'model line'].map((t) => html('th', {}, t)), html('th', { class: 'ms' }, 'ms')));
    this.table.replaceChildren(html('table', { 'data-testid': 'kernels' }, head, body));
  }

  private drawTimeline(plan: Plan, bindings: ReadonlyMap<string, number>): void {
    const lives = bufferLives(plan, bindings).sort((a, b) => a.first - b.first);
    const { planned, naive } = liveBytes(plan, bindings);
    const steps = plan.steps.length;
    const stepW = Math.max(6, Math.min(24, 900 / Math.max(1, steps)));
    const rowH = 8;
    const chartH = 120;
    const left = 60;
    const width = left + steps * stepW + 240; // room for the peak's label
    const barsTop = chartH + 30;
    const height = barsTop + lives.length * rowH + 20;
    const max = Math.max(1, ...naive, ...planned);
    const min = Math.max(1, Math.min(...[...naive, ...planned].filter((v) => v > 0)));
    const log = this.logScale.checked && max > min;
    const y = (bytes: number) => {
      const f = log ? Math.log(Math.max(bytes, min) / min) / Math.log(max / min) : bytes / max;
      return 10 + chartH - f * chartH;
    };
    const line = (values: number[]) => values.map((v, k) => `${k === 0 ? 'M' : 'L'}${left + (k + 0.5) * stepW},${y(v)}`).join(' ');
    const peak = planned.indexOf(Math.max(...planned));
    const root = svg('svg', { width, height, 'data-testid': 'memory-timeline', 'data-buffers': lives.length, 'data-peak-bytes': planned[peak] ?? 0, 'data-peak-step': peak, 'data-scale': log ? 'log' : 'linear' });
    root.append(
      svg('path', { d: line(naive), fill: 'none', stroke: '#9aa3b2', 'stroke-dasharray': '4 3' }),
      svg('path', { d: line(planned), fill: 'none', stroke: '#3056d3', 'stroke-width': 2 }),
      svg('circle', { cx: left + (peak + 0.5) * stepW, cy: y(planned[peak] ?? 0), r: 4, fill: '#d32f2f' }),
      svg('text', { x: left + (peak + 0.5) * stepW + 8, y: y(planned[peak] ?? 0) + 4, 'font-size': 11, fill: '#d32f2f' }, `peak ${formatBytes(planned[peak] ?? 0)} live at step ${peak}`),
      svg('text', { x: 4, y: 14, 'font-size': 10 }, formatBytes(max)),
      svg('text', { x: 4, y: 10 + chartH, 'font-size': 10 }, log ? formatBytes(min) : '0'),
      svg('text', { x: left, y: chartH + 24, 'font-size': 11, fill: '#4a5468' }, `blue: bytes live in the planned buffers; dashed: one buffer per value, never reused (${formatBytes(naive[naive.length - 1] ?? 0)} at the end)`),
    );
    lives.forEach((l, r) => {
      root.append(svg('rect', { x: left + l.first * stepW, y: barsTop + r * rowH, width: (l.last - l.first + 1) * stepW - 1, height: rowH - 2, fill: plan.buffers[l.buffer]!.kind === 'output' ? '#2d9a47' : '#7aa2ff' }, svg('title', {}, `buffer #${l.buffer}: ${formatBytes(l.bytes)}, steps ${l.first}-${l.last}`)));
    });
    root.append(svg('text', { x: 4, y: barsTop + 8, 'font-size': 10 }, 'buffers'));
    this.timeline.replaceChildren(root);
  }

  get current(): Plan | undefined {
    return this.plan;
  }
}
