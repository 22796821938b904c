import { describe, expect, it } from 'vitest';
import { eliminateDeadCode } from '../../src/index.ts';
import { buildGraph, runChecked } from '../helpers.ts';

describe('eliminate-dead-code', () => {
  it('drops nodes no output depends on, params and constants included, and renumbers', () => {
    const g = buildGraph((b) => {
      const x = b.input('x', 'f32', [2]);
      b.add('exp', [b.add('mul', [x, b.param('unused', 'f32', [2])])]);
      b.constant(3);
      return { y: b.add('neg', [x]) };
    });
    const out = runChecked(eliminateDeadCode, g);
    expect(out.nodes.map((n) => [n.id, n.op, n.inputs])).toEqual([
      [0, 'input', []],
      [1, 'neg', [0]],
    ]);
  });

  it('keeps graph inputs nothing reads: they are the signature', () => {
    const g = buildGraph((b) => {
      b.input('mask', 'i32', ['batch', 'seq']);
      return { y: b.add('neg', [b.input('x', 'f32', [2])]) };
    });
    expect(runChecked(eliminateDeadCode, g).nodes.map((n) => n.op)).toEqual(['input', 'input', 'neg']);
  });

  it('keeps outputs that are inputs, and two outputs of one node', () => {
    const g = buildGraph((b) => {
      const x = b.input('x', 'f32', [2]);
      return { a: x, b: x };
    });
    expect(runChecked(eliminateDeadCode, g)).toEqual(g);
  });
});
