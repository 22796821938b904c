/**
 * A matrix as a heatmap on a canvas: rows x columns cells, white (0) to blue (the largest) for
 * probabilities, blue-white-red around 0 for signed values, with the rows' and columns' labels (the
 * tokens) when given, and the value under the pointer in the canvas's tooltip. The values ride along
 * on the element (`data-values`, rows of numbers) so that a test, or a curious reader, can check them.
 */
import { html, svg } from './svg.ts';

export interface HeatmapOptions {
  readonly caption: string;
  readonly rowLabels?: readonly string[];
  readonly colLabels?: readonly string[];
  readonly signed?: boolean;
  readonly cell?: number;
  readonly testId?: string;
  /** A colour bar under the map, from the lowest colour to the highest with their values. */
  readonly scale?: boolean;
}

export function heatmap(values: ArrayLike<number>, rows: number, cols: number, options: HeatmapOptions): HTMLElement {
  const cell = options.cell ?? (cols > 64 ? 3 : 14);
  // room for the labels: rows on the left, columns on top (turned), when there are few enough to read
  const [rowLabels, colLabels] = [options.rowLabels?.length === rows ? options.rowLabels : undefined, options.colLabels?.length === cols && cell >= 10 ? options.colLabels : undefined];
  const left = rowLabels && cell >= 10 ? 90 : 0;
  const top = colLabels ? 56 : 0;
  const canvas = html('canvas', { class: 'heatmap', width: left + cols * cell + (colLabels ? 40 : 0), height: top + rows * cell, 'data-rows': rows, 'data-cols': cols, 'data-testid': options.testId, role: 'img', 'aria-label': `${options.caption}: ${rows} x ${cols} values` });
  const matrix: number[][] = [];
  let max = 0;
  for (let r = 0; r < rows; r++) {
    matrix.push(Array.from({ length: cols }, (_, c) => values[r * cols + c]!));
    for (const v of matrix[r]!) max = Math.max(max, Math.abs(v));
  }
  canvas.dataset['values'] = JSON.stringify(matrix);
  const ctx = canvas.getContext('2d');
  if (ctx) {
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < cols; c++) {
        const t = max > 0 ? matrix[r]![c]! / max : 0;
        ctx.fillStyle = options.signed ? diverging(t) : sequential(t);
        ctx.fillRect(left + c * cell, top + r * cell, cell, cell);
      }
    }
    ctx.fillStyle = '#1d2330';
    ctx.font = '11px ui-monospace, monospace';
    if (left > 0) rowLabels!.forEach((label, r) => ctx.fillText(label.slice(0, 12), 2, top + r * cell + cell / 2 + 4, left - 4));
    colLabels?.forEach((label, c) => {
      ctx.save();
      ctx.translate(left + c * cell + cell / 2 + 3, top - 4);
      ctx.rotate(-Math.PI / 4);
      ctx.fillText(label.slice(0, 10), 0, 0);
      ctx.restore();
    });
  }
  const summary = `${options.caption}: ${rows} x ${cols}, max |value| ${max.toPrecision(3)}`;
  canvas.title = summary;
  // the value under the pointer, with its row's and column's labels
  canvas.addEventListener('mousemove', (e) => {
    const [c, r] = [Math.floor((e.offsetX - left) / cell), Math.floor((e.offsetY - top) / cell)];
    if (r < 0 || c < 0 || r >= rows || c >= cols) return void (canvas.title = summary);
    const name = (labels: readonly string[] | undefined, i: number) => (labels ? ` ${JSON.stringify(labels[i])}` : '');
    canvas.title = `row ${r}${name(options.rowLabels, r)}, column ${c}${name(options.colLabels, c)}: ${matrix[r]![c]!.toPrecision(4)}`;
  });
  return html('figure', {}, canvas, ...(options.scale ? [colourScale(max, options.signed ?? false, options.testId)] : []), html('figcaption', {}, options.caption));
}

const SCALE_WIDTH = 220;
const SCALE_STEPS = 44;

/** A horizontal colour bar: -max to max (signed) or 0 to max, with the values at its ends and middle. */
function colourScale(max: number, signed: boolean, testId: string | undefined): SVGSVGElement {
  const low = signed ? -max : 0;
  const cells = Array.from({ length: SCALE_STEPS }, (_, i) => {
    const v = low + ((max - low) * (i + 0.5)) / SCALE_STEPS;
    const t = max > 0 ? v / max : 0;
    return svg('rect', { x: 10 + (i * SCALE_WIDTH) / SCALE_STEPS, y: 0, width: SCALE_WIDTH / SCALE_STEPS + 0.5, height: 10, fill: signed ? diverging(t) : sequential(t) });
  });
  const ticks = [low, (low + max) / 2, max].map((v, i) => svg('text', { x: 10 + (i * SCALE_WIDTH) / 2, y: 24, 'text-anchor': 'middle', class: 'axis-label' }, Number(v.toPrecision(3)).toString()));
  return svg('svg', { width: SCALE_WIDTH + 20, height: 28, role: 'img', 'aria-label': `colour scale from ${low.toPrecision(3)} to ${max.toPrecision(3)}`, ...(testId ? { 'data-testid': `${testId}-scale` } : {}), 'data-min': low, 'data-max': max }, ...cells, ...ticks);
}

function sequential(t: number): string {
  const k = Math.round(255 * (1 - Math.max(0, Math.min(1, t))));
  return `rgb(${k}, ${Math.round(k * 0.9 + 25)}, 255)`;
}

function diverging(t: number): string {
  const k = Math.round(255 * (1 - Math.min(1, Math.abs(t))));
  return t >= 0 ? `rgb(255, ${k}, ${k})` : `rgb(${k}, ${k}, 255)`;
}
