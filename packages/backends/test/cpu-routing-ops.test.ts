import { routingOpsSuite } from './suites/routing-ops-suite.ts';

await routingOpsSuite('cpu');
