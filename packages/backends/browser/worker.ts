/** The test page's Worker (bundled by build-page.ts as loom-worker.js): serves the page's WorkerRuntime. */
import { webglBackend } from '../src/webgl/index.ts';
import { serveWorker } from '../src/worker/serve-worker.ts';

serveWorker({
  // which GL context the webgl backend got here, and the gpu.js kernel class it checks kernels against
  'webgl.describe': async () => (await webglBackend.runtime()).description,
});
