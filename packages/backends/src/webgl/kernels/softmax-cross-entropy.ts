import { f32Literal, int } from '../glsl.ts';
import { input, sample, type GlPass, type KernelContext } from '../kernel.ts';
import { loopCost } from '../loops.ts';
import { maxAndSumExp, PassList, reduce, SUM } from '../reduction.ts';
import { crossEntropyLoss, crossEntropySizes } from '../../training-kernels.ts';
import { indexStatusPass } from './index-status.ts';

/**
 * Per-position cross-entropy of softmax(logits) against labels: one fragment per row of V classes
 * takes the maximum, then the sums of exp(x - max) and (with label smoothing) of max - x, in float32
 * as the softmax kernel. A row longer than one fragment may walk (GPT-2's 50257 classes) has its
 * (max, sum) pairs summed in chunks (reduction.ts), the sum of max - x too, then a pass per row
 * takes the loss. 0 where the label is the ignore index; a label outside 0..V-1 that is not gives 0
 * here and is reported by the status pass.
 */
export function softmaxCrossEntropyKernel(ctx: KernelContext<'softmax_cross_entropy'>): GlPass[] {
  const { rows, classes } = crossEntropySizes(ctx.inputs[0]!.shape);
  if (rows === 0) return [];
  const { ignoreIndex, labelSmoothing } = ctx.attrs;
  const budget = ctx.limits.maxLoopIterations;
  const ignored = (v: string) => (ignoreIndex === null ? 'false' : `${v} == ${f32Literal(ignoreIndex)}`);
  const outside = (v: string) => `${v} < 0.0 || ${v} >= ${f32Literal(classes)}`;
  const list = new PassList();
  indexStatusPass(list, input(1), rows, (v) => `!(${ignored(v)}) && (${outside(v)})`, 'softmax_cross_entropy', budget);
  const at = (k: string) => sample(0, `base + ${k}`);
  const skip = [`float label = ${sample(1, 'i')};`, `if (${ignored('label')} || ${outside('label')}) { return 0.0; }`];
  if (loopCost(classes - 1) + loopCost(classes) <= budget) {
    const body = [
      ...skip,
      `int base = i * ${int(classes)};`,
      `float m = ${at('0')};`,
      `for (int k = 1; k < ${int(classes)}; k++) { m = max(m, ${at('k')}); }`,
      'float s = 0.0;',
      'float gaps = 0.0;',
      `for (int k = 0; k < ${int(classes)}; k++) {`,
      `  float x = ${at('k')};`,
      '  s += exp(x - m);',
      ...(labelSmoothing > 0 ? ['  gaps += m - x;'] : []),
      '}',
      `return ${crossEntropyLoss({ sumExp: 's', labelGap: `m - ${at('int(label)')}`, gaps: 'gaps' }, labelSmoothing, classes, f32Literal)};`,
    ];
    list.add({ inputs: [input(0), input(1)], size: rows, helpers: [], body, what: 'softmax_cross_entropy' });
    return list.passes;
  }
  const setup = [`int base = row * ${int(classes)};`];
  const stats = maxAndSumExp(list, { what: 'softmax_cross_entropy row max and sum', rows, count: classes, inputs: [input(0)], setup, value: at }, budget);
  const inputs = [input(0), input(1), stats];
  if (labelSmoothing > 0) {
    const gaps = reduce(
      list,
      { what: 'softmax_cross_entropy row sum of max - x', rows, count: classes, inputs: [input(0), stats], setup: [...setup, `float m = ${sample(1, 'row * 2')};`], term: (j) => `m - ${at(j)}`, fold: SUM },
      budget,
    );
    inputs.push(gaps);
  }
  const body = [
    ...skip,
    `int base = i * ${int(classes)};`,
    `float m = ${sample(2, 'i * 2')};`,
    `float s = ${sample(2, 'i * 2 + 1')};`,
    `float gaps = ${labelSmoothing > 0 ? sample(3, 'i') : '0.0'};`,
    `return ${crossEntropyLoss({ sumExp: 's', labelGap: `m - ${at('int(label)')}`, gaps: 'gaps' }, labelSmoothing, classes, f32Literal)};`,
  ];
  list.add({ inputs, size: rows, helpers: [], body, what: 'softmax_cross_entropy loss' });
  return list.passes;
}
