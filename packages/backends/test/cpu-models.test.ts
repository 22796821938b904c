import { modelSuite } from './suites/model-suite.ts';

await modelSuite('cpu');
