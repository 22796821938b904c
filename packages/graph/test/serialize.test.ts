/**
 * JSON round trips (a property over small random graphs), non-finite constants, malformed documents
 * with the exact JSON path of the problem, the verifier on in-memory graphs, and the printer format.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  expandOps,
  GraphBuilder,
  GraphFormatError,
  GraphTypeError,
  graphFromJson,
  graphToJson,
  interpret,
  MASKED,
  ModelBuilder,
  printGraph,
  printNode,
  verifyGraph,
  type DType,
  type Graph,
  type NodeRef,
  type Shape,
} from '../src/index.ts';
import { caught, f32, values } from './test-helpers.ts';

// ---- a small random-graph generator (a few ops; the compiler's fuzzer has the full one) ----

interface Step {
  readonly kind: number;
  readonly pick: number;
  readonly other: number;
  readonly n: number;
}

const dimArb = fc.oneof(fc.integer({ min: 1, max: 4 }), fc.constantFrom('batch', 'seq'));
const inputArb = fc.record({ dtype: fc.constantFrom<DType>('f32', 'f32', 'i32'), shape: fc.array(dimArb, { maxLength: 3 }) });
const stepArb = fc.record({ kind: fc.nat(13), pick: fc.nat(), other: fc.nat(), n: fc.integer({ min: -3, max: 3 }) });
const specArb = fc.record({
  inputs: fc.array(inputArb, { minLength: 1, maxLength: 3 }),
  steps: fc.array(stepArb, { minLength: 1, maxLength: 10 }),
  extraOutput: fc.nat(),
});

const UNARY = ['neg', 'exp', 'tanh', 'relu', 'gelu', 'abs'] as const;
const BINARY = ['add', 'mul', 'sub', 'maximum', 'less'] as const;
const SPECIAL = [1.5, Infinity, -Infinity, NaN, MASKED, -0];

/** Applies one step; steps whose op does not fit its inputs are skipped (the type rule says so). */
function applyStep(b: GraphBuilder, refs: NodeRef[], s: Step, k: number): void {
  const x = refs[s.pick % refs.length]!;
  const y = refs[s.other % refs.length]!;
  const t = b.typeOf(x);
  const last = t.shape[t.shape.length - 1] ?? 1;
  const ops: (() => NodeRef)[] = [
    () => b.add(UNARY[s.other % UNARY.length]!, [x]),
    () => b.add(BINARY[s.n + 3 < BINARY.length ? s.n + 3 : 0]!, [x, y]),
    () => b.add('mul', [x, b.constant(SPECIAL[s.other % SPECIAL.length]!, [], t.dtype === 'i32' ? 'f32' : t.dtype)]),
    () => b.add('reshape', [x], { shape: [-1] }),
    () => b.add('transpose', [x], { perm: t.shape.map((_, i) => t.shape.length - 1 - i) }),
    () => b.add('reduce_sum', [x], { axes: [s.n], keepDims: s.other % 2 === 0 }),
    () => b.add('softmax', [x], { axis: s.n }),
    () => b.add('matmul', [x, b.param(`w${k}`, 'f32', [last, (s.other % 3) + 1])], { transposeB: false }),
    () => b.add('slice', [x], { axis: s.n, start: 0, end: (s.other % 3) + 1 }),
    () => b.add('concat', [x, x], { axis: s.n }),
    () => b.add('cast', [x], { dtype: t.dtype === 'f32' ? 'i32' : 'f32' }),
    () => b.add('layer_norm', [x, b.param(`g${k}`, 'f32', [last]), b.param(`b${k}`, 'f32', [last])], { eps: 1e-5 }),
    () => b.add('constant', [], { dtype: 'f32', shape: [3], values: [SPECIAL[s.other % SPECIAL.length]!, s.n, -Infinity] }),
    () => b.add('linear', [x, b.param(`lw${k}`, 'f32', [last, 2])]),
  ];
  try {
    refs.push(ops[s.kind % ops.length]!());
  } catch (e) {
    if (!(e instanceof GraphTypeError)) throw e;
  }
}

interface GraphSpec {
  readonly inputs: readonly { dtype: DType; shape: Shape }[];
  readonly steps: readonly Step[];
  readonly extraOutput: number;
}

