import type { CommandModule } from 'yargs';
import { usableOsNames, validEverywhere } from '../../cluster/os-validity.js';
import { CorralError } from '../../common/errors.js';
import type { ControlResponse } from '../../daemon/control-protocol.js';
import { type ConnectionArgs, daemonCall, queryOptions } from '../cluster-client.js';
import { renderTable } from '../table.js';

type Diagnosis = ControlResponse<'os-diagnose'>['nodes'];

async function diagnose(args: ConnectionArgs): Promise<Diagnosis> {
  return (await daemonCall(args)({ op: 'os-diagnose' })).nodes;
}

const list: CommandModule<object, ConnectionArgs & { headers: boolean }> = {
  command: 'list',
  describe: 'OS definitions valid on every node, with their variants (gnt-os list)',
  builder: (yargs) =>
    queryOptions(yargs).option('headers', {
      type: 'boolean',
      default: true,
      describe: '--no-headers: leave out the header line',
    }),
  handler: async (args) => {
    const nodes = await diagnose(args);
    const silent = nodes.filter((node) => node.oses === undefined);
    if (silent.length > 0)
      process.stderr.write(
        `warning: no answer from ${silent.map((n) => n.name).join(', ')}; listing nothing as valid everywhere\n`,
      );
    if (args.headers) process.stdout.write('Name\n');
    for (const name of usableOsNames(nodes)) process.stdout.write(`${name}\n`);
  },
};

const diagnoseCommand: CommandModule<object, ConnectionArgs> = {
  command: 'diagnose',
  describe: 'every OS definition on every node, and why an invalid one is invalid',
  builder: (yargs) => queryOptions(yargs),
  handler: async (args) => {
    const nodes = await diagnose(args);
    const rows: string[][] = [];
    for (const node of nodes) {
      if (node.oses === undefined) {
        rows.push(['-', node.name, 'no answer', node.error ?? '']);
        continue;
      }
      for (const os of node.oses)
        rows.push([
          os.name,
          node.name,
          os.valid ? 'valid' : 'invalid',
          os.valid ? os.dir : (os.reason ?? ''),
        ]);
    }
    rows.sort((a, b) => a[0]!.localeCompare(b[0]!) || a[1]!.localeCompare(b[1]!));
    process.stdout.write(`${renderTable(['OS', 'Node', 'Status', 'Details'], rows)}\n`);
  },
};

const info: CommandModule<object, ConnectionArgs & { os?: string }> = {
  command: ['info [os]', 'show'],
  describe: 'API versions, variants and parameters of OS definitions',
  builder: (yargs) => queryOptions(yargs).positional('os', { type: 'string' }),
  handler: async (args) => {
    const nodes = await diagnose(args);
    const valid = validEverywhere(nodes);
    const known = new Set(nodes.flatMap((node) => (node.oses ?? []).map((os) => os.name)));
    if (args.os !== undefined && !known.has(args.os))
      throw new CorralError('not_found', `OS ${args.os} is not installed on any node`);
    for (const name of [...known].sort()) {
      if (args.os !== undefined && name !== args.os) continue;
      const entry = valid.get(name) ?? nodes.flatMap((n) => n.oses ?? []).find((os) => os.name === name)!;
      process.stdout.write(
        [
          `OS: ${name}`,
          `  valid: ${valid.has(name) ? 'True' : 'False'}`,
          `  API versions: ${entry.apiVersions.join(', ')}`,
          `  variants: ${entry.variants.join(', ')}`,
          '  parameters:',
          ...entry.parameters.map((p) => `    - ${p.name}: ${p.description}`),
          '',
        ].join('\n'),
      );
    }
  },
};

export const osCommand: CommandModule = {
  command: 'os <command>',
  builder: (yargs) => {
    for (const command of [list, diagnoseCommand, info]) yargs.command(command as CommandModule);
    return yargs.demandCommand(1);
  },
  handler: () => undefined,
};
