import { WebGlKernelError, WebGlLimitError } from './errors.ts';
import type { GlPass } from './kernel.ts';

/**
 * How many loop iterations a fragment may run, and how many a pass runs.
 *
 * Mesa's llvmpipe (the software GL that headless-gl's ANGLE draws with under Xvfb, and the GL of
 * most machines without a GPU driver) guards every shader against endless loops with one counter
 * per invocation, LP_MAX_TGSI_LOOP_ITERATIONS = 65535 (gallivm's lp_exec_endloop): Mesa inlines
 * every function, so all the loops of a fragment share it; it counts each pass through any loop
 * body, a nested loop's passes included, plus the pass whose test ends each loop; at zero every
 * loop exits and the shader goes on with what it has. No error, no warning: a silent wrong answer
 * (a softmax over 50257 classes summed 15278 of them). Measured in WEBGL.md, Loop limit.
 *
 * So every pass keeps its loops under LOOP_BUDGET (half the cap): long reductions are split into
 * chunks (reduction.ts), and the runtime measures each pass's loops from its GLSL before compiling
 * it, refusing one over the budget with a WebGlLimitError naming the op, the node and the count.
 */

/** llvmpipe's cap on the loop iterations of one shader invocation, all loops together. */
export const DRIVER_LOOP_LIMIT = 65535;

/** What a pass may use of it: half, so that a miscount or a driver's extra loop still fits. */
export const LOOP_BUDGET = 32768;

/** Tests lower the budget to reach the chunked kernels on small shapes; below 5 a (max, sum) chunk would hold one value and never shorten the row. */
export const MIN_LOOP_BUDGET = 5;

/** What one loop of `trips` iterations costs on llvmpipe's counter, its body costing `body` each time. */
export function loopCost(trips: number, body = 0): number {
  return trips * (1 + body) + 1;
}

/** The only loop header the renderers write: `for (int j = A; j < B; j++)` or `j += S`, with literal bounds, braces required. */
const HEADER = /^for \(int (\w+) = (\d+); \1 < (\d+); \1(?:\+\+| \+= (\d+))\) \{$/;

/**
 * The loop iterations one fragment of the pass runs, counted as llvmpipe counts them (loopCost,
 * nested loops multiplied out, loops in both arms of a branch both counted: fragments run in SIMD
 * groups, which walk every loop any of their fragments takes). GLSL ES 1.00 allows only loops with
 * constant bounds, so the count is exact from the source; `break` can only lower it. A loop in
 * another form, or in a helper function (called how often?), is a renderer bug.
 */
export function loopIterations(pass: Pick<GlPass, 'body' | 'helpers' | 'what'>): number {
  for (const h of pass.helpers) {
    if (/\b(for|while|do)\b/.test(h)) throw new WebGlKernelError(`${pass.what}: a helper function holds a loop, which the loop budget cannot count:\n${h}`);
  }
  const text = pass.body.join('\n');
  // one frame per open brace; a loop's frame knows its trip count
  const stack: { trips: number | undefined; inner: number }[] = [{ trips: undefined, inner: 0 }];
  for (const [token] of text.matchAll(/\bfor\b[^{;]*;[^{;]*;[^{]*\{|\b(?:for|while|do)\b|[{}]/g)) {
    if (token === '}') {
      const frame = stack.pop()!;
      if (stack.length === 0) throw new WebGlKernelError(`${pass.what}: unbalanced braces in its GLSL`);
      stack[stack.length - 1]!.inner += frame.trips === undefined ? frame.inner : loopCost(frame.trips, frame.inner);
    } else if (token === '{') stack.push({ trips: undefined, inner: 0 });
    else {
      const m = HEADER.exec(token.replace(/\s+/g, ' '));
      if (!m) throw new WebGlKernelError(`${pass.what}: a loop the loop budget cannot count (write 'for (int j = A; j < B; j++) {' with literal bounds): ${token}`);
      const [from, to, step] = [Number(m[2]), Number(m[3]), Number(m[4] ?? 1)];
      stack.push({ trips: Math.max(0, Math.ceil((to - from) / step)), inner: 0 });
    }
  }
  if (stack.length !== 1) throw new WebGlKernelError(`${pass.what}: unbalanced braces in its GLSL`);
  return stack[0]!.inner;
}

/** Refuses a pass whose loops would run past the budget (`what`: the op, the node and the pass). */
export function checkLoopBudget(pass: Pick<GlPass, 'body' | 'helpers' | 'what'>, what: string, budget: number): void {
  const count = loopIterations(pass);
  if (count <= budget) return;
  throw new WebGlLimitError(
    `${what} runs ${count} loop iterations per fragment (all its loops together), more than the ${budget} a pass may: ` +
      `llvmpipe ends every loop of a shader after ${DRIVER_LOOP_LIMIT} in all and returns a wrong value without an error (WEBGL.md, Loop limit)`,
  );
}