function buildRandomGraph(spec: GraphSpec): Graph {
  const b = new GraphBuilder();
  const refs = spec.inputs.map((t, k) => b.input(`in${k}`, t.dtype, t.shape));
  spec.steps.forEach((s, k) => applyStep(b, refs, s, k));
  const outputs: Record<string, NodeRef> = { out: refs[refs.length - 1]! };
  const extra = refs[spec.extraOutput % refs.length]!;
  if (extra !== outputs['out']) outputs['extra'] = extra;
  return b.build(outputs);
}

const graphArb = specArb.map(buildRandomGraph);

// ---- round trips ----

describe('JSON round trip', () => {
  it('graph -> JSON -> graph is the same graph and prints the same (property)', () => {
    fc.assert(
      fc.property(graphArb, (graph) => {
        const json = graphToJson(graph);
        const back = graphFromJson(json);
        expect(back).toEqual(graph);
        expect(printGraph(back)).toBe(printGraph(graph));
        expect(graphToJson(back)).toBe(json);
      }),
      { numRuns: 200 },
    );
  });

  it('expanded graphs (composites replaced by primitives) round-trip too (property)', () => {
    fc.assert(
      fc.property(graphArb, (graph) => {
        const expanded = expandOps(graph);
        expect(graphFromJson(graphToJson(expanded))).toEqual(expanded);
      }),
      { numRuns: 50 },
    );
  });

  it('non-finite constants and -0 survive, written as {"$number": ...}', () => {
    const b = new GraphBuilder();
    const special = [Infinity, -Infinity, NaN, -1e30, -0, 0];
    const c = b.constant(special, [6]);
    const e = b.add('fused_elementwise', [c], { expr: { op: 'maximum', args: [{ in: 0 }, { const: -Infinity, dtype: 'f32' }] } });
    const graph = b.build({ c, e });
    const json = graphToJson(graph);
    expect(json).toContain('"values":[{"$number":"Infinity"},{"$number":"-Infinity"},{"$number":"NaN"},-1e+30,{"$number":"-0"},0]');
    expect(json).toContain('{"const":{"$number":"-Infinity"},"dtype":"f32"}');
    const back = graphFromJson(json);
    expect(back).toEqual(graph);
    expect(back.nodes[0]!.attrs['values']).toEqual(special);
    const out = interpret(back, {}, new Map());
    expect(values(out.c!)).toEqual(special);
    expect(Object.is(out.e!.data[4], -0)).toBe(true);
  });

  it('a model built with ModelBuilder round-trips with its source lines', () => {
    const m = new ModelBuilder();
    const ids = m.input('ids', 'i32', ['batch', 'seq']);
    const x = m.embed(ids, m.param('emb', [10, 8]), Math.sqrt(8));
    const y = m.attention(x, x, x, 2, m.add(m.causalMask(ids), m.paddingMask(ids, 0)));
    const graph = m.build({ y });
    const back = graphFromJson(graphToJson(graph));
    expect(back).toEqual(graph);
    expect(back.nodes.every((n) => n.source?.startsWith('packages/graph/test/serialize.test.ts:'))).toBe(true);
  });

  it('attributes left out of a hand-written document take their defaults', () => {
    const doc = {
      format: 'loom-graph',
      version: 1,
      nodes: [
        { id: 0, op: 'input', inputs: [], attrs: { name: 'x', dtype: 'f32', shape: [2, 3] }, type: { dtype: 'f32', shape: [2, 3] } },
        { id: 1, op: 'softmax', inputs: [0], attrs: {}, type: { dtype: 'f32', shape: [2, 3] } },
        { id: 2, op: 'slice', inputs: [1], attrs: { axis: 1 }, type: { dtype: 'f32', shape: [2, 3] } },
      ],
      outputs: [{ name: 'y', node: 2 }],
    };
    const graph = graphFromJson(JSON.stringify(doc));
    expect(graph.nodes[1]!.attrs).toEqual({ axis: -1 });
    expect(graph.nodes[2]!.attrs).toEqual({ axis: 1, start: 0, end: null, step: 1 });
    expect(interpret(graph, { x: f32([2, 3], [0, 0, 0, 1, 1, 1]) }, new Map()).y!.data[0]).toBeCloseTo(1 / 3, 15);
  });
});

