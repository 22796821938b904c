/**
 * Poison mode for the CPU backend: makes aliasing bugs and out-of-bounds writes fail loudly. The CPU
 * kernels forgive plans that WebGPU rejects: an elementwise kernel whose output buffer is also its
 * input still computes the right values, and a value read after its buffer was handed on often still
 * holds them. Poison mode (`cpuBackend.prepare(g, w, { poison: true })`, or LOOM_CPU_POISON=1 in the
 * environment) runs the same kernels but, from the plan's steps alone, (1) fills every intermediate
 * buffer with NaN (i32: -2147483647) at the start of each run and again as soon as its value is dead:
 * after the last step that reads it (or writes it, if none does) before a later step overwrites the
 * buffer or the run ends. A step not marked in place
 * counts as overwriting its output before reading anything, so a kernel whose output aliases one of
 * its inputs reads NaN. Params, constants, inputs, states and returned outputs are never poisoned.
 * (2) Allocates every pooled buffer with 16 guard elements past its end (and guards the unused tail of
 * a larger buffer that holds a smaller value) holding a fixed NaN bit pattern; after each step it
 * checks the guards of the step's output and inputs, and after the last step those of every buffer,
 * and throws a `CpuGuardError` (code 'cpu-guard') naming the kernel (`%id op at source`) and the
 * buffer. A released value read again thus turns outputs into NaN and fails the conformance
 * comparison (cpu-conformance.test.ts runs the property in both modes). Off by default: the run loop
 * then only tests `this.guard` once per buffer and per step.
 */
import { LoomError, resolveDim, resolveShape, type DimBindings, type GraphNode, type Storage } from '@loom/graph';
import type { Plan, PlanBuffer } from '@loom/compiler';

export interface CpuProgramOptions {
  /** Poison mode (see poison.ts); also on when the environment has LOOM_CPU_POISON=1. Default false. */
  readonly poison?: boolean;
}

/** Whether poison mode is on: the option when given, otherwise LOOM_CPU_POISON=1 in the environment. */
export function poisonEnabled(options: CpuProgramOptions = {}): boolean {
  const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env;
  return options.poison ?? env?.['LOOM_CPU_POISON'] === '1';
}

/** Guard elements past the end of every pooled buffer. */
export const GUARD_ELEMENTS = 16;
/** The bits of a guard element: a signalling NaN with a payload that no arithmetic produces. */
export const GUARD_BITS = 0x7fa5a5a5;
/** What a dead i32 value is overwritten with (f32 values become NaN). */
export const POISON_I32 = -2147483647;

/** A kernel wrote outside its output (into a guard zone). */
export class CpuGuardError extends LoomError {
  constructor(message: string) {
    super('cpu-guard', message);
  }
}

interface Pooled {
  /** Raw bits of the allocation: `size` elements of data, then at least GUARD_ELEMENTS guards. */
  bits: Int32Array;
  /** Elements in use in this run. */
  size: number;
}

export class PoisonGuard {
  /** For each step, the buffers whose value is dead once the step has run. */
  readonly deadAfter: readonly (readonly number[])[];
  private readonly pooled = new Map<number, Pooled>();
  private bindings: DimBindings = new Map();

  /** `allocate(n)`: n + guard elements of raw storage (the cpu backend's heap); plain arrays by default. */
  constructor(readonly plan: Plan, private readonly allocate: (elements: number) => Int32Array = (n) => new Int32Array(n)) {
    const { steps, nodeBuffer, graph, buffers } = plan;
    // the buffers the run loop reads and writes: from nodeBuffer, as it does
    const reads = steps.map((s) => new Set(graph.nodes[s.node]!.inputs.map((i) => nodeBuffer[i]!)));
    const writes = steps.map((s) => nodeBuffer[s.node]!);
    const returned = new Set(graph.outputs.map((o) => nodeBuffer[o.node]!));
    const poisonable = (b: number) => buffers[b]!.kind === 'intermediate' && !returned.has(b);
    // backward over the steps: what the next step touching each buffer does to its current value
    const next = new Map<number, 'read' | 'kill'>();
    const deadAfter: number[][] = new Array(steps.length);
    for (let i = steps.length - 1; i >= 0; i--) {
      deadAfter[i] = [...new Set([...reads[i]!, writes[i]!])].filter((b) => poisonable(b) && next.get(b) !== 'read');
      for (const b of reads[i]!) next.set(b, 'read');
      // an in-place step reads its output buffer before writing it; any other step must not see its old content
      if (!steps[i]!.inPlace || !reads[i]!.has(writes[i]!)) next.set(writes[i]!, 'kill');
    }
    this.deadAfter = deadAfter;
  }

