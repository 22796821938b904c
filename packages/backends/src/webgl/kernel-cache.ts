import type { GlPass } from './kernel.ts';
import type { GlKernel } from './runtime.ts';

/** Idle kernels a context keeps for the next model that draws the same pass. */
export const IDLE_KERNELS = 256;

/**
 * The compiled passes of one GL context, shared by every model on it and keyed by their source
 * (GLSL and texture sizes). Compiling and linking a shader is most of what a first run costs on
 * software GL (tens of ms each on llvmpipe), and decoding prepares its models again for every
 * generation: a kernel no model uses any more is kept idle, and the least recently used idle ones
 * are destroyed past IDLE_KERNELS.
 */
export class KernelCache {
  /** By key; Map order is the recency order (an acquired entry moves to the end). */
  private readonly entries = new Map<string, { kernel: GlKernel; users: number }>();

  constructor(
    private readonly compile: (pass: GlPass, where: string, rgbaInputs: readonly boolean[]) => GlKernel,
    private readonly destroy: (kernel: GlKernel) => void,
    /** A kernel no model uses any more: it lets go of the texture it last drew into (which may be large). */
    private readonly idled: (kernel: GlKernel) => void,
    private readonly idleLimit = IDLE_KERNELS,
  ) {}

  /** The kernel for `key`, compiled from `pass` unless some model drew it before; one user more. */
  acquire(key: string, pass: GlPass, where: string, rgbaInputs: readonly boolean[]): GlKernel {
    let entry = this.entries.get(key);
    if (entry) this.entries.delete(key);
    else entry = { kernel: this.compile(pass, where, rgbaInputs), users: 0 };
    entry.users++;
    this.entries.set(key, entry);
    return entry.kernel;
  }

  /** One user fewer; an unused kernel stays idle until it is among the oldest past the limit. */
  release(key: string): void {
    const entry = this.entries.get(key);
    if (!entry || entry.users === 0) return;
    entry.users--;
    if (entry.users > 0) return;
    this.idled(entry.kernel);
    this.trim(this.idleLimit);
  }

  /** Destroys idle kernels, oldest first, until at most `keep` are idle. */
  trim(keep = 0): void {
    let idle = this.idle;
    for (const [key, entry] of this.entries) {
      if (idle <= keep) return;
      if (entry.users > 0) continue;
      this.entries.delete(key);
      this.destroy(entry.kernel);
      idle--;
    }
  }

  /** Kernels no model uses. */
  get idle(): number {
    let n = 0;
    for (const entry of this.entries.values()) if (entry.users === 0) n++;
    return n;
  }
}
