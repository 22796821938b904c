import type { CpuRuntime } from '../runtime.ts';

/** An argument of a generated call: JavaScript source, or a number or boolean printed as a literal. */
export type JsArg = string | number | boolean;

/** One JsArg per parameter, optional ones optional. */
type AsArgs<P extends readonly unknown[]> = { [I in keyof P]: JsArg };

/**
 * Source calling the cpu runtime's helper `helper` (`rt.matmul(...)`, in scope as `rt` in every
 * generated kernel): typed by the runtime, so a misspelled helper or a wrong argument count fails to
 * compile rather than at a model's first run.
 */
export function call<K extends keyof CpuRuntime>(helper: K, ...args: AsArgs<Parameters<CpuRuntime[K]>>): string {
  return `rt.${helper}(${(args as readonly JsArg[]).join(', ')})`;
}
