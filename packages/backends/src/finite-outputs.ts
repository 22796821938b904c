import { LoomError, type NDArray } from '@loom/graph';
import type { Backend, PreparedModel } from './backend.ts';

/** A run produced NaN or an infinity in an output (e.g. from NaN weights): refused by default. */
export class NonFiniteError extends LoomError {
  constructor(message: string) {
    super('non-finite', message);
  }
}

/** Where a cpu program saw its first non-finite kernel output in the last run (prepare option `traceNonFinite`). */
export interface NonFiniteTrace {
  /** `%id op at file:line`. */
  readonly kernel: string;
  readonly element: number;
  readonly value: number;
}

/** Index of the first NaN or infinity in `data` (x - x is 0 only for finite x), or -1. */
export function firstNonFiniteIndex(data: ArrayLike<number>): number {
  for (let i = 0; i < data.length; i++) {
    const v = data[i]!;
    if (v - v !== 0) return i;
  }
  return -1;
}

/** The first NaN or infinity of an output as `NaN at [0, 2, 17]`, or undefined when all are finite. */
export function firstNonFinite(a: NDArray): string | undefined {
  if (a.dtype !== 'f32') return undefined;
  const i = firstNonFiniteIndex(a.data);
  if (i < 0) return undefined;
  // unravel i into the shape for the message
  const index: number[] = [];
  let rest = i;
  for (let d = a.shape.length - 1; d >= 0; d--) {
    index.unshift(rest % a.shape[d]!);
    rest = Math.floor(rest / a.shape[d]!);
  }
  return `${a.data[i]} at [${index.join(', ')}]`;
}

/**
 * `backend`, with every run's outputs checked: a NaN or infinity in an output throws a
 * NonFiniteError naming the output and the position, and, on the cpu backend (which then traces
 * kernel outputs, about 1% of the run), the first kernel whose output held one.
 */
export function requireFiniteOutputs(backend: Backend): Backend {
  return {
    name: backend.name,
    ...(backend.sequenceBucket ? { sequenceBucket: backend.sequenceBucket } : {}),
    async prepare(graph, weights, options) {
      const model: PreparedModel & { program?: { nonFinite?: NonFiniteTrace } } = await backend.prepare(graph, weights, { ...options, cpu: { ...options?.cpu, traceNonFinite: true } });
      return {
        state: model.state,
        dispose: () => model.dispose(),
        // states on the GPU are read from the device (a trainer reads its weights and moments back so)
        ...(model.readState ? { readState: (name: string) => model.readState!(name) } : {}),
        async run(feeds) {
          const out = await model.run(feeds);
          for (const [name, value] of Object.entries(out)) {
            const where = firstNonFinite(value);
            if (!where) continue;
            const trace = model.program?.nonFinite;
            const origin = trace ? `; the first kernel to produce one was ${trace.kernel} (${trace.value} at element ${trace.element} of its output)` : '';
            throw new NonFiniteError(`${backend.name}: output '${name}' holds ${where}${origin}; check the weights for NaN or huge values (the loom CLI lets them through with --allow-nonfinite)`);
          }
          return out;
        },
      };
    },
  };
}
