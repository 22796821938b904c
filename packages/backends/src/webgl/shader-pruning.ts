/**
 * gpu.js prefixes every fragment shader with its whole library (about 60 functions, 15 KB of GLSL:
 * bitwise helpers, encoders for its 8- and 16-bit textures, matrix getters) whether the kernel calls
 * them or not, and software GL pays for every line at every compile: on llvmpipe through ANGLE a
 * Loom pass compiled and linked in 6.2 ms with the library, 2.2 ms with only what it calls. A first
 * run compiles dozens of passes (the reverse model's: 51), so the library is most of a cold start.
 *
 * `pruneUnusedFunctions` keeps the functions `main` reaches (through calls, transitively; every
 * overload of a reached name) and every line outside a function, and drops the rest. It reads GLSL
 * by lines and braces, as gpu.js and Loom write it: a function definition starts at brace depth 0
 * on a line `type name(...) {`, and ends on the line where its braces close, with nothing after
 * them. Anything it does not recognize as such a definition is kept, and a source it cannot read so
 * (braces that do not balance, a block comment over several lines, code after a function's closing
 * brace) is left whole: a shader it misreads keeps more than it needs, never less; a call it missed
 * would fail to compile, loudly (WebGlKernelError with the GLSL).
 */
export function pruneUnusedFunctions(glsl: string): string {
  const lines = glsl.split('\n');
  const functions = topLevelFunctions(lines);
  if (functions.length === 0) return glsl;
  const byName = new Map<string, FunctionSpan[]>();
  for (const f of functions) {
    const overloads = byName.get(f.name);
    if (overloads) overloads.push(f);
    else byName.set(f.name, [f]);
  }
  // lines outside functions (globals, macros) may call functions too
  const reached = new Set<string>(['main', ...calledNames(linesOutside(lines, functions).join('\n'), byName)]);
  const todo = [...reached];
  while (todo.length > 0) {
    for (const f of byName.get(todo.pop()!) ?? []) {
      for (const callee of calledNames(lines.slice(f.start, f.end + 1).join('\n'), byName)) {
        if (reached.has(callee)) continue;
        reached.add(callee);
        todo.push(callee);
      }
    }
  }
  return linesOutside(lines, functions.filter((f) => !reached.has(f.name))).join('\n');
}

/** The lines outside the given spans (in source order). */
function linesOutside(lines: readonly string[], spans: readonly FunctionSpan[]): string[] {
  const outside: string[] = [];
  let next = 0;
  for (const f of spans) {
    outside.push(...lines.slice(next, f.start));
    next = f.end + 1;
  }
  outside.push(...lines.slice(next));
  return outside;
}

interface FunctionSpan {
  readonly name: string;
  /** First and last line of the definition (its header and its closing brace). */
  readonly start: number;
  readonly end: number;
}

const DEFINITION = /^\s*(?:highp\s+|mediump\s+|lowp\s+)?[A-Za-z_]\w*\s+([A-Za-z_]\w*)\s*\([^;{}]*\)\s*\{/;

/** Function definitions at brace depth 0, each up to the line where its braces close; in source order. */
function topLevelFunctions(lines: readonly string[]): FunctionSpan[] {
  const spans: FunctionSpan[] = [];
  let depth = 0;
  let open: { name: string; start: number } | undefined;
  for (let k = 0; k < lines.length; k++) {
    const line = lines[k]!;
    const code = line.includes('/') ? withoutComments(line) : line;
    // a block comment over several lines may hide braces: not read, nothing dropped
    if (code.includes('/*')) return [];
    if (depth === 0 && !open && code.includes('(')) {
      const m = DEFINITION.exec(code);
      if (m) open = { name: m[1]!, start: k };
    }
    for (let at = 0; at < code.length; at++) {
      const ch = code[at];
      if (ch === '{') depth++;
      else if (ch === '}' && --depth === 0 && open) {
        // code after the closing brace (another definition on the same line) would go with it
        if (code.slice(at + 1).trim() !== '') return [];
        spans.push({ ...open, end: k });
        open = undefined;
      }
    }
  }
  // unbalanced braces: not GLSL this reader understands, so nothing is dropped
  return depth === 0 && !open ? spans : [];
}

/** The names of known functions that `code` calls (an identifier followed by `(`). */
function calledNames(code: string, known: ReadonlyMap<string, unknown>): string[] {
  const names = new Set<string>();
  for (const m of withoutComments(code).matchAll(/([A-Za-z_]\w*)\s*\(/g)) if (known.has(m[1]!)) names.add(m[1]!);
  return [...names];
}

/** `code` without `//` comments and one-line block comments (braces in comments are not code). */
function withoutComments(code: string): string {
  return code.replace(/\/\*.*?\*\//g, '').replace(/\/\/.*$/gm, '');
}
