/**
 * Pieces of TypeScript source shared by the targets of `loom export --format ts`: values as
 * literals, shapes as labelled tuple types, and the module's Inputs / Outputs types.
 */
import type { Plan } from '@loom/compiler';
import { graphInputs, nodeName, type Dim, type DType, type Shape } from '@loom/graph';
import type { SourceFile } from 'ts-morph';

/** A plain value as TypeScript source: numbers (Infinity, NaN, -0 too), strings, arrays, objects. */
export function literal(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'number') {
    if (Number.isNaN(value)) return 'NaN';
    if (value === Infinity) return 'Infinity';
    if (value === -Infinity) return '-Infinity';
    return Object.is(value, -0) ? '-0' : String(value);
  }
  if (typeof value === 'string' || typeof value === 'boolean') return JSON.stringify(value);
  if (ArrayBuffer.isView(value)) return literal(Array.from(value as unknown as ArrayLike<number>));
  if (Array.isArray(value)) return `[${value.map(literal).join(', ')}]`;
  return `{ ${Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${/^[A-Za-z_$][\w$]*$/.test(k) ? k : JSON.stringify(k)}: ${literal(v)}`)
    .join(', ')} }`;
}

/** A multi-line text (a WGSL kernel) as a template literal, kept readable. */
export function templateLiteral(text: string): string {
  return `\`${text.replace(/\\/g, '\\\\').replace(/`/g, '\\`').replace(/\$\{/g, '\\${')}\``;
}

const IDENTIFIER = /^[A-Za-z_]\w*$/;

/**
 * `readonly [batch: number, seq: number, 64]`: a shape as a tuple type, symbols as labels. With
 * symbol values (a target rendered for fixed sizes) the labels keep the names: `[batch: 1, seq: 5, 64]`.
 */
export function shapeType(shape: Shape, values?: ReadonlyMap<string, number>): string {
  const label = (d: Dim, i: number) => {
    if (typeof d === 'number') return String(d);
    const name = IDENTIFIER.test(d) ? d : `d${i}`;
    const value = values && IDENTIFIER.test(d) ? values.get(d) : undefined;
    return `${name}: ${value ?? 'number'}`;
  };
  return `readonly [${shape.map(label).join(', ')}]`;
}

function arrayType(dtype: DType): string {
  return dtype === 'f32' ? 'Float32Array' : 'Int32Array';
}

function tensorType(dtype: DType, shape: Shape, values?: ReadonlyMap<string, number>): string {
  return `{ readonly dtype: '${dtype}'; readonly shape: ${shapeType(shape, values)}; readonly data: ${arrayType(dtype)} }`;
}

function objectType(entries: [string, string][]): string {
  return `{\n${entries.map(([k, t]) => `  readonly ${JSON.stringify(k)}: ${t};`).join('\n')}\n}`;
}

/** `export type Inputs` and `export type Outputs`: the plan's graph inputs and outputs with their shapes. */
export function addIoTypes(file: SourceFile, plan: Plan, values?: ReadonlyMap<string, number>, skip: ReadonlySet<string> = new Set()): void {
  const graph = plan.graph;
  file.addTypeAlias({
    name: 'Inputs',
    isExported: true,
    docs: [values ? 'The graph inputs, at the sizes the kernels were rendered for.' : 'The graph inputs; symbolic axes are bound from these shapes.'],
    type: objectType(graphInputs(graph).map((n) => [nodeName(n)!, tensorType(n.type.dtype, n.type.shape, values)])),
  });
  file.addTypeAlias({
    name: 'Outputs',
    isExported: true,
    type: objectType(graph.outputs.filter((o) => !skip.has(o.name)).map((o) => [o.name, tensorType(graph.nodes[o.node]!.type.dtype, graph.nodes[o.node]!.type.shape, values)])),
  });
}
