import type { Argv, CommandModule } from 'yargs';
import {
  fieldEntry,
  findField,
  listArguments,
  type NeededData,
  type NodeRow,
  neededData,
  nodeRows,
  runQuery,
} from '../../cluster/query/index.js';
import { CorralError } from '../../common/errors.js';
import { type HealthRow, lastHeardText, shortAge } from '../../membership/health-view.js';
import { enrolmentPeer } from '../../peer/enrolment.js';
import {
  type ConnectionArgs,
  connectionOptions,
  daemonCall,
  followAll,
  forceOption,
  type JobArgs,
  jobOptions,
  readConfig,
  runAndFollowChildren,
  runOps,
  submitOps,
  yesNo,
} from '../cluster-client.js';
import { noteUnusedOptions, unusedGanetiOptions } from '../cluster-params.js';
import {
  chosenFields,
  type ListArgs,
  listFieldsCommand,
  listOptions,
  pickNamed,
  printQuery,
  type ValueFormat,
} from '../fields.js';
import { ndParamsOption, parseNdParams } from '../ndparams-option.js';
import { type NodeAddArgs, nodeAddFields, nodeAddOptions } from '../node-add-options.js';
import { noteOnStderr } from '../unused-options.js';
import { listDrbd, volumes } from './node-disks.js';
import { health, power } from './node-oob.js';
import { powercycle } from './node-powercycle.js';
import { listStorage, modifyStorage, repairStorage } from './node-storage.js';
import { restrictedCommand } from './restricted-command.js';
import { tagCommands } from './tags.js';

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

/** Columns whose values need more than their kind to print. */
const formats: Record<string, ValueFormat> = {
  last_heard: (value) => {
    const heard = value as { ageMs: number | null; stale: boolean };
    if (heard.ageMs === null) return 'never';
    return heard.stale ? `stale ${shortAge(heard.ageMs)}` : shortAge(heard.ageMs);
  },
};

/** This node's gossip view: answered locally, so it costs nothing and works with no master. */
async function observedRows(args: ConnectionArgs): Promise<HealthRow[]> {
  return (await daemonCall(args)({ op: 'health' })).rows;
}

/** The nodes as query rows, with live status and gossip's view only when asked for. */
async function rows(args: ConnectionArgs, needed: Omit<NeededData, 'jobs'>): Promise<NodeRow[]> {
  const { config, masterName } = await readConfig(args);
  const live = needed.live ? (await daemonCall(args)({ op: 'nodes-live' })).nodes : undefined;
  const observed = needed.observed ? await observedRows(args) : undefined;
  return nodeRows({ config, masterName, live, observed });
}

/** Restricts rows to the named nodes, in the order named, refusing unknown names. */
function named(all: readonly NodeRow[], names: readonly string[]): NodeRow[] {
  const items = all.map((row) => ({ name: row.node.name, row }));
  return pickNamed(items, names, 'node').map((item) => item.row);
}

const list: CommandModule<object, ConnectionArgs & ListArgs & { nodes: string[] }> = {
  command: 'list [nodes..]',
  describe: 'list nodes (Ganeti fields; -o, -F filter, --no-headers, --separator, --json)',
  builder: (yargs) =>
    listOptions(connectionOptions(yargs)).positional('nodes', { type: 'string', array: true, default: [] }),
  handler: async (args) => {
    const fields = chosenFields('node', defaultNodeFields, args.output);
    const selection = listArguments(args.nodes, args.filter);
    const filter = 'filter' in selection ? selection.filter : undefined;
    const all = await rows(args, neededData('node', fields, filter));
    const picked = 'names' in selection ? named(all, selection.names) : all;
    printQuery(runQuery('node', fields, filter, picked), args, formats);
  },
};

const listFields = listFieldsCommand('node', 'node');

/** Ganeti's -f of node evacuate, failover and migrate, which ask first there; Corral does not ask. */
const notAsked = <T>(yargs: Argv<T>, what: string) =>
  forceOption(yargs, `accepted for Ganeti's command lines: Corral does not ask before it ${what}`);

