/**
 * What TypeScript prints for a shape mistake made with the typed builder. A `@ts-expect-error` only
 * proves that a line does not compile; these tests typecheck one snippet with the compiler API and
 * read the messages: each mistake is one error, at the argument that is wrong, naming the shapes or
 * sizes involved (not an overload dump with the good sentence buried in it).
 */
import ts from 'typescript';
import { beforeAll, describe, expect, it } from 'vitest';

/** Each line of the snippet is one statement; a line that ends in `// bad` must fail, every other line compile. */
const SNIPPET = `
import { ModelBuilder, type Dim, type Tensor } from '../src/index.ts';
const m = new ModelBuilder();
const x = m.input('x', 'f32', ['batch', 'seq', 64]);
const v32 = m.input('v32', 'f32', [32]);
const ids = m.input('ids', 'i32', ['batch', 'seq']);
const qkv = m.input('qkv', 'f32', ['batch', 'seq', 96]);
const x512 = m.input('x512', 'f32', ['batch', 'seq', 512]);
const x4096 = m.input('x4096', 'f32', ['batch', 'seq', 4096]);
const width: number = 512;
const xw = m.input('xw', 'f32', ['batch', 'seq', width]);
const r = m.input('r', 'f32', [2, 3, 4]);
m.add(x, v32); // bad: broadcast add
m.sub(v32, x); // bad: broadcast sub
m.mul(x, v32); // bad: broadcast mul
m.div(x, v32); // bad: broadcast div
m.binaryOp('maximum', x, v32); // bad: broadcast binaryOp
m.compare('less', ids, m.input('i32', 'i32', [32])); // bad: broadcast compare
m.where(ids, v32, 0); // bad: broadcast where
m.add(x, m.cast(x, 'i32')); // bad: dtype add
m.add(x, m.input('b64', 'f32', [64]));
m.add(x, 1);
m.mul(2, x);
const q: Tensor<'f32', readonly ['batch', 'seq', 32]> = m.slice(qkv, -1, 0, 32);
const k: Tensor<'f32', readonly ['batch', 'seq', 32]> = m.slice(qkv, -1, 32, 80); // bad: slice
const c: number = 32;
const v: Tensor<'f32', readonly ['batch', 'seq', Dim]> = m.slice(qkv, -1, 2 * c, 3 * c);
m.attention(x512, x512, x512, 8);
m.attention(x4096, x4096, x4096, 32);
m.attention(xw, xw, xw, 6);
m.attention(x512, x512, x512, 6); // bad: heads attention
m.groupedAttention(x512, x512, x512, 6, 2); // bad: heads groupedAttention
m.groupedAttention(x512, x512, x512, 8, 3); // bad: kvHeads
m.reshape(r, [6, 4]);
m.reshape(r, [-1, 5]);
m.reshape(x, ['batch', 'seq', 8, 7]);
m.reshape(r, [5, 5]); // bad: reshape
export { q, k, v };
`;

const BAD = /\/\/ bad: (.*)$/;

describe('ModelBuilder: the message TypeScript gives for a mistake', () => {
  /** The snippet's diagnostics, flattened, by line (1-based in SNIPPET's numbering). */
  const byLine = new Map<number, string[]>();
  const lines = SNIPPET.split('\n');
  const lineOf = (label: string): number => lines.findIndex((l) => BAD.exec(l)?.[1] === label);
  const messageAt = (label: string): string => {
    const line = lineOf(label);
    expect(line, label).toBeGreaterThan(0);
    const messages = byLine.get(line) ?? [];
    expect(messages, `${label}: one error on line ${line}: ${lines[line]}`).toHaveLength(1);
    return messages[0]!;
  };

  beforeAll(() => {
    const file = new URL('./__messages-snippet.ts', import.meta.url).pathname;
    const options: ts.CompilerOptions = {
      strict: true,
      noEmit: true,
      target: ts.ScriptTarget.ES2022,
      module: ts.ModuleKind.NodeNext,
      moduleResolution: ts.ModuleResolutionKind.NodeNext,
      allowImportingTsExtensions: true,
      skipLibCheck: true,
      types: [],
    };
    const host = ts.createCompilerHost(options);
    const readFile = host.readFile.bind(host);
    host.readFile = (name) => (name === file ? SNIPPET : readFile(name));
    host.fileExists = ((exists) => (name: string) => name === file || exists(name))(host.fileExists.bind(host));
    const program = ts.createProgram([file], options, host);
    const source = program.getSourceFile(file)!;
    for (const d of ts.getPreEmitDiagnostics(program, source)) {
      const line = d.file && d.start !== undefined ? d.file.getLineAndCharacterOfPosition(d.start).line : -1;
      byLine.set(line, [...(byLine.get(line) ?? []), ts.flattenDiagnosticMessageText(d.messageText, '\n')]);
    }
  }, 60_000);

  it('the lines that should compile do, and each mistake is one error', () => {
    const unexpected = [...byLine].filter(([line]) => !BAD.test(lines[line] ?? '')).map(([line, m]) => `${lines[line]}\n  ${m.join('\n  ')}`);
    expect(unexpected).toEqual([]);
    for (const [i, line] of lines.entries()) if (BAD.test(line)) expect(byLine.get(i) ?? [], line).toHaveLength(1);
  });

  it('elementwise shapes that do not broadcast: one error naming both shapes, no overload list', () => {
    for (const op of ['add', 'mul', 'div', 'binaryOp']) {
      const text = messageAt(`broadcast ${op}`);
      expect(text).toContain('shapes [batch, seq, 64] and [32] do not broadcast');
      expect(text).not.toContain('overload');
      expect(text.split('\n').length).toBeLessThanOrEqual(3);
    }
    expect(messageAt('broadcast sub')).toContain('shapes [32] and [batch, seq, 64] do not broadcast');
    expect(messageAt('broadcast compare')).toContain('shapes [batch, seq] and [32] do not broadcast');
    expect(messageAt('broadcast where')).toContain('shapes [batch, seq] and [32] do not broadcast');
    expect(messageAt('dtype add')).toContain('dtypes differ (f32 and i32)');
  });

  it('a slice of the wrong width fails where it is assigned, naming its literal width', () => {
    expect(messageAt('slice')).toContain(`Tensor<"f32", readonly ["batch", "seq", 48]>`);
  });

  it('attention heads that do not divide the model width, and kv heads that do not divide the heads', () => {
    expect(messageAt('heads attention')).toContain('attention: D = 512 (the model width) must be divisible by heads = 6');
    expect(messageAt('heads groupedAttention')).toContain('groupedAttention: D = 512 (the model width) must be divisible by heads = 6');
    expect(messageAt('kvHeads')).toContain('groupedAttention: kvHeads = 3 must divide heads = 8');
  });

  it('a reshape to another element count names both counts', () => {
    expect(messageAt('reshape')).toContain('reshape: [2, 3, 4] has 24 elements but [5, 5] has 25');
  });
});
