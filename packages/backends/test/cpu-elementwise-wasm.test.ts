/**
 * Elementwise kernels compiled to WebAssembly SIMD at prepare time (src/cpu/wasm-codegen): the
 * binary writer against wabt's encoding, the float64 lane math against JavaScript's, and whole kernels
 * (every input access, vector bodies and their tails, masks and integers, one thread and two) against
 * the float64 interpreter: within one rounding to float32.
 */
import { describe, expect, it } from 'vitest';
import wabtInit from 'wabt';
import { GraphBuilder, interpret, type Expr, type NDArray } from '@loom/graph';
import { cpuBackend, CpuProgram, withPrepareOptions } from '../src/index.ts';
import { compile } from '@loom/compiler';
import { Code, encodeModule, type SimdOp } from '../src/cpu/wasm-codegen/wasm-module.ts';
import { helperCode, helperOrder, type MathHelper } from '../src/cpu/wasm-codegen/simd-math.ts';
import { planElementwiseWasm } from '../src/cpu/wasm-codegen/elementwise-wasm.ts';

async function wat(body: string, params: string, result: string): Promise<Uint8Array> {
  const wabt = await wabtInit();
  const features = { simd: true, threads: true };
  const m = wabt.parseWat('t.wat', `(module (import "env" "memory" (memory 1 65536 shared)) (func (export "f") ${params} ${result} ${body}))`, features);
  const { buffer } = m.toBinary({});
  m.destroy();
  return buffer;
}

