/**
 * Composite and fused ops are defined by their decompositions. Each is checked here against a direct
 * computation written independently in the test (plain loops over flat arrays), not against the
 * primitives it expands into.
 */
import { describe, expect, it } from 'vitest';
import { expandOps, gelu, geluTanh, GraphBuilder, interpret, MASKED, type Expr, type NDArray } from '../src/index.ts';
import { expectClose, f32, i32, inferOp, iota, noise, runOp, values } from './test-helpers.ts';

// ---- independent references ----

/** Reads a (broadcast) array at a multi-index of a larger-rank shape, numpy-style from the right. */
function at(a: NDArray, index: readonly number[]): number {
  const offset = index.length - a.shape.length;
  let flat = 0;
  a.shape.forEach((size, d) => {
    flat = flat * size + (size === 1 ? 0 : index[d + offset]!);
  });
  return a.data[flat]!;
}

/** x[rows, d] @ w[d, n] + b[n], row by row. */
function affine(x: number[], d: number, w: number[], n: number, b?: number[]): number[] {
  const out: number[] = [];
  for (let r = 0; r < x.length / d; r++) {
    for (let j = 0; j < n; j++) {
      let s = b ? b[j]! : 0;
      for (let k = 0; k < d; k++) s += x[r * d + k]! * w[k * n + j]!;
      out.push(s);
    }
  }
  return out;
}

function layerNormRows(x: number[], d: number, gamma: number[], beta: number[], eps: number): number[] {
  const out: number[] = [];
  for (let r = 0; r < x.length / d; r++) {
    const row = x.slice(r * d, (r + 1) * d);
    const mean = row.reduce((s, v) => s + v, 0) / d;
    const variance = row.reduce((s, v) => s + (v - mean) ** 2, 0) / d;
    row.forEach((v, i) => out.push(((v - mean) / Math.sqrt(variance + eps)) * gamma[i]! + beta[i]!));
  }
  return out;
}

/**
 * Multi-head attention by the definition: for each batch b, head h and query i,
 * p = softmax_j(q_i . k_j * scale + mask[b, h, i, j]) and out_i = sum_j p_j v_j, on head h's slice.
 */
function attentionLoops(q: NDArray, k: NDArray, v: NDArray, heads: number, mask?: NDArray, scale?: number): number[] {
  const [B, Tq, D] = q.shape as [number, number, number];
  const Tk = k.shape[1]!;
  const dh = D / heads;
  const s = scale ?? 1 / Math.sqrt(dh);
  const out = new Array<number>(B * Tq * D).fill(0);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < heads; h++) {
      for (let i = 0; i < Tq; i++) {
        const scores: number[] = [];
        for (let j = 0; j < Tk; j++) {
          let dot = 0;
          for (let c = 0; c < dh; c++) dot += q.data[(b * Tq + i) * D + h * dh + c]! * k.data[(b * Tk + j) * D + h * dh + c]!;
          scores.push(dot * s + (mask ? at(mask, [b, h, i, j]) : 0));
        }
        const max = Math.max(...scores);
        const e = scores.map((x) => Math.exp(x - max));
        const total = e.reduce((x, y) => x + y, 0);
        for (let j = 0; j < Tk; j++) {
          for (let c = 0; c < dh; c++) out[(b * Tq + i) * D + h * dh + c]! += (e[j]! / total) * v.data[(b * Tk + j) * D + h * dh + c]!;
        }
      }
    }
  }
  return out;
}

/** Runs a small graph built by `build` from named inputs through the interpreter. */
function run(feeds: Record<string, NDArray>, build: (b: GraphBuilder, x: Record<string, number>) => number, declared: Record<string, readonly (string | number)[]> = {}): NDArray {
  const b = new GraphBuilder();
  const refs = Object.fromEntries(Object.entries(feeds).map(([name, a]) => [name, b.input(name, a.dtype, declared[name] ?? a.shape)]));
  return interpret(b.build({ y: build(b, refs) }), feeds, new Map()).y!;
}

// ---- tests ----

