import type { BinaryName, DType, Expr, UnaryName } from '@loom/graph';
import type { CastName, ExprLanguage, OpSpelling, Spelling } from './language.ts';

/**
 * The one expression renderer: an elementwise `Expr` tree to source in a given language
 * (languages/js.ts, wgsl.ts, glsl.ts). It walks the tree, binds every op's value to a name where the
 * language binds (`let e3 = ...;`) or nests it where it does not (JavaScript: one expression, so the
 * cpu loop stays `out[i] = <expr>`), and collects the helper functions the spellings call. The float64
 * functions of ops/elementwise.ts are what each spelling means; the conformance tests hold every
 * language to them.
 */

export interface ExprValue {
  /** Source (usually a local name) holding the value at this output position. */
  readonly value: string;
  readonly dtype: DType;
}

export interface RenderedExpr {
  /** Statements computing the intermediate values, in order (none where the language nests). */
  readonly statements: string[];
  /** Source of the result. */
  readonly result: string;
  readonly dtype: DType;
  /** Helper functions the result calls, as source, sorted by name. */
  readonly helpers: string[];
}

/** Renders `expr` over already-loaded `inputs`; `prefix` keeps the bound names unique in a kernel. */
export function renderExpr<H extends string>(language: ExprLanguage<H>, expr: Expr, inputs: readonly ExprValue[], prefix = 'e'): RenderedExpr {
  const statements: string[] = [];
  const helpers = new Set<H>();
  const bind = (source: string): string => {
    if (!language.bind) return source;
    const name = `${prefix}${statements.length}`;
    statements.push(language.bind(name, source));
    return name;
  };
  const spell = (spelling: Spelling<H>, args: readonly string[]): string => {
    for (const h of spelling.helpers ?? []) helpers.add(h);
    return bind(spelling.code(...args));
  };
  const visit = (e: Expr): ExprValue => {
    if ('in' in e) {
      const input = inputs[e.in];
      if (!input) throw language.unsupported('fused_elementwise', `expression reads input ${e.in}, but the kernel has ${inputs.length}`);
      return input;
    }
    if ('const' in e) return { value: language.literal(e.const, e.dtype), dtype: e.dtype };
    const args = e.args.map(visit);
    const values = args.map((a) => a.value);
    const argType = args[0]?.dtype ?? 'f32';
    if (e.op === 'cast') {
      const to = e.dtype ?? 'f32';
      const cast = to === argType ? null : language.casts[`${argType}->${to}` as CastName];
      return { value: cast ? spell(cast, values) : values[0]!, dtype: to };
    }
    const zero = language.literal(0, 'i32');
    if (e.op === 'where') return { value: bind(language.select(`${values[0]} ${language.compare.not_equal} ${zero}`, values[1]!, values[2]!)), dtype: args[1]!.dtype };
    // logic on i32 masks through the comparisons every language has: nonzero is true
    const one = language.literal(1, 'i32');
    const isTrue = (v: string) => `${v} ${language.compare.not_equal} ${zero}`;
    if (e.op === 'logical_not') return { value: bind(language.select(isTrue(values[0]!), zero, one)), dtype: 'i32' };
    if (e.op === 'logical_and') return { value: bind(language.select(isTrue(values[0]!), bind(language.select(isTrue(values[1]!), one, zero)), zero)), dtype: 'i32' };
    if (e.op === 'logical_or') return { value: bind(language.select(isTrue(values[0]!), one, bind(language.select(isTrue(values[1]!), one, zero)))), dtype: 'i32' };
    if (Object.hasOwn(language.compare, e.op)) {
      const operator = language.compare[e.op as keyof typeof language.compare];
      return { value: bind(language.select(`${values[0]} ${operator} ${values[1]}`, language.literal(1, 'i32'), zero)), dtype: 'i32' };
    }
    const op: OpSpelling<H> | undefined = Object.hasOwn(language.unary, e.op)
      ? language.unary[e.op as UnaryName]
      : Object.hasOwn(language.binary, e.op)
        ? language.binary[e.op as BinaryName]
        : undefined;
    if (!op) throw language.unsupported(e.op, `not an elementwise op the ${language.name} renderer knows`);
    return { value: spell(argType === 'i32' && op.i32 ? op.i32 : op, values), dtype: argType };
  };
  const out = visit(expr);
  return { statements, result: out.value, dtype: out.dtype, helpers: [...helpers].sort().map((h) => language.helpers[h]) };
}
