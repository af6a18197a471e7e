import type { CommandModule } from 'yargs';
import type { Opcode } from '../../cluster/opcodes.js';
import type { ConfigView, NodeView } from '../../cluster/views.js';
import { CorralError } from '../../common/errors.js';
import type { ControlResponse } from '../../daemon/control-protocol.js';
import { type DaemonCall, submitJob } from '../../daemon/job-client.js';
import { adminStatus, combinedStatus, type HealthRow, lastHeardText } from '../../membership/health-view.js';
import { enrolmentPeer } from '../../peer/enrolment.js';
import {
  type ConnectionArgs,
  connectionOptions,
  daemonCall,
  follow,
  type JobArgs,
  jobOptions,
  readConfig,
  runOps,
  yesNo,
} from '../cluster-client.js';
import {
  type Field,
  type ListArgs,
  listOptions,
  localTime,
  pickNamed,
  printList,
  selectFields,
} from '../fields.js';
import { type NodeAddArgs, nodeAddFields, nodeAddOptions } from '../node-add-options.js';
import { tagCommands } from './tags.js';

type Live = ControlResponse<'nodes-live'>['nodes'][number]['status'];

type NodeRow = {
  readonly node: NodeView;
  readonly config: ConfigView;
  readonly master: string | undefined;
  /** The node's own answer; undefined when no live field was asked for or it did not answer. */
  readonly live: Live;
  /** What this node's gossip observes of it; undefined when no observed field was asked for. */
  readonly observed: HealthRow | undefined;
};

function role(row: NodeRow): string {
  const { node } = row;
  if (node.name === row.master) return 'M';
  if (node.masterCandidate) return 'C';
  if (node.drained) return 'D';
  if (node.offline) return 'O';
  return 'R';
}

const groupName = (row: NodeRow) =>
  row.config.groups.find((group) => group.uuid === row.node.group)?.name ?? '?';

const primaries = (r: NodeRow) =>
  r.config.instances
    .filter((i) => i.primaryNode === r.node.uuid)
    .map((i) => i.name)
    .sort();
const secondaries = (r: NodeRow) =>
  r.config.instances
    .filter((i) => i.secondaryNodes.includes(r.node.uuid))
    .map((i) => i.name)
    .sort();
/** dtotal and dfree are the storage of the cluster's default disk template, as Ganeti reports them. */
const defaultStorage = (r: NodeRow) =>
  r.live?.storage.find((s) => s.template === r.config.cluster.enabledDiskTemplates[0]);