describe('linear', () => {
  it('x @ W + b over leading axes, with and without bias, and for a rank-1 x', () => {
    const x = noise([2, 3, 4], 1);
    const w = noise([4, 5], 2);
    const bias = noise([5], 3);
    expectClose(runOp('linear', [x, w, bias]), affine(values(x), 4, values(w), 5, values(bias)));
    expectClose(runOp('linear', [x, w]), affine(values(x), 4, values(w), 5));
    const v = noise([4], 4);
    const out = runOp('linear', [v, w, bias]);
    expect(out.shape).toEqual([5]);
    expectClose(out, affine(values(v), 4, values(w), 5, values(bias)));
  });

  it('type rule', () => {
    expect(inferOp('linear', [['f32', ['batch', 'seq', 8]], ['f32', [8, 16]], ['f32', [16]]]).shape).toEqual(['batch', 'seq', 16]);
    expect(() => inferOp('linear', [['f32', [2, 8]], ['f32', [4, 16]]])).toThrow("x's last axis (8) must equal the weight's in (4)");
    expect(() => inferOp('linear', [['f32', [2, 8]], ['f32', [8, 16]], ['f32', [8]]])).toThrow('bias must have shape [16]');
    expect(() => inferOp('linear', [['f32', [2, 8]], ['f32', [8]]])).toThrow('weight must be [in, out], got rank 1');
  });
});

describe('embed', () => {
  it('table rows times the scale', () => {
    const table = iota([5, 3]);
    const out = runOp('embed', [i32([2, 2], [4, 0, 2, 2]), table], { scale: 2 });
    expect(out.shape).toEqual([2, 2, 3]);
    expect(values(out)).toEqual([24, 26, 28, 0, 2, 4, 12, 14, 16, 12, 14, 16]);
    expect(values(runOp('embed', [i32([1], [1]), table]))).toEqual([3, 4, 5]);
  });

  it('type rule', () => {
    expect(inferOp('embed', [['i32', ['batch', 'seq']], ['f32', ['vocab', 16]]]).shape).toEqual(['batch', 'seq', 16]);
    expect(() => inferOp('embed', [['f32', [2]], ['f32', [5, 3]]])).toThrow('ids must be i32, got f32');
    expect(() => inferOp('embed', [['i32', [2]], ['f32', [5, 3, 1]]])).toThrow('table must be f32 [vocab, d]');
  });
});

