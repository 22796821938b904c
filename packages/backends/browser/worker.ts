/** The test page's Worker (bundled by build-page.ts as loom-worker.js): serves the page's WorkerRuntime. */
import { webglBackend } from '../src/webgl/index.ts';
import { serveWorker, type TaskContext } from '../src/worker/serve-worker.ts';

serveWorker({
  // which GL context the webgl backend got here, and the gpu.js kernel class it checks kernels against
  'webgl.describe': async () => (await webglBackend.runtime()).description,
  // a stream for the tests of cancelling: 0, 1, 2, ... one a millisecond until `n` or the page stops reading
  count: (async (args: { n: number }, context: TaskContext) => {
    let i = 0;
    for (; i < args.n && !context.signal.aborted; i++) {
      context.emit(i);
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    context.store.set('counted', i);
    return i;
  }) as never,
  'count.last': async (_args: unknown, context: TaskContext) => context.store.get('counted'),
});