describe('the WebAssembly writer', () => {
  const binaryOps: SimdOp[] = ['f64x2.add', 'f64x2.sub', 'f64x2.mul', 'f64x2.div', 'f64x2.min', 'f64x2.max', 'f64x2.eq', 'f64x2.ne', 'f64x2.lt', 'f64x2.gt', 'f64x2.le', 'f64x2.ge', 'i64x2.add', 'i64x2.sub', 'f32x4.add', 'f32x4.sub', 'f32x4.mul', 'f32x4.div', 'f32x4.min', 'f32x4.max', 'f32x4.eq', 'f32x4.ne', 'f32x4.lt', 'f32x4.gt', 'f32x4.le', 'f32x4.ge',
    'i32x4.add', 'i32x4.sub', 'i32x4.mul', 'i32x4.min_s', 'i32x4.max_s', 'i32x4.eq', 'i32x4.ne', 'i32x4.lt_s', 'i32x4.gt_s', 'i32x4.le_s', 'i32x4.ge_s', 'v128.and', 'v128.andnot', 'v128.or', 'v128.xor'];
  const unaryOps: SimdOp[] = ['f64x2.abs', 'f64x2.neg', 'f64x2.sqrt', 'f64x2.nearest', 'f64x2.trunc', 'f64x2.promote_low_f32x4', 'f32x4.demote_f64x2_zero', 'f64x2.convert_low_i32x4_s', 'i32x4.trunc_sat_f64x2_s_zero', 'f32x4.abs', 'f32x4.neg', 'f32x4.sqrt', 'f32x4.nearest', 'i32x4.abs', 'i32x4.neg', 'i32x4.trunc_sat_f32x4_s', 'f32x4.convert_i32x4_s', 'v128.not'];

  it('spells every SIMD instruction it uses as wabt does', async () => {
    for (const op of binaryOps) {
      const c = new Code([{ name: 'a', type: 'v128' }, { name: 'b', type: 'v128' }], 'v128');
      c.get('a').get('b').simd(op);
      expect([...encodeModule([{ code: c, export: 'f' }])], op).toEqual([...(await wat(`local.get 0 local.get 1 ${op}`, '(param v128 v128)', '(result v128)'))]);
    }
    for (const op of unaryOps) {
      const c = new Code([{ name: 'a', type: 'v128' }], 'v128');
      c.get('a').simd(op);
      expect([...encodeModule([{ code: c, export: 'f' }])], op).toEqual([...(await wat(`local.get 0 ${op}`, '(param v128)', '(result v128)'))]);
    }
  });

  it('spells loads, stores, constants, locals, loops and branches as wabt does', async () => {
    const c = new Code([{ name: 'p', type: 'i32' }, { name: 'q', type: 'i32' }]);
    c.local('v', 'v128');
    c.local('s', 'f32');
    c.block().loop();
    c.get('p').get('q').op('i32.ge_u').brIf(1);
    c.get('p').memory('v128.load', 16).set('v');
    c.get('q').get('p').memory('v128.load32_splat', 300).get('v').simd('f32x4.mul').splatConst(-1.5).simd('f32x4.add').splatConst(127, 'i32').simd('i32x4.add').memory('v128.store');
    c.get('q').get('v').get('v').get('v').simd('v128.bitselect').lane('f32x4.extract_lane', 0).scalar('f32.store', 4);
    c.get('q').get('v').lane('i32x4.extract_lane', 0).scalar('i32.store');
    c.get('p').f32(2.5).set('s').i32(-200).i32(23).op('i32.shl').op('i32.mul').i32(1).get('p').op('select').set('p');
    c.get('v').i32(3).simd('i32x4.shl').i32(52).simd('i64x2.shl').set('v');
    c.get('p').memory('v128.load64_zero', 8).get('p').memory('v128.load32_zero').simd('v128.xor').splatConst(2.5, 'f64').splatConst(0x4338000000000000n, 'i64').simd('v128.or').simd('v128.or').set('v');
    c.get('q').get('v').memory('v128.store64_lane', 24, 1);
    c.get('q').get('v').memory('v128.store32_lane', 0, 3);
    c.get('v').lane('f64x2.extract_lane', 1).op('drop');
    c.br(0).end().end();
    const text = `(local v128 f32) block loop local.get 0 local.get 1 i32.ge_u br_if 1
      local.get 0 v128.load offset=16 local.set 2
      local.get 1 local.get 0 v128.load32_splat offset=300 local.get 2 f32x4.mul v128.const f32x4 -1.5 -1.5 -1.5 -1.5 f32x4.add v128.const i32x4 127 127 127 127 i32x4.add v128.store
      local.get 1 local.get 2 local.get 2 local.get 2 v128.bitselect f32x4.extract_lane 0 f32.store offset=4
      local.get 1 local.get 2 i32x4.extract_lane 0 i32.store
      local.get 0 f32.const 2.5 local.set 3 i32.const -200 i32.const 23 i32.shl i32.mul i32.const 1 local.get 0 select local.set 0
      local.get 2 i32.const 3 i32x4.shl i32.const 52 i64x2.shl local.set 2
      local.get 0 v128.load64_zero offset=8 local.get 0 v128.load32_zero v128.xor v128.const f64x2 2.5 2.5 v128.const i64x2 0x4338000000000000 0x4338000000000000 v128.or v128.or local.set 2
      local.get 1 local.get 2 v128.store64_lane offset=24 1
      local.get 1 local.get 2 v128.store32_lane 3
      local.get 2 f64x2.extract_lane 1 drop
      br 0 end end`;
    expect([...encodeModule([{ code: c, export: 'f' }])]).toEqual([...(await wat(text, '(param i32 i32)', ''))]);
  });
});

/** Runs helper `h` (two float64 lanes) on the values through a module of its own. */
function runHelper(h: MathHelper, xs: Float64Array): Float64Array {
  const helpers = helperOrder([h]);
  const index = (name: MathHelper) => helpers.indexOf(name);
  const apply = new Code([{ name: 'p', type: 'i32' }, { name: 'count', type: 'i32' }]);
  apply.block().loop();
  apply.get('count').op('i32.eqz').brIf(1);
  apply.get('p').get('p').memory('v128.load').call(index(h)).memory('v128.store');
  apply.get('p').i32(16).op('i32.add').set('p').get('count').i32(2).op('i32.sub').set('count').br(0).end().end();
  const memory = new WebAssembly.Memory({ initial: 2, maximum: 65536, shared: true });
  const bytes = encodeModule([...helpers.map((name) => ({ code: helperCode(name, index) })), { code: apply, export: 'apply' }]);
  const run = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { memory } }).exports['apply'] as (p: number, n: number) => void;
  const view = new Float64Array(memory.buffer, 0, xs.length);
  view.set(xs);
  run(0, xs.length);
  return view.slice();
}

