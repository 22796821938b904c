import { codesPerWord } from '@loom/graph';
import { imod, int } from '../glsl.ts';
import { input, sample, sizeOfShape, type GlPass, type KernelContext } from '../kernel.ts';
import { codeOf } from './matmul.ts';

/** The float matrix of a quantized weight, one fragment per element (for graphs that read it). */
export function dequantizeKernel(ctx: KernelContext<'dequantize'>): GlPass[] {
  const size = sizeOfShape(ctx.output.shape);
  if (size === 0) return [];
  const { bits, group, k, transpose, zeroPoints } = ctx.attrs;
  const [codes, scales] = ctx.inputs;
  const n = codes!.shape[0]!;
  const per = codesPerWord(bits);
  const place = transpose ? [`int col = i / ${int(k)};`, `int row = ${imod('i', k)};`] : [`int row = i / ${int(n)};`, `int col = ${imod('i', n)};`];
  const g = `col * ${int(scales!.shape[1]!)} + row / ${int(group)}`;
  const zero = zeroPoints ? sample(2, g) : `${2 ** (bits - 1)}.0`;
  const code = codeOf(sample(0, `col * ${int(codes!.shape[1]!)} + row / ${int(per)}`), imod('row', per), bits);
  return [{ inputs: Array.from({ length: zeroPoints ? 3 : 2 }, (_, j) => input(j)), size, helpers: [], body: [...place, `return ${sample(1, g)} * (${code} - ${zero});`], what: 'dequantize' }];
}
