import { LoomError } from '@loom/graph';

/** Raised when the CPU backend has no kernel for an op: named, never a silent fallback. */
export class UnsupportedKernelError extends LoomError {
  constructor(op: string, why?: string) {
    super('unsupported-kernel', `cpu: no kernel for op '${op}'${why ? `: ${why}` : ''}`);
  }
}
