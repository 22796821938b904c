import { GraphFormatError, graphFromJson, printGraph } from '@loom/graph';
import { Command } from 'commander';
import { readUserFile } from '../../files.ts';
import type { CliIo } from '../io.ts';

/** `loom check-graph FILE`: parse and verify a graph JSON, print its text form. */
export function checkGraphCommand(io: CliIo): Command {
  return new Command('check-graph')
    .description('parse and verify a Loom graph JSON file and print it as text (errors name the JSON path)')
    .argument('<file>', 'graph JSON (as written by graphToJson)')
    .action((file: string) => {
      const text = readUserFile(file, 'graph').toString('utf8');
      let graph;
      try {
        graph = graphFromJson(text);
      } catch (e) {
        if (e instanceof GraphFormatError) e.message = `${file}: ${e.message}`;
        throw e;
      }
      io.out(`${printGraph(graph)}\n`);
    });
}