  /**
   * The storage of an intermediate or output buffer for a run at `bindings`: exactly the buffer's size,
   * poisoned, followed by guard elements. Allocations are kept from run to run.
   */
  take(buffer: PlanBuffer, bindings: DimBindings): Storage {
    this.bindings = bindings;
    const size = resolveDim(buffer.size, bindings);
    let p = this.pooled.get(buffer.id);
    if (!p || p.bits.length < size + GUARD_ELEMENTS) {
      p = { bits: this.allocate(size + GUARD_ELEMENTS), size };
      this.pooled.set(buffer.id, p);
    }
    p.size = size;
    const data = buffer.dtype === 'i32' ? p.bits.subarray(0, size) : new Float32Array(p.bits.buffer, p.bits.byteOffset, size);
    poison(data);
    p.bits.fill(GUARD_BITS, size, size + GUARD_ELEMENTS);
    if (this.plan.steps.length > 0 && this.outputBuffer(0) === buffer.id) this.armTail(0);
    return data;
  }

  /**
   * After step `step` has run: checks the guards of its output (also the unused tail of a larger
   * buffer) and of its inputs, poisons the values that died, and guards the next step's output tail.
   */
  afterStep(step: number, storage: readonly Storage[]): void {
    const out = this.outputBuffer(step);
    this.check(out, this.valueSize(step), () => `kernel ${this.kernelName(step)} wrote past the end of its output`);
    for (const i of this.node(step).inputs) {
      const b = this.plan.nodeBuffer[i]!;
      if (b !== out) this.check(b, undefined, () => `kernel ${this.kernelName(step)} wrote past the end of its input`);
    }
    for (const dead of this.deadAfter[step]!) poison(storage[dead]!);
    if (step + 1 < this.plan.steps.length) this.armTail(step + 1);
    else this.checkAll();
  }

  /** Throws when a guard zone past any buffer's end was written (runs after the last step). */
  checkAll(): void {
    const last = this.plan.steps.length - 1;
    for (const b of this.pooled.keys()) {
      this.check(b, undefined, () => `at the end of the run: some kernel wrote past a buffer it did not read or write${last >= 0 ? ` (the last kernel was ${this.kernelName(last)})` : ''}`);
    }
  }

  /** Throws unless buffer `b` holds guard bits from element `from` (default: its end) to the end of its guard zone. */
  private check(b: number, from: number | undefined, what: () => string): void {
    const p = this.pooled.get(b);
    if (!p) return; // params, inputs, constants, states: not guarded
    for (let i = from ?? p.size; i < p.size + GUARD_ELEMENTS; i++) {
      if (p.bits[i] !== GUARD_BITS) {
        const held = from === undefined ? '' : `, which holds ${from} elements of the value`;
        throw new CpuGuardError(`cpu poison: ${what()}: ${this.describe(b)}${held}; element ${i} = ${hex(p.bits[i]!)}`);
      }
    }
  }

  private outputBuffer(step: number): number {
    return this.plan.nodeBuffer[this.plan.steps[step]!.node]!;
  }

  /** Elements of the value that step `step` writes. */
  private valueSize(step: number): number {
    return resolveShape(this.node(step).type.shape, this.bindings).reduce((a, d) => a * d, 1);
  }

  /** Guards the part of step `step`'s output buffer past the value it will write (a reused larger buffer). */
  private armTail(step: number): void {
    const b = this.outputBuffer(step);
    const p = this.pooled.get(b);
    if (!p) return;
    // not to blame this step's kernel for a write past a buffer that an earlier kernel neither read nor wrote
    this.check(b, undefined, () => `before kernel ${this.kernelName(step)} ran, an earlier kernel wrote past a buffer it did not read or write`);
    p.bits.fill(GUARD_BITS, this.valueSize(step), p.size);
  }

  private node(step: number): GraphNode {
    return this.plan.graph.nodes[this.plan.steps[step]!.node]!;
  }

  private kernelName(step: number): string {
    const node = this.node(step);
    return `%${node.id} ${node.op}${node.source ? ` at ${node.source}` : ''} (step ${step})`;
  }

  private describe(b: number): string {
    const buffer = this.plan.buffers[b]!;
    return `buffer ${b} (${buffer.kind} ${buffer.dtype}[${buffer.size}] = ${this.pooled.get(b)?.size ?? '?'} elements)`;
  }
}

/** Overwrites a dead value: NaN for f32, POISON_I32 for i32. */
function poison(data: Storage): void {
  if (data instanceof Int32Array) data.fill(POISON_I32);
  else data.fill(NaN);
}

function hex(bits: number): string {
  return `0x${(bits >>> 0).toString(16).padStart(8, '0')}`;
}
