import { BACKEND_NAMES } from '@loom/backends';
import { InvalidArgumentError, Option } from 'commander';

/** `--backend <name>`: one of the registered backends, cpu by default. */
export function backendOption(): Option {
  return new Option('--backend <name>', 'backend that runs the model').choices(BACKEND_NAMES).default('cpu');
}

export function parseNonNegativeInt(what: string) {
  return (value: string): number => {
    if (!/^\d+$/.test(value.trim())) throw new InvalidArgumentError(`${what} must be a non-negative integer.`);
    return Number(value);
  };
}

export function parsePositiveInt(what: string) {
  return (value: string): number => {
    if (!/^\d+$/.test(value.trim()) || Number(value) < 1) throw new InvalidArgumentError(`${what} must be a positive integer.`);
    return Number(value);
  };
}

export function parseNumber(what: string, ok: (x: number) => boolean, rule: string) {
  return (value: string): number => {
    const x = Number(value);
    if (value.trim() === '' || !Number.isFinite(x) || !ok(x)) throw new InvalidArgumentError(`${what} must be ${rule}.`);
    return x;
  };
}

/** `6601,32704,795` -> [6601, 32704, 795] (whitespace allowed). */
export function parseIdList(value: string): number[] {
  const parts = value.split(',').map((p) => p.trim());
  if (parts.length === 0 || parts.some((p) => !/^\d+$/.test(p))) {
    throw new InvalidArgumentError('ids must be non-negative integers separated by commas, e.g. 6601,32704,795.');
  }
  return parts.map(Number);
}

/** Collects a repeatable option into an array. */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}
