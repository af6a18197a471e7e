import type { CommandModule } from 'yargs';
import { usableOsNames, validEverywhere } from '../../cluster/os-validity.js';
import { CorralError } from '../../common/errors.js';
import type { ControlResponse } from '../../daemon/control-replies.js';
import {
  type ConnectionArgs,
  daemonCall,
  type JobArgs,
  jobOptions,
  queryOptions,
  readConfig,
  runOps,
  yesNo,
} from '../cluster-client.js';
import { hvParamsByHypervisor, parseKeyValues } from '../ganeti-options.js';
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
    // Ganeti leaves hidden and blacklisted OSes out of the list.
    const { config } = await readConfig(args);
    const omitted = new Set([...(config.cluster.hiddenOs ?? []), ...(config.cluster.blacklistedOs ?? [])]);
    if (args.headers) process.stdout.write('Name\n');
    for (const name of usableOsNames(nodes))
      if (!omitted.has(name) && !omitted.has(name.split('+', 1)[0]!)) process.stdout.write(`${name}\n`);
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
    const { config } = await readConfig(args);
    const { hiddenOs = [], blacklistedOs = [], osParams = {}, osHvParams = {} } = config.cluster;
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
          `  hidden: ${hiddenOs.includes(name) ? 'True' : 'False'}`,
          `  blacklisted: ${blacklistedOs.includes(name) ? 'True' : 'False'}`,
          `  API versions: ${entry.apiVersions.join(', ')}`,
          `  variants: ${entry.variants.join(', ')}`,
          '  parameters:',
          ...entry.parameters.map((p) => `    - ${p.name}: ${p.description}`),
          ...settings('OS parameters', osParams[name]),
          ...Object.entries(osHvParams[name] ?? {}).flatMap(([hv, params]) =>
            settings(`hypervisor parameters (${hv})`, params),
          ),
          '',
        ].join('\n'),
      );
    }
  },
};

/** The cluster's settings for an OS, as lines of info; none when it has none. */
function settings(title: string, params: Readonly<Record<string, string>> | undefined): string[] {
  if (params === undefined) return [];
  return [`  ${title}:`, ...Object.entries(params).map(([key, value]) => `    - ${key}: ${value}`)];
}

interface ModifyArgs extends JobArgs {
  os: string;
  'hypervisor-parameters'?: string | string[];
  'os-parameters'?: string;
  'os-parameters-private'?: string;
  hidden?: string;
  blacklisted?: string;
}

/** Ganeti's gnt-os modify: the cluster's settings for one OS, as a cluster modify job. */
const modify: CommandModule<object, ModifyArgs> = {
  command: 'modify <os>',
  describe:
    'OS and hypervisor parameters every instance of the OS inherits, and whether it is hidden or blacklisted',
  builder: (yargs) =>
    jobOptions(yargs)
      .positional('os', { type: 'string', demandOption: true })
      .option('hypervisor-parameters', {
        alias: 'H',
        type: 'string',
        describe: 'hv:k=v,… (repeatable); a value of default removes the key',
      })
      .option('os-parameters', {
        alias: 'O',
        type: 'string',
        describe: 'k=v,…; a value of default removes the key',
      })
      .option('os-parameters-private', {
        type: 'string',
        describe:
          'refused: Corral keeps private OS parameters per instance (instance add/modify), not per OS',
      })
      .option('hidden', { type: 'string', describe: 'yes|no: left out of os list' })
      .option('blacklisted', {
        type: 'string',
        describe: 'yes|no: left out of os list and refused for installation',
      }),
  handler: async (args) => {
    if (args['os-parameters-private'] !== undefined)
      throw new CorralError(
        'bad_request',
        '--os-parameters-private: Corral keeps private OS parameters per instance, not per OS: give them with instance add or modify --os-parameters-private',
      );
    const os_hvp = hvParamsByHypervisor([args['hypervisor-parameters'] ?? []].flat());
    const hidden = yesNo(args.hidden, 'hidden');
    const blacklisted = yesNo(args.blacklisted, 'blacklisted');
    const edit = (on: boolean | undefined) =>
      on === undefined ? undefined : [[on ? 'add' : 'remove', args.os] as ['add' | 'remove', string]];
    const op = {
      OP_ID: 'OP_CLUSTER_SET_PARAMS' as const,
      ...(Object.keys(os_hvp).length > 0 && { os_hvp: { [args.os]: os_hvp } }),
      ...(args['os-parameters'] !== undefined && {
        osparams: { [args.os]: parseKeyValues(args['os-parameters'], '-O') },
      }),
      ...(edit(hidden) && { hidden_os: edit(hidden) }),
      ...(edit(blacklisted) && { blacklisted_os: edit(blacklisted) }),
    };
    if (Object.keys(op).length === 1)
      throw new CorralError(
        'bad_request',
        'At least one of OS parameters or hypervisor parameters must be passed',
      );
    await runOps(args, [op]);
  },
};

export const osCommand: CommandModule = {
  command: 'os <command>',
  builder: (yargs) => {
    for (const command of [list, diagnoseCommand, info, modify]) yargs.command(command as CommandModule);
    return yargs.demandCommand(1);
  },
  handler: () => undefined,
};