const info: CommandModule<object, ConnectionArgs & { nodes: string[] }> = {
  command: ['info [nodes..]', 'show'],
  describe: 'details of nodes',
  builder: (yargs) =>
    connectionOptions(yargs).positional('nodes', { type: 'string', array: true, default: [] }),
  handler: async (args) => {
    const { config, masterName } = await readConfig(args);
    const observed = await observedRows(args);
    const value = (name: string, row: NodeRow) => fieldEntry(findField('node', name)!, row)[1];
    const yn = (value: boolean) => (value ? 'True' : 'False');
    for (const row of named(nodeRows({ config, masterName, observed }), args.nodes)) {
      const { node } = row;
      const seen = observed.find((entry) => entry.id === node.id);
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
          `  role: ${value('role', row)}`,
          `  status: ${value('status', row)}${seen ? `, last heard ${lastHeardText(seen)}` : ''}`,
          `  node group: ${value('group', row) ?? '?'} (UUID ${node.group})`,
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
  readd: boolean;
  'force-join': boolean;
  'node-setup': boolean;
  'ssh-key-check': boolean;
}

/**
 * Ganeti's --readd: the node is in the configuration and its daemon answers. Corral's node is its peer
 * identity, so a node whose daemon kept it is a member already (nothing to redo); a reinstalled one has a
 * new identity and cannot take the old one's place: it is removed and added again.
 */
async function readd(args: AddArgs, address: string): Promise<void> {
  const { config } = await readConfig(args);
  const known = config.nodes.find((node) => node.name === args.node);
  if (known === undefined)
    throw new CorralError(
      'not_found',
      `node ${args.node} is not in the configuration; add it without --readd`,
    );
  const probe = await daemonCall(args)({ op: 'master', request: { op: 'probe', address } });
  if (!('peer' in probe))
    throw new CorralError('unavailable', `the master could not say who answers at ${address}`);
  if (probe.peer !== known.id)
    throw new CorralError(
      'conflict',
      `${args.node} now answers as peer ${probe.peer}, not ${known.id} (a reinstalled node has a new identity); Corral cannot re-add it in place: evacuate it, remove it and add it again`,
    );
  process.stdout.write(`${args.node} is peer ${known.id}, already a member: nothing to re-add\n`);
}

const add: CommandModule<object, AddArgs> = {
  command: 'add <node>',
  describe:
    "admit a running, unjoined daemon, showing the enrolment code 'corral identity' prints on it (it names the peer admitted, as Ganeti checks a host key)",
  builder: (yargs) =>
    nodeAddOptions(unusedGanetiOptions(jobOptions(yargs), 'node'))
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
      })
      .option('verbose', {
        alias: 'v',
        type: 'boolean',
        default: false,
        describe: "accepted for Ganeti's command lines: node add always says whom it admits",
      })
      .option('readd', {
        type: 'boolean',
        default: false,
        describe:
          'the node is in the configuration already: succeeds when its daemon still has its identity, else says to remove and add it',
      })
      .option('force-join', {
        type: 'boolean',
        default: false,
        describe:
          "accepted for Ganeti's command lines: Corral never takes a node over from another cluster; remove it there first",
      })
      .option('node-setup', {
        type: 'boolean',
        default: true,
        describe:
          "--no-node-setup: accepted for Ganeti's command lines; Corral sets up no SSH on the node (its daemon is installed there)",
      })
      .option('ssh-key-check', {
        type: 'boolean',
        default: true,
        describe:
          "--no-ssh-key-check: accepted for Ganeti's command lines; Corral uses no SSH keys, and the enrolment code that names the peer is always checked",
      }),
  handler: async (args) => {
    noteUnusedOptions(args as unknown as Record<string, unknown>, 'node', noteOnStderr);
    const address = args.address ?? `/dns4/${args.node}/tcp/7400`;
    if (args.readd) {
      await readd(args, address);
      return;
    }
    const enrolCode = args['enrol-code'] ?? process.env.CORRAL_ENROL_CODE;
    if (enrolCode === undefined)
      throw new CorralError(
        'bad_enrolment',
        `adding ${args.node} needs its enrolment code: run 'corral identity' there as root and pass --enrol-code`,
      );
    const enrolled = enrolmentPeer(enrolCode);
    const call = daemonCall(args);
    const probe = await call({ op: 'master', request: { op: 'probe', address } });
    if (!('peer' in probe))
      throw new CorralError('unavailable', `the master could not say who answers at ${address}`);
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
  'node-parameters'?: string;
  'node-powered'?: string;
  'auto-promote': boolean;
  force: boolean;
}

const modify: CommandModule<object, ModifyArgs> = {
  command: 'modify <node>',
  describe: "change a node's roles and flags (Ganeti's rules) and its node parameters",
  builder: (yargs) =>
    ndParamsOption(unusedGanetiOptions(jobOptions(yargs), 'node'), 'node group')
      .positional('node', { type: 'string', demandOption: true })
      .option('master-candidate', { alias: 'C', type: 'string', describe: 'yes|no' })
      .option('drained', { alias: 'D', type: 'string', describe: 'yes|no' })
      .option('offline', { alias: 'O', type: 'string', describe: 'yes|no' })
      .option('online', { type: 'string', describe: 'yes: the same as --offline=no' })
      .option('master-capable', { type: 'string', describe: 'yes|no' })
      .option('vm-capable', { type: 'string', describe: 'yes|no' })
      .option('secondary-ip', { alias: 's', type: 'string' })
      .option('node-powered', {
        type: 'string',
        describe: 'yes|no: the recorded power state, for a node with an oob_program',
      })
      .option('auto-promote', { type: 'boolean', default: false })
      .option('force', { alias: 'f', type: 'boolean', default: false }),
  handler: async (args) => {
    noteUnusedOptions(args as unknown as Record<string, unknown>, 'node', noteOnStderr);
    const online = args.online === '' ? true : yesNo(args.online, 'online');
    const offline = yesNo(args.offline, 'offline') ?? (online === undefined ? undefined : !online);
    const masterCandidate = yesNo(args['master-candidate'], 'master-candidate');
    const drained = yesNo(args.drained, 'drained');
    const masterCapable = yesNo(args['master-capable'], 'master-capable');
    const vmCapable = yesNo(args['vm-capable'], 'vm-capable');
    const powered = yesNo(args['node-powered'], 'node-powered');
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
        ...(args['node-parameters'] !== undefined && {
          ndparams: parseNdParams(args['node-parameters'], true),
        }),
        ...(powered !== undefined && { powered }),
        ...(args['auto-promote'] && { auto_promote: true }),
        ...(args.force && { force: true }),
      },
    ]);
    if (results !== undefined) process.stdout.write(`Modified node ${args.node}\n`);
  },
};

