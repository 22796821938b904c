/**
 * Sends a safetensors file part by part (the header, then each tensor in turn) instead of building it
 * in one array: a 1.5 B-parameter model's 6 GB of weights is more than one typed array may hold, and
 * twice the memory besides. Waiting for 'drain' keeps at most one tensor's bytes queued on the socket.
 */
import type { Writable } from 'node:stream';
import type { SafetensorsLayout } from '@loom/graph';

/**
 * Writes `layout` to `out` and ends it; stops early, without error, if `out` is closed first (the
 * client went away). Each tensor's bytes are made only when the previous ones have been taken.
 */
export async function streamSafetensors(layout: SafetensorsLayout, out: Writable): Promise<void> {
  if (!out.write(layout.header)) await drained(out);
  for (const part of layout.tensors) {
    if (out.destroyed) return;
    if (!out.write(part.bytes())) await drained(out);
  }
  if (!out.destroyed) out.end();
}

/** Resolves when `out` can take more, or is closed (then the caller sees `out.destroyed`). */
function drained(out: Writable): Promise<void> {
  return new Promise((resolve) => {
    if (out.destroyed) return resolve();
    const done = () => {
      out.off('drain', done);
      out.off('close', done);
      resolve();
    };
    out.on('drain', done);
    out.on('close', done);
  });
}
