import { describe, expect, it } from 'vitest';
import { pruneUnusedFunctions } from '../src/webgl/shader-pruning.ts';

/** The functions a GLSL source defines at depth 0, by name (as the pruner reads them). */
function definedNames(glsl: string): string[] {
  return [...glsl.matchAll(/^[a-z]\w*\s+(\w+)\s*\([^;{}]*\)\s*\{/gm)].map((m) => m[1]!);
}

describe('pruneUnusedFunctions', () => {
  const source = [
    'precision highp float;',
    'const int LOOP_MAX = 1000;',
    'ivec2 uTexSize = ivec2(3, 4);',
    'float unused(float x) {',
    '  return used(x) * 2.0;',
    '}',
    'float used(float x) {',
    '  if (x > 0.0) { return deeper(x); }',
    '  return 0.0;',
    '}',
    'float deeper(float x) {',
    '  return x; // not } a brace { that counts',
    '}',
    'float deeper(int x) {',
    '  return float(x);',
    '}',
    'vec4 neverCalled(vec4 v) {',
    '  return v.wzyx;',
    '}',
    'float kernelResult;',
    'void kernel() {',
    '  kernelResult = used(1.0);',
    '}',
    'void main(void) {',
    '  kernel();',
    '}',
  ].join('\n');

  it('keeps main and every function it reaches, through calls of calls, with every overload of a reached name', () => {
    const pruned = pruneUnusedFunctions(source);
    expect(definedNames(pruned)).toEqual(['used', 'deeper', 'deeper', 'kernel', 'main']);
    // what is outside functions stays, and what is kept is kept as written
    expect(pruned).toContain('const int LOOP_MAX = 1000;');
    expect(pruned).toContain('float kernelResult;');
    expect(pruned).toContain('  return x; // not } a brace { that counts');
  });

  it('keeps a function a line outside every function calls', () => {
    const withGlobalCall = source.replace('const int LOOP_MAX = 1000;', 'float SCALE = neverCalled(vec4(1.0)).x;');
    expect(definedNames(pruneUnusedFunctions(withGlobalCall))).toContain('neverCalled');
  });

  it('leaves a source it cannot read by lines as it is: unbalanced braces, a block comment over lines, two definitions on a line', () => {
    const broken = `${source}\nfloat dangling(float x) {\n  return x;`;
    expect(pruneUnusedFunctions(broken)).toBe(broken);
    const commented = source.replace('float kernelResult;', '/* a comment {\n over two lines */\nfloat kernelResult;');
    expect(pruneUnusedFunctions(commented)).toBe(commented);
    // neverCalled ends on the line where reachedToo starts: dropping the line would drop both
    const shared = source.replace('vec4 neverCalled(vec4 v) {\n  return v.wzyx;\n}', 'vec4 neverCalled(vec4 v) {\n  return v.wzyx;\n} float reachedToo() { return 1.0; }').replace('kernelResult = used(1.0);', 'kernelResult = used(reachedToo());');
    expect(pruneUnusedFunctions(shared)).toBe(shared);
  });

  it('keeps gpu.js functions a Loom pass calls through its sampler helper (a real kernel compiles: webgl-runtime)', () => {
    // gpu.js's getFloatFromSampler2D reaches its get32 / getMemoryOptimized32 helpers and indexTo3D
    const gpujsLike = [
      'ivec3 indexTo3D(int idx, ivec3 texDim) {',
      '  return ivec3(idx, 0, 0);',
      '}',
      'float get32(sampler2D tex, ivec2 texSize, ivec3 texDim, int z, int y, int x) {',
      '  ivec3 at = indexTo3D(x, texDim);',
      '  return texture2D(tex, vec2(0.5)).r;',
      '}',
      'float getFloatFromSampler2D(sampler2D tex, ivec2 texSize, ivec3 texDim, int z, int y, int x) {',
      '  return get32(tex, texSize, texDim, z, y, x);',
      '}',
      'int bitwiseXOR(int a, int b) {',
      '  return a;',
      '}',
      'float loom_main(sampler2D t0, ivec2 t0Size, ivec3 t0Dim) {',
      '  return getFloatFromSampler2D(t0, t0Size, t0Dim, 0, 0, 1);',
      '}',
      'void main(void) {',
      '  gl_FragColor = vec4(loom_main(user_t0, user_t0Size, user_t0Dim));',
      '}',
    ].join('\n');
    expect(definedNames(pruneUnusedFunctions(gpujsLike))).toEqual(['indexTo3D', 'get32', 'getFloatFromSampler2D', 'loom_main', 'main']);
  });
});