/** Ganeti's node fields; live ones (memory, disk) ask the node and show `?` when it does not answer. */
const nodeFields: Field<NodeRow>[] = [
  { name: 'name', title: 'Node', get: (r) => r.node.name },
  { name: 'uuid', title: 'UUID', get: (r) => r.node.uuid },
  { name: 'peer_id', title: 'PeerID', get: (r) => r.node.id },
  { name: 'pip', title: 'PrimaryIP', get: (r) => r.node.primaryIp },
  { name: 'sip', title: 'SecondaryIP', get: (r) => r.node.secondaryIp },
  { name: 'master', title: 'IsMaster', get: (r) => r.node.name === r.master },
  { name: 'master_candidate', title: 'MasterC', get: (r) => r.node.masterCandidate },
  { name: 'master_capable', title: 'MasterCapable', get: (r) => r.node.masterCapable },
  { name: 'vm_capable', title: 'VMCapable', get: (r) => r.node.vmCapable },
  { name: 'drained', title: 'Drained', get: (r) => r.node.drained },
  { name: 'offline', title: 'Offline', get: (r) => r.node.offline },
  { name: 'role', title: 'Role', get: role },
  { name: 'group', title: 'Group', get: groupName },
  { name: 'group.uuid', title: 'GroupUUID', get: (r) => r.node.group },
  { name: 'pinst_cnt', title: 'Pinst', get: (r) => primaries(r).length },
  { name: 'sinst_cnt', title: 'Sinst', get: (r) => secondaries(r).length },
  { name: 'pinst_list', title: 'PriInstances', get: primaries },
  { name: 'sinst_list', title: 'SecInstances', get: secondaries },
  { name: 'tags', title: 'Tags', get: (r) => r.node.tags },
  { name: 'ctime', title: 'CTime', get: (r) => localTime(r.node.ctimeMs) },
  { name: 'mtime', title: 'MTime', get: (r) => localTime(r.node.mtimeMs) },
  { name: 'serial_no', title: 'SerialNo', get: (r) => r.node.serial },
  { name: 'dtotal', title: 'DTotal', get: (r) => (r.live ? (defaultStorage(r)?.totalMiB ?? 0) : undefined) },
  { name: 'dfree', title: 'DFree', get: (r) => (r.live ? (defaultStorage(r)?.freeMiB ?? 0) : undefined) },
  { name: 'mtotal', title: 'MTotal', get: (r) => r.live?.memoryTotalMiB },
  {
    name: 'mnode',
    title: 'MNode',
    get: (r) =>
      r.live ? r.live.memoryTotalMiB - r.live.memoryFreeMiB - r.live.memoryInstancesMiB : undefined,
  },
  { name: 'mfree', title: 'MFree', get: (r) => r.live?.memoryFreeMiB },
  { name: 'ctotal', title: 'CTotal', get: (r) => r.live?.cpus },
  { name: 'observed', title: 'Observed', get: (r) => r.observed?.state },
  {
    name: 'last_heard',
    title: 'LastHeard',
    get: (r) => (r.observed ? lastHeardText(r.observed) : undefined),
  },
  { name: 'status', title: 'Status', get: (r) => combinedStatus(adminStatus(r.node), r.observed?.state) },
];
const LIVE_FIELDS = new Set(['dtotal', 'dfree', 'mtotal', 'mnode', 'mfree', 'ctotal']);
const OBSERVED_FIELDS = new Set(['observed', 'last_heard', 'status']);
/** Ganeti's defaults, then the status: admin state from the configuration and what gossip observes. */
const defaultNodeFields = [
  'name',
  'dtotal',
  'dfree',
  'mtotal',
  'mnode',
  'mfree',
  'pinst_cnt',
  'sinst_cnt',
  'status',
];

function rows(
  config: ConfigView,
  master: string | undefined,
  names: readonly string[],
  live: ControlResponse<'nodes-live'>['nodes'] = [],
  observed: readonly HealthRow[] = [],
): NodeRow[] {
  const nodes = [...config.nodes].sort((a, b) => a.name.localeCompare(b.name));
  return pickNamed(nodes, names, 'node').map((node) => ({
    node,
    config,
    master,
    live: live.find((entry) => entry.name === node.name)?.status,
    observed: observed.find((row) => row.id === node.id),
  }));
}

/** This node's gossip view: answered locally, so it costs nothing and works with no master. */
async function observedRows(args: ConnectionArgs): Promise<HealthRow[]> {
  return (await daemonCall(args)({ op: 'health' })).rows;
}

const list: CommandModule<object, ConnectionArgs & ListArgs & { nodes: string[] }> = {
  command: 'list [nodes..]',
  describe: 'list nodes (Ganeti fields; -o, --no-headers, --separator, --json)',
  builder: (yargs) =>
    listOptions(connectionOptions(yargs)).positional('nodes', { type: 'string', array: true, default: [] }),
  handler: async (args) => {
    const { config, masterName } = await readConfig(args);
    const fields = selectFields(nodeFields, defaultNodeFields, args.output);
    const live = fields.some((field) => LIVE_FIELDS.has(field.name))
      ? (await daemonCall(args)({ op: 'nodes-live' })).nodes
      : [];
    const observed = fields.some((field) => OBSERVED_FIELDS.has(field.name)) ? await observedRows(args) : [];
    printList(fields, rows(config, masterName, args.nodes, live, observed), args);
  },
};

const listFields: CommandModule<object, ConnectionArgs> = {
  command: 'list-fields',
  describe: 'the fields node list knows',
  handler: () => {
    for (const field of nodeFields) process.stdout.write(`${field.name} ${field.title}\n`);
  },
};

