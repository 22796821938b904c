import { compileWithReport, layerBlockOf, trainStepGraph, withCrossEntropyLoss } from '@loom/compiler';
import { graphParams, multiplyDims, nodeName, resolveDim, stateNames, type Graph } from '@loom/graph';

/** What a compiled training step costs, as `loom compile --train` reports it. */
export interface StepCosts {
  readonly kernels: number;
  /** Intermediates (activations, gradients, temporaries) at the planned peak. */
  readonly plannedPeakBytes: number;
}

export interface TrainingCosts {
  readonly optimizer: 'adamw';
  /** The weights (inference holds these too). */
  readonly weightBytes: number;
  /** Weights and optimizer states kept between steps (AdamW: the weights and two moments). */
  readonly stateBytes: number;
  /** Blocks whose activations `recompute` computes again (found by parameter names). */
  readonly blocks: number;
  readonly step: StepCosts;
  /** The same step recomputing each block's activations in its backward pass. */
  readonly recompute: StepCosts;
}

/**
 * The training step of `graph` (softmax cross-entropy on its `logits` output, the backward pass,
 * AdamW with clipping), compiled twice: keeping every activation, and recomputing each block's.
 */
export function trainingCosts(graph: Graph, bindings: Readonly<Record<string, number>>): TrainingCosts {
  const lossGraph = withCrossEntropyLoss(graph, { keep: [] });
  const stepGraph = (recompute: boolean) => trainStepGraph(lossGraph, { loss: 'loss', optimizer: { kind: 'adamw' }, clipNorm: 1, recompute });
  const costsOf = (step: Graph): StepCosts => {
    const stats = compileWithReport(step, { bindings }).plan.stats;
    return { kernels: stats.kernels, plannedPeakBytes: stats.plannedBytes };
  };
  const step = stepGraph(false);
  const dims = new Map(Object.entries(bindings));
  // every graph input and param named in `names`, as float32 bytes at these sizes
  const bytesOf = (g: Graph, names: ReadonlySet<string>) =>
    g.nodes.filter((n) => (n.op === 'input' || n.op === 'param') && names.has(nodeName(n)!)).reduce((sum, n) => sum + 4 * resolveDim(multiplyDims(n.type.shape), dims), 0);
  const params = graphParams(graph).map((p) => nodeName(p)!);
  return {
    optimizer: 'adamw',
    weightBytes: bytesOf(graph, new Set(params)),
    stateBytes: bytesOf(step, stateNames(step)),
    blocks: new Set(params.map(layerBlockOf).filter((b) => b !== undefined)).size,
    step: costsOf(step),
    recompute: costsOf(stepGraph(true)),
  };
}

const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;

/** The three plans side by side, one line each. */
export function formatTrainingCosts(costs: TrainingCosts, inference: { kernels: number; plannedBytes: number }): string {
  const row = (what: string, kernels: number, peak: number, kept: number) => `${what.padEnd(44)} ${String(kernels).padStart(7)} ${mib(peak).padStart(12)} ${mib(kept).padStart(14)} ${mib(peak + kept).padStart(12)}`;
  return [
    '',
    `${''.padEnd(44)} ${'kernels'.padStart(7)} ${'peak temps'.padStart(12)} ${'weights+states'.padStart(14)} ${'total'.padStart(12)}`,
    row('inference', inference.kernels, inference.plannedBytes, costs.weightBytes),
    row('training step (AdamW)', costs.step.kernels, costs.step.plannedPeakBytes, costs.stateBytes),
    row(`training step, ${costs.blocks} blocks recomputed`, costs.recompute.kernels, costs.recompute.plannedPeakBytes, costs.stateBytes),
    '',
  ].join('\n');
}