const iallocatorHelp = "plan with this iallocator program (name or path, e.g. hail; '.' is the built-in one)";

const migrate: CommandModule<
  object,
  JobArgs & {
    node: string;
    'target-node'?: string;
    'non-live': boolean;
    'migration-mode'?: 'live' | 'non-live';
    iallocator?: string;
    'runtime-changes': boolean;
  }
> = {
  command: 'migrate <node>',
  describe: 'live-migrate every primary instance away (one job per instance)',
  builder: (yargs) =>
    notAsked(jobOptions(yargs), 'migrates the instances')
      .positional('node', { type: 'string', demandOption: true })
      .option('target-node', { alias: 'n', type: 'string' })
      .option('non-live', { type: 'boolean', default: false })
      .option('migration-mode', { choices: ['live', 'non-live'] as const })
      .option('iallocator', { alias: 'I', type: 'string', describe: iallocatorHelp })
      .option('ignore-ipolicy', {
        type: 'boolean',
        default: false,
        describe:
          "accepted for Ganeti's command lines; Corral's only instance policy (the group's disk templates) still holds",
      })
      .option('runtime-changes', {
        type: 'boolean',
        default: true,
        describe: "--no-runtime-changes: no instance's memory is ballooned down to fit its target",
      }),
  handler: async (args) => {
    await runAndFollowChildren(args, {
      OP_ID: 'OP_NODE_MIGRATE',
      ...(!args['runtime-changes'] && { allow_runtime_changes: false }),
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
const failover: CommandModule<
  object,
  JobArgs & { node: string; 'ignore-consistency': boolean; iallocator?: string }
> = {
  command: 'failover <node>',
  describe: 'fail over every drbd instance of the node to its secondary (one job per instance)',
  builder: (yargs) =>
    notAsked(jobOptions(yargs), 'fails the instances over')
      .positional('node', { type: 'string', demandOption: true })
      .option('ignore-consistency', { type: 'boolean', default: false })
      .option('iallocator', {
        alias: 'I',
        type: 'string',
        describe:
          'as in Ganeti, only for instances that may go anywhere; a drbd instance fails over to its secondary, so -I is refused while the node has one',
      }),
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
    if (args.iallocator !== undefined && primaries.length > 0)
      throw new CorralError(
        'bad_request',
        `instances with disk template drbd cannot be failed over to arbitrary nodes (${primaries.map((i) => i.name).join(', ')} go to their secondaries): drop -I`,
      );
    const jobs: number[] = [];
    for (const instance of primaries)
      jobs.push(
        await submitOps(args, [
          {
            OP_ID: 'OP_INSTANCE_FAILOVER',
            instance_name: instance.name,
            ...(args['ignore-consistency'] && { ignore_consistency: true }),
          },
        ]),
      );
    if (args.submit) {
      for (const job of jobs) process.stdout.write(`JobID: ${job}\n`);
      return;
    }
    await followAll(daemonCall(args), jobs);
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
    'early-release': boolean;
    'ignore-soft-errors': boolean;
  }
> = {
  command: 'evacuate <node>',
  describe: 'move every instance off the node (migrate, fail over or move; one job per instance)',
  builder: (yargs) =>
    notAsked(jobOptions(yargs), 'moves the instances')
      .positional('node', { type: 'string', demandOption: true })
      .option('primary-only', { alias: 'p', type: 'boolean', default: false })
      .option('secondary-only', { alias: 's', type: 'boolean', default: false })
      .option('new-secondary', { alias: 'n', type: 'string' })
      .option('iallocator', { alias: 'I', type: 'string', describe: iallocatorHelp })
      .option('early-release', {
        type: 'boolean',
        default: false,
        describe: "each replace-disks drops the old secondary's copy before the new one has synced",
      })
      .option('ignore-soft-errors', {
        type: 'boolean',
        default: false,
        describe:
          "the built-in allocator ignores soft errors such as N+1 (an external one gets Ganeti's request)",
      }),
  handler: async (args) => {
    if (args['primary-only'] && args['secondary-only'])
      throw new CorralError('bad_request', 'give -p or -s, not both');
    await runAndFollowChildren(args, {
      OP_ID: 'OP_NODE_EVACUATE',
      node_name: args.node,
      mode: args['primary-only'] ? 'primary' : args['secondary-only'] ? 'secondary' : 'all',
      ...(args['new-secondary'] !== undefined && { remote_node: args['new-secondary'] }),
      ...(args.iallocator !== undefined && { iallocator: args.iallocator }),
      ...(args['early-release'] && { early_release: true }),
      ...(args['ignore-soft-errors'] && { ignore_soft_errors: true }),
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
      listStorage,
      modifyStorage,
      repairStorage,
      listDrbd,
      volumes,
      restrictedCommand,
      powercycle,
      health,
      power,
      ...tagCommands('node'),
    ])
      yargs.command(command as CommandModule);
    return yargs.demandCommand(1);
  },
  handler: () => undefined,
};
