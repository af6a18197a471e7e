import type { CommandModule } from 'yargs';
import type { MirrorDiskStatusView } from '../../cluster/node-status.js';
import { volumeFields } from '../../cluster/opcodes.js';
import type { ConfigView } from '../../cluster/views.js';
import { CorralError } from '../../common/errors.js';
import { jobFailure, priorities, submitJob, watchJob } from '../../daemon/job-client.js';
import {
  type ConnectionArgs,
  connectionOptions,
  daemonCall,
  type JobArgs,
  readConfig,
} from '../cluster-client.js';
import { formatSize, type SizeUnit, sizeUnits } from '../fields.js';
import { renderTable } from '../table.js';

/**
 * Ganeti's `gnt-node list-drbd`: the mirrored (drbd) disks each node holds. Corral has no kernel DRBD and
 * so no minors; a disk's minor here is its place among the node's mirrored disks, taken in the order the
 * instances were created and then by disk index. It stays put while instances are added, and moves down
 * when an instance created before it goes away.
 */
export interface DrbdRow {
  readonly node: string;
  readonly minor: number;
  readonly instance: string;
  readonly disk: number;
  readonly role: 'primary' | 'secondary';
  readonly peer: string;
  readonly diskUuid: string;
}

/** The rows of one node, from the configuration alone, as Ganeti's confd answers from its config. */
export function drbdRows(config: ConfigView, nodeUuid: string): DrbdRow[] {
  const names = new Map(config.nodes.map((node) => [node.uuid, node.name]));
  const node = names.get(nodeUuid) ?? nodeUuid;
  const mirrored = config.instances
    .filter(
      (instance) =>
        instance.diskTemplate === 'drbd' &&
        (instance.primaryNode === nodeUuid || instance.secondaryNodes.includes(nodeUuid)),
    )
    .sort((a, b) => a.ctimeMs - b.ctimeMs || a.name.localeCompare(b.name));
  const rows: DrbdRow[] = [];
  for (const instance of mirrored) {
    const primary = instance.primaryNode === nodeUuid;
    const peerUuid = primary ? instance.secondaryNodes[0] : instance.primaryNode;
    for (const [index, disk] of instance.disks.entries())
      rows.push({
        node,
        minor: rows.length,
        instance: instance.name,
        disk: index,
        role: primary ? 'primary' : 'secondary',
        peer: peerUuid === undefined ? '' : (names.get(peerUuid) ?? peerUuid),
        diskUuid: disk.uuid,
      });
  }
  return rows;
}

/** What the node's agent says of one mirrored disk: attached or not, and the link as the primary sees it. */
function liveState(status: readonly MirrorDiskStatusView[] | undefined, row: DrbdRow): string {
  if (status === undefined) return '?';
  const entry = status.find((disk) => disk.uuid === row.diskUuid);
  if (entry === undefined) return 'detached';
  const role = entry.role === row.role ? '' : ` as ${entry.role}`;
  const copy = entry.copy.consistent ? '' : ', inconsistent';
  const link = entry.primary;
  if (link === undefined) return `attached${role}${copy}`;
  if (link.connection === 'syncing') return `attached${role}, syncing ${link.syncPercent}%${copy}`;
  return `attached${role}, ${link.connection}${link.peerOutdated ? ', peer outdated' : ''}${copy}`;
}

interface ListDrbdArgs extends ConnectionArgs {
  node?: string;
  headers: boolean;
  separator?: string;
  live: boolean;
}

