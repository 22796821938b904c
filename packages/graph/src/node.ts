/** Node-only additions to @loom/graph (file system access); the main entry point stays browser-safe. */
export { readSafetensorsFile, writeSafetensorsFile } from './io/safetensors-file.ts';
