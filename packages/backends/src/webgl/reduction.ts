import { int } from './glsl.ts';
import { pass, sample, type GlPass, type PassInput } from './kernel.ts';
import { loopCost } from './loops.ts';

/**
 * Reductions that keep every pass under the loop budget (loops.ts): a row of `count` terms that one
 * fragment can walk within the budget is one pass, as before; a longer one is cut into chunks, one
 * fragment per (row, chunk) folding its chunk into a partial result, and the partials are folded the
 * same way (again in chunks if there are still too many) by a last pass with one fragment per row.
 * Two forms: `reduce` for one associative fold (sum, max, min, a count), and `maxAndSumExp` for a
 * softmax's (max, sum of exp(x - max)) pairs, whose chunks combine by the log-sum-exp rule.
 *
 * GLSL every pass of both declares, which setups and terms must not redeclare: `row` (the result
 * the fragment works for), `acc`, `j` (the term's index), `jj`, `j0`, `pair`, `m`, `s`, `w`.
 */

/** The passes of one step in order; `add` returns what later passes read the new one as. */
export class PassList {
  readonly passes: GlPass[] = [];

  add(p: GlPass): PassInput {
    this.passes.push(p);
    return pass(this.passes.length - 1);
  }
}

/** An associative fold into the float `acc`. */
export interface Fold {
  /** The value before any term: a GLSL float (it may read `row`), or 'first': the first term (max: idempotent, and -inf stays -inf). */
  readonly init: string;
  /** The statement folding the float `x` into `acc`. */
  step(x: string): string;
}

export const SUM: Fold = { init: '0.0', step: (x) => `acc += ${x};` };
export const MAX: Fold = { init: 'first', step: (x) => `acc = max(acc, ${x});` };

/** A term: a float, with statements computing it if needed (run in a block of their own). */
export type Term = string | { readonly lines: readonly string[]; readonly value: string };

/** What a row-wise walk reads: `rows` rows of `count` terms (at least one) from `inputs`. */
interface RowWalk {
  /** For messages and profiles, e.g. 'reduce_sum'. */
  readonly what: string;
  /** Results: the last pass has one fragment per row. */
  readonly rows: number;
  /** Terms per row. */
  readonly count: number;
  /** The textures the terms read: sample slots 0, 1, ... */
  readonly inputs: readonly PassInput[];
  /** Statements run once per fragment before the terms; they may read `row`. */
  readonly setup?: readonly string[];
}

export interface Reduction extends RowWalk {
  /** Term `j` of the row (`j` an int expression); may read `row` and what `setup` declared. */
  term(j: string): Term;
  readonly fold: Fold;
  /** Terms per loop iteration (matmul: 4, the loop then costs a quarter). */
  readonly unroll?: number;
  /**
   * The result from `acc`: statements ending in `return` (default `return acc;`), run by the last
   * pass. They may read `row` and, through `at(k, index)`, the k-th of `finishInputs`; not what
   * `setup` declared (the last pass of a chunked reduction does not run it).
   */
  finish?(at: (k: number, index: string) => string): string[];
  readonly finishInputs?: readonly PassInput[];
  /** GLSL functions `finish` calls. */
  readonly helpers?: readonly string[];
  /** The last pass is the step's status pass (GlPass.status). */
  readonly status?: boolean;
}

/** The reduction's passes, added to `list`; returns the last, which holds one result per row. */
export function reduce(list: PassList, r: Reduction, budget: number): PassInput {
  const unroll = r.unroll ?? 1;
  if (loopCost(Math.floor(r.count / unroll)) <= budget) return list.add(lastPass(r, unroll));
  // as few chunks as the budget allows, of (nearly) equal lengths, each a multiple of the unroll
  const most = (budget - 1) * unroll;
  const length = Math.ceil(Math.ceil(r.count / Math.ceil(r.count / most)) / unroll) * unroll;
  const chunks = Math.ceil(r.count / length);
  const partials = list.add(chunkPass(r, unroll, length, chunks));
  return reduce(
    list,
    { ...r, what: `${r.what}, folding ${chunks} chunks`, count: chunks, inputs: [partials], setup: [], term: (j) => sample(0, `row * ${int(chunks)} + ${j}`), unroll: 1 },
    budget,
  );
}

/** Statements folding term `j` into `acc`. */
function foldTerm(r: Reduction, j: string): string[] {
  const t = r.term(j);
  if (typeof t === 'string') return [r.fold.step(t)];
  return t.lines.length === 0 ? [r.fold.step(t.value)] : ['{', ...t.lines.map((l) => `  ${l}`), `  ${r.fold.step(t.value)}`, '}'];
}

/** `float acc` before the terms; 'first' starts from term `first`. */
function initAcc(r: Reduction, first: string): string[] {
  if (r.fold.init !== 'first') return [`float acc = ${r.fold.init};`];
  if (r.count === 0) return ['float acc = 0.0;'];
  const t = r.term(first);
  if (typeof t === 'string') return [`float acc = ${t};`];
  return ['float acc;', '{', ...t.lines.map((l) => `  ${l}`), `  acc = ${t.value};`, '}'];
}

/** Terms j, j + 1, ..., j + n - 1 (`j` an int expression). */
function unrolled(r: Reduction, j: string, n: number): string[] {
  return Array.from({ length: n }, (_, u) => foldTerm(r, u === 0 ? j : `${j} + ${u}`)).flat();
}