describe('positional encodings', () => {
  /** The paper: PE[p, 2i] = sin(p / base^(2i/D)), PE[p, 2i+1] = cos(p / base^(2i/D)). */
  const pe = (p: number, j: number, d: number, base = 10000) => {
    const angle = p / Math.pow(base, (2 * Math.floor(j / 2)) / d);
    return j % 2 === 0 ? Math.sin(angle) : Math.cos(angle);
  };

  it('sinusoidal: x + the formula at positions 0..T-1', () => {
    const [B, T, D] = [2, 5, 6];
    const x = noise([B, T, D], 9);
    const want = values(x).map((v, flat) => v + pe(Math.floor(flat / D) % T, flat % D, D));
    expectClose(runOp('sinusoidal_posenc', [x]), want, 1e-14);
  });

  it('sinusoidal: explicit [B, T] positions and another base', () => {
    const [B, T, D] = [2, 2, 4];
    const positions = i32([B, T], [3, 4, 100, 0]);
    const want = Array.from({ length: B * T * D }, (_, flat) => pe(positions.data[Math.floor(flat / D)]!, flat % D, D, 100));
    expectClose(runOp('sinusoidal_posenc', [f32([B, T, D], new Array(B * T * D).fill(0)), positions], { base: 100 }), want, 1e-13);
  });

  it("sinusoidal, layout 'halves' (Marian's): sines in the first half, cosines of the same angles in the second", () => {
    const [T, D] = [7, 8];
    // HF MarianSinusoidalPositionalEmbedding: out[:, :D/2] = sin(pos / 10000^(2i/D)), out[:, D/2:] = cos(same)
    const marian = (p: number, j: number) => (j < D / 2 ? Math.sin(p / Math.pow(10000, (2 * j) / D)) : Math.cos(p / Math.pow(10000, (2 * (j - D / 2)) / D)));
    const want = Array.from({ length: T * D }, (_, flat) => marian(Math.floor(flat / D), flat % D));
    expectClose(runOp('sinusoidal_posenc', [f32([1, T, D], new Array(T * D).fill(0))], { layout: 'halves' }), want, 1e-14);
  });

  it('sinusoidal: a symbolic sequence length', () => {
    const x = f32([1, 3, 2], [0, 0, 0, 0, 0, 0]);
    const out = run({ x }, (b, r) => b.add('sinusoidal_posenc', [r.x!]), { x: ['batch', 'seq', 2] });
    expectClose(out, [0, 1, Math.sin(1), Math.cos(1), Math.sin(2), Math.cos(2)], 1e-15);
  });

  it('learned: x + table[positions]', () => {
    const table = iota([8, 3], 1, 100);
    const x = iota([2, 2, 3]);
    const rows = (ps: number[]) => ps.flatMap((p) => [100 + 3 * p, 101 + 3 * p, 102 + 3 * p]);
    const defaultRows = rows([0, 1]);
    expect(values(runOp('learned_posenc', [x, table]))).toEqual(values(x).map((v, i) => v + defaultRows[i % 6]!));
    const offset = rows([5, 6]);
    expect(values(runOp('learned_posenc', [x, table, i32([2], [5, 6])]))).toEqual(values(x).map((v, i) => v + offset[i % 6]!));
  });

  it('type rules', () => {
    expect(() => inferOp('sinusoidal_posenc', [['f32', [1, 4, 5]]])).toThrow('D must be a static even size, got 5');
    expect(() => inferOp('sinusoidal_posenc', [['f32', [1, 4, 'd']]])).toThrow('D must be a static even size');
    expect(() => inferOp('sinusoidal_posenc', [['f32', [1, 4, 6]], ['i32', [1, 3]]])).toThrow("positions' last axis must be T = 4");
    expect(() => inferOp('sinusoidal_posenc', [['f32', [1, 4, 6]], ['f32', [4]]])).toThrow('positions must be i32, got f32');
    expect(() => inferOp('learned_posenc', [['f32', [1, 4, 6]], ['f32', [16, 5]]])).toThrow("table's D must match x's last axis");
    expect(() => inferOp('learned_posenc', [['f32', [6]], ['f32', [16, 6]]])).toThrow('x must be f32 [..., T, D]');
  });
});

describe('masks', () => {
  it('causal: 0 on and below the diagonal, MASKED above, for a symbolic T', () => {
    const out = run({ x: iota([2, 3, 4]) }, (b, r) => b.add('causal_mask', [r.x!]), { x: ['batch', 'seq', 4] });
    expect(out.shape).toEqual([3, 3]);
    const want = [];
    for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) want.push(j > i ? MASKED : 0);
    expect(values(out)).toEqual(want);
    expect(inferOp('causal_mask', [['i32', ['batch', 'seq']]])).toEqual({ dtype: 'f32', shape: ['seq', 'seq'] });
    expect(() => inferOp('causal_mask', [['i32', ['seq']]])).toThrow('x needs a batch and a sequence axis');
  });

  it('padding from ids: MASKED where ids == padId, shape [B, 1, 1, T]', () => {
    const out = runOp('padding_mask', [i32([2, 3], [5, 1, 7, 1, 1, 2])], { padId: 1 });
    expect(out.shape).toEqual([2, 1, 1, 3]);
    expect(values(out)).toEqual([0, MASKED, 0, MASKED, MASKED, 0]);
  });

  it('padding from a 1/0 keep mask (padId null)', () => {
    const out = runOp('padding_mask', [i32([2, 3], [1, 1, 0, 1, 0, 0])], { padId: null });
    expect(values(out)).toEqual([0, 0, MASKED, 0, MASKED, MASKED]);
    expect(inferOp('padding_mask', [['i32', ['batch', 'seq']]])).toEqual({ dtype: 'f32', shape: ['batch', 1, 1, 'seq'] });
    expect(() => inferOp('padding_mask', [['f32', [2, 3]]])).toThrow('x must be i32 [B, T], got f32 rank 2');
  });
});

