import { decoderFamiliesOn } from './decoder-families-suite.ts';

await decoderFamiliesOn('webgl');
