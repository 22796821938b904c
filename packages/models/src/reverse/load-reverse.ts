import type { Backend } from '@loom/backends';
import { readCheckpoint, readUserFile } from '../io/files.ts';
import { parseReverseSpec, ReverseModel } from './reverse-model.ts';

/** The folder of the shipped weights (packages/models/weights). */
export const SHIPPED_WEIGHTS_DIR = new URL('../../weights/', import.meta.url).pathname;

/** Loads reverse.json and reverse-transformer.safetensors from `dir` (default: the shipped weights). */
export function loadReverseModel(backend: Backend, dir: string = SHIPPED_WEIGHTS_DIR): ReverseModel {
  const base = dir.endsWith('/') ? dir : `${dir}/`;
  const spec = parseReverseSpec(readUserFile(`${base}reverse.json`, 'model description').toString('utf8'), `${base}reverse.json`);
  const weightsPath = `${base}reverse-transformer.safetensors`;
  return ReverseModel.fromCheckpoint(spec, readCheckpoint(weightsPath), backend, weightsPath);
}
