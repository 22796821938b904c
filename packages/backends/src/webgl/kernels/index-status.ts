import { int } from '../glsl.ts';
import { sample, type GlPass, type PassInput } from '../kernel.ts';

/**
 * A status pass (GlPass.status) over the `count` indices in `source`: element 0 counts those for
 * which `bad(value)` holds, element 1 is the first such position (-1 if none). The step's value pass
 * reads such an index as a zero contribution; the runtime raises the error after the run.
 */
export function indexStatusPass(source: PassInput, count: number, bad: (value: string) => string, what: string): GlPass[] {
  if (count === 0) return [];
  const body = [
    'float bad = 0.0;',
    'float first = -1.0;',
    `for (int k = 0; k < ${int(count)}; k++) {`,
    `  float v = ${sample(0, 'k')};`,
    `  if (${bad('v')}) { bad += 1.0; if (first < 0.0) { first = float(k); } }`,
    '}',
    'return i == 0 ? bad : first;',
  ];
  return [{ inputs: [source], size: 2, helpers: [], body, what: `${what} index check`, status: true }];
}
