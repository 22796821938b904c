import { describe, expect, it } from 'vitest';
import { fuseAddLayerNorm } from '../../src/index.ts';
import { buildGraph, expectEquivalent, opsOf, runChecked, values } from '../helpers.ts';

const weights = new Map([
  ['g', values([4], 1)],
  ['b', values([4], 2)],
]);

describe('fuse-add-layer-norm', () => {
  it('fuses layer_norm(x + r) into one kernel, keeping eps', () => {
    const g = buildGraph((b) => {
      const sum = b.add('add', [b.input('x', 'f32', ['batch', 4]), b.input('r', 'f32', ['batch', 4])]);
      return { y: b.add('layer_norm', [sum, b.param('g', 'f32', [4]), b.param('b', 'f32', [4])], { eps: 1e-3 }) };
    });
    const out = runChecked(fuseAddLayerNorm, g);
    expect(opsOf(out)).toEqual(['fused_add_layer_norm']);
    expect(out.nodes.at(-1)!.attrs).toEqual({ eps: 1e-3 });
    expectEquivalent(g, out, { x: values([3, 4], 3), r: values([3, 4], 4) }, weights);
  });

  it('leaves a sum read again (pre-norm: the residual stream) or a broadcasting sum', () => {
    const preNorm = buildGraph((b) => {
      const sum = b.add('add', [b.input('x', 'f32', [3, 4]), b.input('r', 'f32', [3, 4])]);
      return { y: b.add('layer_norm', [sum, b.param('g', 'f32', [4]), b.param('b', 'f32', [4])]), stream: sum };
    });
    expect(opsOf(runChecked(fuseAddLayerNorm, preNorm))).toEqual(['add', 'layer_norm']);
    const broadcast = buildGraph((b) => {
      const sum = b.add('add', [b.input('x', 'f32', [3, 4]), b.input('r', 'f32', [4])]);
      return { y: b.add('layer_norm', [sum, b.param('g', 'f32', [4]), b.param('b', 'f32', [4])]) };
    });
    expect(opsOf(runChecked(fuseAddLayerNorm, broadcast))).toEqual(['add', 'layer_norm']);
  });

  it('fuses rms_norm(x + r) the same way, keeping eps and the weight offset; leaves a sum read again', () => {
    const g = buildGraph((b) => {
      const sum = b.add('add', [b.input('x', 'f32', ['batch', 4]), b.input('r', 'f32', ['batch', 4])]);
      return { y: b.add('rms_norm', [sum, b.param('g', 'f32', [4])], { eps: 1e-3, weightOffset: 1 }) };
    });
    const out = runChecked(fuseAddLayerNorm, g);
    expect(opsOf(out)).toEqual(['fused_add_rms_norm']);
    expect(out.nodes.at(-1)!.attrs).toEqual({ eps: 1e-3, weightOffset: 1 });
    expectEquivalent(g, out, { x: values([3, 4], 3), r: values([3, 4], 4) }, weights);
    const preNorm = buildGraph((b) => {
      const sum = b.add('add', [b.input('x', 'f32', [3, 4]), b.input('r', 'f32', [3, 4])]);
      return { y: b.add('rms_norm', [sum, b.param('g', 'f32', [4])]), stream: sum };
    });
    expect(opsOf(runChecked(fuseAddLayerNorm, preNorm))).toEqual(['add', 'rms_norm']);
  });
});
