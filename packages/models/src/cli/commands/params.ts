import { Argument, Command } from 'commander';
import { PRESETS, presetParamCount } from '../../presets.ts';

/** `loom params PRESET`: the parameter count of a preset's graph, as a bare integer. */
export function paramsCommand(): Command {
  return new Command('params')
    .description('print the number of parameters of a model preset')
    .addArgument(new Argument('<preset>', 'model preset').choices(Object.keys(PRESETS)))
    .action((preset: string) => {
      process.stdout.write(`${presetParamCount(preset)}\n`);
    });
}
