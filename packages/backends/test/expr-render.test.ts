import { BINARY_FUNCTIONS, COMPARE_FUNCTIONS, UNARY_FUNCTIONS, type Expr } from '@loom/graph';
import { describe, expect, it } from 'vitest';
import { call } from '../src/cpu/render/runtime-call.ts';
import { CEPHES_SINCOS, coefficient, ERF, horner, TANH, type SharedHelper } from '../src/expr/helpers.ts';
import type { ExprLanguage } from '../src/expr/language.ts';
import { GLSL } from '../src/expr/languages/glsl.ts';
import { JAVASCRIPT } from '../src/expr/languages/js.ts';
import { WGSL } from '../src/expr/languages/wgsl.ts';
import { renderExpr, type ExprValue } from '../src/expr/render-expr.ts';

/**
 * The one expression renderer and its three language tables (JavaScript, WGSL, GLSL): every op of
 * the op table spelled in every language, the accuracy helpers printed from one set of numbers, and
 * one rendered expression per language. What each spelling computes is the conformance tests' job.
 */

const LANGUAGES: readonly (readonly [string, ExprLanguage])[] = [
  ['cpu', JAVASCRIPT],
  ['webgpu', WGSL],
  ['webgl', GLSL],
];

const f32 = (value: string): ExprValue => ({ value, dtype: 'f32' });
const i32 = (value: string): ExprValue => ({ value, dtype: 'i32' });

