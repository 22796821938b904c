/** The test page's Worker (bundled by build-page.ts as loom-worker.js): serves the page's WorkerRuntime. */
import { serveWorker } from '../src/worker/serve-worker.ts';

serveWorker();
