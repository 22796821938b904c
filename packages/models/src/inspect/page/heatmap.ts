/**
 * A matrix as a heatmap on a canvas: rows x columns cells, white (0) to blue (the largest) for
 * probabilities, blue-white-red around 0 for signed values. The values ride along on the element
 * (`data-values`, rows of numbers) so that a test, or a curious reader, can check them.
 */
import { html } from './svg.ts';

export interface HeatmapOptions {
  readonly caption: string;
  readonly rowLabels?: readonly string[];
  readonly signed?: boolean;
  readonly cell?: number;
  readonly testId?: string;
}

export function heatmap(values: ArrayLike<number>, rows: number, cols: number, options: HeatmapOptions): HTMLElement {
  const cell = options.cell ?? (cols > 64 ? 3 : 14);
  const canvas = html('canvas', { class: 'heatmap', width: cols * cell, height: rows * cell, 'data-rows': rows, 'data-cols': cols, 'data-testid': options.testId });
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
        ctx.fillRect(c * cell, r * cell, cell, cell);
      }
    }
  }
  canvas.title = `${options.caption}: ${rows} x ${cols}, max |value| ${max.toPrecision(3)}`;
  return html('figure', {}, canvas, html('figcaption', {}, options.caption));
}

function sequential(t: number): string {
  const k = Math.round(255 * (1 - Math.max(0, Math.min(1, t))));
  return `rgb(${k}, ${Math.round(k * 0.9 + 25)}, 255)`;
}

function diverging(t: number): string {
  const k = Math.round(255 * (1 - Math.min(1, Math.abs(t))));
  return t >= 0 ? `rgb(255, ${k}, ${k})` : `rgb(${k}, ${k}, 255)`;
}