describe('expression renderer', () => {
  it.each(LANGUAGES)('%s: every elementwise op of the op table has a spelling, and every helper a spelling calls exists', (_, language) => {
    expect(Object.keys(language.unary).sort()).toEqual(Object.keys(UNARY_FUNCTIONS).sort());
    expect(Object.keys(language.binary).sort()).toEqual(Object.keys(BINARY_FUNCTIONS).sort());
    expect(Object.keys(language.compare).sort()).toEqual(Object.keys(COMPARE_FUNCTIONS).sort());
    const spellings = [...Object.values(language.unary), ...Object.values(language.binary)].flatMap((s) => [s, ...(s.i32 ? [s.i32] : [])]);
    for (const s of [...spellings, ...Object.values(language.casts).filter((c) => c !== null)]) {
      for (const h of s.helpers ?? []) expect(language.helpers).toHaveProperty(h);
    }
  });

  it.each(LANGUAGES)('%s: every op renders alone on f32 (and i32 where the op takes it), with the dtype of the reference', (_, language) => {
    const ops = [
      ...Object.entries(UNARY_FUNCTIONS).map(([op, { ints }]) => ({ op, arity: 1, ints, compare: false })),
      ...Object.entries(BINARY_FUNCTIONS).map(([op, { ints }]) => ({ op, arity: 2, ints, compare: false })),
      ...Object.entries(COMPARE_FUNCTIONS).map(([op, { ints }]) => ({ op, arity: 2, ints, compare: true })),
    ];
    for (const { op, arity, ints, compare } of ops) {
      for (const dtype of ints ? (['f32', 'i32'] as const) : (['f32'] as const)) {
        const inputs = [{ value: 'p', dtype }, { value: 'q', dtype }];
        const rendered = renderExpr(language, { op, args: inputs.slice(0, arity).map((_, k) => ({ in: k })) }, inputs);
        expect(rendered.dtype, `${op} on ${dtype}`).toBe(compare ? 'i32' : dtype);
        expect([...rendered.statements, rendered.result].join('\n'), `${op} on ${dtype}`).toMatch(/\bp\b/);
      }
    }
  });

  it('WGSL and GLSL print the same coefficients in their shared helpers, all of them from helpers.ts', () => {
    // the float literals that are not integers (an integer is 1.0, a clamp, or sin/cos's octant counter in GLSL)
    const coefficients = (source: string) => (source.match(/\d+\.\d+(e-?\d+)?/g) ?? []).filter((t) => !Number.isInteger(Number(t)));
    const helpers: SharedHelper[] = ['loom_tanh', 'loom_erf', 'loom_pow', 'loom_sincos'];
    for (const h of helpers) expect(coefficients(GLSL.helpers[h]), h).toEqual(coefficients(WGSL.helpers[h]));
    const data = [...TANH.series, ...ERF.series, ERF.twoOverSqrtPi, ERF.p, ...ERF.tail, CEPHES_SINCOS.fourOverPi, ...CEPHES_SINCOS.piOver4, ...CEPHES_SINCOS.sin, ...CEPHES_SINCOS.cos];
    const printed = helpers.flatMap((h) => coefficients(WGSL.helpers[h]).map(Number));
    for (const c of data.filter((v) => !Number.isInteger(v))) expect(printed, `coefficient ${c}`).toContain(Math.abs(c));
  });

  it('coefficients print as float literals both languages read, with the same value; Horner nests them', () => {
    expect([1, 20, 0.125, -0.5, 2.4187564849853515625e-4, 1e-7, -7.5757576e-4].map(coefficient)).toEqual(['1.0', '20.0', '0.125', '-0.5', '2.4187564849853516e-4', '1.0e-7', '-7.5757576e-4']);
    expect(horner('z', [1, -0.5, 0.25])).toBe('(1.0 + z * (-0.5 + z * 0.25))');
    for (const c of [...ERF.series, ...ERF.tail, ...CEPHES_SINCOS.piOver4, ...CEPHES_SINCOS.sin, ...CEPHES_SINCOS.cos]) expect(Number(coefficient(c))).toBe(c);
  });

  it('one expression, rendered in each language', () => {
    // where(x0 < 0.5, gelu(x0 - f32(x1)), x0 / 3), x1 an i32
    const expr: Expr = {
      op: 'where',
      args: [
        { op: 'less', args: [{ in: 0 }, { const: 0.5, dtype: 'f32' }] },
        { op: 'gelu', args: [{ op: 'sub', args: [{ in: 0 }, { op: 'cast', args: [{ in: 1 }], dtype: 'f32' }] }] },
        { op: 'div', args: [{ in: 0 }, { const: 3, dtype: 'f32' }] },
      ],
    };
    const inputs = [f32('x0'), i32('x1')];
    const js = renderExpr(JAVASCRIPT, expr, inputs);
    expect(js).toEqual({ statements: [], result: '((x0 < 0.5 ? 1 : 0) !== 0 ? rt.gelu((x0 - x1)) : (x0 / 3))', dtype: 'f32', helpers: [] });
    const wgsl = renderExpr(WGSL, expr, inputs);
    expect(wgsl.statements).toEqual([
      'let e0 = select(0i, 1i, x0 < 0.5f);',
      'let e1 = f32(x1);',
      'let e2 = (x0 - e1);',
      'let e3 = (0.5 * e2 * (1.0 + loom_erf(e2 * 0.70710678)));',
      'let e4 = (x0 / 3.0f);',
      'let e5 = select(e4, e3, e0 != 0i);',
    ]);
    expect(wgsl.result).toBe('e5');
    expect(wgsl.helpers).toEqual([WGSL.helpers.loom_erf]);
    const glsl = renderExpr(GLSL, expr, inputs);
    expect(glsl.statements).toEqual([
      'float e0 = (x0 < 0.5 ? 1.0 : 0.0);',
      'float e1 = (x0 - x1);',
      'float e2 = (0.5 * e1 * (1.0 + loom_erf(e1 * 0.70710678)));',
      'float e3 = (x0 / 3.0);',
      'float e4 = (e0 != 0.0 ? e2 : e3);',
    ]);
    expect(glsl.helpers).toEqual([GLSL.helpers.loom_erf]);
    expect(GLSL.helpers.loom_erf).toMatch(/^float loom_erf\(float x\) \{\n {2}float a = abs\(x\);/);
    expect(WGSL.helpers.loom_erf).toMatch(/^fn loom_erf\(x: f32\) -> f32 \{\n {2}let a = abs\(x\);/);
  });

  it('integer division: truncation in JavaScript, a helper in WGSL and GLSL', () => {
    const idiv: Expr = { op: 'div', args: [{ in: 0 }, { in: 1 }] };
    expect(renderExpr(JAVASCRIPT, idiv, [i32('a'), i32('b')]).result).toBe('Math.trunc((a / b))');
    expect(renderExpr(WGSL, idiv, [i32('a'), i32('b')]).helpers).toEqual([WGSL.helpers.loom_idiv]);
    expect(renderExpr(GLSL, idiv, [i32('a'), i32('b')]).helpers).toEqual([GLSL.helpers.loom_idiv]);
    expect(renderExpr(WGSL, idiv, [f32('a'), f32('b')]).helpers).toEqual([]);
  });

  it.each(LANGUAGES)('%s: an op no language knows, or an input the kernel lacks, is the backend\'s own error naming it', (backend, language) => {
    expect(() => renderExpr(language, { op: 'bogus', args: [{ in: 0 }] }, [f32('x')])).toThrow(new RegExp(`^${backend}: no kernel for op 'bogus'`));
    expect(() => renderExpr(language, { op: 'toString', args: [{ in: 0 }] }, [f32('x')])).toThrow(new RegExp(`^${backend}: no kernel for op 'toString'`));
    expect(() => renderExpr(language, { op: 'neg', args: [{ in: 2 }] }, [f32('x')])).toThrow(new RegExp(`^${backend}: .*reads input 2, but the kernel has 1`));
  });

  it('calls into the cpu runtime are typed by it', () => {
    expect(call('matmul', 'a', 'undefined', 'b', 'out', 'as', 'bs', 'os', false)).toBe('rt.matmul(a, undefined, b, out, as, bs, os, false)');
    expect(call('rmsNorm', 'x', 'w', 'out', 8, 1e-5, 0)).toBe('rt.rmsNorm(x, w, out, 8, 0.00001, 0)');
    // @ts-expect-error a helper the runtime does not have
    expect(call('matmull', 'a')).toBe('rt.matmull(a)');
    // @ts-expect-error too few arguments for rt.softmax(x, out, shape, axis)
    expect(call('softmax', 'x', 'out')).toBe('rt.softmax(x, out)');
    // @ts-expect-error a table without an op's spelling does not type-check
    const incomplete: ExprLanguage['binary'] = { add: { code: (a, b) => `${a}+${b}` } };
    expect(incomplete).toBeDefined();
  });
});
