import { GraphBuilder, type Graph } from '@loom/graph';
import { describe, expect, it } from 'vitest';
import { compile, planMemory, printPlan, scheduleForMemory, StatePlanError } from '../src/index.ts';

/** x -> a chain of n unary ops, each a full-size intermediate. */
function chain(n: number): Graph {
  const b = new GraphBuilder();
  let x = b.input('x', 'f32', ['batch', 1024]);
  for (let i = 0; i < n; i++) x = b.add(i % 2 ? 'exp' : 'tanh', [x]);
  return b.build({ y: x });
}

const order = (g: Graph) => g.nodes.map((n) => n.id);

describe('memory planning', () => {
  it('reuses dead buffers along a chain: two intermediates however long the chain', () => {
    const plan = planMemory(chain(6), order(chain(6)), { bindings: { batch: 2 } });
    const intermediates = plan.buffers.filter((b) => b.kind === 'intermediate');
    expect(intermediates).toHaveLength(2);
    expect(plan.buffers.filter((b) => b.kind === 'output')).toHaveLength(1);
    expect(plan.stats.naiveBytes).toBe(6 * 2 * 1024 * 4);
    expect(plan.stats.plannedBytes).toBe(3 * 2 * 1024 * 4);
  });

  it('without reuse every value gets its own buffer', () => {
    const plan = planMemory(chain(6), order(chain(6)), { reuse: false });
    expect(plan.buffers.filter((b) => b.kind === 'intermediate')).toHaveLength(5);
  });

  it('in place: an elementwise kernel overwrites an input that dies there', () => {
    const b = new GraphBuilder();
    const x = b.input('x', 'f32', [8]);
    const t = b.add('tanh', [x]);
    const fused = b.add('fused_elementwise', [t], { expr: { op: 'exp', args: [{ in: 0 }] } });
    const g = b.build({ y: b.add('neg', [fused]) });
    const plan = planMemory(g, order(g), { inPlace: true });
    const step = plan.steps.find((s) => s.op === 'fused_elementwise')!;
    expect(step.inPlace).toBe(true);
    expect(step.output).toBe(step.inputs[0]);
    expect(planMemory(g, order(g), { inPlace: false }).steps.every((s) => !s.inPlace)).toBe(true);
  });

  it('never reuses a buffer whose size may be smaller for some symbol values', () => {
    const b = new GraphBuilder();
    const x = b.input('x', 'f32', ['seq', 4]);
    const small = b.add('reduce_sum', [b.add('tanh', [x])], { axes: [1] }); // [seq]: dies after the next op
    const wide = b.add('exp', [b.add('reshape', [b.add('tanh', [x])], { shape: ['seq', 4] })]);
    const g = b.build({ s: b.add('neg', [small]), w: wide });
    const plan = planMemory(g, order(g));
    for (const step of plan.steps) {
      const out = plan.buffers[step.output]!;
      const node = plan.graph.nodes[step.node]!;
      // a 4*seq value never lands in a seq-sized buffer
      if (node.type.shape.join() === 'seq,4') expect(String(out.size)).toBe('4*seq');
    }
  });

  it('a state is updated in place by its cache_update', () => {
    const b = new GraphBuilder();
    const cache = b.input('cache', 'f32', [1, 8, 2]);
    const update = b.input('update', 'f32', [1, 1, 2]);
    const position = b.input('position', 'i32', [1]);
    const good = b.build({ cache: b.add('cache_update', [cache, update, position], { axis: 1 }) });
    const plan = planMemory(good, order(good));
    const state = plan.buffers.find((x) => x.kind === 'state')!;
    expect(plan.steps[0]!.output).toBe(state.id);
    expect(plan.steps[0]!.inPlace).toBe(true);
    expect(plan.stateWrites).toBeUndefined();
  });

  it('any other next value replaces the state: in place when an elementwise step reads the old value last, else copied after the run', () => {
    // w' = w - 0.1 * g (a training step): the update reads w last
    const b = new GraphBuilder();
    const w = b.input('w', 'f32', [4]);
    const g = b.add('mul', [w, b.input('x', 'f32', [4])]);
    const next = b.add('fused_elementwise', [w, g], { expr: { op: 'sub', args: [{ in: 0 }, { op: 'mul', args: [{ in: 1 }, { const: 0.1, dtype: 'f32' }] }] } });
    const graph = b.build({ w: next, g });
    const inPlace = planMemory(graph, order(graph), { inPlace: true });
    const state = inPlace.buffers.find((x) => x.kind === 'state')!;
    expect(inPlace.steps.at(-1)!).toMatchObject({ output: state.id, inPlace: true });
    expect(inPlace.stateWrites).toBeUndefined();
    // without in-place updates (the GPU backends), or when the old value is still read after: a copy
    const copied = planMemory(graph, order(graph));
    expect(copied.stateWrites).toEqual([{ name: 'w', from: copied.steps.at(-1)!.output, to: state.id }]);
    const c = new GraphBuilder();
    const v = c.input('w', 'f32', [4]);
    const later = c.build({ w: c.add('tanh', [v]), old: c.add('neg', [v]) });
    expect(planMemory(later, order(later), { inPlace: true }).stateWrites).toHaveLength(1);
  });

  it('a next value of another type than the state is a StatePlanError', () => {
    const c = new GraphBuilder();
    const cache2 = c.input('cache', 'f32', [1, 8, 2]);
    const bad = c.build({ cache: c.add('reduce_sum', [cache2], { axes: [2] }) });
    expect(() => planMemory(bad, order(bad))).toThrow(/state 'cache': its next value has type f32\[1, 8\], not the state's f32\[1, 8, 2\]/);
  });
});

describe('scheduling and the plan', () => {
  it('keeps graph order unless the greedy order lowers the simulated peak', () => {
    // two independent chains, built interleaved: running one chain to the end first frees sooner
    const b = new GraphBuilder();
    const x = b.input('x', 'f32', [256]);
    const big = (v: number) => b.add('concat', [v, v, v, v], { axis: 0 });
    const a1 = big(x);
    const b1 = big(x);
    const a2 = b.add('reduce_sum', [a1], { axes: [0] });
    const b2 = b.add('reduce_sum', [b1], { axes: [0] });
    const g = b.build({ y: b.add('add', [a2, b2]) });
    const s = scheduleForMemory(g);
    expect(s.peakBytes).toBeLessThan(s.graphOrderPeakBytes);
    expect(s.order.indexOf(a2)).toBeLessThan(s.order.indexOf(b1)); // a's chain finishes before b's starts
    // a topological order: every input runs before its reader
    const at = new Map(s.order.map((id, i) => [id, i]));
    for (const n of g.nodes) for (const i of n.inputs) expect(at.get(i)!).toBeLessThan(at.get(n.id)!);
  });

  it('is plain data: JSON round trip gives an equal plan and the same printout', () => {
    const plan = compile(chain(4), { inPlace: true, bindings: { batch: 3 } });
    const copy = JSON.parse(JSON.stringify(plan));
    expect(copy).toEqual(plan);
    expect(printPlan(copy)).toBe(printPlan(plan));
    expect(printPlan(plan)).toMatch(/^buffers:\n {2}b0 {2}input +f32\[1024\*batch\] {2}'x'\n/);
  });
});
