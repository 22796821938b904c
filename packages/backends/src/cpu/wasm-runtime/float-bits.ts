/** One float32 seen as its bits, without allocating (kernels take float arguments as i32 bits). */
const float = new Float32Array(1);
const bits = new Int32Array(float.buffer);

/** The bits of `x` rounded to float32, as an i32 (a kernel's float argument; reinterpreted there). */
export function f32Bits(x: number): number {
  float[0] = x;
  return bits[0]!;
}
