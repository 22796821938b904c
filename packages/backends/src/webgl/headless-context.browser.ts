import { WebGlUnavailableError } from './errors.ts';
import type { HeadlessContext } from './headless-context.ts';

/**
 * What browsers get in place of headless-context.ts (package.json's `browser` field, and the test
 * page's bundle): there the backend takes a canvas's WebGL2 context and never calls this.
 */
export async function createHeadlessContext(): Promise<HeadlessContext> {
  throw new WebGlUnavailableError('headless-gl (the Node WebGL context) does not run in a browser; the browser path uses a canvas');
}
