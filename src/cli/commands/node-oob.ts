import type { Argv, CommandModule } from 'yargs';
import {
  healthRows,
  OOB_POWER_DELAY_S,
  OOB_TIMEOUT_S,
  type OobCommand,
  type OobNodeResult,
  powerRows,
} from '../../cluster/oob.js';
import type { Opcode } from '../../cluster/opcodes.js';
import { CorralError } from '../../common/errors.js';
import { type JobArgs, jobOptions, runOps } from '../cluster-client.js';
import { confirm } from '../confirm.js';

/** gnt-node health and power: Ganeti's out-of-band commands, run by the master with each node's oob_program. */

export interface OobArgs extends JobArgs {
  headers: boolean;
  separator?: string;
  'oob-timeout': number;
}

export function oobTimeoutOption<T>(yargs: Argv<T>) {
  return yargs.option('oob-timeout', {
    type: 'number',
    default: OOB_TIMEOUT_S,
    describe: 'seconds the out-of-band program may run',
  });
}

export function powerDelayOption<T>(yargs: Argv<T>) {
  return yargs.option('power-delay', {
    type: 'number',
    default: OOB_POWER_DELAY_S,
    describe: 'seconds to wait between powering on two nodes',
  });
}

function tableOptions<T>(yargs: Argv<T>) {
  return oobTimeoutOption(jobOptions(yargs))
    .option('headers', {
      type: 'boolean',
      default: true,
      describe: '--no-headers: leave out the header line',
    })
    .option('separator', { type: 'string', describe: 'join fields with this instead of aligning them' });
}

/** The timeout as Ganeti's int option takes it: whole seconds. */
export function oobTimeout(value: number): number {
  if (!Number.isInteger(value) || value < 1)
    throw new CorralError('bad_request', `--oob-timeout: ${value} is not a whole number of seconds`);
  return value;
}

/**
 * Prints the Node/Status table; a node without data makes the command fail (exit 1), as Ganeti's does. The
 * table printer loads here: the cluster family's other commands, which import this module, need none.
 */
async function printRows(
  args: OobArgs,
  { rows, errors }: { rows: string[][]; errors: number },
): Promise<void> {
  const { renderTable } = await import('../table.js');
  const table = renderTable(['Node', 'Status'], rows, {
    noHeaders: !args.headers,
    separator: args.separator,
  });
  if (table.length > 0) process.stdout.write(`${table}\n`);
  if (errors > 0) process.exitCode = 1;
}

async function oobResult(args: OobArgs, ops: Opcode[]): Promise<OobNodeResult[] | undefined> {
  const results = await runOps(args, ops);
  return results?.at(-1) as OobNodeResult[] | undefined;
}

export const health: CommandModule<object, OobArgs & { nodes: string[] }> = {
  command: 'health [nodes..]',
  describe: "the health of nodes (all when none is named), as each node's out-of-band program reports it",
  builder: (yargs) => tableOptions(yargs).positional('nodes', { type: 'string', array: true, default: [] }),
  handler: async (args) => {
    const result = await oobResult(args, [
      {
        OP_ID: 'OP_OOB_COMMAND',
        node_names: args.nodes,
        command: 'health',
        timeout: oobTimeout(args['oob-timeout']),
      },
    ]);
    if (result !== undefined) await printRows(args, healthRows(result));
  },
};

const powerCommands = ['on', 'off', 'cycle', 'status'] as const;
/** Those that ask first and need the nodes named (Ganeti's _OOB_COMMAND_ASK). */
const asking: readonly OobCommand[] = ['power-off', 'power-cycle'];

interface PowerArgs extends OobArgs {
  command: string;
  nodes: string[];
  force: boolean;
  'ignore-status': boolean;
  'auto-promote': boolean;
  'power-delay': number;
}

export const power: CommandModule<object, PowerArgs> = {
  command: 'power <command> [nodes..]',
  describe:
    "on|off|cycle|status: change or show the power of nodes through each node's out-of-band program (off and cycle never on the master)",
  builder: (yargs) =>
    powerDelayOption(tableOptions(yargs))
      .positional('command', { type: 'string', demandOption: true, describe: powerCommands.join('|') })
      .positional('nodes', { type: 'string', array: true, default: [] })
      .option('force', { alias: 'f', type: 'boolean', default: false, describe: 'do not ask first' })
      .option('ignore-status', {
        type: 'boolean',
        default: false,
        describe: 'power off nodes without marking them offline first (potentially dangerous)',
      })
      .option('auto-promote', {
        type: 'boolean',
        default: false,
        describe: 'promote other nodes to master candidate as the nodes marked offline leave the pool',
      }),
  handler: async (args) => {
    if (!(powerCommands as readonly string[]).includes(args.command))
      throw new CorralError(
        'bad_request',
        `power subcommand ${args.command} not supported; one of ${powerCommands.join(', ')}`,
      );
    const command = `power-${args.command}` as OobCommand;
    if (asking.includes(command)) {
      if (args.nodes.length === 0)
        throw new CorralError('bad_request', `power ${args.command}: please provide at least one node`);
      if (!args.force)
        await confirm(
          `The power ${args.command} will operate on ${args.nodes.length} nodes: ${args.nodes.join(', ')}. Do you want to continue?`,
          `power ${args.command} asks before it acts on ${args.nodes.join(', ')}: add --force (-f) to go ahead without asking`,
        );
    }
    if (!Number.isFinite(args['power-delay']) || args['power-delay'] < 0)
      throw new CorralError(
        'bad_request',
        `--power-delay: ${args['power-delay']} is not a number of seconds`,
      );
    // Ganeti marks the nodes offline in the same job, before it powers them off.
    const offline: Opcode[] =
      command === 'power-off' && !args['ignore-status']
        ? args.nodes.map((node) => ({
            OP_ID: 'OP_NODE_SET_PARAMS',
            node_name: node,
            offline: true,
            ...(args['auto-promote'] && { auto_promote: true }),
          }))
        : [];
    const result = await oobResult(args, [
      ...offline,
      {
        OP_ID: 'OP_OOB_COMMAND',
        node_names: args.nodes,
        command,
        ignore_status: args['ignore-status'],
        timeout: oobTimeout(args['oob-timeout']),
        power_delay: args['power-delay'],
      },
    ]);
    if (result !== undefined) await printRows(args, powerRows(command, result));
  },
};
