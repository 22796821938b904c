/**
 * float32 matmul n x n x n on TensorFlow.js with its WebAssembly backend (XNNPACK), in Node.
 * In Node the backend runs single-threaded (no Workers): the result is a one-thread number.
 */
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { medianRuns } from '../timing.ts';
import { firstLine, PeerUnavailableError } from './peer-unavailable.ts';

type Tfjs = typeof import('@tensorflow/tfjs-core');

export interface TfjsMatmulResult {
  readonly gflops: number;
  readonly medianMs: number;
  /** Whether the SIMD build of the backend was loaded. */
  readonly simd: boolean;
  /** Whether the multithreaded build was loaded (false in Node). */
  readonly multithreaded: boolean;
}

let ready: Promise<Tfjs> | undefined;

/** tfjs-core on the wasm backend, loaded once. Throws PeerUnavailableError with the reason. */
function tfjsWasm(): Promise<Tfjs> {
  ready ??= (async () => {
    const peer = '@tensorflow/tfjs-backend-wasm';
    let tf: Tfjs;
    try {
      tf = await import('@tensorflow/tfjs-core');
      const wasm = await import('@tensorflow/tfjs-backend-wasm');
      // point the loader at the package's own .wasm files (dist/), so nothing is fetched
      const distFolder = dirname(createRequire(import.meta.url).resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm'));
      wasm.setWasmPaths(`${distFolder}/`);
    } catch (e) {
      throw new PeerUnavailableError(peer, firstLine(e));
    }
    if (!(await tf.setBackend('wasm'))) throw new PeerUnavailableError(peer, 'setBackend("wasm") failed (see the warning above)');
    await tf.ready();
    return tf;
  })();
  ready.catch(() => (ready = undefined));
  return ready;
}

/** Median GFLOP/s of an n^3 float32 matmul, the result read back each time. */
export async function tfjsWasmMatmul(n: number, reps = 5): Promise<TfjsMatmulResult> {
  const tf = await tfjsWasm();
  const a = tf.randomUniform([n, n], -0.5, 0.5, 'float32');
  const b = tf.randomUniform([n, n], -0.5, 0.5, 'float32');
  try {
    const medianMs = await medianRuns(() => {
      const c = tf.matMul(a, b);
      c.dataSync(); // the wasm backend is synchronous; reading back makes sure the work happened
      c.dispose();
    }, { reps });
    return {
      gflops: (2 * n ** 3) / medianMs / 1e6,
      medianMs,
      simd: Boolean(await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT')),
      multithreaded: Boolean(await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT')),
    };
  } finally {
    a.dispose();
    b.dispose();
  }
}
