#!/usr/bin/env node
/** The `loom` command line (`pnpm loom ...`). Commands live in ./commands, one file each. */
import { runCli } from './run-cli.ts';

// a reader that stops early (`loom compile gpt2 --dump-after all | head`) is not an error
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw e;
});

process.exitCode = await runCli(process.argv.slice(2));
