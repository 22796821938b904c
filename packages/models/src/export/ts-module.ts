/**
 * `loom export --format ts`: a compiled model as a readable, standalone TypeScript module, written
 * through ts-morph's AST. The module holds the cpu backend's plan for the graph (buffers, steps,
 * strided views: `PLAN`), one named function per kernel (the cpu renderer's code, with a comment
 * naming the graph node and the model line it came from), and a typed `run(inputs, weights)` whose
 * input and output types carry the shapes (symbolic axes as labelled tuple elements). It imports
 * only `@loom/backends/aot` (the runtime with the WebAssembly GEMM) and types: not the compiler.
 */
import { renderStep } from '@loom/backends';
import { compile, cpuPipeline, type Plan } from '@loom/compiler';
import { graphInputs, nodeName, type Dim, type DType, type Graph, type Shape } from '@loom/graph';
import type { OptionalKind, ParameterDeclarationStructure } from 'ts-morph';

export interface TsModuleOptions {
  /** Where the module imports its runtime from. Default '@loom/backends/aot'. */
  readonly runtimeImport?: string;
  /** What the module's header calls the model. */
  readonly title?: string;
}

/** A plain value as TypeScript source: numbers (Infinity, NaN, -0 too), strings, arrays, objects. */
function literal(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'number') {
    if (Number.isNaN(value)) return 'NaN';
    if (value === Infinity) return 'Infinity';
    if (value === -Infinity) return '-Infinity';
    return Object.is(value, -0) ? '-0' : String(value);
  }
  if (typeof value === 'string' || typeof value === 'boolean') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(literal).join(', ')}]`;
  return `{ ${Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${/^[A-Za-z_$][\w$]*$/.test(k) ? k : JSON.stringify(k)}: ${literal(v)}`)
    .join(', ')} }`;
}

/** `readonly [batch: number, seq: number, 64]`: a shape as a tuple type, symbols as labels. */
function shapeType(shape: Shape): string {
  const label = (d: Dim, i: number) => (typeof d === 'number' ? String(d) : `${/^[A-Za-z_]\w*$/.test(d) ? d : `d${i}`}: number`);
  return `readonly [${shape.map(label).join(', ')}]`;
}

function arrayType(dtype: DType): string {
  return dtype === 'f32' ? 'Float32Array' : 'Int32Array';
}

/**
 * A kernel's parameters, untyped inside: the bodies are the cpu renderer's generated loops (the
 * code the cpu backend runs), checked by the conformance properties rather than by TypeScript's
 * index checks. `KERNELS` is typed: each function must fit the runtime's AotKernel.
 */
const kernelParameters: OptionalKind<ParameterDeclarationStructure>[] = [
  { name: 'rt', type: 'any' },
  { name: 'ins', type: 'any[]' },
  { name: 'out', type: 'any' },
  { name: 'inShapes', type: 'any[]' },
  { name: 'outShape', type: 'any' },
  { name: 'layouts', type: '(Layout | undefined)[]' },
];

/** The module's source text, formatted. */
export async function emitTsModule(graph: Graph, options: TsModuleOptions = {}): Promise<string> {
  const { Project, VariableDeclarationKind } = await import('ts-morph');
  const plan: Plan = compile(graph, { inPlace: true, stridedViews: true, passes: cpuPipeline });
  const project = new Project({ useInMemoryFileSystem: true });
  const file = project.createSourceFile('model.ts');
  const runtime = options.runtimeImport ?? '@loom/backends/aot';

  file.addStatements(`/**\n * ${options.title ?? 'A Loom model'}, compiled ahead of time by \`loom export --format ts\`: ${plan.steps.length} kernels, ${plan.buffers.length} buffers.\n * Generated code: regenerate it rather than editing it.\n */`);
  file.addImportDeclaration({ moduleSpecifier: runtime, namedImports: ['prepareAot', { name: 'AotKernel', isTypeOnly: true }, { name: 'AotModel', isTypeOnly: true }, { name: 'Layout', isTypeOnly: true }, { name: 'Plan', isTypeOnly: true }] });
  file.addImportDeclaration({ moduleSpecifier: '@loom/graph', isTypeOnly: true, namedImports: ['NDArray', 'Weights'] });

  const inputs = graphInputs(plan.graph);
  const tensorType = (dtype: DType, shape: Shape) => `{ readonly dtype: '${dtype}'; readonly shape: ${shapeType(shape)}; readonly data: ${arrayType(dtype)} }`;
  const objectType = (entries: [string, string][]) => `{\n${entries.map(([k, t]) => `  readonly ${JSON.stringify(k)}: ${t};`).join('\n')}\n}`;
  file.addTypeAlias({
    name: 'Inputs',
    isExported: true,
    docs: ['The graph inputs; symbolic axes are bound from these shapes.'],
    type: objectType(inputs.map((n) => [nodeName(n)!, tensorType(n.type.dtype, n.type.shape)])),
  });
  file.addTypeAlias({
    name: 'Outputs',
    isExported: true,
    type: objectType(plan.graph.outputs.map((o) => [o.name, tensorType(plan.graph.nodes[o.node]!.type.dtype, plan.graph.nodes[o.node]!.type.shape)])),
  });

  plan.steps.forEach((step, k) => {
    const node = plan.graph.nodes[step.node]!;
    file.addFunction({
      name: `k${k}_${node.op}`,
      docs: [`Kernel ${k}: node %${node.id} ${node.op} -> ${node.type.dtype}[${node.type.shape.join(', ')}]${node.source ? ` (${node.source})` : ''}`],
      parameters: kernelParameters,
      returnType: 'void',
      statements: renderStep(plan.graph, node),
    });
  });
  file.addVariableStatement({
    declarationKind: VariableDeclarationKind.Const,
    isExported: true,
    docs: ['The kernels in execution order.'],
    declarations: [{ name: 'KERNELS', type: 'readonly AotKernel[]', initializer: `[${plan.steps.map((step, k) => `k${k}_${plan.graph.nodes[step.node]!.op}`).join(', ')}]` }],
  });
  file.addVariableStatement({
    declarationKind: VariableDeclarationKind.Const,
    isExported: true,
    docs: ['The plan: the graph after the compiler, its buffers (sizes in the symbols), the step order and the strided views.'],
    declarations: [{ name: 'PLAN', type: 'Plan', initializer: literal(plan) }],
  });
  file.addStatements('const prepared = new WeakMap<Weights, Promise<AotModel>>();');
  file.addFunction({
    name: 'run',
    isExported: true,
    isAsync: true,
    docs: ['Runs the model (prepared once per weights map: weights packed, buffers laid out).'],
    parameters: [{ name: 'inputs', type: 'Inputs' }, { name: 'weights', type: 'Weights' }],
    returnType: 'Promise<Outputs>',
    statements: [
      'let model = prepared.get(weights);',
      'if (!model) prepared.set(weights, (model = prepareAot(PLAN, KERNELS, weights)));',
      'const feeds: Readonly<Record<string, NDArray>> = inputs;',
      'return (await model).run(feeds) as Outputs;',
    ],
  });
  file.formatText({ indentSize: 2, convertTabsToSpaces: true });
  return file.getFullText();
}
