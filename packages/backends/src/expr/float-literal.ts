/** Float literals of the C-like languages (WGSL, GLSL), shared by their literal printers and the helpers. */

/** The shortest decimal (at most 9 significant digits) that rounds to the float32 `f`, without its sign. */
export function f32Digits(f: number): string {
  let text = '';
  for (let digits = 1; digits <= 9; digits++) {
    text = f.toPrecision(digits);
    if (Math.fround(Number(text)) === f) break;
  }
  return text.replace(/^-/, '');
}

/** A decimal as a float literal both languages read: with a point (`2.0`, `1.0e-7`). */
export function withPoint(text: string): string {
  if (!/[.eE]/.test(text)) return `${text}.0`;
  return /^-?[0-9]+e/.test(text) ? text.replace('e', '.0e') : text;
}
