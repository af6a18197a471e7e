import { basename } from 'node:path';
import yargs, { type CommandModule } from 'yargs';
import { hideBin } from 'yargs/helpers';
import { asCorralError } from '../common/errors.js';
import { commands } from './commands.js';

/** Usage errors exit 2, operational failures 1, as Ganeti's tools do. */
function fail(message: string, exitCode: number): never {
  process.stderr.write(`corral: ${message.split('\n')[0]}\n`);
  process.exit(exitCode);
}

async function main(argv: string[]): Promise<void> {
  const parser = yargs(argv)
    .scriptName('corral')
    .strict()
    .demandCommand(1, 'name a command; see corral --help')
    .recommendCommands()
    .help()
    .version(false)
    .fail((message, error) => {
      if (error) throw error;
      fail(message ?? 'invalid arguments', 2);
    });
  // Only the command named is loaded; the others are listed, so that help and suggestions still know them.
  const named = argv.find((arg) => !arg.startsWith('-'));
  for (const entry of commands) {
    if (entry.command.split(' ')[0] === named)
      parser.command({ ...(await entry.load()), describe: entry.describe } as CommandModule);
    else parser.command(entry.command, entry.describe);
  }
  await parser.parseAsync();
}

/** Installed as gnt-cluster, gnt-node, …: the family comes from the name it was called by. */
const ganetiFamilies = new Set(['cluster', 'node', 'group', 'instance', 'os', 'backup', 'job', 'debug']);
const alias = /^gnt-([a-z]+)$/.exec(basename(process.argv[1] ?? ''))?.[1];
const args = hideBin(process.argv);

main(alias !== undefined && ganetiFamilies.has(alias) ? [alias, ...args] : args).catch((error: unknown) =>
  fail(asCorralError(error).message, 1),
);
