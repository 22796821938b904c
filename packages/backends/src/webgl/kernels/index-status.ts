import { f32Literal } from '../glsl.ts';
import { sample, type PassInput } from '../kernel.ts';
import { reduce, type PassList } from '../reduction.ts';

/** Larger than any position (a float32 is exact to 2^24; positions are far below its maximum). */
const NONE = f32Literal(Infinity);

/**
 * A status pass (GlPass.status) over the `count` indices in `source`, added to `list`: element 0
 * counts those for which `bad(value)` holds, element 1 is the first such position (-1 if none). The
 * step's value pass reads such an index as a zero contribution; the runtime raises the error after
 * the run. More indices than one fragment may walk are counted in chunks (reduction.ts): counts
 * add, first positions take the minimum.
 */
export function indexStatusPass(
  list: PassList,
  source: PassInput,
  count: number,
  bad: (value: string, other: string) => string,
  what: string,
  budget: number,
  /** A second tensor `bad` reads at the same position (`other`), or at 0 when it holds one value. */
  other?: { readonly source: PassInput; readonly single: boolean },
): void {
  if (count === 0) return;
  reduce(
    list,
    {
      what: `${what} index check`,
      rows: 2,
      count,
      inputs: other ? [source, other.source] : [source],
      term: (j) => ({
        lines: [`float v = ${sample(0, j)};`, ...(other ? [`float w = ${sample(1, other.single ? '0' : j)};`] : []), `bool bad = ${bad('v', 'w')};`],
        value: `row == 0 ? (bad ? 1.0 : 0.0) : (bad ? float(${j}) : ${NONE})`,
      }),
      fold: { init: `row == 0 ? 0.0 : ${NONE}`, step: (x) => `acc = row == 0 ? acc + (${x}) : min(acc, ${x});` },
      finish: () => [`return row == 1 && acc == ${NONE} ? -1.0 : acc;`],
      status: true,
    },
    budget,
  );
}
