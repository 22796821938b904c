import { describe, expect, it } from 'vitest';
import { fuseElementwise, fuseMatmulEpilogue, runPipeline } from '../../src/index.ts';
import { buildGraph, expectEquivalent, opsOf, runChecked, values } from '../helpers.ts';

const weights = new Map([
  ['w', values([3, 5], 1)],
  ['bias', values([5], 2)],
]);

describe('fuse-matmul-epilogue', () => {
  it('runs bias, activation and residual of a linear layer as the epilogue', () => {
    const g = buildGraph((b) => {
      const x = b.input('x', 'f32', ['batch', 3]);
      const r = b.input('r', 'f32', ['batch', 5]);
      const y = b.add('add', [b.add('relu', [b.add('add', [b.add('matmul', [x, b.param('w', 'f32', [3, 5])]), b.param('bias', 'f32', [5])])]), r]);
      return { y };
    });
    const out = runPipeline(g, { passes: [fuseElementwise, fuseMatmulEpilogue], verify: true }).graph;
    expect(opsOf(out)).toEqual(['fused_matmul']);
    const m = out.nodes.at(-1)!;
    expect(m.inputs.map((i) => out.nodes[i]!.attrs['name'])).toEqual(['x', 'w', 'bias', 'r']);
    expect(m.attrs['epilogue']).toEqual({ op: 'add', args: [{ op: 'relu', args: [{ op: 'add', args: [{ in: 0 }, { in: 1 }] }] }, { in: 2 }] });
    expectEquivalent(g, out, { x: values([2, 3]), r: values([2, 5], 3) }, weights);
  });

  it('fuses a plain elementwise user, keeping transposeB', () => {
    const g = buildGraph((b) => ({ y: b.add('gelu', [b.add('matmul', [b.input('x', 'f32', [2, 5]), b.param('w', 'f32', [3, 5])], { transposeB: true })]) }));
    const out = runChecked(fuseMatmulEpilogue, g);
    expect(opsOf(out)).toEqual(['fused_matmul']);
    expect(out.nodes.at(-1)!.attrs).toEqual({ transposeB: true, epilogue: { op: 'gelu', args: [{ in: 0 }] } });
    expectEquivalent(g, out, { x: values([2, 5]) }, new Map([['w', values([3, 5])]]));
  });

  it('grows the epilogue of an existing fused_matmul', () => {
    const g = buildGraph((b) => {
      const m = b.add('fused_matmul', [b.input('x', 'f32', [2, 3]), b.param('w', 'f32', [3, 5]), b.param('bias', 'f32', [5])], { epilogue: { op: 'add', args: [{ in: 0 }, { in: 1 }] } });
      return { y: b.add('tanh', [m]) };
    });
    const out = runChecked(fuseMatmulEpilogue, g);
    expect(opsOf(out)).toEqual(['fused_matmul']);
    expect(out.nodes.at(-1)!.attrs['epilogue']).toEqual({ op: 'tanh', args: [{ op: 'add', args: [{ in: 0 }, { in: 1 }] }] });
    expectEquivalent(g, out, { x: values([2, 3]) }, weights);
  });

  it('lets one kernel read the product twice, but never computes an epilogue twice', () => {
    const square = (inner: 'matmul' | 'fused_matmul') =>
      buildGraph((b) => {
        const [x, w] = [b.input('x', 'f32', [2, 3]), b.param('w', 'f32', [3, 5])];
        const m = inner === 'matmul' ? b.add('matmul', [x, w]) : b.add('fused_matmul', [x, w], { epilogue: { op: 'exp', args: [{ in: 0 }] } });
        return { y: b.add('fused_elementwise', [m], { expr: { op: 'mul', args: [{ in: 0 }, { in: 0 }] } }) };
      });
    const plain = runChecked(fuseMatmulEpilogue, square('matmul'));
    expect(opsOf(plain)).toEqual(['fused_matmul']);
    expect(plain.nodes.at(-1)!.attrs['epilogue']).toEqual({ op: 'mul', args: [{ in: 0 }, { in: 0 }] });
    expectEquivalent(square('matmul'), plain, { x: values([2, 3]) }, weights);
    expect(opsOf(runChecked(fuseMatmulEpilogue, square('fused_matmul')))).toEqual(['fused_matmul', 'fused_elementwise']);
  });

  it('leaves a product that is read twice, broadcast by its user, or compared', () => {
    const twice = buildGraph((b) => {
      const m = b.add('matmul', [b.input('x', 'f32', [2, 3]), b.param('w', 'f32', [3, 5])]);
      return { y: b.add('relu', [m]), z: b.add('neg', [m]) };
    });
    expect(opsOf(runChecked(fuseMatmulEpilogue, twice))).toEqual(['matmul', 'relu', 'neg']);
    const broadcast = buildGraph((b) => ({ y: b.add('add', [b.add('matmul', [b.input('x', 'f32', [2, 3]), b.param('w', 'f32', [3, 5])]), b.input('r', 'f32', [4, 2, 5])]) }));
    expect(opsOf(runChecked(fuseMatmulEpilogue, broadcast))).toEqual(['matmul', 'add']);
    const compared = buildGraph((b) => ({ y: b.add('greater', [b.add('matmul', [b.input('x', 'f32', [2, 3]), b.param('w', 'f32', [3, 5])]), b.constant(0)]) }));
    expect(opsOf(runChecked(fuseMatmulEpilogue, compared))).toEqual(['matmul', 'greater']);
  });
});
