/**
 * The webgpu target of `loom export --format ts`: the WebGPU backend's plan with every kernel
 * rendered ahead of time for fixed symbol values, within the WebGPU spec's default limits (so the
 * module runs on any device, and exporting needs no GPU). The module holds one WGSL constant per
 * distinct kernel (a comment names the graph nodes and model lines that use it), the dispatch list
 * (kernel, workgroups, bindings, parameter words), the plan, and a typed `run(inputs, weights)`
 * over `@loom/backends/aot-webgpu`.
 */
import { backendCompileOptions, kernelFor, renderPlan, SPEC_DEFAULT_LIMITS } from '@loom/backends';
import { compile, type Plan } from '@loom/compiler';
import { graphInputs, stateNames, symbolsOf, type Graph, type GraphNode } from '@loom/graph';
import type { SourceFile } from 'ts-morph';
import { ModelInputError } from '../errors.ts';
import { addIoTypes, literal, templateLiteral } from './ts-source.ts';

export interface WebGpuTargetOptions {
  readonly title: string;
  /** Values for the symbols of the graph's inputs (others are ignored). */
  readonly symbols: Readonly<Record<string, number>>;
  readonly runtime: string;
}

/** The values of the symbols the graph's inputs use; each must be given. */
function boundSymbols(graph: Graph, given: Readonly<Record<string, number>>): Map<string, number> {
  const used = [...new Set(graphInputs(graph).flatMap((n) => symbolsOf(n.type.shape)))];
  const missing = used.filter((s) => given[s] === undefined);
  if (missing.length > 0) {
    throw new ModelInputError(`--target webgpu renders its kernels for fixed sizes: give a value for ${missing.map((s) => `'${s}'`).join(', ')} (--batch, --seq or --bind name=N)`);
  }
  return new Map(used.map((s) => [s, given[s]!]));
}

function where(node: GraphNode): string {
  return `node %${node.id} ${node.op}${node.source ? ` (${node.source})` : ''}`;
}

