/** Node-only additions to @loom/graph (file system access); the main entry point stays browser-safe. */
export { readSafetensorsFd, readSafetensorsFile, writeSafetensorsFile, type ReadSafetensorsFileOptions } from './io/safetensors-file.ts';
export { OutputExistsError, writeFileAtomic, type FileContents, type WriteFileAtomicOptions } from './io/write-file-atomic.ts';
