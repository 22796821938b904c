import { cliOnGpuBackend } from './cli-gpu-backends.ts';

await cliOnGpuBackend('webgl');