const info: CommandModule<object, ConnectionArgs & { nodes: string[] }> = {
  command: ['info [nodes..]', 'show'],
  describe: 'details of nodes',
  builder: (yargs) =>
    connectionOptions(yargs).positional('nodes', { type: 'string', array: true, default: [] }),
  handler: async (args) => {
    const { config, masterName } = await readConfig(args);
    const yn = (value: boolean) => (value ? 'True' : 'False');
    for (const row of rows(config, masterName, args.nodes, [], await observedRows(args))) {
      const { node } = row;
      process.stdout.write(
        [
          `Node name: ${node.name}`,
          `  primary ip: ${node.primaryIp}`,
          `  secondary ip: ${node.secondaryIp}`,
          `  peer ID: ${node.id}`,
          `  addresses: ${node.addrs.join(', ')}`,
          `  master candidate: ${yn(node.masterCandidate)}`,
          `  drained: ${yn(node.drained)}`,
          `  offline: ${yn(node.offline)}`,
          `  master_capable: ${yn(node.masterCapable)}`,
          `  vm_capable: ${yn(node.vmCapable)}`,
          `  role: ${role(row)}`,
          `  status: ${combinedStatus(adminStatus(node), row.observed?.state)}${row.observed ? `, last heard ${lastHeardText(row.observed)}` : ''}`,
          `  node group: ${groupName(row)} (UUID ${node.group})`,
          `  tags: ${node.tags.join(', ')}`,
          '',
        ].join('\n'),
      );
    }
  },
};

interface AddArgs extends JobArgs, NodeAddArgs {
  node: string;
  address?: string;
  'peer-id'?: string;
  'enrol-code'?: string;
}

const add: CommandModule<object, AddArgs> = {
  command: 'add <node>',
  describe:
    "admit a running, unjoined daemon, showing the enrolment code 'corral identity' prints on it (it names the peer admitted, as Ganeti checks a host key)",
  builder: (yargs) =>
    nodeAddOptions(jobOptions(yargs))
      .positional('node', { type: 'string', demandOption: true })
      .option('address', {
        type: 'string',
        describe: 'multiaddr of its daemon (default: /dns4/NODE/tcp/7400)',
      })
      .option('enrol-code', {
        type: 'string',
        describe: "the enrolment code 'corral identity' prints on that node (default: $CORRAL_ENROL_CODE)",
      })
      .option('peer-id', {
        type: 'string',
        describe: "the peer ID 'corral identity' shows on that node (the enrolment code names it already)",
      }),
  handler: async (args) => {
    const address = args.address ?? `/dns4/${args.node}/tcp/7400`;
    const enrolCode = args['enrol-code'] ?? process.env.CORRAL_ENROL_CODE;
    if (enrolCode === undefined)
      throw new CorralError(
        'bad_enrolment',
        `adding ${args.node} needs its enrolment code: run 'corral identity' there as root and pass --enrol-code`,
      );
    const enrolled = enrolmentPeer(enrolCode);
    const call = daemonCall(args);
    const probe = await call({ op: 'master', request: { op: 'probe', address } });
    if (!('peer' in probe)) throw new Error('the master did not say who answers there');
    if (probe.peer !== enrolled)
      throw new CorralError(
        'conflict',
        `the daemon at ${address} is ${probe.peer}, not the node the enrolment code names (${enrolled}); check the address or the code`,
      );
    process.stderr.write(`${address} is peer ${probe.peer} (corral ${probe.version} on ${probe.name})\n`);
    await runOps(args, [
      {
        OP_ID: 'OP_NODE_ADD',
        node_name: args.node,
        address,
        // The job admits exactly the peer the enrolment code names, which must be the one shown above.
        peer_id: args['peer-id'] ?? enrolled,
        enrol_code: enrolCode,
        ...nodeAddFields(args),
      },
    ]);
  },
};

const remove: CommandModule<object, JobArgs & { node: string }> = {
  command: 'remove <node>',
  describe: 'remove a node from the cluster (it forgets the cluster and its daemon stops)',
  builder: (yargs) => jobOptions(yargs).positional('node', { type: 'string', demandOption: true }),
  handler: async (args) => {
    await runOps(args, [{ OP_ID: 'OP_NODE_REMOVE', node_name: args.node }]);
  },
};

