import { GraphTypeError, InputError } from './errors.ts';

/**
 * A dimension is either a static size or a symbolic one. Symbolic dimensions are products of named
 * symbols and an integer factor, written canonically, e.g. `'batch'`, `'seq'`, `'batch*seq'`,
 * `'4*seq'`. Products appear when a reshape merges a symbolic axis with another.
 */
export type Dim = number | string;
export type Shape = readonly Dim[];

/** Symbol values known at run time, e.g. { batch: 2, seq: 7 }. */
export type DimBindings = ReadonlyMap<string, number>;

const SYMBOL = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** A dimension as factor * product(symbols), symbols sorted. */
export interface DimProduct {
  readonly factor: number;
  readonly symbols: readonly string[];
}

/** Parsed dimensions by their text: backends resolve shapes at every run, and parsing allocates. */
const parsedDims = new Map<string, DimProduct>();
const PARSED_DIMS_KEPT = 4096;

export function parseDim(dim: Dim): DimProduct {
  if (typeof dim === 'number') return { factor: dim, symbols: [] };
  const known = parsedDims.get(dim);
  if (known) return known;
  let factor = 1;
  const symbols: string[] = [];
  for (const part of dim.split('*')) {
    const trimmed = part.trim();
    if (/^\d+$/.test(trimmed)) factor *= Number(trimmed);
    else if (SYMBOL.test(trimmed)) symbols.push(trimmed);
    else throw new GraphTypeError(`invalid dimension '${dim}': expected an integer or symbols joined by '*'`);
  }
  symbols.sort();
  const product: DimProduct = Object.freeze({ factor, symbols: Object.freeze(symbols) });
  if (parsedDims.size >= PARSED_DIMS_KEPT) parsedDims.clear();
  parsedDims.set(dim, product);
  return product;
}

function formatProduct(p: DimProduct): Dim {
  if (p.symbols.length === 0) return p.factor;
  const parts = p.factor === 1 ? p.symbols : [String(p.factor), ...p.symbols];
  return parts.join('*');
}

/** Canonical form of a dimension ('seq*batch' -> 'batch*seq', '1*seq' -> 'seq'). */
export function canonicalDim(dim: Dim): Dim {
  return formatProduct(parseDim(dim));
}

export function isValidDim(dim: unknown): dim is Dim {
  if (typeof dim === 'number') return Number.isSafeInteger(dim) && dim >= 0;
  if (typeof dim !== 'string') return false;
  return dim.split('*').every((p) => /^\d+$/.test(p.trim()) || SYMBOL.test(p.trim()));
}

export function isStatic(dim: Dim): dim is number {
  return typeof dim === 'number';
}

export function dimEquals(a: Dim, b: Dim): boolean {
  return canonicalDim(a) === canonicalDim(b);
}

export function shapeEquals(a: Shape, b: Shape): boolean {
  return a.length === b.length && a.every((d, i) => dimEquals(d, b[i]!));
}

/** The product of several dimensions, symbolic where needed. */
export function multiplyDims(dims: readonly Dim[]): Dim {
  let factor = 1;
  const symbols: string[] = [];
  for (const d of dims) {
    const p = parseDim(d);
    factor *= p.factor;
    symbols.push(...p.symbols);
  }
  symbols.sort();
  return factor === 0 ? 0 : formatProduct({ factor, symbols });
}

/** a / b when it divides exactly (symbol multisets and factors), else undefined. */
export function divideDims(a: Dim, b: Dim): Dim | undefined {
  const pa = parseDim(a);
  const pb = parseDim(b);
  if (pb.factor === 0 || pa.factor % pb.factor !== 0) return undefined;
  const rest = [...pa.symbols];
  for (const s of pb.symbols) {
    const i = rest.indexOf(s);
    if (i < 0) return undefined;
    rest.splice(i, 1);
  }
  return formatProduct({ factor: pa.factor / pb.factor, symbols: rest });
}

/** Numpy broadcasting of two shapes; undefined when they do not broadcast. */
export function broadcastShapes(a: Shape, b: Shape): Dim[] | undefined {
  const rank = Math.max(a.length, b.length);
  const out: Dim[] = [];
  for (let i = 0; i < rank; i++) {
    const da = a[a.length - rank + i] ?? 1;
    const db = b[b.length - rank + i] ?? 1;
    if (dimEquals(da, db)) out.push(canonicalDim(da));
    else if (da === 1) out.push(canonicalDim(db));
    else if (db === 1) out.push(canonicalDim(da));
    else return undefined;
  }
  return out;
}

export function formatShape(shape: Shape): string {
  return `[${shape.join(', ')}]`;
}

/** Evaluates a dimension with the run-time bindings of its symbols. */
export function resolveDim(dim: Dim, bindings: DimBindings): number {
  if (typeof dim === 'number') return dim;
  const p = parseDim(dim);
  let size = p.factor;
  for (const s of p.symbols) {
    const v = bindings.get(s);
    if (v === undefined) throw new InputError(`symbolic dimension '${s}' has no value: bind it through an input of the graph`);
    size *= v;
  }
  return size;
}

export function resolveShape(shape: Shape, bindings: DimBindings): number[] {
  return shape.map((d) => resolveDim(d, bindings));
}

/** Symbols that appear in a shape. */
export function symbolsOf(shape: Shape): string[] {
  return shape.flatMap((d) => parseDim(d).symbols);
}

export function normalizeAxis(axis: number, rank: number): number | undefined {
  const a = axis < 0 ? axis + rank : axis;
  return a >= 0 && a < rank ? a : undefined;
}
