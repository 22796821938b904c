/**
 * A drawn graph in a window: fitted to it on open, zoomed with the wheel (about the pointer) or the
 * + and - buttons, panned by dragging, with an overview (the whole graph small, the window's part of it
 * framed; a click there moves the window) and a way to bring one node into view. The drawing keeps
 * its own coordinates; only the SVG's viewBox moves.
 */
import { html, svg } from './svg.ts';

const MIN_SCALE = 0.05;
const MAX_SCALE = 4;
const OVERVIEW_WIDTH = 160;

export class GraphViewport {
  readonly element: HTMLElement;
  readonly zoomLabel = html('span', { 'data-testid': 'zoom', class: 'zoom-label' });
  private readonly frame = html('div', { class: 'graph-frame', 'data-testid': 'graph-frame' });
  private readonly overview = html('div', { class: 'graph-overview', 'data-testid': 'graph-overview' });
  private drawing: SVGSVGElement | undefined;
  private size = { width: 1, height: 1 };
  /** The top-left of the window in drawing coordinates, and pixels per drawing unit. */
  private view = { x: 0, y: 0, scale: 1 };
  private box: SVGRectElement | undefined;

  constructor() {
    const button = (text: string, label: string, testId: string, act: () => void) => {
      const b = html('button', { 'aria-label': label, 'data-testid': testId, title: label }, text);
      b.addEventListener('click', act);
      return b;
    };
    this.element = html(
      'div',
      { class: 'graph-window' },
      html('div', { class: 'toolbar' },
        button('fit', 'fit the graph to the window', 'zoom-fit', () => this.fit()),
        button('+', 'zoom in', 'zoom-in', () => this.zoomBy(1.25)),
        button('−', 'zoom out', 'zoom-out', () => this.zoomBy(0.8)),
        this.zoomLabel),
      html('div', { class: 'graph-stage' }, this.frame, this.overview),
    );
    this.frame.addEventListener('wheel', (e) => {
      e.preventDefault();
      const at = this.toDrawing(e.offsetX, e.offsetY);
      this.zoomBy(e.deltaY < 0 ? 1.15 : 1 / 1.15, at);
    }, { passive: false });
    let drag: { x: number; y: number; view: { x: number; y: number } } | undefined;
    this.frame.addEventListener('pointerdown', (e) => {
      if ((e.target as Element).closest('g.node, g.cluster')) return; // a click on a box is the box's
      drag = { x: e.clientX, y: e.clientY, view: { ...this.view } };
      this.frame.setPointerCapture(e.pointerId);
    });
    this.frame.addEventListener('pointermove', (e) => {
      if (!drag) return;
      this.view.x = drag.view.x - (e.clientX - drag.x) / this.view.scale;
      this.view.y = drag.view.y - (e.clientY - drag.y) / this.view.scale;
      this.apply();
    });
    this.frame.addEventListener('pointerup', () => (drag = undefined));
  }

  /** Shows a drawing (its natural size in data-width and data-height), fitted to the window when `fit`. */
  show(drawing: SVGSVGElement, fit: boolean): void {
    this.size = { width: Number(drawing.dataset['width']), height: Number(drawing.dataset['height']) };
    this.drawing = drawing;
    drawing.setAttribute('width', '100%');
    drawing.setAttribute('height', '100%');
    this.frame.replaceChildren(drawing);
    this.drawOverview(drawing);
    if (fit) this.fit();
    else this.apply();
  }

  /** The whole drawing in the window (never above 100%). */
  fit(): void {
    const { clientWidth: w, clientHeight: h } = this.frame;
    const scale = Math.max(MIN_SCALE, Math.min(1, (w || 800) / this.size.width, (h || 600) / this.size.height));
    this.view = { x: (this.size.width - (w || 800) / scale) / 2, y: 0, scale };
    this.apply();
  }

  /** Centres the window on a point of the drawing, at 100% or more. */
  centreOn(x: number, y: number): void {
    this.view.scale = Math.max(this.view.scale, 1);
    const { clientWidth: w, clientHeight: h } = this.frame;
    this.view.x = x - (w || 800) / 2 / this.view.scale;
    this.view.y = y - (h || 600) / 2 / this.view.scale;
    this.apply();
  }

  private zoomBy(factor: number, about?: { x: number; y: number }): void {
    const { clientWidth: w, clientHeight: h } = this.frame;
    const centre = about ?? this.toDrawing((w || 800) / 2, (h || 600) / 2);
    const scale = Math.max(MIN_SCALE, Math.min(MAX_SCALE, this.view.scale * factor));
    // keep `centre` where it is on the screen
    this.view.x = centre.x - (centre.x - this.view.x) * (this.view.scale / scale);
    this.view.y = centre.y - (centre.y - this.view.y) * (this.view.scale / scale);
    this.view.scale = scale;
    this.apply();
  }

  private toDrawing(px: number, py: number): { x: number; y: number } {
    return { x: this.view.x + px / this.view.scale, y: this.view.y + py / this.view.scale };
  }

  private apply(): void {
    if (!this.drawing) return;
    const { clientWidth: w, clientHeight: h } = this.frame;
    const [vw, vh] = [(w || 800) / this.view.scale, (h || 600) / this.view.scale];
    this.drawing.setAttribute('viewBox', `${this.view.x} ${this.view.y} ${vw} ${vh}`);
    this.drawing.dataset['scale'] = this.view.scale.toFixed(3);
    this.zoomLabel.textContent = `${Math.round(this.view.scale * 100)}%`;
    this.box?.setAttribute('x', String(this.view.x));
    this.box?.setAttribute('y', String(this.view.y));
    this.box?.setAttribute('width', String(vw));
    this.box?.setAttribute('height', String(vh));
  }

  /** The overview: the drawing again, small, with the window framed; a click centres the window there. */
  private drawOverview(drawing: SVGSVGElement): void {
    const height = Math.min(240, (OVERVIEW_WIDTH * this.size.height) / this.size.width);
    const copy = drawing.cloneNode(true) as SVGSVGElement;
    copy.removeAttribute('data-testid');
    // boxes and edges only: no text at this size, and nothing a query for the graph's nodes would find twice
    copy.querySelectorAll('text, title, defs').forEach((t) => t.remove());
    copy.querySelectorAll('g, path').forEach((el) => el.setAttribute('class', el.tagName === 'path' ? 'overview-edge' : 'overview-box'));
    copy.querySelectorAll('[data-id], [data-cluster]').forEach((el) => (el.removeAttribute('data-id'), el.removeAttribute('data-cluster')));
    copy.setAttribute('viewBox', `0 0 ${this.size.width} ${this.size.height}`);
    copy.setAttribute('width', String(OVERVIEW_WIDTH));
    copy.setAttribute('height', String(height));
    copy.setAttribute('preserveAspectRatio', 'xMidYMin meet');
    copy.setAttribute('aria-hidden', 'true');
    this.box = svg('rect', { class: 'overview-window', 'data-testid': 'overview-window' });
    copy.append(this.box);
    copy.addEventListener('click', (e) => {
      const r = copy.getBoundingClientRect();
      const scale = Math.min(r.width / this.size.width, r.height / this.size.height);
      const offset = (r.width - this.size.width * scale) / 2;
      this.centreOn((e.clientX - r.left - offset) / scale, (e.clientY - r.top) / scale);
    });
    this.overview.replaceChildren(copy);
  }
}
