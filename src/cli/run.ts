import { basename } from 'node:path';
import { hideBin } from 'yargs/helpers';
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

/** Installed as gnt-cluster, gnt-node, …: the family comes from the name it was called by. */
const ganetiFamilies = new Set(['cluster', 'node', 'group', 'instance', 'os', 'backup', 'job', 'debug']);
const alias = /^gnt-([a-z]+)$/.exec(basename(process.argv[1] ?? ''))?.[1];
const args = hideBin(process.argv);

main(alias !== undefined && ganetiFamilies.has(alias) ? [alias, ...args] : args).catch((error: unknown) => {
  process.stderr.write(`${errorLines(error, 0).join('\n')}\n`);
  process.exit(1);
});
