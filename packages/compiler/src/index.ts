export * from './plan.ts';
export { planMemory, type MemoryPlanOptions } from './plan-memory.ts';
export { compile, type CompileOptions } from './compile.ts';
export { scheduleForMemory, type Schedule } from './schedule.ts';
