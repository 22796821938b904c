/**
 * `loom export --format ts`: a compiled model as a readable, standalone TypeScript module, written
 * through ts-morph's AST. Two targets:
 * - `cpu`: the cpu backend's plan for the graph (buffers, steps, strided views: `PLAN`), one named
 *   function per kernel (the cpu renderer's code, with a comment naming the graph node and the model
 *   line it came from), run by `@loom/backends/aot` (the runtime with the WebAssembly GEMM);
 * - `webgpu` (ts-webgpu-module.ts): the WGSL kernels and the dispatch list, rendered for fixed
 *   symbol values, run by `@loom/backends/aot-webgpu`.
 * Either way a typed `run(inputs, weights)` whose input and output types carry the shapes, and no
 * import of the compiler.
 */
import { backendCompileOptions, renderStep } from '@loom/backends';
import { checkTensorSizes, compile, type Plan } from '@loom/compiler';
import type { Graph } from '@loom/graph';
import type { OptionalKind, ParameterDeclarationStructure, SourceFile } from 'ts-morph';
import { addIoTypes, literal } from './ts-source.ts';
import { addWebGpuTarget } from './ts-webgpu-module.ts';

export type TsTarget = 'cpu' | 'webgpu';

export interface TsModuleOptions {
  /** Default 'cpu'. */
  readonly target?: TsTarget;
  /** The symbol values the webgpu target renders its kernels for (every symbol of the inputs). */
  readonly symbols?: Readonly<Record<string, number>>;
  /** Where the module imports its runtime from. Default '@loom/backends/aot' or '@loom/backends/aot-webgpu'. */
  readonly runtimeImport?: string;
  /** What the module's header calls the model. */
  readonly title?: string;
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

/**
 * The module's source text, formatted. A tensor of the graph too large for one typed array (the
 * runtimes hold each in one) is a TensorSizeError naming it, before anything is compiled.
 */
export async function emitTsModule(graph: Graph, options: TsModuleOptions = {}): Promise<string> {
  checkTensorSizes(graph, 'ts export');
  const tsMorph = await import('ts-morph');
  const project = new tsMorph.Project({ useInMemoryFileSystem: true });
  const file = project.createSourceFile('model.ts');
  const title = options.title ?? 'A Loom model';
  if (options.target === 'webgpu') addWebGpuTarget(file, graph, { title, symbols: options.symbols ?? {}, runtime: options.runtimeImport ?? '@loom/backends/aot-webgpu' }, tsMorph);
  else addCpuTarget(file, graph, title, options.runtimeImport ?? '@loom/backends/aot', tsMorph);
  file.formatText({ indentSize: 2, convertTabsToSpaces: true });
  return file.getFullText();
}

function addCpuTarget(file: SourceFile, graph: Graph, title: string, runtime: string, { VariableDeclarationKind }: typeof import('ts-morph')): void {
  const plan: Plan = compile(graph, backendCompileOptions('cpu'));
  file.addStatements(`/**\n * ${title}, compiled ahead of time by \`loom export --format ts\`: ${plan.steps.length} kernels, ${plan.buffers.length} buffers.\n * Generated code: regenerate it rather than editing it.\n */`);
  file.addImportDeclaration({ moduleSpecifier: runtime, namedImports: ['prepareAot', { name: 'AotKernel', isTypeOnly: true }, { name: 'AotModel', isTypeOnly: true }, { name: 'Layout', isTypeOnly: true }, { name: 'Plan', isTypeOnly: true }] });
  file.addImportDeclaration({ moduleSpecifier: '@loom/graph', isTypeOnly: true, namedImports: ['NDArray', 'Weights'] });
  addIoTypes(file, plan);

  // all kernels in one insertion: ts-morph re-parses the file per insertion (quadratic in kernels)
  file.addFunctions(
    plan.steps.map((step, k) => {
      const node = plan.graph.nodes[step.node]!;
      return {
        name: `k${k}_${node.op}`,
        docs: [`Kernel ${k}: node %${node.id} ${node.op} -> ${node.type.dtype}[${node.type.shape.join(', ')}]${node.source ? ` (${node.source})` : ''}`],
        parameters: kernelParameters,
        returnType: 'void',
        statements: renderStep(plan.graph, node),
      };
    }),
  );
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
}
