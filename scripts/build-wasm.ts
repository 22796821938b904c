/**
 * Compiles the hand-written WebAssembly kernels (packages/backends/src/cpu/wasm/*.wat) into
 * TypeScript modules holding the binaries as base64, so that the runtime needs no WAT toolchain.
 * A source written with relaxed SIMD yields two binaries: RELAXED (fused multiply-add and the engine's
 * i8 dot, for engines with relaxed SIMD) and PLAIN (each madd spelled as a multiply and an add, each
 * dot in plain SIMD: withoutRelaxedSimd below), for the rest.
 * Run after editing a .wat file: `pnpm build:wasm`. A test checks the committed output is current.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import wabtInit from 'wabt';

const dir = 'packages/backends/src/cpu/wasm';
const FEATURES = { simd: true, threads: true, relaxed_simd: true, bulk_memory: true };

export async function compileWat(source: string, name: string): Promise<Uint8Array> {
  const wabt = await wabtInit();
  const module = wabt.parseWat(name, source, FEATURES);
  (module.validate as (features: object) => void)(FEATURES);
  const { buffer } = module.toBinary({});
  module.destroy();
  return buffer;
}

/** The end (exclusive) of the s-expression that opens at `start` (a '('). */
function sexprEnd(text: string, start: number): number {
  let depth = 0;
  for (let i = start; i < text.length; i++) {
    if (text[i] === '(') depth++;
    else if (text[i] === ')' && --depth === 0) return i + 1;
  }
  throw new Error(`unbalanced parentheses from offset ${start}`);
}

/**
 * The source with every (f32x4.relaxed_madd a b c) written as (f32x4.add c (f32x4.mul a b)), and
 * every (i32x4.relaxed_dot_i8x16_i7x16_add_s a b c) as the same sums from plain SIMD: each half's
 * bytes widened to i16 (a's signed, b's unsigned) and multiplied pairwise (i32x4.dot_i16x8_s gives
 * the sums of pairs), then neighbouring pairs added across the halves, and c; every
 * (i16x8.relaxed_dot_i8x16_i7x16_s a b) as the widened products added in neighbouring pairs. All are exact where
 * the 7-bit operand is (its values 0..127): a product of 4-bit codes computes the same integers in
 * either build. Past 127 the plain build reads b as unsigned bytes, as x86's AVX-VNNI does (the
 * bytes layout of 8-bit codes, taken where a probe finds the relaxed build does the same).
 */
export function withoutRelaxedSimd(source: string): string {
  source = source.replace(/;;.*$/gm, ''); // comments may quote the instruction
  source = rewriteCalls(source, '(i32x4.relaxed_dot_i8x16_i7x16_add_s', ([a, b, c]) => {
    const low = `(i32x4.dot_i16x8_s (i16x8.extend_low_i8x16_s ${a}) (i16x8.extend_low_i8x16_u ${b}))`;
    const high = `(i32x4.dot_i16x8_s (i16x8.extend_high_i8x16_s ${a}) (i16x8.extend_high_i8x16_u ${b}))`;
    // lanes [l0 l1 l2 l3] and [h0 h1 h2 h3]: (l0 + l1, l2 + l3, h0 + h1, h2 + h3)
    const even = `(i8x16.shuffle 0 1 2 3 8 9 10 11 16 17 18 19 24 25 26 27 ${low} ${high})`;
    const odd = `(i8x16.shuffle 4 5 6 7 12 13 14 15 20 21 22 23 28 29 30 31 ${low} ${high})`;
    return `(i32x4.add ${c} (i32x4.add ${even} ${odd}))`;
  });
  source = rewriteCalls(source, '(i16x8.relaxed_dot_i8x16_i7x16_s', ([a, b]) => {
    // the products of each half in i16 (exact: |a b| <= 128 * 255), then neighbouring ones added
    const low = `(i16x8.mul (i16x8.extend_low_i8x16_s ${a}) (i16x8.extend_low_i8x16_u ${b}))`;
    const high = `(i16x8.mul (i16x8.extend_high_i8x16_s ${a}) (i16x8.extend_high_i8x16_u ${b}))`;
    const even = `(i8x16.shuffle 0 1 4 5 8 9 12 13 16 17 20 21 24 25 28 29 ${low} ${high})`;
    const odd = `(i8x16.shuffle 2 3 6 7 10 11 14 15 18 19 22 23 26 27 30 31 ${low} ${high})`;
    return `(i16x8.add ${even} ${odd})`;
  }, 2);
  return rewriteCalls(source, '(f32x4.relaxed_madd', ([a, b, c]) => `(f32x4.add ${c} (f32x4.mul ${a} ${b}))`);
}

/** Every (head a b c) of the source (`arity` arguments, rewritten first) replaced by `spell([a, b, c])`. */
function rewriteCalls(source: string, head: string, spell: (args: string[]) => string, arity = 3): string {
  let at = source.indexOf(head);
  while (at >= 0) {
    const end = sexprEnd(source, at);
    const args: string[] = [];
    let i = at + head.length;
    while (args.length < arity) {
      while (/\s/.test(source[i]!)) i++;
      const argEnd = sexprEnd(source, i);
      args.push(rewriteCalls(source.slice(i, argEnd), head, spell, arity));
      i = argEnd;
    }
    const plain = spell(args);
    source = source.slice(0, at) + plain + source.slice(end);
    at = source.indexOf(head, at + plain.length);
  }
  return source;
}

/** The variants a source compiles to: name of the exported constant -> WAT text. */
export function variantsOf(source: string): Record<string, string> {
  return source.includes('relaxed_madd') || source.includes('relaxed_dot') ? { RELAXED_BASE64: source, PLAIN_BASE64: withoutRelaxedSimd(source) } : { WASM_BASE64: source };
}

export async function wasmModuleSource(watFile: string, source: string): Promise<string> {
  const lines = [`// Generated by scripts/build-wasm.ts from ${watFile}. Do not edit.`];
  for (const [name, text] of Object.entries(variantsOf(source))) {
    const binary = await compileWat(text, watFile);
    lines.push(`export const ${name} =\n  '${Buffer.from(binary).toString('base64')}';`);
  }
  return `${lines.join('\n')}\n`;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.wat'))) {
    const out = join(dir, file.replace(/\.wat$/, '-wasm.ts'));
    writeFileSync(out, await wasmModuleSource(file, readFileSync(join(dir, file), 'utf8')));
    console.log(`${file} -> ${out}`);
  }
}