// ---- malformed documents ----

/** A valid document: x (input), w (param), y = x @ w, z = relu(y); outputs z. Tests break one thing. */
function validDoc() {
  return {
    format: 'loom-graph',
    version: 1,
    nodes: [
      { id: 0, op: 'input', inputs: [] as number[], attrs: { name: 'x', dtype: 'f32', shape: ['batch', 4] } as Record<string, unknown>, type: { dtype: 'f32', shape: ['batch', 4] as Shape } },
      { id: 1, op: 'param', inputs: [] as number[], attrs: { name: 'w', dtype: 'f32', shape: [4, 2] } as Record<string, unknown>, type: { dtype: 'f32', shape: [4, 2] as Shape } },
      { id: 2, op: 'matmul', inputs: [0, 1], attrs: { transposeB: false } as Record<string, unknown>, type: { dtype: 'f32', shape: ['batch', 2] as Shape } },
      { id: 3, op: 'relu', inputs: [2], attrs: {} as Record<string, unknown>, type: { dtype: 'f32', shape: ['batch', 2] as Shape } },
    ],
    outputs: [{ name: 'z', node: 3 }],
  };
}
type Doc = ReturnType<typeof validDoc>;

/** The GraphFormatError a broken document raises. */
function formatError(breakIt: (doc: Doc) => void): GraphFormatError {
  const doc = validDoc();
  breakIt(doc);
  const error = caught(() => graphFromJson(JSON.stringify(doc)));
  expect(error).toBeInstanceOf(GraphFormatError);
  return error as GraphFormatError;
}