describe('two-lane float64 math', () => {
  const sweep = (lo: number, hi: number, n = 4096) => Float64Array.from({ length: n }, (_, i) => lo + ((hi - lo) * i) / (n - 1));
  const cases: [MathHelper, (x: number) => number, Float64Array, number][] = [
    ['exp', Math.exp, sweep(-700, 700), 1e-12],
    ['exp', Math.exp, sweep(-2, 2), 1e-12],
    ['tanh', Math.tanh, sweep(-20, 20), 1e-11],
    ['tanh', Math.tanh, sweep(-0.3, 0.3), 1e-11],
    ['tanh', Math.tanh, sweep(-1e-6, 1e-6), 1e-11],
    ['sigmoid', (x) => 1 / (1 + Math.exp(-x)), sweep(-700, 700), 1e-12],
    ['gelu_tanh', (x) => 0.5 * x * (1 + Math.tanh(0.7978845608028654 * (x + 0.044715 * x * x * x))), sweep(-10, 10), 1e-11],
    ['relu', (x) => (x > 0 ? x : 0), sweep(-2, 2), 0],
  ];
  it.each(cases)('%s within %s relative of float64 JavaScript', (h, f, xs, rel) => {
    const got = runHelper(h, xs);
    xs.forEach((x, i) => {
      const want = f(x);
      expect(Math.abs(got[i]! - want), `${h}(${x}) = ${got[i]}, want ${want}`).toBeLessThanOrEqual(rel * Math.abs(want) + 1e-300);
    });
  });

  it('exp is infinity past 709.78 and 0 below -708; NaN stays NaN', () => {
    expect([...runHelper('exp', Float64Array.from([-800, -709, 710, 1e6]))]).toEqual([0, 0, Infinity, Infinity]);
    expect(Number.isNaN(runHelper('exp', Float64Array.from([NaN, 1]))[0])).toBe(true);
    expect(Number.isNaN(runHelper('tanh', Float64Array.from([NaN, 1]))[0])).toBe(true);
    expect([...runHelper('tanh', Float64Array.from([-Infinity, Infinity]))]).toEqual([-1, 1]);
  });
});

const ramp = (shape: number[], seed: number, dtype: 'f32' | 'i32' = 'f32'): NDArray => {
  const n = shape.reduce((a, b) => a * b, 1);
  let s = seed;
  const next = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 31 - 1);
  return dtype === 'f32' ? { dtype, shape, data: Float32Array.from({ length: n }, () => next() * 3) } : { dtype, shape, data: Int32Array.from({ length: n }, () => Math.floor(next() * 4)) };
};

const e = {
  in: (k: number): Expr => ({ in: k }),
  c: (v: number, dtype: 'f32' | 'i32' = 'f32'): Expr => ({ const: v, dtype }),
  op: (op: string, ...args: Expr[]): Expr => ({ op, args }),
  cast: (dtype: 'f32' | 'i32', arg: Expr): Expr => ({ op: 'cast', args: [arg], dtype }),
};

