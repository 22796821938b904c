#!/usr/bin/env node
/** The `loom` command line (`pnpm loom ...`). Commands live in ./commands, one file each. */
import { StdoutClosed, StdoutError, stdoutWriteError } from './io.ts';
import { EXIT_BUG, EXIT_USER_ERROR, printable, runCli } from './run-cli.ts';

// process.stdout reports a failed write as an event, after the write returned: a reader that stops
// early (`loom compile gpt2 --dump-after all | head`) is not an error; a full disk or an I/O error
// is one line, `loom: error: cannot write to standard output: no space left on device (ENOSPC)`
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  const failure = stdoutWriteError(e);
  if (failure instanceof StdoutClosed) process.exit(process.exitCode ?? 0);
  if (failure instanceof StdoutError) {
    process.stderr.write(`loom: error: ${printable(failure.message)}\n`);
    process.exit(EXIT_USER_ERROR);
  }
  process.stderr.write(`loom: internal error (a bug, please report it):\n${e.stack ?? e.message}\n`);
  process.exit(EXIT_BUG);
});

process.exitCode = await runCli(process.argv.slice(2));