describe('malformed JSON names the exact path', () => {
  it('the valid document parses', () => {
    expect(printGraph(graphFromJson(JSON.stringify(validDoc())))).toContain('%2 = matmul(%0, %1)');
  });

  it.each<[string, (doc: Doc) => void, string, string | RegExp]>([
    ['a bad dtype in attrs', (d) => (d.nodes[0]!.attrs['dtype'] = 'f16'), '$.nodes[0].attrs.dtype', 'expected one of "f32"|"i32"'],
    ['an input that refers forward', (d) => (d.nodes[2]!.inputs = [3, 1]), '$.nodes[2].inputs[0]', 'refers to node 3, which is not an earlier node'],
    ['an input that refers to itself', (d) => (d.nodes[3]!.inputs = [3]), '$.nodes[3].inputs[0]', 'not an earlier node'],
    ['an unknown op', (d) => (d.nodes[3]!.op = 'relu6'), '$.nodes[3].op', "unknown op 'relu6'"],
    ['a stored type that differs from the inferred one', (d) => (d.nodes[2]!.type.shape = ['batch', 3]), '$.nodes[2].type', 'matmul: stored type f32[batch, 3] differs from inferred f32[batch, 2]'],
    ['a stored dtype that differs', (d) => (d.nodes[3]!.type.dtype = 'i32'), '$.nodes[3].type', 'relu: stored type i32[batch, 2] differs from inferred f32[batch, 2]'],
    ['an output that refers to no node', (d) => (d.outputs[0]!.node = 9), '$.outputs[0].node', 'refers to node 9, which does not exist'],
    ['no outputs', (d) => (d.outputs = []), '$.outputs', 'a graph needs at least one output'],
    ['two outputs of one name', (d) => d.outputs.push({ name: 'z', node: 2 }), '$.outputs[1].name', "output 'z' appears twice"],
    ['a node id out of place', (d) => (d.nodes[1]!.id = 7), '$.nodes[1].id', 'id 7 should equal its position 1'],
    ['an invalid dim in a stored type', (d) => (d.nodes[0]!.type.shape = ['batch', 'four!']), '$.nodes[0].type.shape[1]', "a dimension is an integer or symbols joined by '*'"],
    ['an invalid attr inside an array', (d) => (d.nodes[1]!.attrs['shape'] = [4, -2]), '$.nodes[1].attrs.shape[1]', /expected.*>=0|Too small/],
    ['a missing attr with no default', (d) => (d.nodes[0]!.attrs = { name: 'x', dtype: 'f32' }), '$.nodes[0].attrs.shape', /expected array/],
    ['an attr of the wrong type', (d) => (d.nodes[2]!.attrs['transposeB'] = 'yes'), '$.nodes[2].attrs.transposeB', 'expected boolean'],
    ['an unknown attr', (d) => (d.nodes[3]!.attrs['alpha'] = 0.1), '$.nodes[3].attrs', 'Unrecognized key: "alpha"'],
    ['inputs that fail the type rule', (d) => (d.nodes[2]!.inputs = [1, 0]), '$.nodes[2]', 'matmul: contraction dimensions differ: 2 (a) and batch (b)'],
    ['the wrong number of inputs', (d) => (d.nodes[3]!.inputs = [2, 2]), '$.nodes[3]', 'relu: 2 inputs, expects x'],
    ['two inputs of one name', (d) => (d.nodes[1]! = { ...d.nodes[0]!, id: 1 }), '$.nodes[1].attrs.name', "input 'x' is also node 0"],
    ['a missing field', (d) => delete (d.nodes[3] as Partial<Doc['nodes'][0]>).type, '$.nodes[3].type', /expected object/],
    ['an unknown field', (d) => ((d.nodes[3] as Record<string, unknown>)['comment'] = 'hi'), '$.nodes[3]', 'Unrecognized key: "comment"'],
    ['a fractional input ref', (d) => (d.nodes[3]!.inputs = [1.5]), '$.nodes[3].inputs[0]', /expected int/],
    ['another format', (d) => (d.format = 'onnx'), '$.format', 'expected "loom-graph"'],
    ['another version', (d) => (d.version = 2), '$.version', 'expected 1'],
  ])('%s', (_, breakIt, path, message) => {
    const error = formatError(breakIt);
    expect(error.path).toBe(path);
    expect(error.code).toBe('graph-format');
    expect(error.message.startsWith(`${path}: `)).toBe(true);
    if (typeof message === 'string') expect(error.message).toContain(message);
    else expect(error.message).toMatch(message);
  });

  it('text that is not JSON at all', () => {
    for (const text of ['', 'nodes: []', '{"format": "loom-graph",', 'NaN']) {
      const error = caught(() => graphFromJson(text));
      expect(error).toBeInstanceOf(GraphFormatError);
      expect((error as GraphFormatError).path).toBe('$');
      expect(error.message).toMatch(/^\$: not valid JSON: /);
    }
    expect((caught(() => graphFromJson('[]')) as GraphFormatError).path).toBe('$');
    expect((caught(() => graphFromJson('null')) as GraphFormatError).path).toBe('$');
  });
});

// ---- verifier and printer ----

describe('verifyGraph on in-memory graphs', () => {
  function sample(): Graph {
    const b = new GraphBuilder();
    const x = b.input('x', 'f32', ['batch', 4]);
    const y = b.add('softmax', [b.add('mul', [x, b.constant(2)])]);
    return b.build({ y });
  }

  it('accepts what the builder makes, and the expanded graphs of random graphs (property)', () => {
    verifyGraph(sample());
    fc.assert(
      fc.property(graphArb, (graph) => {
        verifyGraph(graph);
        verifyGraph(expandOps(graph));
      }),
      { numRuns: 50 },
    );
  });

  it('rejects broken invariants with a path', () => {
    const g = sample();
    const broken = (nodes: Graph['nodes'], outputs: Graph['outputs'] = g.outputs) => (caught(() => verifyGraph({ nodes, outputs })) as GraphFormatError).path;
    expect(broken([g.nodes[0]!, { ...g.nodes[1]!, id: 2 }, ...g.nodes.slice(2)])).toBe('$.nodes[1].id');
    expect(broken([g.nodes[0]!, g.nodes[1]!, { ...g.nodes[2]!, inputs: [0, 3] }, g.nodes[3]!])).toBe('$.nodes[2].inputs[1]');
    expect(broken([...g.nodes.slice(0, 3), { ...g.nodes[3]!, attrs: { axis: 1.5 } }])).toBe('$.nodes[3].attrs.axis');
    expect(broken([...g.nodes.slice(0, 3), { ...g.nodes[3]!, attrs: { axis: 5 } }])).toBe('$.nodes[3]');
    expect(broken([...g.nodes.slice(0, 3), { ...g.nodes[3]!, type: { dtype: 'f32', shape: [4] } }])).toBe('$.nodes[3].type');
    expect(broken(g.nodes, [{ name: 'y', node: -1 }])).toBe('$.outputs[0].node');
  });
});