export const listDrbd: CommandModule<object, ListDrbdArgs> = {
  command: 'list-drbd [node]',
  describe:
    "the mirrored (drbd) disks of a node (every node when none is named), as Ganeti's list-drbd; Corral has no DRBD minors, so the minor is the disk's place on the node (instances in creation order, then disk index)",
  builder: (yargs) =>
    connectionOptions(yargs)
      .positional('node', { type: 'string' })
      .option('headers', { type: 'boolean', default: true, describe: '--no-headers: no header line' })
      .option('separator', { type: 'string', describe: 'join fields with this instead of aligning them' })
      .option('live', {
        type: 'boolean',
        default: false,
        describe: "add a Status column: whether the node's agent has the disk attached, and its link",
      }),
  handler: async (args) => {
    const { config } = await readConfig(args);
    const sorted = [...config.nodes].sort((a, b) => a.name.localeCompare(b.name));
    const nodes = args.node === undefined ? sorted : sorted.filter((node) => node.name === args.node);
    if (nodes.length === 0) throw new CorralError('not_found', `node ${args.node} does not exist`);
    const rows = nodes.flatMap((node) => drbdRows(config, node.uuid));
    const live = args.live ? (await daemonCall(args)({ op: 'nodes-live' })).nodes : [];
    const mirrorsOf = (node: string) => live.find((entry) => entry.name === node)?.status?.mirrors;
    const headers = [
      'Node',
      'Minor',
      'Instance',
      'Disk',
      'Role',
      'PeerNode',
      ...(args.live ? ['Status'] : []),
    ];
    const lines = rows.map((row) => [
      row.node,
      String(row.minor),
      row.instance,
      String(row.disk),
      row.role,
      row.peer,
      ...(args.live ? [liveState(mirrorsOf(row.node), row)] : []),
    ]);
    const table = renderTable(headers, lines, { noHeaders: !args.headers, separator: args.separator });
    if (table !== '') process.stdout.write(`${table}\n`);
  },
};

type VolumeField = (typeof volumeFields)[number];
const volumeTitles: Record<VolumeField, string> = {
  node: 'Node',
  phys: 'PhysDev',
  vg: 'VG',
  name: 'Name',
  size: 'Size',
  instance: 'Instance',
};

interface VolumesArgs extends ConnectionArgs {
  nodes: string[];
  output?: string;
  headers: boolean;
  separator?: string;
  units?: SizeUnit;
  priority: JobArgs['priority'];
}

function chosenVolumeFields(output: string | undefined): VolumeField[] {
  if (output === undefined) return [...volumeFields];
  const names = output.split(',').filter((name) => name !== '');
  const unknown = names.filter((name) => !(volumeFields as readonly string[]).includes(name));
  if (unknown.length > 0 || names.length === 0)
    throw new CorralError(
      'bad_request',
      `unknown volume field ${unknown.join(', ') || '(none)'}; the fields are ${volumeFields.join(', ')}`,
    );
  return names as VolumeField[];
}

export const volumes: CommandModule<object, VolumesArgs> = {
  command: 'volumes [nodes..]',
  describe:
    "the disks on nodes, as Ganeti's volumes lists logical volumes: PhysDev is the disk's device or file, VG the volume group or directory its template keeps disks in, Name the disk there",
  builder: (yargs) =>
    connectionOptions(yargs)
      .positional('nodes', { type: 'string', array: true, default: [] })
      .option('output', { alias: 'o', type: 'string', describe: `fields: ${volumeFields.join(',')}` })
      .option('headers', { type: 'boolean', default: true, describe: '--no-headers: no header line' })
      .option('separator', { type: 'string', describe: 'join fields with this instead of aligning them' })
      .option('units', {
        choices: sizeUnits,
        describe: 'sizes in h, m, g or t; default h, m with --separator',
      })
      .option('priority', { choices: ['low', 'normal', 'high'] as const, default: 'normal' as const }),
  handler: async (args) => {
    const fields = chosenVolumeFields(args.output);
    const call = daemonCall(args);
    const job = await submitJob(
      call,
      [{ OP_ID: 'OP_NODE_QUERYVOLS', nodes: args.nodes, output_fields: fields }],
      priorities[args.priority],
    );
    const view = await watchJob(call, job);
    const failure = jobFailure(view);
    if (failure !== undefined) throw failure;
    const rows = (view.ops[0]?.result ?? []) as unknown[][];
    const unit = args.units ?? (args.separator === undefined ? 'h' : 'm');
    const text = (field: VolumeField, value: unknown) => {
      if (value === null || value === undefined) return '-';
      if (field === 'size' && typeof value === 'number') return formatSize(value, unit);
      return String(value);
    };
    const lines = rows.map((row) => fields.map((field, i) => text(field, row[i])));
    const table = renderTable(
      fields.map((field) => volumeTitles[field]),
      lines,
      { noHeaders: !args.headers, separator: args.separator },
    );
    if (table !== '') process.stdout.write(`${table}\n`);
  },
};
