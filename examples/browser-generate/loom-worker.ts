// loom-worker.ts
import { serveModelWorker } from '@loom/models/worker/serve';
serveModelWorker();
