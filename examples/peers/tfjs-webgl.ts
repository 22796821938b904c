/**
 * float32 matmul n x n x n on TensorFlow.js's WebGL backend, in Node on the same headless-gl context
 * kind Loom's webgl backend uses (WebGL 1 through ANGLE, llvmpipe under Xvfb here). tfjs registers
 * its WebGL backend only in browsers, so it is registered here by hand (under its own name, which
 * its kernels are registered for) on a headless-gl context.
 */
import { createHeadlessContext } from '../../packages/backends/src/webgl/headless-context.ts';
import { medianRuns } from '../timing.ts';
import { firstLine, PeerUnavailableError } from './peer-unavailable.ts';

type Tfjs = typeof import('@tensorflow/tfjs-core');

let ready: Promise<Tfjs> | undefined;

function tfjsWebgl(): Promise<Tfjs> {
  ready ??= (async () => {
    const peer = '@tensorflow/tfjs-backend-webgl';
    try {
      const { gl } = await createHeadlessContext();
      const tf = await import('@tensorflow/tfjs-core');
      const webgl = await import('@tensorflow/tfjs-backend-webgl');
      // the flags tfjs would otherwise find out by making a canvas, which Node has not got
      tf.env().set('WEBGL_VERSION', 1);
      tf.env().set('WEBGL_RENDER_FLOAT32_CAPABLE', true);
      tf.env().set('WEBGL_RENDER_FLOAT32_ENABLED', true);
      webgl.setWebGLContext(1, gl as unknown as WebGLRenderingContext);
      tf.registerBackend('webgl', () => new webgl.MathBackendWebGL(new webgl.GPGPUContext(gl as unknown as WebGLRenderingContext)));
      if (!(await tf.setBackend('webgl'))) throw new Error('setBackend failed (see the warning above)');
      await tf.ready();
      return tf;
    } catch (e) {
      throw new PeerUnavailableError(peer, firstLine(e));
    }
  })();
  ready.catch(() => (ready = undefined));
  return ready;
}

/**
 * Median milliseconds of an n^3 float32 matmul, C read back each time: B on the GPU, and A either
 * on the GPU too or (`feedA`) uploaded from a Float32Array each run, as a model's input is.
 */
export async function tfjsWebglMatmulMs(n: number, reps = 5, feedA = false): Promise<number> {
  const tf = await tfjsWebgl();
  const data = Float32Array.from({ length: n * n }, (_, i) => ((i * 7919) % 1000) / 1000 - 0.5);
  const a = tf.tensor2d(data, [n, n]);
  const b = tf.randomUniform([n, n], -0.5, 0.5, 'float32');
  try {
    return await medianRuns(async () => {
      const fed = feedA ? tf.tensor2d(data, [n, n]) : a;
      const c = tf.matMul(fed, b);
      await c.data();
      c.dispose();
      if (fed !== a) fed.dispose();
    }, { reps });
  } finally {
    a.dispose();
    b.dispose();
  }
}
