import type { z } from 'zod';
import { ConfigError } from '../errors.ts';

/** A config.json checked against its schema; the first problem is a ConfigError naming the file and the field. */
export function parseConfig<S extends z.ZodType>(schema: S, json: unknown, where: string): z.output<S> {
  const parsed = schema.safeParse(json);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  const field = issue.path.length > 0 ? issue.path.map(String).join('.') : '(top level)';
  throw new ConfigError(`${where}: ${field}: ${issue.message}`);
}

/** Throws the ConfigError for a config field whose value Loom does not build. */
export function unsupportedField(where: string): (field: string, why: string) => never {
  return (field, why) => {
    throw new ConfigError(`${where}: ${field}: ${why}`);
  };
}
