import type { Argv, CommandModule } from 'yargs';
import { type StorageType, storageFields, storageTypes } from '../../cluster/opcodes.js';
import { CorralError } from '../../common/errors.js';
import { jobFailure, priorities, submitJob, watchJob } from '../../daemon/job-client.js';
import {
  type ConnectionArgs,
  connectionOptions,
  daemonCall,
  type JobArgs,
  jobOptions,
  runOps,
  yesNo,
} from '../cluster-client.js';
import { formatSize, type SizeUnit, sizeUnits } from '../fields.js';
import { renderTable } from '../table.js';

type StorageField = (typeof storageFields)[number];

const titles: Record<StorageField, string> = {
  node: 'Node',
  type: 'Type',
  name: 'Name',
  size: 'Size',
  used: 'Used',
  free: 'Free',
  allocatable: 'Allocatable',
};
const SIZE_FIELDS = new Set<StorageField>(['size', 'used', 'free']);

interface ListStorageArgs extends ConnectionArgs {
  nodes: string[];
  'storage-type': StorageType;
  output?: string;
  headers: boolean;
  separator?: string;
  units?: SizeUnit;
  priority: keyof typeof priorities;
}

function chosen(output: string | undefined): StorageField[] {
  if (output === undefined) return [...storageFields];
  const names = output.split(',').filter((name) => name !== '');
  const unknown = names.filter((name) => !(storageFields as readonly string[]).includes(name));
  if (unknown.length > 0 || names.length === 0)
    throw new CorralError(
      'bad_request',
      `unknown storage field ${unknown.join(', ') || '(none)'}; the fields are ${storageFields.join(', ')}`,
    );
  return names as StorageField[];
}

/** Ganeti's gnt-node list-storage: each node's storage units of one type, asked of the nodes by a job. */
export const listStorage: CommandModule<object, ListStorageArgs> = {
  command: 'list-storage [nodes..]',
  describe: "storage units of the nodes (file storage directories, volume groups), as Ganeti's list-storage",
  builder: (yargs) =>
    connectionOptions(yargs)
      .positional('nodes', { type: 'string', array: true, default: [] })
      .option('storage-type', {
        alias: 't',
        choices: storageTypes,
        default: 'lvm-vg' as const,
        describe: 'lvm-vg (the plain template), file or sharedfile',
      })
      .option('output', { alias: 'o', type: 'string', describe: `fields: ${storageFields.join(',')}` })
      .option('headers', { type: 'boolean', default: true, describe: '--no-headers: no header line' })
      .option('separator', { type: 'string', describe: 'join fields with this instead of aligning them' })
      .option('units', {
        choices: sizeUnits,
        describe: 'sizes in h, m, g or t; default h, m with --separator',
      })
      .option('priority', {
        choices: ['low', 'normal', 'high'] as const,
        default: 'normal' as const,
        describe: 'the priority of the job that asks the nodes',
      }),
  handler: async (args) => {
    const fields = chosen(args.output);
    const call = daemonCall(args);
    const job = await submitJob(
      call,
      [
        {
          OP_ID: 'OP_NODE_QUERY_STORAGE',
          nodes: args.nodes,
          storage_type: args['storage-type'],
          output_fields: fields,
        },
      ],
      priorities[args.priority],
    );
    const view = await watchJob(call, job);
    const failure = jobFailure(view);
    if (failure !== undefined) throw failure;
    const rows = (view.ops[0]?.result ?? []) as unknown[][];
    const unit = args.units ?? (args.separator === undefined ? 'h' : 'm');
    const text = (field: StorageField, value: unknown) => {
      if (value === null || value === undefined) return '-';
      if (typeof value === 'boolean') return value ? 'Y' : 'N';
      if (SIZE_FIELDS.has(field) && typeof value === 'number') return formatSize(value, unit);
      return String(value);
    };
    const lines = rows.map((row) => fields.map((field, i) => text(field, row[i])));
    const table = renderTable(
      fields.map((field) => titles[field]),
      lines,
      { noHeaders: !args.headers, separator: args.separator },
    );
    if (table !== '') process.stdout.write(`${table}\n`);
  },
};

/** Ganeti's storage types that modify-storage and repair-storage take: its lvm-pv besides Corral's. */
const namedStorageTypes = ['lvm-pv', ...storageTypes] as const;

interface StorageUnitArgs extends JobArgs {
  node: string;
  'storage-type': (typeof namedStorageTypes)[number];
  name: string;
}

const storageUnitPositionals = <T>(yargs: Argv<T>) =>
  jobOptions(yargs)
    .positional('node', { type: 'string', demandOption: true })
    .positional('storage-type', { choices: namedStorageTypes, demandOption: true })
    .positional('name', {
      type: 'string',
      demandOption: true,
      describe: 'the unit, as list-storage names it',
    });

/**
 * Ganeti's modify-storage sets `allocatable` on an LVM physical volume (lvm-pv), the only modifiable type.
 * Corral lists no physical volumes: plain disks take extents anywhere in the volume group, and no other
 * unit has a flag to change, so it refuses and says what does the same on the node.
 */
export const modifyStorage: CommandModule<object, StorageUnitArgs & { allocatable?: string }> = {
  command: 'modify-storage <node> <storage-type> <name>',
  describe:
    "Ganeti's modify-storage (allocatable on an LVM physical volume): refused with the reason, as Corral has no lvm-pv units and nothing else is modifiable",
  builder: (yargs) =>
    storageUnitPositionals(yargs).option('allocatable', { type: 'string', describe: 'yes|no' }),
  handler: async (args) => {
    const allocatable = yesNo(args.allocatable, 'allocatable');
    if (allocatable === undefined)
      throw new CorralError('bad_request', 'No changes to perform: give --allocatable yes|no');
    if (args['storage-type'] !== 'lvm-pv')
      throw new CorralError(
        'bad_request',
        `storage units of type ${args['storage-type']} cannot be modified (Ganeti modifies only lvm-pv)`,
      );
    throw new CorralError(
      'unavailable',
      `Corral does not manage LVM physical volumes (plain disks take any free extent of the volume group); run 'pvchange --allocatable ${allocatable ? 'y' : 'n'} ${args.name}' on ${args.node} instead`,
    );
  },
};

/** Ganeti's repair-storage: only lvm-vg, by `vgreduce --removemissing` on the node (a job). */
export const repairStorage: CommandModule<object, StorageUnitArgs & { 'ignore-consistency': boolean }> = {
  command: 'repair-storage <node> <storage-type> <name>',
  describe: "repair a node's volume group (lvm-vg) with vgreduce --removemissing, as Ganeti does",
  builder: (yargs) =>
    storageUnitPositionals(yargs).option('ignore-consistency', {
      type: 'boolean',
      default: false,
      describe:
        "accepted for Ganeti's command lines: Ganeti checks the instances' disks on their other nodes first; Corral's mirrored disks are files, never in the volume group",
    }),
  handler: async (args) => {
    const type = args['storage-type'];
    if (type !== 'lvm-vg')
      throw new CorralError(
        'bad_request',
        `storage units of type ${type} cannot be repaired; only lvm-vg can (vgreduce --removemissing)`,
      );
    await runOps(args, [
      {
        OP_ID: 'OP_REPAIR_NODE_STORAGE',
        node_name: args.node,
        storage_type: type,
        name: args.name,
        ...(args['ignore-consistency'] && { ignore_consistency: true }),
      },
    ]);
  },
};
