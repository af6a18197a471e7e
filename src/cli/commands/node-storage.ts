import type { CommandModule } from 'yargs';
import { type StorageType, storageFields, storageTypes } from '../../cluster/opcodes.js';
import { CorralError } from '../../common/errors.js';
import { jobFailure, submitJob, watchJob } from '../../daemon/job-client.js';
import { type ConnectionArgs, connectionOptions, daemonCall } from '../cluster-client.js';
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
      }),
  handler: async (args) => {
    const fields = chosen(args.output);
    const call = daemonCall(args);
    const job = await submitJob(call, [
      {
        OP_ID: 'OP_NODE_QUERY_STORAGE',
        nodes: args.nodes,
        storage_type: args['storage-type'],
        output_fields: fields,
      },
    ]);
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