describe('elementwise kernels compiled to WebAssembly', () => {
  // out [a, b, n]: x full, s scalar, r one per row [a, b, 1], l one row for all [n], i i32 full
  const expr = e.op('add',
    e.op('mul', e.op('tanh', e.in(0)), e.in(1)),
    e.op('where', e.op('greater', e.in(2), e.in(3)), e.op('sigmoid', e.op('sub', e.in(3), e.in(2))), e.op('mul', e.cast('f32', e.op('equal', e.in(4), e.c(2, 'i32'))), e.op('gelu_tanh', e.in(0)))));
  const graph = (a: number, b: number, n: number) => {
    const g = new GraphBuilder();
    const x = g.input('x', 'f32', [a, b, n]);
    const s = g.input('s', 'f32', [1]);
    const r = g.input('r', 'f32', [a, b, 1]);
    const l = g.input('l', 'f32', [n]);
    const i = g.input('i', 'i32', [a, b, n]);
    const sum = g.add('fused_elementwise', [x, s, r, l, i], { expr });
    const count = g.add('fused_elementwise', [i, l], { expr: e.op('add', e.op('mul', e.in(0), e.c(3, 'i32')), e.cast('i32', e.op('less', e.in(1), e.c(0)))) });
    return g.build({ y: sum, count });
  };
  const feeds = (a: number, b: number, n: number) => ({ x: ramp([a, b, n], 1), s: ramp([1], 2), r: ramp([a, b, 1], 3), l: ramp([n], 4), i: ramp([a, b, n], 5, 'i32') });

  it('plans the four input accesses, and keeps the JavaScript loop for other broadcasts and ops without a SIMD spelling', () => {
    const at = (...shape: (number | string)[]) => ({ staticShape: shape, dtype: 'f32' as const });
    const plan = planElementwiseWasm(e.op('add', e.op('add', e.in(0), e.in(1)), e.op('add', e.in(2), e.in(3))), [at('b', 3, 8), at(1), at('b', 3, 1), at(1, 8)], ['b', 3, 8]);
    expect(plan?.access).toEqual(['full', 'scalar', 'row', 'lastAxis']);
    expect(plan?.flat).toBe(false);
    expect(planElementwiseWasm(e.op('add', e.in(0), e.in(1)), [at('b', 3, 8), at('b', 1, 8)], ['b', 3, 8])).toBeUndefined();
    expect(planElementwiseWasm(e.op('log', e.in(0)), [at(4)], [4])).toBeUndefined();
    expect(planElementwiseWasm(e.op('div', e.in(0), e.in(0)), [{ staticShape: [4], dtype: 'i32' }], [4])).toBeUndefined();
    expect(planElementwiseWasm(e.op('gelu', e.in(0)), [at(4)], [4])).toBeUndefined();
  });

  it.each([
    [2, 3, 7],
    [1, 1, 1],
    [3, 2, 16],
  ])('equal the float64 interpreter over [%i, %i, %i] (vector bodies and tails, masks, integers)', async (a, b, n) => {
    const g = graph(a, b, n);
    const model = await cpuBackend.prepare(g, new Map());
    expect((model as unknown as { program: CpuProgram }).program.source()).toContain('rt.elementwise(');
    const got = await model.run(feeds(a, b, n));
    const want = interpret(g, feeds(a, b, n), new Map());
    expect([...got['count']!.data]).toEqual([...want['count']!.data]);
    got['y']!.data.forEach((v, k) => expect(Math.abs(v - want['y']!.data[k]!), `y[${k}]`).toBeLessThanOrEqual(1.2e-7 * Math.abs(want['y']!.data[k]!)));
  });

  it('two threads give the bits of one over rows split in chunks, and equal the interpreter', async () => {
    const [a, b, n] = [40, 33, 61];
    const g = graph(a, b, n);
    const run = async (threads: number) => {
      const model = await withPrepareOptions(cpuBackend, { cpu: { threads, pauseWhenContended: false } }).prepare(g, new Map());
      try {
        return await model.run(feeds(a, b, n));
      } finally {
        model.dispose();
      }
    };
    const [one, two] = [await run(1), await run(2)];
    expect(two['y']!.data).toEqual(one['y']!.data);
    expect(two['count']!.data).toEqual(one['count']!.data);
    const want = interpret(g, feeds(a, b, n), new Map());
    two['y']!.data.forEach((v, k) => expect(Math.abs(v - want['y']!.data[k]!)).toBeLessThanOrEqual(1.2e-7 * Math.abs(want['y']!.data[k]!)));
  });

  it('a matmul epilogue without a hand-written kernel runs on the generated one, in place', async () => {
    const g = new GraphBuilder();
    const x = g.input('x', 'f32', [64, 32]);
    const w = g.input('w', 'f32', [32, 48]);
    const pre = g.input('pre', 'f32', [64, 48]);
    const y = g.add('fused_matmul', [x, w, pre], { epilogue: e.op('where', e.op('greater', e.in(1), e.c(0)), e.in(0), e.c(0)), transposeB: false });
    const graph2 = g.build({ y });
    const model = await cpuBackend.prepare(graph2, new Map());
    expect((model as unknown as { program: CpuProgram }).program.source()).toContain('rt.elementwise(');
    const f = { x: ramp([64, 32], 7), w: ramp([32, 48], 8), pre: ramp([64, 48], 9) };
    const got = await model.run(f);
    const want = interpret(graph2, f, new Map());
    got['y']!.data.forEach((v, k) => expect(Math.abs(v - want['y']!.data[k]!)).toBeLessThan(1e-4));
    void compile;
  });
});
