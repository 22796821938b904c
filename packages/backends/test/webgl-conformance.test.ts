import { conformanceSuite } from './suites/conformance-suite.ts';

await conformanceSuite('webgl');
