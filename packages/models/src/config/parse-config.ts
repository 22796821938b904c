import type { z } from 'zod';
import { ConfigError } from '../errors.ts';

/** The file a config field came from: one file, or a file per top-level field (generation_config.json's fields over config.json's). */
export type ConfigWhere = string | ((field: string) => string);

const fileOf = (where: ConfigWhere, field: string): string => (typeof where === 'string' ? where : where(field));

/** The JSON in a config file's text; a syntax error is a ConfigError naming the file. */
export function parseJsonText(text: string, where: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new ConfigError(`${where}: not valid JSON (${(e as Error).message})`);
  }
}

/** A config.json checked against its schema; the first problem is a ConfigError naming the file and the field. */
export function parseConfig<S extends z.ZodType>(schema: S, json: unknown, where: ConfigWhere): z.output<S> {
  const parsed = schema.safeParse(json);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  const field = issue.path.length > 0 ? issue.path.map(String).join('.') : '(top level)';
  throw new ConfigError(`${fileOf(where, String(issue.path[0] ?? ''))}: ${field}: ${issue.message}`);
}

/** Throws the ConfigError for a config field whose value Loom does not build. */
export function unsupportedField(where: ConfigWhere): (field: string, why: string) => never {
  return (field, why) => {
    throw new ConfigError(`${fileOf(where, field)}: ${field}: ${why}`);
  };
}

/** A checkpoint's generation_config.json: what Hugging Face's generate() reads over config.json. */
export interface GenerationConfigFile {
  readonly json: Readonly<Record<string, unknown>>;
  readonly where: string;
}