interface ModifyArgs extends JobArgs {
  node: string;
  'master-candidate'?: string;
  drained?: string;
  offline?: string;
  online?: string;
  'master-capable'?: string;
  'vm-capable'?: string;
  'secondary-ip'?: string;
  'auto-promote': boolean;
  force: boolean;
}

const modify: CommandModule<object, ModifyArgs> = {
  command: 'modify <node>',
  describe: "change a node's roles and flags (Ganeti's rules)",
  builder: (yargs) =>
    jobOptions(yargs)
      .positional('node', { type: 'string', demandOption: true })
      .option('master-candidate', { alias: 'C', type: 'string', describe: 'yes|no' })
      .option('drained', { alias: 'D', type: 'string', describe: 'yes|no' })
      .option('offline', { alias: 'O', type: 'string', describe: 'yes|no' })
      .option('online', { type: 'string', describe: 'yes: the same as --offline=no' })
      .option('master-capable', { type: 'string', describe: 'yes|no' })
      .option('vm-capable', { type: 'string', describe: 'yes|no' })
      .option('secondary-ip', { alias: 's', type: 'string' })
      .option('auto-promote', { type: 'boolean', default: false })
      .option('force', { alias: 'f', type: 'boolean', default: false }),
  handler: async (args) => {
    const online = args.online === '' ? true : yesNo(args.online, 'online');
    const offline = yesNo(args.offline, 'offline') ?? (online === undefined ? undefined : !online);
    const masterCandidate = yesNo(args['master-candidate'], 'master-candidate');
    const drained = yesNo(args.drained, 'drained');
    const masterCapable = yesNo(args['master-capable'], 'master-capable');
    const vmCapable = yesNo(args['vm-capable'], 'vm-capable');
    const results = await runOps(args, [
      {
        OP_ID: 'OP_NODE_SET_PARAMS',
        node_name: args.node,
        ...(masterCandidate !== undefined && { master_candidate: masterCandidate }),
        ...(drained !== undefined && { drained }),
        ...(offline !== undefined && { offline }),
        ...(masterCapable !== undefined && { master_capable: masterCapable }),
        ...(vmCapable !== undefined && { vm_capable: vmCapable }),
        ...(args['secondary-ip'] !== undefined && { secondary_ip: args['secondary-ip'] }),
        ...(args['auto-promote'] && { auto_promote: true }),
        ...(args.force && { force: true }),
      },
    ]);
    if (results !== undefined) process.stdout.write(`Modified node ${args.node}\n`);
  },
};

const iallocatorHelp = "plan with this iallocator program (name or path, e.g. hail; '.' is the built-in one)";

/** Follows the jobs an opcode submitted (node migrate and evacuate make one per instance). */
async function runAndFollowChildren(args: JobArgs, op: Opcode): Promise<void> {
  const results = await runOps(args, [op]);
  const jobs = (results?.[0] as { jobs?: number[] } | undefined)?.jobs ?? [];
  await followAll(daemonCall(args), jobs);
}

/** Follows the jobs one after the other; fails at the end, saying which failed and why. */
async function followAll(call: DaemonCall, jobs: readonly number[]): Promise<void> {
  const failures: string[] = [];
  for (const job of jobs) {
    try {
      await follow(call, job);
    } catch (error) {
      failures.push(`job ${job}: ${(error as Error).message}`);
    }
  }
  if (failures.length > 0)
    throw new CorralError(
      'conflict',
      `${failures.length} of ${jobs.length} jobs failed: ${failures.join('; ')}`,
    );
}

const migrate: CommandModule<
  object,
  JobArgs & {
    node: string;
    'target-node'?: string;
    'non-live': boolean;
    'migration-mode'?: 'live' | 'non-live';
    iallocator?: string;
  }
