/**
 * Copies out of the kernels' heap into plain arrays. V8 (Node 24) copies out of a SharedArrayBuffer
 * into a plain buffer element by element when the elements are wider than a byte: 25.7 MB of float32
 * (GPT-2's prefill logits) took 68 ms by `slice()` and 4.5 ms through byte views, into warm memory.
 * Inside a GPT-2 prefill, where the output array is new each run and its first touch costs most
 * here (a VM's page faults), the copy took 105-122 ms by `slice()` and 68-81 ms so, alternated runs.
 * Copies into the heap, or within it, are fast either way.
 */

type Elements = Float32Array | Int32Array;

/** `src` written into `dst` from element `offset` (as `dst.set(src, offset)`), as bytes when that is faster. */
export function copyElements(dst: Elements, src: Elements, offset = 0): void {
  if (src.buffer instanceof ArrayBuffer || !(dst.buffer instanceof ArrayBuffer)) {
    dst.set(src, offset);
    return;
  }
  if (offset + src.length > dst.length) throw new RangeError(`copyElements: ${src.length} elements at ${offset} do not fit ${dst.length}`);
  new Uint8Array(dst.buffer, dst.byteOffset + offset * dst.BYTES_PER_ELEMENT, src.byteLength).set(new Uint8Array(src.buffer, src.byteOffset, src.byteLength));
}

/** A plain copy of `src` (as `src.slice()`). */
export function copyOut<T extends Elements>(src: T): T {
  const out = new (src.constructor as new (length: number) => T)(src.length);
  copyElements(out, src);
  return out;
}
