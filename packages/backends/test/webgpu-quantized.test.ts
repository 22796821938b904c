import { quantizedSuite } from './suites/quantized-suite.ts';

await quantizedSuite('webgpu');