> = {
  command: 'migrate <node>',
  describe: 'live-migrate every primary instance away (one job per instance)',
  builder: (yargs) =>
    jobOptions(yargs)
      .positional('node', { type: 'string', demandOption: true })
      .option('target-node', { alias: 'n', type: 'string' })
      .option('non-live', { type: 'boolean', default: false })
      .option('migration-mode', { choices: ['live', 'non-live'] as const })
      .option('iallocator', { alias: 'I', type: 'string', describe: iallocatorHelp }),
  handler: async (args) => {
    await runAndFollowChildren(args, {
      OP_ID: 'OP_NODE_MIGRATE',
      node_name: args.node,
      mode: args['non-live'] ? 'non-live' : (args['migration-mode'] ?? 'live'),
      ...(args['target-node'] !== undefined && { target_node: args['target-node'] }),
      ...(args.iallocator !== undefined && { iallocator: args.iallocator }),
    });
  },
};

/**
 * Ganeti's node failover: one failover job per instance whose primary is the node, each to its secondary
 * (the mirrored template's copy), followed to its end.
 */
const failover: CommandModule<object, JobArgs & { node: string; 'ignore-consistency': boolean }> = {
  command: 'failover <node>',
  describe: 'fail over every drbd instance of the node to its secondary (one job per instance)',
  builder: (yargs) =>
    jobOptions(yargs)
      .positional('node', { type: 'string', demandOption: true })
      .option('ignore-consistency', { type: 'boolean', default: false }),
  handler: async (args) => {
    const { config } = await readConfig(args);
    const node = config.nodes.find((n) => n.name === args.node);
    if (node === undefined) throw new CorralError('not_found', `node ${args.node} does not exist`);
    const primaries = config.instances.filter((i) => i.primaryNode === node.uuid);
    const unmirrored = primaries.filter((i) => i.secondaryNodes.length === 0).map((i) => i.name);
    if (unmirrored.length > 0)
      throw new CorralError(
        'conflict',
        `${unmirrored.join(', ')} have no secondary to fail over to; use node evacuate or node migrate for them`,
      );
    const call = daemonCall(args);
    const jobs: number[] = [];
    for (const instance of primaries)
      jobs.push(
        await submitJob(call, [
          {
            OP_ID: 'OP_INSTANCE_FAILOVER',
            instance_name: instance.name,
            ...(args['ignore-consistency'] && { ignore_consistency: true }),
          },
        ]),
      );
    await followAll(call, jobs);
  },
};

const evacuate: CommandModule<
  object,
  JobArgs & {
    node: string;
    'primary-only': boolean;
    'secondary-only': boolean;
    'new-secondary'?: string;
    iallocator?: string;
  }
> = {
  command: 'evacuate <node>',
  describe: 'move every instance off the node (migrate, fail over or move; one job per instance)',
  builder: (yargs) =>
    jobOptions(yargs)
      .positional('node', { type: 'string', demandOption: true })
      .option('primary-only', { alias: 'p', type: 'boolean', default: false })
      .option('secondary-only', { alias: 's', type: 'boolean', default: false })
      .option('new-secondary', { alias: 'n', type: 'string' })
      .option('iallocator', { alias: 'I', type: 'string', describe: iallocatorHelp }),
  handler: async (args) => {
    if (args['primary-only'] && args['secondary-only'])
      throw new CorralError('bad_request', 'give -p or -s, not both');
    await runAndFollowChildren(args, {
      OP_ID: 'OP_NODE_EVACUATE',
      node_name: args.node,
      mode: args['primary-only'] ? 'primary' : args['secondary-only'] ? 'secondary' : 'all',
      ...(args['new-secondary'] !== undefined && { remote_node: args['new-secondary'] }),
      ...(args.iallocator !== undefined && { iallocator: args.iallocator }),
    });
  },
};

export const nodeCommand: CommandModule = {
  command: 'node <command>',
  builder: (yargs) => {
    for (const command of [
      add,
      remove,
      modify,
      migrate,
      failover,
      evacuate,
      list,
      listFields,
      info,
      ...tagCommands('node'),
    ])
      yargs.command(command as CommandModule);
    return yargs.demandCommand(1);
  },
  handler: () => undefined,
};
