import { f32Literal, int } from '../glsl.ts';
import { input, sample, type GlPass, type KernelContext } from '../kernel.ts';
import { crossEntropyLoss, crossEntropySizes } from '../../training-kernels.ts';
import { indexStatusPass } from './index-status.ts';

/**
 * Per-position cross-entropy of softmax(logits) against labels: one fragment per row of V classes
 * takes the maximum, then the sums of exp(x - max) and (with label smoothing) of max - x, in float32
 * as the softmax kernel. 0 where the label is the ignore index; a label outside 0..V-1 that is not
 * gives 0 here and is reported by the status pass.
 */
export function softmaxCrossEntropyKernel(ctx: KernelContext<'softmax_cross_entropy'>): GlPass[] {
  const { rows, classes } = crossEntropySizes(ctx.inputs[0]!.shape);
  if (rows === 0) return [];
  const { ignoreIndex, labelSmoothing } = ctx.attrs;
  const ignored = (v: string) => (ignoreIndex === null ? 'false' : `${v} == ${f32Literal(ignoreIndex)}`);
  const outside = (v: string) => `${v} < 0.0 || ${v} >= ${f32Literal(classes)}`;
  const at = (k: string) => sample(0, `base + ${k}`);
  const body = [
    `float label = ${sample(1, 'i')};`,
    `if (${ignored('label')} || ${outside('label')}) { return 0.0; }`,
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
  return [
    ...indexStatusPass(input(1), rows, (v) => `!(${ignored(v)}) && (${outside(v)})`, 'softmax_cross_entropy'),
    { inputs: [input(0), input(1)], size: rows, helpers: [], body, what: 'softmax_cross_entropy' },
  ];
}
