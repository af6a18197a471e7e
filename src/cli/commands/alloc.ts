import { readFileSync, writeFileSync } from 'node:fs';
import type { Argv, CommandModule } from 'yargs';
import { type BalanceResult, defaultBalanceOptions } from '../../alloc/balance.js';
import { balanceGroupInThreads } from '../../alloc/balance-threads.js';
import { capacity, specOf } from '../../alloc/capacity.js';
import { parseIAllocRequest } from '../../alloc/iallocator/request.js';
import { answerRequest } from '../../alloc/iallocator/respond.js';
import { liveSnapshot, type NodeFigures } from '../../alloc/live-snapshot.js';
import { findViolations } from '../../alloc/policy.js';
import { balanceJson, commandLines, jobSetOpcodes, stepLines } from '../../alloc/report.js';
import { rebootGroups } from '../../alloc/roll.js';
import {
  buildState,
  type ClusterState,
  groupNodes,
  type LoadOptions,
  toSnapshot,
} from '../../alloc/state.js';
import { parseTextBackend, serializeTextBackend } from '../../alloc/text-backend.js';
import { corralOpcode } from '../../cluster/alloc-answers.js';
import { type DiskTemplate, diskTemplates } from '../../cluster/disk-templates.js';
import type { Opcode } from '../../cluster/opcodes.js';
import { type ConfigView, configViewSchema } from '../../cluster/views.js';
import { CorralError } from '../../common/errors.js';
import { type DaemonCall, submitJob } from '../../daemon/job-client.js';
import { type ConnectionArgs, connectionOptions, daemonCall, follow } from '../cluster-client.js';

interface SourceArgs extends ConnectionArgs {
  t?: string;
  group?: string;
  json: boolean;
}

const source = <T>(yargs: Argv<T>) =>
  connectionOptions(yargs)
    .option('t', {
      alias: 'text-data',
      type: 'string',
      describe: 'read the cluster from an htools text file',
    })
    .option('group', { alias: 'G', type: 'string', describe: 'the node group to work on' })
    .option('json', { type: 'boolean', default: false, describe: 'print JSON for scripts' });

function readFile(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    throw new CorralError(
      'not_found',
      `cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`,
    );
  }
}

/** The cluster to work on: the htools text file given with -t, or the live cluster. */
type Loaded =
  | { readonly source: 'file'; readonly state: ClusterState }
  | { readonly source: 'live'; readonly state: ClusterState; readonly config: ConfigView };

async function load(args: SourceArgs, options: LoadOptions = {}): Promise<Loaded> {
  if (args.t !== undefined)
    return { source: 'file', state: buildState(parseTextBackend(readFile(args.t), args.t), options) };
  const call = daemonCall(args);
  const config = configViewSchema.parse((await call({ op: 'config', consistent: true })).config);
  const figures = new Map<string, NodeFigures>();
  for (const node of (await call({ op: 'nodes-live' })).nodes)
    if (node.status !== undefined) figures.set(node.name, node.status);
  const state = buildState(liveSnapshot(config, figures), options);
  return { source: 'live', state, config };
}

/**
 * Carries out a balancing run on the live cluster: the job sets in order, the jobs of one set in
 * parallel; a failed job stops the run before the next set.
 */
async function executeJobSets(call: DaemonCall, config: ConfigView, sets: readonly Opcode[][][]) {
  for (const [k, set] of sets.entries()) {
    process.stdout.write(`Job set ${k + 1} of ${sets.length}: ${set.length} job(s)\n`);
    const jobs = await Promise.all(set.map((ops) => submitJob(call, ops)));
    const outcomes = await Promise.allSettled(jobs.map((job) => follow(call, job)));
    const failures = outcomes.flatMap((o, j) =>
      o.status === 'rejected' ? [`job ${jobs[j]}: ${(o.reason as Error).message}`] : [],
    );
    if (failures.length > 0)
      throw new CorralError(
        'conflict',
        `job set ${k + 1} failed (${failures.join('; ')}); the later sets were not run: run balance again`,
      );
  }
  process.stdout.write(`Executed ${sets.length} job set(s) on cluster ${config.cluster.name}\n`);
}

/** The balancing moves as Corral's opcodes, refused if any is one the cluster cannot do. */
function balanceJobs(state: ClusterState, config: ConfigView, result: BalanceResult) {
  const instances = new Map(config.instances.map((i) => [i.name, i]));
  const nodes = new Set(config.nodes.map((n) => n.name));
  return jobSetOpcodes(state, result).map((set) =>
    set.map((job) => job.map((op) => corralOpcode(op, 'balance', instances, nodes))),
  );
}

/** The group to work on: the one named, or the only one with nodes (as hbal, which refuses to guess). */
function pickGroup(state: ClusterState, name: string | undefined): number {
  if (name !== undefined) {
    const found = state.groups.find((g) => g.spec.name === name);
    if (found === undefined) {
      throw new CorralError(
        'not_found',
        `no node group ${name}; groups: ${state.groups.map((g) => g.spec.name).join(', ')}`,
      );
    }
    return found.idx;
  }
  const used = state.groups.filter((g) => state.nodes.some((n) => n.group === g.idx));
  if (used.length !== 1) {
    throw new CorralError(
      'bad_request',
      `the cluster has ${used.length} node groups (${used.map((g) => g.spec.name).join(', ')}); choose one with --group`,
    );
  }
  return (used[0] as { idx: number }).idx;
}

