import type { CommandModule } from 'yargs';
import type { Opcode } from '../../cluster/opcodes.js';
import { CorralError } from '../../common/errors.js';
import { type JobArgs, jobOptions, runOps } from '../cluster-client.js';
import { onlyKeys, parseKeyValues, parseSizeMiB } from '../ganeti-options.js';

type RecreateOp = Extract<Opcode, { OP_ID: 'OP_INSTANCE_RECREATE_DISKS' }>;
type DiskChange = [number, { size?: number; mode?: 'rw' | 'ro' }];

/**
 * Ganeti's `--disk N[:size=VAL][,spindles=VAL][,mode=ro|rw]`, once per disk to recreate; spindles only count
 * with exclusive storage, which Corral's nodes do not have.
 */
export function recreateDiskChanges(values: readonly string[]): DiskChange[] {
  const seen = new Set<number>();
  return values.map((value) => {
    const match = /^(\d+)(?::(.*))?$/.exec(value);
    if (match === null)
      throw new CorralError(
        'bad_request',
        `--disk ${value}: give a disk index, as in 0 or 0:size=10G,mode=ro`,
      );
    const index = Number(match[1]);
    if (index > 15) throw new CorralError('bad_request', `--disk ${value}: an instance has disks 0 to 15`);
    if (seen.has(index)) throw new CorralError('bad_request', `--disk: disk ${index} is given twice`);
    seen.add(index);
    const params = parseKeyValues(match[2] ?? '', `--disk ${value}`);
    onlyKeys(params, ['size', 'spindles', 'mode'], `--disk ${value}`);
    if (params.spindles !== undefined)
      throw new CorralError(
        'bad_request',
        `--disk ${value}: spindles cannot be given when exclusive storage is not active, and Corral has none`,
      );
    if (params.mode !== undefined && params.mode !== 'rw' && params.mode !== 'ro')
      throw new CorralError('bad_request', `--disk ${value}: mode is rw or ro, not ${params.mode}`);
    return [
      index,
      {
        ...(params.size !== undefined && { size: parseSizeMiB(params.size, `--disk ${value} size`) }),
        ...(params.mode !== undefined && { mode: params.mode as 'rw' | 'ro' }),
      },
    ];
  });
}

/** Ganeti's `-n PRIMARY[:SECONDARY]`. */
function nodeList(value: string): string[] {
  const nodes = value.split(':');
  if (nodes.length > 2 || nodes.some((node) => node === ''))
    throw new CorralError('bad_request', `-n ${value}: give NODE, or PRIMARY:SECONDARY for drbd`);
  return nodes;
}

interface RecreateArgs extends JobArgs {
  instance: string;
  disk: string[];
  node?: string;
  iallocator?: string;
}

export function recreateDisksOpcode(args: RecreateArgs): RecreateOp {
  if (args.node !== undefined && args.iallocator !== undefined)
    throw new CorralError('bad_request', 'give at most one of -n/--node and -I/--iallocator');
  const disks = recreateDiskChanges(args.disk);
  return {
    OP_ID: 'OP_INSTANCE_RECREATE_DISKS',
    instance_name: args.instance,
    ...(disks.length > 0 && { disks }),
    ...(args.node !== undefined && { nodes: nodeList(args.node) }),
    ...(args.iallocator !== undefined && { iallocator: args.iallocator }),
  };
}

export const recreateDisksCommand: CommandModule<object, RecreateArgs> = {
  command: 'recreate-disks <instance>',
  describe: "make a stopped instance's disks anew, empty: all or some, resized, or on other nodes",
  builder: (yargs) =>
    jobOptions(yargs)
      .positional('instance', { type: 'string', demandOption: true })
      .option('disk', {
        type: 'string',
        default: [] as string[],
        coerce: (value: string | string[]) => [value].flat(),
        describe: 'N[:size=SIZE][,mode=ro|rw]: recreate only these disks (repeatable; default: all)',
      })
      .option('node', {
        alias: 'n',
        type: 'string',
        describe: 'PRIMARY[:SECONDARY]: recreate every disk on these nodes instead',
      })
      .option('iallocator', {
        alias: 'I',
        type: 'string',
        describe: "recreate every disk where this allocator places them ('.' is the built-in one)",
      }),
  handler: async (args) => {
    await runOps(args, [recreateDisksOpcode(args)]);
  },
};
