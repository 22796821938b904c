import { interpret, LoomError, type Graph, type Weights } from '@loom/graph';
import type { Backend, PreparedModel } from './backend.ts';

/** The float64 reference interpreter as a backend: the oracle, exposed for `verify` and debugging. */
export const referenceBackend: Backend = {
  name: 'reference',
  async prepare(graph: Graph, weights: Weights): Promise<PreparedModel> {
    let disposed = false;
    return {
      async run(feeds) {
        if (disposed) throw new LoomError('disposed', 'reference: the model was disposed');
        return interpret(graph, feeds, weights, { precision: 'f64' });
      },
      dispose() {
        disposed = true;
      },
    };
  },
};
