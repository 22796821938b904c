/**
 * Inputs for a graph that is not a language model Loom knows (a user's graph JSON): every i32 input
 * takes the prompt's ids (cycled to its size), every f32 input seeded values in [-1, 1]; 'batch' is
 * 1 and every other symbolic size the prompt's length.
 */
import { graphInputs, nodeName, type Graph, type NDArray } from '@loom/graph';

/** What the model view feeds a generic graph, and one line saying so. */
export function graphFeeds(graph: Graph, ids: readonly number[]): { feeds: Record<string, NDArray>; described: string } {
  const feeds: Record<string, NDArray> = {};
  const parts: string[] = [];
  for (const input of graphInputs(graph)) {
    const name = nodeName(input)!;
    const shape = input.type.shape.map((d) => (typeof d === 'number' ? d : d === 'batch' ? 1 : ids.length));
    const size = shape.reduce((a, b) => a * b, 1);
    if (input.type.dtype === 'i32') {
      feeds[name] = { dtype: 'i32', shape, data: Int32Array.from({ length: size }, (_, i) => ids[i % ids.length]!) };
      parts.push(`${name} i32[${shape.join(', ')}] (the prompt's ids)`);
    } else {
      // a fixed, well-spread sequence: the same numbers on every backend and every run
      feeds[name] = { dtype: 'f32', shape, data: Float32Array.from({ length: size }, (_, i) => Math.sin(i * 0.7 + 0.3)) };
      parts.push(`${name} f32[${shape.join(', ')}] (sin(0.7 i + 0.3))`);
    }
  }
  return { feeds, described: `inputs: ${parts.join('; ')}` };
}