describe('printGraph', () => {
  it('one line per node: id, op, name, inputs, attrs, type and source; then the outputs', () => {
    const b = new GraphBuilder();
    const x = b.input('x', 'f32', ['batch', 'seq', 64]);
    const w = b.param('w', 'f32', [64, 64]);
    const y = b.add('matmul', [x, w], { transposeB: true }, 'model.ts:41');
    const c = b.add('constant', [], { shape: [10], values: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9] }, 'model.ts:42');
    const s = b.add('slice', [y], { axis: -1, end: 10 }, 'model.ts:43');
    const z = b.add('add', [s, c], {}, 'model.ts:44');
    const graph = b.build({ logits: z, hidden: y });
    const line = graph.nodes[0]!.source!;
    expect(line).toMatch(/^packages\/graph\/test\/serialize\.test\.ts:\d+$/);
    expect(printGraph(graph).split('\n')).toEqual([
      `%0 = input "x" : f32[batch, seq, 64]  # ${line}`,
      `%1 = param "w" : f32[64, 64]  # ${graph.nodes[1]!.source}`,
      '%2 = matmul(%0, %1) {transposeB: true} : f32[batch, seq, 64]  # model.ts:41',
      "%3 = constant {dtype: 'f32', shape: [10], values: [0, 1, 2, 3, 4, 5, 6, 7, ... 10 items]} : f32[10]  # model.ts:42",
      '%4 = slice(%2) {axis: -1, start: 0, end: 10, step: 1} : f32[batch, seq, 10]  # model.ts:43',
      '%5 = add(%4, %3) : f32[batch, seq, 10]  # model.ts:44',
      'return logits = %5, hidden = %2',
    ]);
  });

  it('nodes without a source have no comment', () => {
    const graph: Graph = { nodes: [{ id: 0, op: 'range', inputs: [], attrs: { size: 'seq', start: 0, step: 1, dtype: 'i32' }, type: { dtype: 'i32', shape: ['seq'] } }], outputs: [{ name: 'r', node: 0 }] };
    expect(printNode(graph.nodes[0]!)).toBe("%0 = range {size: 'seq', start: 0, step: 1, dtype: 'i32'} : i32[seq]");
  });
});

describe('graphFromJson: nesting depth', () => {
  /** A graph whose fused_elementwise expression is `depth` negations deep. */
  function deepGraph(depth: number): string {
    let expr = '{"in":0}';
    for (let i = 0; i < depth; i++) expr = `{"op":"neg","args":[${expr}]}`;
    return `{"format":"loom-graph","version":1,"nodes":[{"id":0,"op":"input","inputs":[],"attrs":{"name":"x","dtype":"f32","shape":[2]},"type":{"dtype":"f32","shape":[2]}},{"id":1,"op":"fused_elementwise","inputs":[0],"attrs":{"expr":${expr}},"type":{"dtype":"f32","shape":[2]}}],"outputs":[{"name":"y","node":1}]}`;
  }

  it('an expression 800 or 3000 deep is a GraphFormatError naming the limit and the place, not a stack overflow or "not valid JSON"', () => {
    for (const depth of [800, 3000, 100_000]) {
      let error: unknown;
      try {
        graphFromJson(deepGraph(depth));
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(GraphFormatError);
      expect((error as Error).message).toMatch(/nested more than 256 levels deep \(at character \d+\)/);
    }
  });

  it('brackets inside strings do not count', () => {
    expect(() => graphFromJson(`{"format":"loom-graph","version":1,"nodes":[],"outputs":[],"x":"${'['.repeat(1000)}"}`)).not.toThrow(/nested/);
  });
});
