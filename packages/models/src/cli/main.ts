/** The `loom` command line (`pnpm loom ...`). Commands live in ./commands, one file each. */
import { runCli } from './run-cli.ts';

process.exitCode = await runCli(process.argv.slice(2));