describe('attention', () => {
  it('multi-head self-attention with causal and padding masks, against loops', () => {
    const [B, T, D, H] = [2, 4, 6, 3];
    const x = noise([B, T, D], 21);
    const ids = i32([B, T], [3, 4, 5, 6, 3, 4, 0, 0]);
    const out = run({ x, ids }, (b, r) => {
      const mask = b.add('add', [b.add('causal_mask', [r.ids!]), b.add('padding_mask', [r.ids!], { padId: 0 })]);
      return b.add('attention', [r.x!, r.x!, r.x!, mask], { heads: H });
    });
    const causal = f32([T, T], Array.from({ length: T * T }, (_, f) => (f % T > Math.floor(f / T) ? MASKED : 0)));
    const padding = f32([B, 1, 1, T], values(ids).map((id) => (id === 0 ? MASKED : 0)));
    const mask = f32([B, 1, T, T], Array.from({ length: B * T * T }, (_, f) => causal.data[f % (T * T)]! + padding.data[Math.floor(f / (T * T)) * T + (f % T)]!));
    expectClose(out, attentionLoops(x, x, x, H, mask), 1e-12);
  });

  it('cross-attention (Tq != Tk), one head, an explicit scale, no mask', () => {
    const q = noise([1, 2, 4], 31);
    const kv = noise([1, 3, 4], 32);
    const v = noise([1, 3, 4], 33);
    expectClose(runOp('attention', [q, kv, v], { heads: 1, scale: 0.3 }), attentionLoops(q, kv, v, 1, undefined, 0.3), 1e-12);
    expectClose(runOp('attention', [q, kv, v], { heads: 2 }), attentionLoops(q, kv, v, 2), 1e-12);
  });

  it('type rule', () => {
    const q = ['f32', ['batch', 'tq', 8]] as const;
    const kv = ['f32', ['batch', 'tk', 8]] as const;
    expect(inferOp('attention', [q, kv, kv, ['f32', ['batch', 1, 'tq', 'tk']]], { heads: 2 }).shape).toEqual(['batch', 'tq', 8]);
    expect(() => inferOp('attention', [q, kv, kv], { heads: 3 })).toThrow('D = 8 must be static and divisible by heads = 3');
    expect(() => inferOp('attention', [q, kv, ['f32', ['batch', 'tq', 8]]], { heads: 2 })).toThrow('k and v must have the same length');
    expect(() => inferOp('attention', [q, kv, kv, ['f32', ['tk', 'tq']]], { heads: 2 })).toThrow('mask [tk, tq] does not broadcast to scores [batch, 2, tq, tk]');
    expect(() => inferOp('attention', [q, ['f32', ['other', 'tk', 8]], kv], { heads: 2 })).toThrow('q, k and v must share the batch axis');
    expect(() => inferOp('attention', [['f32', ['tq', 8]], kv, kv], { heads: 2 })).toThrow('q, k and v must be [B, T, D]');
  });
});