const list = (value: string | undefined): string[] =>
  value === undefined || value === '' ? [] : value.split(',');

interface BalanceArgs extends SourceArgs {
  execute: boolean;
  'max-length': number;
  'print-moves': boolean;
  'min-gain': number;
  'min-gain-limit': number;
  'min-score': number;
  'evac-mode': boolean;
  'exclude-instances'?: string;
  'select-instances'?: string;
  'exclusion-tags'?: string;
  'disk-moves': boolean;
  'instance-moves': boolean;
  'ignore-soft-errors': boolean;
  save?: string;
}

export const balanceCommand: CommandModule<object, BalanceArgs> = {
  command: 'balance',
  builder: (yargs) =>
    source(yargs)
      .option('execute', { alias: 'X', type: 'boolean', default: false, describe: 'carry the moves out' })
      .option('max-length', { alias: 'l', type: 'number', default: -1, describe: 'at most this many moves' })
      .option('print-moves', {
        alias: 'C',
        type: 'boolean',
        default: false,
        describe: 'print the commands by job set',
      })
      .option('min-gain', { alias: 'g', type: 'number', default: defaultBalanceOptions.minGain })
      .option('min-gain-limit', { type: 'number', default: defaultBalanceOptions.minGainLimit })
      .option('min-score', { alias: 'e', type: 'number', default: defaultBalanceOptions.minScore })
      .option('evac-mode', {
        type: 'boolean',
        default: false,
        describe: 'only move instances off offline or drained nodes',
      })
      .option('exclude-instances', { type: 'string', describe: 'comma list of instances not to move' })
      .option('select-instances', { type: 'string', describe: 'comma list: move only these' })
      .option('exclusion-tags', { type: 'string', describe: 'comma list of extra exclusion tag prefixes' })
      .option('disk-moves', {
        type: 'boolean',
        default: true,
        describe: 'allow secondary replacements (--no-disk-moves)',
      })
      .option('instance-moves', {
        type: 'boolean',
        default: true,
        describe: 'allow failovers (--no-instance-moves)',
      })
      .option('ignore-soft-errors', { type: 'boolean', default: false })
      .option('save', {
        alias: 'S',
        type: 'string',
        describe: 'write the balanced cluster to this text file',
      }),
  handler: async (args) => {
    const loadOptions: LoadOptions = {
      excludedInstances: list(args['exclude-instances']),
      ...(args['select-instances'] === undefined
        ? {}
        : { selectedInstances: list(args['select-instances']) }),
      exclusionTags: list(args['exclusion-tags']),
    };
    const loaded = await load(args, loadOptions);
    const { state } = loaded;
    if (args.execute && loaded.source !== 'live')
      throw new CorralError('bad_request', 'balance --execute works on the live cluster; leave out -t');
    const group = pickGroup(state, args.group);
    const result = await balanceGroupInThreads(state.snapshot, loadOptions, groupNodes(state, group), {
      ...defaultBalanceOptions,
      maxLength: args['max-length'],
      minGain: args['min-gain'],
      minGainLimit: args['min-gain-limit'],
      minScore: args['min-score'],
      evacMode: args['evac-mode'],
      diskMoves: args['disk-moves'],
      instanceMoves: args['instance-moves'],
      ignoreSoftErrors: args['ignore-soft-errors'],
    });
    if (args.save !== undefined) writeFileSync(args.save, serializeTextBackend(toSnapshot(result.final)));
    const groupName = state.groups[group]?.spec.name ?? '';
    if (args.json && !args.execute) {
      process.stdout.write(`${JSON.stringify(balanceJson(state, groupName, result))}\n`);
      return;
    }
    const members = groupNodes(state, group);
    const lines = [
      `Loaded ${state.nodes.length} nodes, ${state.instances.length} instances`,
      `Group size ${members.length} nodes, ${state.instances.filter((i) => members.includes(i.pNode)).length} instances`,
      `Selected node group: ${groupName}`,
      `Initial score: ${result.initialScore.toFixed(8)}`,
      'Trying to minimize the CV...',
      ...stepLines(state, result),
      result.steps.length === 0
        ? 'No solution found'
        : `Cluster score improved from ${result.initialScore.toFixed(8)} to ${result.finalScore.toFixed(8)}`,
      `Solution length=${result.steps.length}`,
      ...(args['print-moves']
        ? ['', 'Commands to run to reach the above solution:', ...commandLines(state, result)]
        : []),
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
    if (args.execute && loaded.source === 'live')
      await executeJobSets(daemonCall(args), loaded.config, balanceJobs(state, loaded.config, result));
  },
};

interface CapacityArgs extends SourceArgs {
  spec?: string;
  tiered?: string;
  'disk-template'?: string;
}

function parseSpec(text: string, option: string) {
  const parts = text.split(',').map(Number);
  if (parts.length !== 3 || parts.some((p) => !Number.isInteger(p) || p <= 0)) {
    throw new CorralError(
      'bad_request',
      `${option} takes MEMORY_MiB,DISK_MiB,VCPUS (whole numbers above 0), got ${text}`,
    );
  }
  const [memoryMiB, diskMiB, vcpus] = parts as [number, number, number];
  return { memoryMiB, diskMiB, vcpus, spindleUse: 1 };
}

export const capacityCommand: CommandModule<object, CapacityArgs> = {
  command: 'capacity',
  builder: (yargs) =>
    source(yargs)
      .option('spec', {
        type: 'string',
        describe: 'MEMORY_MiB,DISK_MiB,VCPUS; the group policy std spec by default',
      })
      .option('tiered', {
        type: 'string',
        describe: 'start at this spec and shrink down to --spec (or the policy minimum)',
      })
      .option('disk-template', {
        type: 'string',
        choices: [...diskTemplates],
        describe: "the policy's first allowed template by default, as hspace",
      }),
  handler: async (args) => {
    const { state } = await load(args);
    const group = pickGroup(state, args.group);
    const policy = state.groups[group]?.spec.policy;
    if (policy === undefined) throw new CorralError('internal', 'the group has no policy');
    const low = args.spec === undefined ? undefined : parseSpec(args.spec, '--spec');
    const high = args.tiered === undefined ? undefined : parseSpec(args.tiered, '--tiered');
    const minimum = policy.minMax[0] ? specOf(policy.minMax[0].min) : specOf(policy.std);
    const tiers =
      high === undefined ? { from: low ?? specOf(policy.std) } : { from: high, to: low ?? minimum };
    const result = capacity(state, tiers, {
      template: (args['disk-template'] as DiskTemplate | undefined) ?? policy.diskTemplates[0] ?? 'drbd',
    });
    if (args.json) {
      process.stdout.write(
        `${JSON.stringify({ total: result.total, tiers: result.tiers, limitedBy: result.limitedBy })}\n`,
      );
      return;
    }
    const lines = [
      ...result.tiers.map(
        (t) =>
          `${String(t.count).padStart(6)} x ${t.spec.memoryMiB} MiB memory, ${t.spec.diskMiB} MiB disk, ${t.spec.vcpus} vCPUs`,
      ),
      `Instances that fit: ${result.total}`,
      `Limited by: ${result.limitedBy.map((l) => `${l.mode} (${l.nodes})`).join(', ') || 'nothing'}`,
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
  },
};

export const rollCommand: CommandModule<object, SourceArgs> = {
  command: 'roll',
  builder: (yargs) => source(yargs),
  handler: async (args) => {
    const { state } = await load(args);
    const group = args.group === undefined ? undefined : pickGroup(state, args.group);
    const groups = rebootGroups(state, group === undefined ? {} : { group });
    if (args.json) process.stdout.write(`${JSON.stringify(groups)}\n`);
    else process.stdout.write(`'Node Reboot Groups'\n${groups.map((g) => g.join(',')).join('\n')}\n`);
  },
};

interface IAllocatorArgs {
  request: string;
  'ignore-soft-errors': boolean;
  'restrict-allocation-to'?: string;
}

export const iallocatorCommand: CommandModule<object, IAllocatorArgs> = {
  command: 'iallocator <request>',
  builder: (yargs) =>
    yargs
      .positional('request', { type: 'string', demandOption: true, describe: 'the request JSON file' })
      .option('ignore-soft-errors', { type: 'boolean', default: false })
      .option('restrict-allocation-to', { type: 'string', describe: 'comma list of nodes' }),
  handler: (args) => {
    const text = args.request === '-' ? readFileSync(0, 'utf8') : readFile(args.request);
    const answer = answerRequest(parseIAllocRequest(text, args.request), {
      ignoreSoftErrors: args['ignore-soft-errors'],
      ...(args['restrict-allocation-to'] === undefined
        ? {}
        : { restrictToNodes: list(args['restrict-allocation-to']) }),
    });
    process.stdout.write(`${JSON.stringify(answer)}\n`);
  },
};

interface CheckArgs extends SourceArgs {}

export const checkCommand: CommandModule<object, CheckArgs> = {
  command: 'alloc-check',
  builder: (yargs) => source(yargs),
  handler: async (args) => {
    const { state } = await load(args);
    const group = pickGroup(state, args.group);
    const members = groupNodes(state, group)
      .map((i) => state.nodes[i])
      .filter((n) => n !== undefined);
    const violations = findViolations(members, state.instances);
    if (args.json) {
      process.stdout.write(`${JSON.stringify({ violations })}\n`);
      return;
    }
    const lines = violations.map((v) => `${v.node}: ${v.what}: ${v.detail}`);
    process.stdout.write(`${lines.length === 0 ? 'No violations' : lines.join('\n')}\n`);
  },
};

export const allocCommands = [balanceCommand, capacityCommand, rollCommand, iallocatorCommand, checkCommand];
