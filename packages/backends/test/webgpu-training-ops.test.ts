import { trainingOpsSuite } from './suites/training-ops-suite.ts';

await trainingOpsSuite('webgpu');
