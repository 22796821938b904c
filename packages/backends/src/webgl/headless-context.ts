import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { hostname } from 'node:os';
import { delimiter, join } from 'node:path';
import { WebGlUnavailableError } from './errors.ts';

/**
 * A WebGL context in Node: headless-gl (the npm `gl` package, ANGLE) on an X display. With no
 * DISPLAY set, Loom starts an Xvfb of its own rather than asking the user to wrap every command in
 * `xvfb-run`. That Xvfb runs with `-terminate`: it exits when its last client disconnects, which
 * happens when this process ends however it ends (a test worker killed by its pool, SIGKILL), so
 * none is left behind; a clean exit also kills it. Node only: browsers take gl-provider's other path.
 */

type HeadlessGl = WebGLRenderingContext & { getExtension(name: 'STACKGL_destroy_context'): { destroy(): void } | null };

const SETUP_HINT = 'install Xvfb (`apt-get install -y xvfb`, or `bash scripts/setup-gpu-env.sh`) or run under `xvfb-run -a`';

let ownXvfb: { process: ChildProcess; display: string } | undefined;

export interface HeadlessContext {
  readonly gl: HeadlessGl;
  /** The X display used, and whether Loom started it. */
  readonly display: string;
  readonly ownDisplay: boolean;
}

export async function createHeadlessContext(): Promise<HeadlessContext> {
  let createGl: (width: number, height: number, options?: WebGLContextAttributes) => HeadlessGl | null;
  try {
    createGl = (await import('gl')).default as unknown as typeof createGl;
  } catch (e) {
    throw new WebGlUnavailableError(`the npm package 'gl' (headless-gl) could not be loaded: ${(e as Error).message.split('\n')[0]}; reinstall it (\`pnpm install\` builds it with node-gyp: python3, make, g++)`);
  }
  let ownDisplay = false;
  // our own Xvfb may have terminated (its last client, a destroyed context, went away): start another
  const ownGone = ownXvfb !== undefined && process.env['DISPLAY'] === ownXvfb.display && ownXvfb.process.exitCode !== null;
  if (!process.env['DISPLAY'] || ownGone) {
    process.env['DISPLAY'] = await startXvfb();
    ownDisplay = true;
  }
  const display = process.env['DISPLAY']!;
  // a local display without its socket: say so here, before ANGLE prints its own errors to stderr
  const local = /^(?:unix|localhost|127\.0\.0\.1|)?:(\d+)(?:\.\d+)?$/.exec(display) ?? (display.startsWith(`${hostname()}:`) ? /:(\d+)/.exec(display) : null);
  if (local && !existsSync(`/tmp/.X11-unix/X${local[1]}`)) {
    throw new WebGlUnavailableError(`headless-gl needs an X display, and DISPLAY=${display} has no server (no /tmp/.X11-unix/X${local[1]}); unset DISPLAY to let Loom start its own Xvfb, or ${SETUP_HINT}`);
  }
  const gl = createGl(1, 1, { preserveDrawingBuffer: true, antialias: false, depth: false, stencil: false, premultipliedAlpha: false });
  if (!gl) {
    throw new WebGlUnavailableError(
      ownDisplay
        ? `headless-gl found no GL on the Xvfb display ${display} that Loom started (is libgl1-mesa-dri installed?)`
        : `headless-gl could not open a GL context on DISPLAY=${display}; unset DISPLAY to let Loom start its own Xvfb, or ${SETUP_HINT}`,
    );
  }
  keepDrawingBufferSmall(gl);
  return { gl, display, ownDisplay };
}

/**
 * gpu.js resizes the default drawing buffer to each kernel's largest texture when it builds the
 * kernel (STACKGL_resize_drawingbuffer), and headless-gl allocates and clears a new one each time:
 * 2.2 s of a profile of GPT-2 tiny's first generation went there. Loom never draws into it (every
 * pass renders into a framebuffer texture; `finish` reads one pixel), so it stays 1 x 1.
 */
function keepDrawingBufferSmall(gl: HeadlessGl): void {
  const getExtension = gl.getExtension.bind(gl);
  gl.getExtension = ((name: string) => (name === 'STACKGL_resize_drawingbuffer' ? { resize: () => {} } : getExtension(name))) as typeof gl.getExtension;
}

/** Starts `Xvfb -displayfd`, which picks a free display number and writes it once it accepts clients. */
async function startXvfb(): Promise<string> {
  if (ownXvfb && ownXvfb.process.exitCode === null && ownXvfb.process.signalCode === null) return ownXvfb.display;
  const binary = findOnPath('Xvfb');
  if (!binary) throw new WebGlUnavailableError(`headless-gl needs an X display: DISPLAY is not set and Xvfb is not installed; ${SETUP_HINT}`);
  const child = spawn(binary, ['-displayfd', '3', '-screen', '0', '16x16x24', '-nolisten', 'tcp', '-terminate'], { stdio: ['ignore', 'ignore', 'pipe', 'pipe'] });
  const display = await new Promise<string>((resolve, reject) => {
    let out = '';
    let err = '';
    const timer = setTimeout(() => fail(`no display number after 10 s`), 10_000);
    const fail = (why: string) => {
      clearTimeout(timer);
      child.kill();
      reject(new WebGlUnavailableError(`could not start Xvfb for headless-gl (${why})${err ? `: ${err.trim().split('\n').slice(-2).join(' ')}` : ''}; ${SETUP_HINT}`));
    };
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    child.stdio[3]!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('\n')) {
        clearTimeout(timer);
        resolve(`:${out.trim()}`);
      }
    });
    child.on('error', (e) => fail(e.message));
    child.on('exit', (code) => fail(`it exited with code ${code}`));
  });
  child.removeAllListeners('exit');
  // the Xvfb belongs to this process: it must not keep Node alive, and it goes when Node does
  child.unref();
  for (const stream of [child.stderr, child.stdio[3]]) (stream as unknown as { unref?: () => void } | null)?.unref?.();
  process.once('exit', () => child.kill());
  ownXvfb = { process: child, display };
  return display;
}

function findOnPath(name: string): string | undefined {
  for (const dir of (process.env['PATH'] ?? '').split(delimiter)) {
    if (dir && existsSync(join(dir, name))) return join(dir, name);
  }
  return undefined;
}
