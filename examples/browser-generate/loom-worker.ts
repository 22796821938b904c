/** The Worker's script: serves the page's WorkerRuntime (models on any backend, generation). */
import { serveModelWorker } from '@loom/models/worker/serve';

serveModelWorker();
