import { interpret, LoomError, type Graph, type Weights } from '@loom/graph';
import type { Backend, PreparedModel } from '../backend.ts';

/**
 * Runs graphs in float32 on the CPU. For now an eager executor over the reference kernels with
 * float32 storage; the compiled-plan executor replaces its internals.
 */
export const cpuBackend: Backend = {
  name: 'cpu',
  async prepare(graph: Graph, weights: Weights): Promise<PreparedModel> {
    let disposed = false;
    return {
      async run(feeds) {
        if (disposed) throw new LoomError('disposed', 'cpu: the model was disposed');
        return interpret(graph, feeds, weights, { precision: 'f32' });
      },
      dispose() {
        disposed = true;
      },
    };
  },
};
