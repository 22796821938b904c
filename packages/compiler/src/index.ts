export * from './plan.ts';
export { planMemory, StatePlanError, type MemoryPlanOptions } from './plan-memory.ts';
export { compile, compileWithReport, type CompileOptions, type CompileResult } from './compile.ts';
export { scheduleForMemory, type Schedule } from './schedule.ts';
export * from './rewrite/index.ts';
export * from './passes/index.ts';
export { cpuPipeline, defaultPipeline, runPipeline, formatTrace, type PassTraceEntry, type PipelineOptions, type PipelineResult } from './pipeline.ts';
export { printPlan, formatExpr } from './print-plan.ts';
