/**
 * Bounds that configs and command-line options are both checked against (a config.json's num_beams,
 * `--beams`), kept below every layer that reads them.
 */

/**
 * The most beams per input. Translation quality peaks at a handful of beams and falls with more
 * (Koehn and Knowles 2017, "the beam search curse"); Hugging Face checkpoints ship 1 to 12. 64 leaves
 * room for experiments while keeping a step's K x 2K candidates and K caches small.
 */
export const MAX_BEAMS = 64;

/** Why, in a message. */
export const BEAMS_WHY = 'each beam is a row of the batch with its own KV cache, and quality falls past a handful of beams';
