import { describe, expect, it } from 'vitest';
import { GraphFormatError, GraphTypeError, type Graph } from '@loom/graph';
import { inferTypes } from '../../src/index.ts';
import { buildGraph } from '../helpers.ts';

const g = () =>
  buildGraph((b) => {
    const x = b.input('x', 'f32', ['batch', 3]);
    b.constant(1); // dead: infer-types keeps every node
    return { y: b.add('reduce_sum', [x], { axes: [1] }) };
  });

describe('infer-types', () => {
  it('returns an equal graph when the stored types are right, keeping every node', () => {
    expect(inferTypes.run(g())).toEqual(g());
  });

  it('recomputes stale types from the op table and fills default attributes', () => {
    const stale: Graph = { ...g(), nodes: g().nodes.map((n) => (n.op === 'reduce_sum' ? { ...n, attrs: { axes: [1] }, type: { dtype: 'f32', shape: [7] } } : n)) };
    const out = inferTypes.run(stale);
    expect(out.nodes[2]!.type).toEqual({ dtype: 'f32', shape: ['batch'] });
    expect(out.nodes[2]!.attrs).toEqual({ axes: [1], keepDims: false });
  });

  it('fails on a node whose inputs do not fit its op, naming op and types', () => {
    const bad: Graph = { ...g(), nodes: g().nodes.map((n) => (n.op === 'reduce_sum' ? { ...n, attrs: { axes: [4] } } : n)) };
    expect(() => inferTypes.run(bad)).toThrow(GraphTypeError);
    expect(() => inferTypes.run(bad)).toThrow(/reduce_sum: axis 4 is out of range for rank 2; inputs: \(f32\[batch, 3\]\)/);
  });

  it('fails on a broken invariant (duplicate input names)', () => {
    const dup: Graph = { nodes: [...g().nodes.slice(0, 1), { ...g().nodes[0]!, id: 1 }], outputs: [{ name: 'y', node: 1 }] };
    expect(() => inferTypes.run(dup)).toThrow(GraphFormatError);
  });
});
