/**
 * For webgl-xvfb.test.ts: acquires a headless-gl context with no DISPLAY (so Loom starts its own
 * Xvfb), prints the display, and dies by SIGKILL, as a test worker killed by its pool does.
 */
import { createHeadlessContext } from '../../src/webgl/headless-context.ts';

delete process.env['DISPLAY'];
const { display } = await createHeadlessContext();
process.stdout.write(`${display}\n`, () => process.kill(process.pid, 'SIGKILL'));
