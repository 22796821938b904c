import { type DType, type Expr, type Shape } from '@loom/graph';
import { JAVASCRIPT } from '../../expr/languages/js.ts';
import { renderExpr } from '../../expr/render-expr.ts';
import { planElementwiseWasm, planKey } from '../wasm-codegen/elementwise-wasm.ts';
import { call } from './runtime-call.ts';

/** How one input of an elementwise loop is read, decided from the static shapes. */
export interface LoopInput {
  /** JS expression naming the array, e.g. `ins[1]` or `out`. */
  readonly array: string;
  /** JS expression for its run-time shape, e.g. `inShapes[1]`. */
  readonly shape: string;
  readonly dtype: DType;
  readonly staticShape: Shape;
}

type Access = 'full' | 'scalar' | 'broadcast';

/** The expression as one JavaScript expression, input k read as `load(k)`. */
function jsExpr(expr: Expr, load: (k: number) => string, dtypes: readonly DType[]): string {
  return renderExpr(JAVASCRIPT, expr, dtypes.map((dtype, k) => ({ value: load(k), dtype }))).result;
}

function accessOf(input: Shape, out: Shape): Access {
  if (input.every((d) => d === 1)) return 'scalar';
  if (input.length === out.length && input.every((d, i) => String(d) === String(out[i]))) return 'full';
  return 'broadcast';
}

/**
 * The loop body of an elementwise kernel writing `out[i] = expr(inputs)`. Inputs with the output's
 * shape are read at `i`, size-1 inputs are hoisted, and broadcast inputs are walked row by row with
 * strides computed at run time (the broadcast axes are known statically from the types).
 */
export function renderElementwiseLoop(expr: Expr, inputs: readonly LoopInput[], outShape: Shape): string {
  // the SIMD kernel where the expression and its broadcasts have one (wasm-codegen/elementwise-wasm.ts);
  // its plan is JSON (numbers, op names, double quotes), so it sits in single quotes as is
  const simd = planElementwiseWasm(expr, inputs, outShape);
  if (simd) return `${call('elementwise', `'${planKey(simd)}'`, `[${inputs.map((i) => i.array).join(', ')}]`, 'out', 'outShape')};`;
  const access = inputs.map((input) => accessOf(input.staticShape, outShape));
  const dtypes = inputs.map((i) => i.dtype);
  const lines: string[] = [];
  inputs.forEach((input, k) => lines.push(`const x${k} = ${input.array};`));
  inputs.forEach((_, k) => {
    if (access[k] === 'scalar') lines.push(`const v${k} = x${k}[0];`);
  });
  const rankOut = outShape.length;
  if (access.every((a) => a !== 'broadcast')) {
    const body = jsExpr(expr, (k) => (access[k] === 'scalar' ? `v${k}` : `x${k}[i]`), dtypes);
    lines.push('const total = out.length;', `for (let i = 0; i < total; i++) out[i] = ${body};`);
    return lines.join('\n');
  }
  // row-wise walk: the last axis is contiguous in the output; each input's offset advances per row
  const innerBroadcast = inputs.map((input, k) => {
    if (access[k] !== 'broadcast') return false;
    const last = input.staticShape[input.staticShape.length - 1];
    return input.staticShape.length === 0 || (last === 1 && outShape[rankOut - 1] !== 1);
  });
  lines.push(`const rank = outShape.length;`, `const n = rank === 0 ? 1 : outShape[rank - 1];`, `const rows = n === 0 ? 0 : out.length / n;`);
  inputs.forEach((input, k) => {
    if (access[k] === 'broadcast') lines.push(`const s${k} = ${call('broadcastStrides', input.shape, 'outShape')};`);
  });
  const offsets = inputs.map((_, k) => k).filter((k) => access[k] === 'broadcast');
  const load = (k: number): string => {
    if (access[k] === 'scalar') return `v${k}`;
    if (access[k] === 'full') return `x${k}[base + j]`;
    return innerBroadcast[k] ? `x${k}[o${k}]` : `x${k}[o${k} + j]`;
  };
  const body = jsExpr(expr, load, dtypes);
  lines.push(
    'for (let r = 0; r < rows; r++) {',
    `  let rem = r; ${offsets.map((k) => `let o${k} = 0;`).join(' ')}`,
    '  for (let d = rank - 2; d >= 0; d--) {',
    '    const size = outShape[d]; const idx = rem % size; rem = (rem - idx) / size;',
    `    ${offsets.map((k) => `o${k} += idx * s${k}[d];`).join(' ')}`,
    '  }',
    '  const base = r * n;',
    `  for (let j = 0; j < n; j++) out[base + j] = ${body};`,
    '}',
  );
  return lines.join('\n');
}