/** One fragment per row walks all its terms, then finishes. */
function lastPass(r: Reduction, unroll: number): GlPass {
  const whole = Math.floor(r.count / unroll) * unroll;
  const at = (k: number, index: string) => sample(r.inputs.length + k, index);
  const body = [
    'int row = i;',
    ...(r.setup ?? []),
    ...initAcc(r, '0'),
    `for (int j = 0; j < ${int(whole)}; ${unroll === 1 ? 'j++' : `j += ${unroll}`}) {`,
    ...unrolled(r, 'j', unroll).map((l) => `  ${l}`),
    '}',
    ...Array.from({ length: r.count - whole }, (_, q) => foldTerm(r, int(whole + q))).flat(),
    ...(r.finish ? r.finish(at) : ['return acc;']),
  ];
  return { inputs: [...r.inputs, ...(r.finishInputs ?? [])], size: r.rows, helpers: r.helpers ?? [], body, what: r.what, ...(r.status ? { status: true } : {}) };
}

/** One fragment per (row, chunk) folds the chunk's terms: partial results, [rows, chunks]. */
function chunkPass(r: Reduction, unroll: number, length: number, chunks: number): GlPass {
  const tail = r.count % unroll;
  const body = [
    `int row = i / ${int(chunks)};`,
    `int j0 = (i - row * ${int(chunks)}) * ${int(length)};`,
    ...(r.setup ?? []),
    ...initAcc(r, 'j0'),
    `for (int jj = 0; jj < ${int(length)}; ${unroll === 1 ? 'jj++' : `jj += ${unroll}`}) {`,
    '  int j = j0 + jj;',
    // the last chunk may be shorter: stop before a group of terms that would pass the end
    ...(r.count % length === 0 ? [] : [`  if (j > ${int(r.count - unroll)}) { break; }`]),
    ...unrolled(r, 'j', unroll).map((l) => `  ${l}`),
    '}',
    // terms past the last whole group of `unroll`, in the last chunk
    ...(tail === 0 ? [] : [`if (j0 == ${int((chunks - 1) * length)}) {`, ...Array.from({ length: tail }, (_, q) => foldTerm(r, int(r.count - tail + q))).flat().map((l) => `  ${l}`), '}']),
    'return acc;',
  ];
  return { inputs: r.inputs, size: r.rows * chunks, helpers: [], body, what: `${r.what}, ${chunks} chunks of ${length}` };
}

export interface SoftmaxStats extends RowWalk {
  /** Value `j` of the row (`j` an int expression), a float expression. */
  value(j: string): string;
}

/**
 * Per row the maximum m and the sum of exp(x - m), at [row * 2] and [row * 2 + 1] of the last pass.
 * A row that fits the budget is one fragment per value as before; a longer one is cut into chunks,
 * each with its own (m_c, s_c), folded by the log-sum-exp rule: m = max m_c, s = sum s_c e^(m_c - m)
 * (a chunk whose weight underflows to 0, or that is all -inf, adds nothing).
 */
export function maxAndSumExp(list: PassList, stats: SoftmaxStats, budget: number): PassInput {
  return pairs(list, stats.what, stats.rows, stats.count, stats.inputs, stats.setup ?? [], { max: stats.value, add: (j) => [`s += exp(${stats.value(j)} - m);`] }, budget);
}

/** How a pairs pass reads its terms: the values whose max it takes, and what adds term j to `s` (with `m` known). */
interface PairTerms {
  max(j: string): string;
  add(j: string): string[];
}

function pairs(list: PassList, what: string, rows: number, count: number, inputs: readonly PassInput[], setup: readonly string[], terms: PairTerms, budget: number): PassInput {
  // the max loop runs count - 1 times, the sum loop count times
  if (loopCost(count - 1) + loopCost(count) <= budget) {
    const body = [
      'int row = i / 2;',
      ...setup,
      `float m = ${terms.max('0')};`,
      `for (int j = 1; j < ${int(count)}; j++) { m = max(m, ${terms.max('j')}); }`,
      'if (i - row * 2 == 0) { return m; }',
      'float s = 0.0;',
      `for (int j = 0; j < ${int(count)}; j++) { ${terms.add('j').join(' ')} }`,
      'return s;',
    ];
    return list.add({ inputs, size: rows * 2, helpers: [], body, what });
  }
  const most = Math.floor((budget - 1) / 2);
  const length = Math.ceil(count / Math.ceil(count / most));
  const chunks = Math.ceil(count / length);
  const stop = count % length === 0 ? '' : `if (j >= ${int(count)}) { break; } `;
  const body = [
    'int pair = i / 2;',
    `int row = pair / ${int(chunks)};`,
    `int j0 = (pair - row * ${int(chunks)}) * ${int(length)};`,
    ...setup,
    `float m = ${terms.max('j0')};`,
    `for (int jj = 1; jj < ${int(length)}; jj++) { int j = j0 + jj; ${stop}m = max(m, ${terms.max('j')}); }`,
    'if (i - pair * 2 == 0) { return m; }',
    'float s = 0.0;',
    `for (int jj = 0; jj < ${int(length)}; jj++) { int j = j0 + jj; ${stop}${terms.add('j').join(' ')} }`,
    'return s;',
  ];
  const partials = list.add({ inputs, size: rows * chunks * 2, helpers: [], body, what: `${what}, ${chunks} chunks of ${length}` });
  const m = (j: string) => sample(0, `(row * ${int(chunks)} + ${j}) * 2`);
  const s = (j: string) => sample(0, `(row * ${int(chunks)} + ${j}) * 2 + 1`);
  const merge: PairTerms = { max: m, add: (j) => [`float w = exp(${m(j)} - m);`, `if (w > 0.0) { s += ${s(j)} * w; }`] };
  return pairs(list, `${what}, folding ${chunks} chunks`, rows, chunks, [partials], [], merge, budget);
}
