import { LoomError } from '@loom/graph';
import { Command, CommanderError } from 'commander';
import { checkGraphCommand } from './commands/check-graph.ts';
import { compileCommand } from './commands/compile.ts';
import { exportCommand } from './commands/export.ts';
import { inspectCommand } from './commands/inspect.ts';
import { verifyCommand } from './commands/verify.ts';
import { generateCommand } from './commands/generate.ts';
import { gradCommand } from './commands/grad.ts';
import { logitsCommand } from './commands/logits.ts';
import { paramsCommand } from './commands/params.ts';
import { reverseCommand } from './commands/reverse.ts';
import { trainCommand } from './commands/train.ts';
import { translateCommand } from './commands/translate.ts';
import { guardedIo, processIo, StdoutClosed, type CliIo } from './io.ts';

/** Exit statuses: 0 success, 1 a user error (one line on stderr), 2 a bug (stack trace). */
export const EXIT_USER_ERROR = 1;
export const EXIT_BUG = 2;

export function buildProgram(unguarded: CliIo = processIo): Command {
  const io = guardedIo(unguarded);
  const program = new Command('loom')
    .description('Loom: declarative Transformer graphs, run on the cpu, reference, webgl or webgpu backend')
    .showSuggestionAfterError(true)
    .exitOverride();
  // commander's own errors (bad arguments) get the same prefix as ours
  const output = { writeOut: io.out, writeErr: io.err, outputError: (text: string, write: (s: string) => void) => write(`loom: ${text}`) };
  program.configureOutput(output);
  // nested commands too (train reverse): commander copies no settings to commands built apart
  const configure = (command: Command): Command => {
    command.commands.forEach(configure);
    return command.exitOverride().configureOutput(output).showSuggestionAfterError(true);
  };
  for (const command of [reverseCommand(io), generateCommand(io), translateCommand(io), logitsCommand(io), gradCommand(io), trainCommand(io), paramsCommand(io), checkGraphCommand(io), compileCommand(io), verifyCommand(io), exportCommand(io), inspectCommand(io)]) {
    program.addCommand(configure(command));
  }
  return program;
}

/**
 * `text` with control characters (from a file's tensor names, say) written as escapes, so that a
 * message can never drive the terminal: ESC becomes \x1b.
 */
export function printable(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g, (ch) => `\\x${ch.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

/**
 * Runs the CLI on `argv` (without node and the script) and returns the exit status. A LoomError is
 * the user's mistake (bad input, weights, config, graph): one line on stderr. Argument errors are
 * reported by commander, also in one line, and so is a write to standard output that fails (a full
 * disk); a reader that stops early (EPIPE) ends the command with status 0. Anything else is a bug and
 * shows its stack.
 */
export async function runCli(argv: readonly string[], io: CliIo = processIo, program: Command = buildProgram(io)): Promise<number> {
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode; // commander has printed the message or the help
    if (e instanceof StdoutClosed) return 0; // a reader that stops early is not an error
    if (e instanceof LoomError) {
      io.err(`loom: error: ${printable(e.message.replace(/\s*\n\s*/g, ' '))}\n`);
      return EXIT_USER_ERROR;
    }
    io.err(`loom: internal error (a bug, please report it):\n${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    return EXIT_BUG;
  }
}
