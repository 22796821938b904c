import { fileURLToPath } from 'node:url';
import type { Backend } from '@loom/backends';
import { readCheckpoint, readUserFile } from '../files.ts';
import { parseReverseSpec } from '../transformer/reverse-spec.ts';
import { ReverseModel } from './reverse-model.ts';

/** The folder of the shipped weights (packages/models/weights). */
/** The weights folder beside the module at `moduleUrl`; fileURLToPath, not .pathname: 'my folder' is 'my%20folder' in a URL. */
export function weightsDirOf(moduleUrl: string): string {
  return fileURLToPath(new URL('../../weights/', moduleUrl));
}

export const SHIPPED_WEIGHTS_DIR = weightsDirOf(import.meta.url);

/** Loads reverse.json and reverse-transformer.safetensors from `dir` (default: the shipped weights). */
export function loadReverseModel(backend: Backend, dir: string = SHIPPED_WEIGHTS_DIR): ReverseModel {
  const base = dir.endsWith('/') ? dir : `${dir}/`;
  const spec = parseReverseSpec(readUserFile(`${base}reverse.json`, 'model description').toString('utf8'), `${base}reverse.json`);
  const weightsPath = `${base}reverse-transformer.safetensors`;
  return ReverseModel.fromCheckpoint(spec, readCheckpoint(weightsPath), backend, weightsPath);
}
