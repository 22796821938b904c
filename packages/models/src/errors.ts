import { LoomError } from '@loom/graph';

/** A model configuration (preset options or a config.json) that Loom cannot build. */
export class ConfigError extends LoomError {
  constructor(message: string) {
    super('config', message);
  }
}

/** Input a model cannot take: a token outside the vocabulary, a sequence longer than its positions. */
export class ModelInputError extends LoomError {
  constructor(message: string) {
    super('model-input', message);
  }
}

/** A file the user named cannot be read. */
export class FileError extends LoomError {
  constructor(message: string) {
    super('file', message);
  }
}
