/** Node-only additions to @loom/graph (file system access); the main entry point stays browser-safe. */
export { readSafetensorsFd, readSafetensorsFile, writeFileAtomic, writeSafetensorsFile, type ReadSafetensorsFileOptions } from './io/safetensors-file.ts';