describe('add_norm and ffn', () => {
  it('add_norm = layer norm of the sum', () => {
    const [x, r, g, b] = [noise([2, 3, 4], 41), noise([2, 3, 4], 42), noise([4], 43), noise([4], 44)];
    const sum = values(x).map((v, i) => v + r.data[i]!);
    expectClose(runOp('add_norm', [x, r, g, b], { eps: 1e-3 }), layerNormRows(sum, 4, values(g), values(b), 1e-3), 1e-12);
    expect(() => inferOp('add_norm', [['f32', [2, 4]], ['f32', [2, 3]], ['f32', [4]], ['f32', [4]]])).toThrow('x and residual must have the same shape');
    expect(() => inferOp('add_norm', [['f32', [2, 4]], ['f32', [2, 4]], ['f32', [2, 4]], ['f32', [4]]])).toThrow('gamma must have shape [4]');
  });

  it('ffn = act(x W1 + b1) W2 + b2 for each activation', () => {
    const [x, w1, b1, w2, b2] = [noise([2, 3, 4], 51), noise([4, 6], 52), noise([6], 53), noise([6, 4], 54), noise([4], 55)];
    const acts = { relu: (v: number) => Math.max(0, v), gelu, gelu_tanh: geluTanh };
    for (const [activation, f] of Object.entries(acts)) {
      const hidden = affine(values(x), 4, values(w1), 6, values(b1)).map(f);
      expectClose(runOp('ffn', [x, w1, b1, w2, b2], { activation }), affine(hidden, 6, values(w2), 4, values(b2)), 1e-12);
    }
    expect(() => inferOp('ffn', [['f32', [2, 4]], ['f32', [4, 6]], ['f32', [6]], ['f32', [6, 5]], ['f32', [4]]])).toThrow('w2 must be [6, 4]');
    expect(() => inferOp('ffn', [['f32', [2, 4]], ['f32', [4, 6]], ['f32', [4]], ['f32', [6, 4]], ['f32', [4]]])).toThrow('biases must match the layer widths');
    expect(() => inferOp('ffn', [['f32', [2, 4]], ['f32', [4, 6]], ['f32', [6]], ['f32', [6, 4]], ['f32', [4]]], { activation: 'tanh' })).toThrow('invalid attrs.activation');
  });
});

