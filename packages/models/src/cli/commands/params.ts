import { Argument, Command } from 'commander';
import { PRESETS, presetParamCount } from '../../presets.ts';
import type { CliIo } from '../io.ts';

/** `loom params PRESET`: the parameter count of a preset's graph, as a bare integer. */
export function paramsCommand(io: CliIo): Command {
  return new Command('params')
    .description('print the number of parameters of a model preset')
    .addArgument(new Argument('<preset...>', 'model preset(s); one count per line').choices(Object.keys(PRESETS)))
    .action((presets: string[]) => {
      for (const preset of presets) io.out(`${presetParamCount(preset)}\n`);
    });
}
