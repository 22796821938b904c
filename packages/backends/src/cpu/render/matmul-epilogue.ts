import { type Expr, type Shape } from '@loom/graph';

/**
 * The fused-matmul epilogues the WebAssembly kernel runs itself, in place on the product while the
 * threads that computed it are still at hand: c = act(c + bias) + residual, with bias a row vector
 * [N] and residual a tensor of the output's shape, each optional (GPT-2 and the encoder have only
 * these). Any other epilogue stays a generated JavaScript loop.
 */
export interface WasmEpilogue {
  /** Epilogue input index (>= 1) of the bias, or undefined. */
  readonly bias?: number;
  readonly residual?: number;
  /** 0 none, 1 gelu_tanh, 2 relu, 3 gelu (erf) (the kernel's codes). */
  readonly act: 0 | 1 | 2 | 3;
}

const ACTIVATIONS: Readonly<Record<string, 1 | 2 | 3>> = { gelu_tanh: 1, relu: 2, gelu: 3 };

const isIn = (e: Expr): e is { in: number } => 'in' in e;
const isOp = (e: Expr, op: string): e is { op: string; args: readonly Expr[] } => 'op' in e && e.op === op;

/**
 * Matches `expr` (in0 = the product) against act?(in0 + bias?) + residual?, given each epilogue
 * input's static shape and the output's; undefined when it has another form.
 */
export function matchEpilogue(expr: Expr, inputShapes: readonly Shape[], outShape: Shape): WasmEpilogue | undefined {
  const n = outShape[outShape.length - 1];
  const isBias = (e: Expr) => isIn(e) && e.in > 0 && isRowVector(inputShapes[e.in]!, n);
  const isResidual = (e: Expr) => isIn(e) && e.in > 0 && sameShape(inputShapes[e.in]!, outShape);
  // the part inside the residual add: act?(in0 + bias?)
  const inner = (e: Expr): Omit<WasmEpilogue, 'residual'> | undefined => {
    let act: WasmEpilogue['act'] = 0;
    if ('op' in e && ACTIVATIONS[e.op] && e.args.length === 1) {
      act = ACTIVATIONS[e.op]!;
      e = e.args[0]!;
    }
    if (isIn(e) && e.in === 0) return { act };
    if (isOp(e, 'add') && e.args.length === 2) {
      const [x, y] = e.args as [Expr, Expr];
      if (isIn(x) && x.in === 0 && isBias(y)) return { act, bias: (y as { in: number }).in };
      if (isIn(y) && y.in === 0 && isBias(x)) return { act, bias: (x as { in: number }).in };
    }
    return undefined;
  };
  const plain = inner(expr);
  if (plain) return plain;
  if (isOp(expr, 'add') && expr.args.length === 2) {
    const [x, y] = expr.args as [Expr, Expr];
    for (const [res, rest] of [[x, y], [y, x]] as const) {
      const within = isResidual(res) ? inner(rest) : undefined;
      if (within && (res as { in: number }).in !== within.bias) return { ...within, residual: (res as { in: number }).in };
    }
  }
  return undefined;
}

function isRowVector(shape: Shape, n: Shape[number] | undefined): boolean {
  return shape.length >= 1 && String(shape[shape.length - 1]) === String(n) && shape.slice(0, -1).every((d) => d === 1);
}

function sameShape(a: Shape, b: Shape): boolean {
  return a.length === b.length && a.every((d, i) => String(d) === String(b[i]));
}
