/**
 * The inspector's Worker (bundled beside the page as inspect-worker.js): the page's models are
 * prepared and run here, the cpu's threads as Workers nested in it, so the page stays responsive.
 */
import { serveWorker } from '@loom/backends/worker/serve';

serveWorker();