export function addWebGpuTarget(file: SourceFile, graph: Graph, options: WebGpuTargetOptions, { VariableDeclarationKind }: typeof import('ts-morph')): void {
  const symbols = boundSymbols(graph, options.symbols);
  // the plan the WebGPU backend prepares: the same launches, so the same numbers
  const plan: Plan = compile(graph, backendCompileOptions('webgpu'));
  const rendered = renderPlan(plan, symbols, SPEC_DEFAULT_LIMITS, kernelFor);
  const dispatches = rendered.flatMap((r) => r.launches.map((launch, i) => ({ step: r.step, part: i, parts: r.launches.length, launch, node: plan.graph.nodes[plan.steps[r.step]!.node]! })));
  const sizes = [...symbols].map(([k, v]) => `${k} = ${v}`).join(', ') || 'no symbols';

  file.addStatements(
    `/**\n * ${options.title}, compiled ahead of time by \`loom export --format ts --target webgpu\` for ${sizes}:\n * ${dispatches.length} WebGPU dispatches over ${plan.steps.length} plan steps, ${plan.buffers.length} buffers.\n * Generated code: regenerate it rather than editing it.\n */`,
  );
  file.addImportDeclaration({
    moduleSpecifier: options.runtime,
    namedImports: ['prepareAotWebGpu', ...['AotDispatch', 'AotWebGpuModel', 'AotWebGpuOptions', 'AotWebGpuProgram', 'DeviceLimits', 'Plan'].map((name) => ({ name, isTypeOnly: true }))],
  });
  file.addImportDeclaration({ moduleSpecifier: '@loom/graph', isTypeOnly: true, namedImports: ['NDArray', 'Weights'] });
  addIoTypes(file, plan, symbols, stateNames(plan.graph));
  file.addVariableStatement({
    declarationKind: VariableDeclarationKind.Const,
    isExported: true,
    docs: ['The symbol values the kernels were rendered for: the inputs must have these sizes.'],
    declarations: [{ name: 'SYMBOLS', initializer: `${literal(Object.fromEntries(symbols))} as const` }],
  });
  file.addVariableStatement({
    declarationKind: VariableDeclarationKind.Const,
    isExported: true,
    docs: ["The device limits the kernels were rendered within (the WebGPU spec's defaults, which every device grants)."],
    declarations: [{ name: 'LIMITS', type: 'DeviceLimits', initializer: literal(SPEC_DEFAULT_LIMITS) }],
  });

  // one constant per distinct kernel source, named after the first dispatch that uses it
  const shaderNames = new Map<string, string>();
  const users = new Map<string, string[]>();
  for (const d of dispatches) {
    const name = shaderNames.get(d.launch.wgsl) ?? `k${d.step}${d.parts > 1 ? `_${d.part}` : ''}_${d.node.op}`;
    shaderNames.set(d.launch.wgsl, name);
    if (!users.has(name)) users.set(name, []);
    users.get(name)!.push(`step ${d.step}: ${where(d.node)}`);
  }
  // one insertion for all of them: ts-morph re-parses the file per insertion
  file.addVariableStatements(
    [...shaderNames].map(([wgsl, name]) => {
      const used = users.get(name)!;
      return {
        declarationKind: VariableDeclarationKind.Const,
        docs: [`WGSL for ${used.length === 1 ? used[0] : `${used.length} dispatches:\n${used.map((u) => `- ${u}`).join('\n')}`}`],
        declarations: [{ name, initializer: templateLiteral(wgsl) }],
      };
    }),
  );
  const entries = dispatches.map((d) => {
    const l = d.launch;
    return `/* ${where(d.node)} -> ${d.node.type.dtype}[${d.node.type.shape.join(', ')}] */ { step: ${d.step}, wgsl: ${shaderNames.get(l.wgsl)}, workgroups: ${literal(l.workgroups)}, bindings: ${literal(l.bindings)}, params: ${literal(l.params)} }`;
  });
  file.addVariableStatement({
    declarationKind: VariableDeclarationKind.Const,
    isExported: true,
    docs: ['The dispatches in execution order: plan step, kernel, workgroup grid, storage bindings (then the parameters block), parameter words.'],
    declarations: [{ name: 'DISPATCHES', type: 'readonly AotDispatch[]', initializer: `[\n${entries.join(',\n')}\n]` }],
  });
  file.addVariableStatement({
    declarationKind: VariableDeclarationKind.Const,
    isExported: true,
    docs: ['The plan: the graph after the compiler, its buffers (sizes in the symbols) and the step order.'],
    declarations: [{ name: 'PLAN', type: 'Plan', initializer: literal(plan) }],
  });
  file.addVariableStatement({
    declarationKind: VariableDeclarationKind.Const,
    isExported: true,
    declarations: [{ name: 'PROGRAM', type: 'AotWebGpuProgram', initializer: '{ plan: PLAN, symbols: SYMBOLS, limits: LIMITS, dispatches: DISPATCHES }' }],
  });
  file.addFunction({
    name: 'prepare',
    isExported: true,
    docs: ['Uploads the weights and compiles the pipelines on a device (a given one, or one acquired for the process).'],
    parameters: [{ name: 'weights', type: 'Weights' }, { name: 'options', type: 'AotWebGpuOptions', initializer: '{}' }],
    returnType: 'Promise<AotWebGpuModel>',
    statements: ['return prepareAotWebGpu(PROGRAM, weights, options);'],
  });
  file.addStatements('const prepared = new WeakMap<Weights, Promise<AotWebGpuModel>>();');
  file.addFunction({
    name: 'run',
    isExported: true,
    isAsync: true,
    docs: ['Runs the model (prepared once per weights map, on the default device).'],
    parameters: [{ name: 'inputs', type: 'Inputs' }, { name: 'weights', type: 'Weights' }],
    returnType: 'Promise<Outputs>',
    statements: [
      'let model = prepared.get(weights);',
      'if (!model) prepared.set(weights, (model = prepare(weights)));',
      'const feeds: Readonly<Record<string, NDArray>> = inputs;',
      'return (await model).run(feeds) as Promise<Outputs>;',
    ],
  });
}
