import { attentionExtrasSuite } from './suites/attention-extras-suite.ts';

await attentionExtrasSuite('webgl');
