import { WebGlUnavailableError } from './errors.ts';

/**
 * The only file that knows where a GL context comes from: WebGL2 on a canvas in a browser page or on
 * an OffscreenCanvas in a Worker, or
 * headless-gl (WebGL 1 through ANGLE, under an X display) in Node. gpu.js is loaded only after the
 * context exists: its headless-gl probe runs once, at load, and must find the display.
 */

/** The gpu.js kernel class a context runs; a kernel of any other class is a silent fallback. */
export type GlMode = 'headlessgl' | 'webgl2';

export interface AcquiredContext {
  readonly gl: WebGLRenderingContext | WebGL2RenderingContext;
  readonly canvas: object | undefined;
  readonly mode: GlMode;
  /** e.g. "headless-gl 9 (ANGLE, WebGL 1.0) on Xvfb :99", for reports. */
  readonly description: string;
  /** Destroys the context (headless-gl) or loses it (browser). */
  destroy(): void;
}

const CONTEXT_ATTRIBUTES: WebGLContextAttributes = { preserveDrawingBuffer: true, antialias: false, depth: false, stencil: false, premultipliedAlpha: false };

export async function acquireContext(): Promise<AcquiredContext> {
  const doc = (globalThis as { document?: { createElement(tag: 'canvas'): HTMLCanvasElement } }).document;
  // a page draws on a canvas element; a Worker has no document, but an OffscreenCanvas
  const canvas = doc ? doc.createElement('canvas') : typeof OffscreenCanvas === 'function' ? new OffscreenCanvas(1, 1) : undefined;
  if (canvas) {
    const gl = canvas.getContext('webgl2', CONTEXT_ATTRIBUTES) as WebGL2RenderingContext | null;
    const where = doc ? 'this browser' : 'this Worker (OffscreenCanvas)';
    if (!gl) throw new WebGlUnavailableError(`${where} gives no WebGL2 context`);
    if (!gl.getExtension('EXT_color_buffer_float')) throw new WebGlUnavailableError(`${where} cannot render to float textures (no EXT_color_buffer_float)`);
    const version = String(gl.getParameter(gl.VERSION));
    return { gl, canvas, mode: 'webgl2', description: `${version} (${String(gl.getParameter(gl.RENDERER))})${doc ? '' : ' on an OffscreenCanvas'}`, destroy: () => gl.getExtension('WEBGL_lose_context')?.loseContext() };
  }
  const isNode = typeof process !== 'undefined' && typeof process.versions?.node === 'string';
  if (!isNode) throw new WebGlUnavailableError('no document, no OffscreenCanvas and not Node: nowhere to get a WebGL context from');
  const { createHeadlessContext } = await import('./headless-context.ts');
  const { gl, display, ownDisplay } = await createHeadlessContext();
  if (!gl.getExtension('OES_texture_float')) throw new WebGlUnavailableError('headless-gl has no OES_texture_float: float32 textures are required');
  const version = String(gl.getParameter(gl.VERSION));
  return {
    gl,
    canvas: undefined,
    mode: 'headlessgl',
    description: `${version} on ${ownDisplay ? 'Xvfb' : 'X display'} ${display}`,
    destroy: () => gl.getExtension('STACKGL_destroy_context')?.destroy(),
  };
}
