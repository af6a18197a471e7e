import { basename } from 'node:path';
import { hideBin } from 'yargs/helpers';
import { type HtoolsName, htoolsSubcommands, isHtoolsName } from './htools/names.js';
import { cliParser, errorLines, usageLine } from './parser.js';

/** Usage errors exit 2, operational failures 1, as Ganeti's tools do. */
function usageError(message: string): never {
  process.stderr.write(`${usageLine(message)}\n`);
  process.exit(2);
}

async function main(argv: string[]): Promise<void> {
  const { parser, debugLevel } = await cliParser(argv, usageError);
  try {
    await parser.parseAsync();
  } catch (error) {
    // One line, unless -d asked for the error code and its causes.
    process.stderr.write(`${errorLines(error, debugLevel()).join('\n')}\n`);
    process.exit(1);
  }
}

/** The htools under their own names (hbal, ...) or as `corral balance`, ...: Ganeti's GetOpt parsing, not yargs. */
async function htool(name: HtoolsName, program: string, argv: string[]): Promise<void> {
  const { runHtool } = await import('./htools/main.js');
  const io = {
    out: (text: string) => process.stdout.write(text),
    err: (text: string) => process.stderr.write(text),
  };
  process.exitCode = await runHtool(name, program, argv, io);
}

/** Installed as gnt-cluster, gnt-node, …: the family comes from the name it was called by. */
const ganetiFamilies = new Set(['cluster', 'node', 'group', 'instance', 'os', 'backup', 'job', 'debug']);
const calledAs = basename(process.argv[1] ?? '');
const family = /^gnt-([a-z]+)$/.exec(calledAs)?.[1];
const args = hideBin(process.argv);
const subcommandTool = args[0] === undefined ? undefined : htoolsSubcommands[args[0]];

const ran = isHtoolsName(calledAs)
  ? htool(calledAs, calledAs, args)
  : subcommandTool !== undefined
    ? htool(subcommandTool, `corral ${args[0]}`, args.slice(1))
    : main(family !== undefined && ganetiFamilies.has(family) ? [family, ...args] : args);
ran.catch((error: unknown) => {
  process.stderr.write(`${errorLines(error, 0).join('\n')}\n`);
  process.exit(1);
});
