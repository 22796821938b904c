/**
 * A module's memory import made unshared. The kernels import `env.memory` as shared (the threads'
 * heap); a page that is not cross-origin isolated has no SharedArrayBuffer, so its heap is a plain
 * memory (heap.ts), and a module importing shared memory cannot be instantiated on it. The memory
 * import's limits flags lose their shared bit (0x03 -> 0x01): one byte, so nothing else moves. The
 * kernels use no atomic instructions, and no worker threads run on such a heap.
 */

/** A copy of `bytes` (a WebAssembly binary) whose imported memories are not shared. */
export function unsharedMemoryImports(bytes: Uint8Array<ArrayBuffer>): Uint8Array<ArrayBuffer> {
  const out = bytes.slice();
  let at = 8; // magic and version
  const uleb = (): number => {
    let value = 0;
    let shift = 0;
    let byte: number;
    do {
      byte = out[at++]!;
      value += (byte & 0x7f) * 2 ** shift;
      shift += 7;
    } while (byte & 0x80);
    return value;
  };
  const name = () => {
    const length = uleb(); // read first: `at += uleb()` would add to the old `at`
    at += length;
  };
  while (at < out.length) {
    const id = out[at++]!;
    const size = uleb();
    const end = at + size;
    if (id === 2) {
      for (let count = uleb(); count > 0; count--) {
        name();
        name();
        const kind = out[at++]!;
        if (kind === 0x00) uleb(); // function: type index
        else if (kind === 0x01) {
          at++; // table: element type, then limits
          const flags = uleb();
          uleb();
          if (flags & 1) uleb();
        } else if (kind === 0x02) {
          const flags = out[at]!;
          out[at++] = flags & ~0x02;
          uleb();
          if (flags & 1) uleb();
        } else if (kind === 0x03) at += 2; // global: value type, mutability
        else throw new Error(`wasm: an import of kind ${kind} this reader does not know`);
      }
    }
    at = end;
  }
  return out;
}