describe('fused ops', () => {
  it('fused_elementwise evaluates its expression with broadcasting', () => {
    // relu(in0 * in1 + 1), then where(in0 > 0, that, cast(-in2))
    const product: Expr = { op: 'relu', args: [{ op: 'add', args: [{ op: 'mul', args: [{ in: 0 }, { in: 1 }] }, { const: 1, dtype: 'f32' }] }] };
    const expr: Expr = {
      op: 'where',
      args: [{ op: 'greater', args: [{ in: 0 }, { const: 0, dtype: 'f32' }] }, product, { op: 'cast', dtype: 'f32', args: [{ op: 'neg', args: [{ in: 2 }] }] }],
    };
    const a = f32([2, 3], [1, -2, 3, 0.5, 2, -1]);
    const b = f32([3], [2, 3, -4]);
    const c = i32([2, 1], [7, 8]);
    const out = runOp('fused_elementwise', [a, b, c], { expr });
    const want = values(a).map((v, i) => (v > 0 ? Math.max(0, v * b.data[i % 3]! + 1) : -c.data[Math.floor(i / 3)]!));
    expect(values(out)).toEqual(want);
  });

  it('fused_elementwise type rule', () => {
    const t = ['f32', [2]] as const;
    expect(inferOp('fused_elementwise', [['f32', ['batch', 1]], ['f32', [3]]], { expr: { op: 'less', args: [{ in: 0 }, { in: 1 }] } })).toEqual({ dtype: 'i32', shape: ['batch', 3] });
    expect(() => inferOp('fused_elementwise', [t, t], { expr: { op: 'exp', args: [{ in: 0 }] } })).toThrow('the expression must read every input (reads 1 of 2)');
    expect(() => inferOp('fused_elementwise', [t], { expr: { op: 'matmul', args: [{ in: 0 }] } })).toThrow("'matmul' is not an elementwise op");
    expect(() => inferOp('fused_elementwise', [t], { expr: { op: 'add', args: [{ in: 0 }] } })).toThrow("'add' takes 2 arguments, got 1");
    expect(() => inferOp('fused_elementwise', [t], { expr: { op: 'exp', args: [{ in: 1 }] } })).toThrow('expression reads input 1, but there are 1 inputs');
    expect(() => inferOp('fused_elementwise', [['i32', [2]]], { expr: { op: 'exp', args: [{ in: 0 }] } })).toThrow("'exp' needs f32");
    expect(() => inferOp('fused_elementwise', [t, ['f32', [3]]], { expr: { op: 'add', args: [{ in: 0 }, { in: 1 }] } })).toThrow('inputs do not broadcast together');
  });

  it('fused_matmul applies its epilogue to the product', () => {
    const [x, w, bias] = [noise([2, 3, 4], 61), noise([5, 4], 62), noise([5], 63)];
    const epilogue: Expr = { op: 'gelu', args: [{ op: 'add', args: [{ in: 0 }, { in: 1 }] }] };
    const wT = Array.from({ length: 20 }, (_, f) => w.data[(f % 5) * 4 + Math.floor(f / 5)]!); // [4, 5]
    const want = affine(values(x), 4, wT, 5, values(bias)).map(gelu);
    expectClose(runOp('fused_matmul', [x, w, bias], { transposeB: true, epilogue }), want, 1e-12);
    expect(() => inferOp('fused_matmul', [['f32', [2, 4]], ['f32', [4, 5]], ['f32', [2, 1, 5]]], { epilogue: { op: 'add', args: [{ in: 0 }, { in: 1 }] } })).toThrow(
      'epilogue inputs must broadcast to the product',
    );
    expect(() => inferOp('fused_matmul', [['f32', [2, 4]], ['f32', [4, 5]]], { epilogue: { op: 'cast', dtype: 'i32', args: [{ in: 0 }] } })).toThrow('the epilogue must produce f32');
  });

  it('fused_attention on head-split tensors matches the loops', () => {
    // [B, H, T, Dh] tensors are [B, T, H*Dh] ones with axes 1 and 2 swapped; build both views
    const [B, H, Tq, Tk, Dh] = [2, 2, 3, 4, 2];
    const toHeads = (a: NDArray, t: number) => runOp('transpose', [runOp('reshape', [a], { shape: [B, t, H, Dh] })], { perm: [0, 2, 1, 3] });
    const [q, k, v] = [noise([B, Tq, H * Dh], 71), noise([B, Tk, H * Dh], 72), noise([B, Tk, H * Dh], 73)];
    const mask = f32([B, 1, 1, Tk], [0, 0, MASKED, 0, 0, MASKED, MASKED, 0]);
    const out = runOp('fused_attention', [toHeads(q, Tq), toHeads(k, Tk), toHeads(v, Tk), mask], { scale: 0.5 });
    const merged = runOp('reshape', [runOp('transpose', [out], { perm: [0, 2, 1, 3] })], { shape: [B, Tq, H * Dh] });
    expectClose(merged, attentionLoops(q, k, v, H, mask, 0.5), 1e-12);
    expect(() => inferOp('fused_attention', [['f32', [2, 3, 4]], ['f32', [2, 5, 3]], ['f32', [2, 5, 4]]], { scale: 1 })).toThrow('q and k head sizes differ (4 and 3)');
    expect(inferOp('fused_attention', [['f32', ['b', 'tq', 4]], ['f32', ['b', 'tk', 4]], ['f32', ['b', 'tk', 6]]], { scale: 1 }).shape).toEqual(['b', 'tq', 6]);
  });

  it('fused_add_layer_norm equals add_norm', () => {
    const [x, r, g, b] = [noise([3, 4], 81), noise([3, 4], 82), noise([4], 83), noise([4], 84)];
    const sum = values(x).map((v, i) => v + r.data[i]!);
    expectClose(runOp('fused_add_layer_norm', [x, r, g, b]), layerNormRows(sum, 4, values(g), values(b), 1e-5), 1e-12);
  });
});

describe('decompositions keep source locations', () => {
  it('every node expanded from a composite carries the composite node source', () => {
    const b = new GraphBuilder();
    const x = b.input('x', 'f32', ['batch', 'seq', 8]);
    const y = b.add('attention', [x, x, x], { heads: 2 });
    const graph = b.build({ y });
    const expanded = expandOps(graph);
    expect(expanded.nodes.length).toBeGreaterThan(5);
    expect(new Set(expanded.nodes.slice(1).map((n) => n.source))).toEqual(new Set([graph.nodes[y]!.source]));
    expect(expanded.nodes.every((n) => n.op !== 'attention')).toBe(true);
  });
});
