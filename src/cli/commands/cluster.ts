import { randomUUID } from 'node:crypto';
import { lookup } from 'node:dns/promises';
import { readFile, stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Argv, CommandModule } from 'yargs';
import { livePolicy } from '../../alloc/live-snapshot.js';
import { collectorSetting, dataCollectorNames } from '../../cluster/data-collectors.js';
import { corralDiskTemplates } from '../../cluster/disk-templates.js';
import { hypervisors } from '../../cluster/hypervisors.js';
import { MASTER_IP_SCRIPT } from '../../cluster/master-ip.js';
import { filledNdParams, ND_KEYS } from '../../cluster/ndparams.js';
import { COPY_FILE_MAX_BYTES, NODE_COMMAND_TIMEOUT_MS } from '../../cluster/node-command-protocol.js';
import type { Opcode } from '../../cluster/opcodes.js';
import { type ConfigView, configViewSchema } from '../../cluster/views.js';
import { CorralError } from '../../common/errors.js';
import { priorities } from '../../daemon/job-client.js';
import {
  type ConnectionArgs,
  connectionOptions,
  daemonCall,
  follow,
  forceOption,
  type JobArgs,
  jobOps,
  jobOptions,
  queryOptions,
  readConfig,
  runOps,
  yesDoItOption,
  yesNo,
} from '../cluster-client.js';
import {
  checkIpolicyOptions,
  ctime,
  type IpolicyArgs,
  ipolicyCommandLine,
  ipolicyGiven,
  ipolicyOptions,
  noteUnusedOptions,
  parseBeParams,
  parseCollectorIntervals,
  parseEnabledCollectors,
  parseMacPrefix,
  parseNicParams,
  parseTimespecMs,
  unusedGanetiOptions,
} from '../cluster-params.js';
import { confirm } from '../confirm.js';
import { hvParamsByHypervisor, parseKeyValues } from '../ganeti-options.js';
import { localTime } from '../local-time.js';
import { ndParamsOption, ndValueText, parseNdParams } from '../ndparams-option.js';
import { type NodeAddArgs, nodeAddFields, nodeAddOptions } from '../node-add-options.js';
import { tryToRoman } from '../roman.js';
import { epo } from './cluster-epo.js';
import { tagCommands } from './tags.js';

/** The Ganeti release whose command lines, protocols and file formats Corral follows. */
export const GANETI_COMPATIBLE_VERSION = '3.0.2';
/** How long master-ping waits for a master to answer (an election takes a second or two). */
const MASTER_PING_DEADLINE_MS = 5_000;

function known<T extends string>(
  list: string | undefined,
  allowed: readonly T[],
  what: string,
): T[] | undefined {
  if (list === undefined) return undefined;
  const values = list.split(',').filter((value) => value.length > 0);
  for (const value of values)
    if (!allowed.includes(value as T))
      throw new CorralError('bad_request', `unknown ${what} ${value}; known: ${allowed.join(', ')}`);
  return values as T[];
}

const note = (line: string) => process.stderr.write(`${line}\n`);

/** The parameter options init and modify share: the families Corral stores, and the fixed instance policy. */
interface ParamArgs extends IpolicyArgs {
  'backend-parameters'?: string;
  'nic-parameters'?: string;
  'node-parameters'?: string;
  'mac-prefix'?: string;
  'default-iallocator'?: string;
  'default-iallocator-params'?: string;
  'max-running-jobs'?: number;
  'candidate-pool-size'?: number;
  'hypervisor-parameters'?: string | string[];
  'master-ip'?: string;
  'master-netdev'?: string;
  'master-netmask'?: number;
  'use-external-mip-script'?: string;
}

function paramOptions<T>(yargs: Argv<T>) {
  return ndParamsOption(yargs, undefined)
    .option('backend-parameters', {
      alias: 'B',
      type: 'string',
      describe: 'k=v,… the beparams instances inherit: memory, maxmem, minmem, vcpus, auto_balance, …',
    })
    .option('nic-parameters', {
      alias: 'N',
      type: 'string',
      describe: 'mode=…,link=… the NIC an instance gets when it names none',
    })
    .option('mac-prefix', { alias: 'm', type: 'string', describe: 'XX:XX:XX, the start of generated MACs' })
    .option('default-iallocator', {
      alias: 'I',
      type: 'string',
      describe: "the allocator placement asks when a job names none, or '.'; '' for the built-in one",
    })
    .option('default-iallocator-params', {
      type: 'string',
      describe: "k=v,… given to every allocator program run, as --k=v ('' for none)",
    })
    .option('max-running-jobs', { type: 'number', describe: 'how many jobs the master runs at once' })
    .option('candidate-pool-size', { alias: 'C', type: 'number', describe: 'how many master candidates' })
    .option('hypervisor-parameters', {
      alias: 'H',
      type: 'string',
      describe:
        'hv:k=v,… the hypervisor parameters every instance inherits (repeatable; default removes a key)',
    })
    .option('master-ip', {
      type: 'string',
      describe:
        "Corral's addition: the floating IP the master holds ('' for none); by default, with --master-netdev, the cluster name's address",
    })
    .option('master-netdev', {
      type: 'string',
      describe: 'the network device the master IP goes on (default eth0)',
    })
    .option('master-netmask', { type: 'number', describe: 'its prefix length (default 32, or 128 for IPv6)' })
    .option('use-external-mip-script', {
      type: 'string',
      describe: `yes: set the master IP up and down with <data dir>/${MASTER_IP_SCRIPT} (start|stop, Ganeti's variables)`,
    });
}

/** The cluster modify opcode's fields for the parameter options given. */
function paramFields(args: ParamArgs): Omit<Extract<Opcode, { OP_ID: 'OP_CLUSTER_SET_PARAMS' }>, 'OP_ID'> {
  return {
    ...(args['candidate-pool-size'] !== undefined && { candidate_pool_size: args['candidate-pool-size'] }),
    ...(args['max-running-jobs'] !== undefined && { max_running_jobs: args['max-running-jobs'] }),
    ...(args['backend-parameters'] !== undefined && { beparams: parseBeParams(args['backend-parameters']) }),
    ...(args['nic-parameters'] !== undefined && { nicparams: parseNicParams(args['nic-parameters']) }),
    ...(args['node-parameters'] !== undefined && { ndparams: parseNdParams(args['node-parameters'], false) }),
    ...(args['mac-prefix'] !== undefined && { mac_prefix: parseMacPrefix(args['mac-prefix']) }),
    ...(args['default-iallocator'] !== undefined && { default_iallocator: args['default-iallocator'] }),
    ...(args['default-iallocator-params'] !== undefined && {
      default_iallocator_params: parseKeyValues(
        args['default-iallocator-params'],
        '--default-iallocator-params',
      ),
    }),
    ...(args['hypervisor-parameters'] !== undefined && {
      hvparams: hvParamsByHypervisor([args['hypervisor-parameters']].flat()),
    }),
    ...(args['master-ip'] !== undefined && { master_ip: args['master-ip'] }),
    ...(args['master-netdev'] !== undefined && { master_netdev: args['master-netdev'] }),
    ...(args['master-netmask'] !== undefined && { master_netmask: args['master-netmask'] }),
    ...(args['use-external-mip-script'] !== undefined && {
      use_external_mip_script: yesNo(args['use-external-mip-script'], 'use-external-mip-script'),
    }),
  };
}

/** A parameter dictionary in Ganeti's info layout, indented: `name:` then `key: value` lines. */
function paramLines(
  name: string,
  params: Readonly<Record<string, string>> | undefined,
  indent: number,
): string[] {
  const pad = ' '.repeat(indent);
  return [
    `${pad}${name}:`,
    ...Object.entries(params ?? {}).map(([key, value]) => `${pad}  ${key}: ${value}`),
  ];
}

/**
 * Ganeti takes the master IP from the cluster name's address. Corral has none unless asked: when a master IP
 * option comes without --master-ip and the cluster has no address yet, the name is resolved as Ganeti does.
 */
async function withMasterIp(
  fields: ReturnType<typeof paramFields>,
  clusterName: string,
  current: string | undefined,
): Promise<ReturnType<typeof paramFields>> {
  const asked =
    fields.master_netdev !== undefined ||
    fields.master_netmask !== undefined ||
    fields.use_external_mip_script !== undefined;
  if (!asked || fields.master_ip !== undefined || current !== undefined) return fields;
  const address = await lookup(clusterName).then(
    (found) => found.address,
    () => {
      throw new CorralError(
        'bad_request',
        `the cluster name ${clusterName} does not resolve to an address for the master IP; give --master-ip`,
      );
    },
  );
  return { ...fields, master_ip: address };
}

/**
 * The opcode as the master will check it, checked here first: a mistake is refused before anything is done.
 * The opcodes' schema loads only here: building it is a tenth of a read-only command's start-up.
 */
async function checked(op: Opcode): Promise<Opcode> {
  const { opcodeSchema } = await import('../../cluster/opcodes.js');
  const parsed = opcodeSchema.safeParse(op);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  throw new CorralError(
    'bad_request',
    `${issue?.path.join('.') ?? 'options'}: ${issue?.message ?? 'invalid'}`,
  );
}

interface InitArgs extends ConnectionArgs, ParamArgs {
  name: string;
  'secondary-ip'?: string;
  'enabled-hypervisors'?: string;
  'enabled-disk-templates'?: string;
}

const init: CommandModule<object, InitArgs> = {
  command: 'init <name>',
  describe: "found the cluster on this node's daemon, which becomes its master",
  builder: (yargs) =>
    unusedGanetiOptions(
      ipolicyOptions(paramOptions(connectionOptions(yargs)))
        .positional('name', { type: 'string', demandOption: true })
        .option('secondary-ip', { alias: 's', type: 'string' })
        .option('enabled-hypervisors', {
          type: 'string',
          describe: `comma list of ${hypervisors.join(', ')}`,
        })
        .option('enabled-disk-templates', {
          type: 'string',
          describe: `comma list of ${corralDiskTemplates.join(', ')}`,
        }),
      'init',
    ),
  handler: async (args) => {
    const hvs = known(args['enabled-hypervisors'], hypervisors, 'hypervisor');
    const templates = known(args['enabled-disk-templates'], corralDiskTemplates, 'disk template');
    checkIpolicyOptions(args, templates ?? ['diskless', 'file', 'sharedfile']);
    noteUnusedOptions(args as unknown as Record<string, unknown>, 'init', note);
    // What init itself takes; the rest is a cluster modify job once the cluster exists, checked beforehand.
    const { candidate_pool_size: poolSize, ...rest } = await withMasterIp(
      paramFields(args),
      args.name,
      undefined,
    );
    const modify =
      Object.keys(rest).length > 0 ? await checked({ OP_ID: 'OP_CLUSTER_SET_PARAMS', ...rest }) : undefined;
    const call = daemonCall(args);
    await call({
      op: 'cluster-init',
      name: args.name,
      ...(args['secondary-ip'] !== undefined && { secondaryIp: args['secondary-ip'] }),
      ...(hvs !== undefined && { enabledHypervisors: hvs }),
      ...(templates !== undefined && { enabledDiskTemplates: templates }),
      ...(poolSize !== undefined && { candidatePoolSize: poolSize }),
    });
    process.stdout.write(`Cluster ${args.name} initialised; this node is its master\n`);
    if (modify === undefined) return;
    try {
      await runOps({ ...args, submit: false, 'print-jobid': false, priority: 'normal', 'dry-run': false }, [
        modify,
      ]);
    } catch (error) {
      throw new CorralError(
        'conflict',
        `the cluster was founded, but its parameters were not set: ${(error as Error).message}; set them with cluster modify`,
      );
    }
  },
};

interface JoinArgs extends ConnectionArgs, NodeAddArgs {
  member: string;
  token: string;
  name?: string;
  address?: string;
}

const join: CommandModule<object, JoinArgs> = {
  command: 'join <member>',
  describe: 'join the cluster of the member at this address, with a join token issued for this node',
  builder: (yargs) =>
    nodeAddOptions(connectionOptions(yargs))
      .positional('member', { type: 'string', demandOption: true, describe: 'multiaddr of any member' })
      .option('token', {
        type: 'string',
        demandOption: true,
        describe: "from 'corral token create ID' on a member, ID being what 'corral identity' shows here",
      })
      .option('name', { type: 'string', describe: "this node's name in the cluster (default: the daemon's)" })
      .option('address', {
        type: 'string',
        describe: 'multiaddr the master reaches this daemon at',
      }),
  handler: async (args) => {
    const answer = await daemonCall(args)({
      op: 'cluster-join',
      member: args.member,
      token: args.token,
      add: {
        ...(args.name !== undefined && { node_name: args.name }),
        ...(args.address !== undefined && { address: args.address }),
        ...nodeAddFields(args),
      },
    });
    process.stdout.write(`Joined cluster ${answer.cluster} as ${answer.node} (job ${answer.job})\n`);
  },
};

const yesOrNo = (value: boolean) => (value ? 'True' : 'False');

const info: CommandModule<object, ConnectionArgs & { roman: boolean }> = {
  command: ['info', 'show'],
  describe: 'the cluster: name, master, candidates, serial, parameters',
  builder: (yargs) =>
    connectionOptions(yargs).option('roman', {
      type: 'boolean',
      default: false,
      describe: 'positive whole numbers in Roman numerals',
    }),
  handler: async (args) => {
    const n = (value: number) => (args.roman ? tryToRoman(value) : String(value));
    const { config, masterName } = await readConfig(args);
    const c = config.cluster;
    const candidates = config.nodes
      .filter((node) => node.masterCandidate)
      .map((node) => node.name)
      .sort();
    const be = c.beParams;
    const nd = filledNdParams(c);
    process.stdout.write(
      [
        `Cluster name: ${c.name}`,
        `Cluster UUID: ${c.uuid}`,
        `Creation time: ${localTime(c.ctimeMs)}`,
        `Modification time: ${localTime(c.mtimeMs)}`,
        `Master node: ${masterName ?? '(none right now)'}`,
        `Master candidates: ${candidates.join(', ')}`,
        `Configuration serial number: ${n(config.serial)}`,
        `Tags: ${c.tags.join(', ')}`,
        `Default hypervisor: ${c.enabledHypervisors[0] ?? ''}`,
        `Enabled hypervisors: ${c.enabledHypervisors.join(', ')}`,
        'Hypervisor parameters:',
        ...c.enabledHypervisors.flatMap((hv) => paramLines(hv, c.hvParams?.[hv], 2)),
        'OS-specific hypervisor parameters:',
        ...Object.entries(c.osHvParams ?? {}).flatMap(([os, byHv]) => [
          `  - ${os}:`,
          ...Object.entries(byHv).flatMap(([hv, params]) => paramLines(hv, params, 6)),
        ]),
        'OS parameters:',
        ...Object.entries(c.osParams ?? {}).flatMap(([os, params]) => paramLines(os, params, 2)),
        `Hidden OSes: ${(c.hiddenOs ?? []).join(', ')}`,
        `Blacklisted OSes: ${(c.blacklistedOs ?? []).join(', ')}`,
        `Enabled disk templates: ${c.enabledDiskTemplates.join(', ')}`,
        'Cluster parameters:',
        `  candidate pool size: ${n(c.candidatePoolSize)}`,
        `  maximal number of jobs running simultaneously: ${n(c.maxRunningJobs)}`,
        `  mac prefix: ${c.macPrefix}`,
        `  master IP: ${c.masterIp?.address ?? '(none: clients reach any node)'}`,
        `  master netdev: ${c.masterIp?.netdev ?? ''}`,
        `  master netmask: ${c.masterIp === undefined ? '' : n(c.masterIp.netmask)}`,
        `  use external master IP address setup script: ${c.masterIp?.external === true ? 'True' : 'False'}`,
        `  default instance allocator: ${c.defaultIallocator ?? '(the built-in one)'}`,
        `  default instance allocator parameters: ${Object.entries(c.defaultIallocatorParams ?? {})
          .map(([key, value]) => `${key}=${value}`)
          .join(',')}`,
        `  candidate dead grace: ${c.candidateDeadGraceMs / 1000} s`,
        `  automatic failover: ${c.ha.autoFailover ? 'yes' : 'no'}`,
        `  node lease: ${c.ha.leaseMs / 1000} s (fence margin ${c.ha.fenceMarginMs / 1000} s, clock drift bound ${c.ha.clockDriftPpm} ppm)`,
        'Data collectors:',
        ...dataCollectorNames.map((name) => {
          const { active, intervalMs } = collectorSetting(c.dataCollectors, name);
          return `  ${name}: ${active ? 'active' : 'inactive'}, every ${intervalMs / 1000} s`;
        }),
        'Default node parameters:',
        ...ND_KEYS.map((key) => `  ${key}: ${ndValueText(key, nd[key])}`),
        'Default instance parameters:',
        '  - default:',
        `      always_failover: ${yesOrNo(be.alwaysFailover)}`,
        `      auto_balance: ${yesOrNo(be.autoBalance)}`,
        `      maxmem: ${n(be.maxmemMiB)}`,
        `      minmem: ${n(be.minmemMiB)}`,
        `      spindle_use: ${n(be.spindleUse)}`,
        `      vcpus: ${n(be.vcpus)}`,
        'Default nic parameters:',
        '  - default:',
        `      link: ${c.nicParams.link}`,
        `      mode: ${c.nicParams.mode}`,
        `Node groups: ${config.groups
          .map((group) => group.name)
          .sort()
          .join(', ')}`,
        '',
      ].join('\n'),
    );
  },
};

const getmaster: CommandModule<object, ConnectionArgs> = {
  command: 'getmaster',
  describe: 'print the master node name',
  builder: (yargs) => connectionOptions(yargs),
  handler: async (args) => {
    const { masterName } = await readConfig(args);
    if (masterName === undefined) throw new CorralError('unavailable', 'the cluster has no master right now');
    process.stdout.write(`${masterName}\n`);
  },
};

const masterPing: CommandModule<object, ConnectionArgs> = {
  command: 'master-ping',
  describe: 'exit 0 if the master answers (through this node), 1 if not',
  builder: (yargs) => connectionOptions(yargs),
  handler: async (args) => {
    await daemonCall(args)({ op: 'master', request: { op: 'ping' }, deadlineMs: MASTER_PING_DEADLINE_MS });
  },
};

const version: CommandModule<object, ConnectionArgs> = {
  command: 'version',
  describe: "this node's Corral version and the Ganeti version whose interfaces it keeps",
  builder: (yargs) => connectionOptions(yargs),
  handler: async (args) => {
    const status = await daemonCall(args)({ op: 'status' });
    // Ganeti's layout, with the numbers of the Ganeti release whose protocols and formats Corral follows.
    process.stdout.write(
      [
        `Software version: ${status.version}`,
        'Internode protocol: 3000000',
        'Configuration format: 3000000',
        'OS api version: 20',
        'Export interface: 0',
        `VCS version: (corral) version ${status.version}`,
        `Compatible with: Ganeti ${GANETI_COMPATIBLE_VERSION}`,
        '',
      ].join('\n'),
    );
  },
};

/** Every tagged object as Ganeti's search-tags names it: /cluster, /instances/X, /nodes/X, /nodegroup/X. */
function tagHolders(config: ConfigView): { path: string; tags: readonly string[] }[] {
  return [
    { path: '/cluster', tags: config.cluster.tags },
    ...config.instances.map((item) => ({ path: `/instances/${item.name}`, tags: item.tags })),
    ...config.nodes.map((item) => ({ path: `/nodes/${item.name}`, tags: item.tags })),
    ...config.groups.map((item) => ({ path: `/nodegroup/${item.name}`, tags: item.tags })),
  ];
}

/** The tags that match (a regular expression, searched for anywhere in the tag), as sorted (path, tag) pairs. */
export function searchTags(config: ConfigView, pattern: string): [string, string][] {
  let regex: RegExp;
  try {
    regex = new RegExp(pattern);
  } catch (error) {
    throw new CorralError('bad_request', `Invalid search pattern '${pattern}': ${(error as Error).message}`);
  }
  const found: [string, string][] = [];
  for (const { path, tags } of tagHolders(config))
    for (const tag of tags) if (regex.test(tag)) found.push([path, tag]);
  const order = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
  return found.sort((a, b) => order(a[0], b[0]) || order(a[1], b[1]));
}

const searchTagsCommand: CommandModule<object, ConnectionArgs & { pattern: string }> = {
  command: 'search-tags <pattern>',
  describe: 'the tags of the cluster, its nodes, groups and instances that match a regular expression',
  // Ganeti searches in a job; Corral searches the configuration here, so no master runs a user's expression.
  builder: (yargs) => queryOptions(yargs).positional('pattern', { type: 'string', demandOption: true }),
  handler: async (args) => {
    const { config } = await readConfig(args);
    const found = searchTags(config, args.pattern);
    for (const [path, tag] of found) process.stdout.write(`${path} ${tag}\n`);
    if (found.length === 0) process.exitCode = 1;
  },
};

const showIspecsCmd: CommandModule<object, ConnectionArgs> = {
  command: 'show-ispecs-cmd',
  describe: "the command line that makes a cluster with this cluster's instance policy",
  builder: (yargs) => connectionOptions(yargs),
  handler: async (args) => {
    const { config } = await readConfig(args);
    const policy = livePolicy(config.cluster.enabledDiskTemplates);
    process.stdout.write(`gnt-cluster init ${ipolicyCommandLine(policy)} ${config.cluster.name}\n`);
  },
};

interface FailoverArgs extends ConnectionArgs {
  voting: boolean;
  'yes-do-it'?: boolean;
  'ignore-offline-nodes'?: string;
}

const masterFailover: CommandModule<object, FailoverArgs> = {
  command: ['master-failover', 'masterfailover'],
  describe: 'make this node the master (through Raft leadership transfer)',
  builder: (yargs) =>
    connectionOptions(yargs)
      .option('voting', {
        type: 'boolean',
        default: true,
        describe:
          '--no-voting is refused: the master is whom a majority of the master candidates elect (Raft)',
      })
      .option('yes-do-it', { type: 'boolean', describe: "Ganeti's confirmation of --no-voting" })
      .option('ignore-offline-nodes', {
        type: 'string',
        describe:
          "offline nodes never count: Raft's voters are the online master candidates (any value; Ganeti's default)",
      }),
  handler: async (args) => {
    if (!args.voting)
      throw new CorralError(
        'bad_request',
        '--no-voting is refused: a master not elected by a majority of the master candidates could run beside the real one; bring a majority back (or mark dead candidates offline) and fail over without it',
      );
    const { master } = await daemonCall(args)({ op: 'master-failover' });
    process.stdout.write(`${master} is now the master\n`);
  },
};

const queue: CommandModule<object, ConnectionArgs & { command: string }> = {
  command: 'queue <command>',
  describe: 'drain: the master takes no new jobs; undrain: it takes them again; info: whether it is drained',
  builder: (yargs) =>
    connectionOptions(yargs).positional('command', {
      type: 'string',
      demandOption: true,
      describe: 'drain, undrain or info',
    }),
  handler: async (args) => {
    const call = daemonCall(args);
    switch (args.command) {
      case 'drain':
      case 'undrain':
        await call({
          op: 'master',
          request: { op: 'cluster-flags', queueDrained: args.command === 'drain' },
        });
        return;
      case 'info': {
        const { config } = await readConfig(args);
        process.stdout.write(`The drain flag is ${config.cluster.queueDrained === true ? 'set' : 'unset'}\n`);
        return;
      }
      default:
        throw new CorralError(
          'bad_request',
          `Command '${args.command}' is not valid: use drain, undrain or info`,
        );
    }
  },
};

function showWatcherPause(untilMs: number | null | undefined): void {
  process.stdout.write(
    untilMs === null || untilMs === undefined || untilMs < Date.now()
      ? 'The watcher is not paused.\n'
      : `The watcher is paused until ${ctime(untilMs)}.\n`,
  );
}

const watcher: CommandModule<object, ConnectionArgs & { command: string; duration?: string }> = {
  command: 'watcher <command> [duration]',
  describe:
    'pause DURATION (30m, 2h, 1d…): the watcher and automatic failover stand still; continue: they act again; info',
  builder: (yargs) =>
    connectionOptions(yargs)
      .positional('command', { type: 'string', demandOption: true, describe: 'pause, continue or info' })
      .positional('duration', { type: 'string', describe: 'for pause: a number with s, m, h, d or w' }),
  handler: async (args) => {
    const call = daemonCall(args);
    switch (args.command) {
      case 'pause': {
        if (args.duration === undefined)
          throw new CorralError(
            'bad_request',
            'Missing pause duration: say how long, e.g. watcher pause 30m',
          );
        const pauseMs = parseTimespecMs(args.duration);
        const answer = await call({
          op: 'master',
          request: { op: 'cluster-flags', watcherPauseMs: pauseMs },
        });
        showWatcherPause('watcherPauseUntilMs' in answer ? answer.watcherPauseUntilMs : undefined);
        return;
      }
      case 'continue':
        await call({ op: 'master', request: { op: 'cluster-flags', watcherPauseMs: null } });
        process.stdout.write('The watcher is no longer paused.\n');
        return;
      case 'info': {
        const { config } = await readConfig(args);
        showWatcherPause(config.cluster.watcherPauseUntilMs);
        return;
      }
      default:
        throw new CorralError(
          'bad_request',
          `Command '${args.command}' is not valid: use pause DURATION, continue or info`,
        );
    }
  },
};

const rename: CommandModule<object, JobArgs & { 'new-name': string; force: boolean }> = {
  command: 'rename <new-name>',
  describe: 'give the cluster another name',
  builder: (yargs) =>
    forceOption(jobOptions(yargs), 'rename without asking').positional('new-name', {
      type: 'string',
      demandOption: true,
    }),
  handler: async (args) => {
    const op = await checked({ OP_ID: 'OP_CLUSTER_RENAME', name: args['new-name'] });
    const { config } = await readConfig(args);
    const old = config.cluster.name;
    if (!args.force)
      await confirm(
        `This will rename the cluster from '${old}' to '${args['new-name']}'. Continue?`,
        'renaming the cluster asks for confirmation: add -f to rename it without being asked',
      );
    const results = await runOps(args, [op]);
    if (results !== undefined)
      process.stdout.write(`Cluster renamed from '${old}' to '${String(results[0])}'\n`);
  },
};

interface RedistArgs extends JobArgs {
  'yes-do-it': boolean;
}

const redistConf: CommandModule<object, RedistArgs> = {
  command: 'redist-conf',
  describe:
    'confirm that every online node has applied the current configuration (Raft sends it on every change)',
  builder: (yargs) =>
    yesDoItOption(
      jobOptions(yargs),
      'run even while the queue is drained (Ganeti: submit to the drained queue)',
    ),
  handler: async (args) => {
    const ops: Opcode[] = [{ OP_ID: 'OP_CLUSTER_REDIST_CONF' }];
    if (!args['yes-do-it']) {
      await runOps(args, ops);
      return;
    }
    const call = daemonCall(args);
    const answer = await call({
      op: 'master',
      request: {
        op: 'submit',
        key: randomUUID(),
        priority: priorities[args.priority],
        ops: jobOps(args, ops),
        toDrainedQueue: true,
      },
    });
    if (!('job' in answer))
      throw new CorralError('internal', 'the master answered a submission without a job ID');
    if (args.submit) {
      process.stdout.write(`JobID: ${answer.job}\n`);
      return;
    }
    if (args['print-jobid']) process.stdout.write(`${answer.job}\n`);
    await follow(call, answer.job);
    if (args['dry-run']) process.stdout.write('Dry run: nothing was changed.\n');
  },
};

const repairDiskSizes: CommandModule<object, JobArgs & { instances: string[] }> = {
  command: 'repair-disk-sizes [instances..]',
  describe:
    "compare the recorded sizes of instances' disks (all, or these) with their nodes', and fix the record",
  builder: (yargs) =>
    jobOptions(yargs).positional('instances', { type: 'string', array: true, default: [] as string[] }),
  handler: async (args) => {
    const op = await checked({
      OP_ID: 'OP_CLUSTER_REPAIR_DISK_SIZES',
      ...(args.instances.length > 0 && { instances: args.instances }),
    });
    await runOps(args, [op]);
  },
};

const destroy: CommandModule<object, ConnectionArgs & { 'yes-do-it': boolean }> = {
  command: 'destroy',
  describe: 'on the master of a cluster of one node and no instance: forget the cluster and stop the daemon',
  builder: (yargs) => yesDoItOption(connectionOptions(yargs), 'destroy the cluster'),
  handler: async (args) => {
    if (!args['yes-do-it'])
      throw new CorralError(
        'bad_request',
        'Destroying a cluster is irreversible. If you really want to destroy this cluster, supply the --yes-do-it option.',
      );
    const { cluster } = await daemonCall(args)({ op: 'cluster-destroy' });
    process.stdout.write(`Cluster ${cluster} destroyed: this node has left it and its daemon has stopped\n`);
  },
};

/**
 * Ganeti's gnt-cluster upgrade switches every node between installed Ganeti versions. Corral has one version
 * installed per node and no upgrade state: an upgrade is the new package installed on each node and its
 * daemon restarted, one node at a time. --to says whether every node runs that version already, from what
 * each node gossips of itself, and names those that do not; --resume has nothing to resume.
 */
const upgrade: CommandModule<object, ConnectionArgs & { to?: string; resume: boolean }> = {
  command: 'upgrade',
  describe:
    'whether every node runs the version given (--to); Corral upgrades by package, one node at a time',
  builder: (yargs) =>
    connectionOptions(yargs)
      .option('to', { type: 'string', describe: 'the version every node should run' })
      .option('resume', {
        type: 'boolean',
        default: false,
        describe: 'refused: Corral keeps no upgrade in progress',
      }),
  handler: async (args) => {
    if (args.resume === (args.to !== undefined))
      throw new CorralError('bad_request', 'exactly one of --to and --resume must be given');
    if (args.resume)
      throw new CorralError(
        'conflict',
        'there is no upgrade to resume: Corral keeps no upgrade state (each node runs the package installed on it)',
      );
    const { rows } = await daemonCall(args)({ op: 'health' });
    const behind = rows
      .filter((row) => row.health?.version !== args.to)
      .map((row) => `${row.node} (${row.health?.version ?? 'not heard from'})`);
    if (behind.length > 0)
      throw new CorralError(
        'conflict',
        `not every node runs corral ${args.to}: ${behind.join(', ')}; install it on each and restart its daemon, one node at a time`,
      );
    process.stdout.write(`Every node runs corral ${args.to}\n`);
  },
};

const activateMasterIp: CommandModule<object, JobArgs> = {
  command: 'activate-master-ip',
  describe: 'the master takes the floating master IP up again',
  builder: (yargs) => jobOptions(yargs),
  handler: async (args) => {
    await runOps(args, [{ OP_ID: 'OP_CLUSTER_ACTIVATE_MASTER_IP' }]);
  },
};

const deactivateMasterIp: CommandModule<object, JobArgs & { yes: boolean }> = {
  command: 'deactivate-master-ip',
  describe:
    'the master drops the floating master IP, until activate-master-ip or another node becomes master',
  builder: (yargs) =>
    jobOptions(yargs).option('yes', {
      type: 'boolean',
      default: false,
      describe: 'do not ask for confirmation',
    }),
  handler: async (args) => {
    if (!args.yes)
      await confirm(
        'This will disable the master IP. All the open connections to the master IP will be closed. To reach the master you will need to use its node IP. Continue?',
        'deactivate-master-ip asks for confirmation: give --yes to run it without a terminal',
      );
    await runOps(args, [{ OP_ID: 'OP_CLUSTER_DEACTIVATE_MASTER_IP' }]);
  },
};

/** Ganeti's verify error codes, the values -I/--ignore-errors takes. */
const VERIFY_ERROR_CODES = [
  'ECLUSTERCERT',
  'ECLUSTERCFG',
  'ECLUSTERCLIENTCERT',
  'ECLUSTERDANGLINGINST',
  'ECLUSTERDANGLINGNODES',
  'ECLUSTERFILECHECK',
  'EEXTAGS',
  'EGROUPDIFFERENTPVSIZE',
  'EINSTANCEBADNODE',
  'EINSTANCEDOWN',
  'EINSTANCEFAULTYDISK',
  'EINSTANCELAYOUT',
  'EINSTANCEMISSINGCFGPARAMETER',
  'EINSTANCEMISSINGDISK',
  'EINSTANCEPOLICY',
  'EINSTANCESPLITGROUPS',
  'EINSTANCEUNSUITABLENODE',
  'EINSTANCEWRONGNODE',
  'ENODEDRBD',
  'ENODEDRBDHELPER',
  'ENODEDRBDVERSION',
  'ENODEFILECHECK',
  'ENODEFILESTORAGEPATHS',
  'ENODEFILESTORAGEPATHUNUSABLE',
  'ENODEGLUSTERSTORAGEPATHUNUSABLE',
  'ENODEHOOKS',
  'ENODEHV',
  'ENODELVM',
  'ENODEN1',
  'ENODENET',
  'ENODEOOBPATH',
  'ENODEORPHANINSTANCE',
  'ENODEORPHANLV',
  'ENODEOS',
  'ENODERPC',
  'ENODESETUP',
  'ENODESHAREDFILESTORAGEPATHUNUSABLE',
  'ENODESSH',
  'ENODETIME',
  'ENODEUSERSCRIPTS',
  'ENODEVERSION',
] as const;

interface Finding {
  severity: string;
  code: string;
  domain: string;
  name: string;
  message: string;
}

interface VerifyArgs extends JobArgs {
  'error-codes': boolean;
  'ignore-errors': string[];
  'node-group'?: string;
  verbose: number;
  'nplus1-mem': boolean;
  'verify-ssh-clutter': boolean;
  'debug-simulate-errors': boolean;
}

/**
 * What verify reports as Ganeti's options ask: only the findings of one node group's nodes and their
 * instances (-g, as Ganeti verifies that group alone), the ignored codes as warnings (-I).
 */
export function verifyReport(
  findings: readonly Finding[],
  ignored: readonly string[],
  group?: { readonly nodes: readonly string[]; readonly instances: readonly string[] },
): Finding[] {
  return findings
    .filter(
      (f) =>
        group === undefined ||
        (f.domain === 'node' && group.nodes.includes(f.name)) ||
        (f.domain === 'instance' && group.instances.includes(f.name)),
    )
    .map((f) => (f.severity === 'ERROR' && ignored.includes(f.code) ? { ...f, severity: 'WARNING' } : f));
}

const verify: CommandModule<object, VerifyArgs> = {
  command: 'verify',
  describe: 'check the configuration, the candidate pool, Raft and every node',
  builder: (yargs) =>
    jobOptions(yargs)
      .option('error-codes', {
        type: 'boolean',
        default: false,
        describe: 'ftype:ecode:edomain:name:msg lines',
      })
      .option('ignore-errors', {
        alias: 'I',
        type: 'string',
        array: true,
        default: [] as string[],
        choices: VERIFY_ERROR_CODES,
        describe: 'report errors of this code as warnings (repeatable)',
      })
      .option('node-group', { alias: 'g', type: 'string', describe: "only this group's nodes and instances" })
      .option('verbose', {
        alias: 'v',
        type: 'count',
        describe: "accepted for Ganeti's command lines: Corral lists every finding already",
      })
      .option('nplus1-mem', {
        type: 'boolean',
        default: true,
        describe:
          "--no-nplus1-mem: accepted for Ganeti's command lines: Corral's verify runs no N+1 memory check (cluster capacity and balance report it)",
      })
      .option('verify-ssh-clutter', {
        type: 'boolean',
        default: false,
        describe: "accepted for Ganeti's command lines: Corral writes no SSH authorized_keys",
      })
      .option('debug-simulate-errors', {
        type: 'boolean',
        default: false,
        describe: 'refused: Corral cannot make its checks fail on purpose',
      }),
  handler: async (args) => {
    if (args['debug-simulate-errors'])
      throw new CorralError(
        'bad_request',
        '--debug-simulate-errors is refused: Corral cannot make its checks fail on purpose',
      );
    let group: { nodes: string[]; instances: string[] } | undefined;
    if (args['node-group'] !== undefined) {
      const { config } = await readConfig(args);
      const found = config.groups.find((g) => g.name === args['node-group'] || g.uuid === args['node-group']);
      if (found === undefined)
        throw new CorralError('not_found', `node group ${args['node-group']} does not exist`);
      const members = config.nodes.filter((n) => n.group === found.uuid);
      group = {
        nodes: members.map((n) => n.name),
        instances: config.instances
          .filter((i) => members.some((n) => n.uuid === i.primaryNode))
          .map((i) => i.name),
      };
    }
    const results = await runOps(args, [{ OP_ID: 'OP_CLUSTER_VERIFY' }]);
    if (results === undefined) return;
    const findings = verifyReport((results[0] ?? []) as Finding[], args['ignore-errors'], group);
    for (const f of findings) {
      process.stdout.write(
        args['error-codes']
          ? `${f.severity}:${f.code}:${f.domain}:${f.name}:${f.message}\n`
          : `  - ${f.severity}: ${f.domain} ${f.name}: ${f.message}\n`,
      );
    }
    if (findings.some((f) => f.severity === 'ERROR')) process.exitCode = 1;
    else if (findings.length === 0) process.stdout.write('Cluster verify found no problems\n');
  },
};

const verifyDisks: CommandModule<object, JobArgs & { 'node-group'?: string }> = {
  command: 'verify-disks',
  describe: 'find mirrored disks that are detached, degraded or missing, and activate them again',
  builder: (yargs) =>
    jobOptions(yargs).option('node-group', {
      alias: ['g', 'nodegroup'],
      type: 'string',
      describe: 'only this node group',
    }),
  handler: async (args) => {
    const results = await runOps(args, [
      {
        OP_ID: 'OP_CLUSTER_VERIFY_DISKS',
        ...(args['node-group'] !== undefined && { group_name: args['node-group'] }),
      },
    ]);
    if (results === undefined) return;
    const report = results[0] as {
      bad_nodes: Record<string, string>;
      instances: string[];
      missing: Record<string, [string, string][]>;
    };
    // What Ganeti's gnt-cluster verify-disks prints, and its exit code.
    let failed = false;
    for (const [node, text] of Object.entries(report.bad_nodes)) {
      process.stdout.write(`Error gathering data on node ${node}: ${text.slice(-400)}\n`);
      process.stdout.write('You need to fix these nodes first before fixing instances\n');
      failed = true;
    }
    for (const name of report.instances) {
      if (name in report.missing) continue;
      process.stdout.write(`Activating disks for instance '${name}'\n`);
      try {
        await runOps({ ...args, submit: false, 'print-jobid': false }, [
          { OP_ID: 'OP_INSTANCE_ACTIVATE_DISKS', instance_name: name },
        ]);
      } catch (error) {
        process.stderr.write(`Error activating disks for instance ${name}: ${(error as Error).message}\n`);
        failed = true;
      }
    }
    const missing = Object.entries(report.missing);
    for (const [name, volumes] of missing) {
      if (volumes.every(([node]) => node in report.bad_nodes)) {
        process.stdout.write(`Instance ${name} cannot be verified as it lives on broken nodes\n`);
        continue;
      }
      process.stdout.write(`Instance ${name} has missing logical volumes:\n`);
      for (const [node, volume] of [...volumes].sort())
        process.stdout.write(`\t${node in report.bad_nodes ? 'broken node ' : ''}${node} /dev/${volume}\n`);
    }
    if (missing.length > 0) {
      process.stdout.write(
        'You need to replace or recreate disks for all the above instances if this message persists after fixing broken nodes.\n',
      );
      failed = true;
    } else if (report.instances.length === 0) process.stdout.write('No disks need to be activated.\n');
    if (failed) process.exitCode = 1;
  },
};

const renewCrypto: CommandModule<
  object,
  JobArgs & {
    'new-cluster-domain-secret'?: boolean;
    'new-rapi-certificate'?: boolean;
    'new-ssh-keys'?: boolean;
    'new-confd-hmac-key'?: boolean;
    'new-spice-certificate'?: boolean;
  }
> = {
  command: 'renew-crypto',
  describe: 'draw a new cluster secret (join tokens issued before are refused), or a new RAPI certificate',
  builder: (yargs) =>
    unusedGanetiOptions(jobOptions(yargs), 'renew-crypto')
      .option('verbose', {
        alias: 'v',
        type: 'count',
        describe: "accepted for Ganeti's command lines: the job's log says what was renewed",
      })
      .option('new-cluster-domain-secret', {
        type: 'boolean',
        describe: "Ganeti's name for the cluster secret join tokens are checked with (renewed by default)",
      })
      .option('new-rapi-certificate', {
        type: 'boolean',
        describe: 'a new self-signed key and certificate for RAPI, served by every node',
      })
      .option('force', {
        alias: 'f',
        type: 'boolean',
        describe: 'accepted for Ganeti compatibility; nothing is asked',
      }),
  handler: async (args) => {
    noteUnusedOptions(args as unknown as Record<string, unknown>, 'renew-crypto', note);
    const rapi = args['new-rapi-certificate'] === true;
    // Asked only for what Corral has not (SSH keys, confd's key, SPICE): nothing to renew, and no job.
    const other = [args['new-ssh-keys'], args['new-confd-hmac-key'], args['new-spice-certificate']].some(
      (given) => given === true,
    );
    const secret = args['new-cluster-domain-secret'] ?? (!rapi && !other);
    if (!secret && !rapi) return;
    const op = {
      OP_ID: 'OP_CLUSTER_RENEW_CRYPTO',
      new_cluster_secret: secret,
      new_rapi_certificate: rapi,
    } as const;
    if ((await runOps(args, [op])) === undefined) return;
    if (rapi) process.stdout.write('Renewed the RAPI certificate: every node serves the new one\n');
    if (secret)
      process.stdout.write('Renewed the cluster secret: join tokens issued before now are refused\n');
  },
};

interface NodeSelectionArgs extends ConnectionArgs {
  node?: string | string[];
  'node-group'?: string;
}

/** `-n` and `-g`: the nodes a command or a copy goes to. */
function nodeSelection<T>(yargs: Argv<T>) {
  return yargs
    .option('node', {
      alias: 'n',
      type: 'string',
      describe: 'only this node (repeatable); all online nodes by default',
    })
    .option('node-group', { alias: 'g', type: 'string', describe: "only this group's nodes" });
}

/**
 * The online nodes `-n` and `-g` name, all of them by default, the master last (as Ganeti runs a command
 * there last); the offline ones named or not are skipped with a note, as Ganeti does.
 */
async function selectedNodes(
  args: NodeSelectionArgs,
): Promise<{ nodes: ConfigView['nodes']; self: string; master?: string }> {
  const response = await daemonCall(args)({ op: 'config', consistent: true });
  if (response.config === undefined)
    throw new CorralError(
      'unavailable',
      'this node belongs to no cluster yet: run cluster init, or node add',
    );
  const config = configViewSchema.parse(response.config);
  const master = response.master ?? config.master;
  const named = args.node === undefined ? [] : [args.node].flat();
  for (const name of named)
    if (!config.nodes.some((node) => node.name === name))
      throw new CorralError('not_found', `node ${name} is not in the cluster`);
  const group =
    args['node-group'] === undefined
      ? undefined
      : config.groups.find((g) => g.name === args['node-group'] || g.uuid === args['node-group']);
  if (args['node-group'] !== undefined && group === undefined)
    throw new CorralError('not_found', `node group ${args['node-group']} does not exist`);
  const chosen = config.nodes
    .filter((node) => named.length === 0 || named.includes(node.name))
    .filter((node) => group === undefined || node.group === group.uuid)
    .sort((a, b) => a.name.localeCompare(b.name));
  const offline = chosen.filter((node) => node.offline).map((node) => node.name);
  if (offline.length > 0) note(`Note: skipping offline node(s): ${offline.join(', ')}`);
  const online = chosen.filter((node) => !node.offline);
  const last = online.filter((node) => node.id === master);
  return {
    nodes: [...online.filter((node) => node.id !== master), ...last],
    self: response.self,
    ...(master !== undefined && { master }),
  };
}

/** What ssh answers for a node it cannot reach, as Ganeti's command then shows it. */
const UNREACHABLE_EXIT_CODE = 255;

interface CommandArgs extends NodeSelectionArgs {
  words?: string[];
  'show-machine-names': boolean;
  'failure-only': boolean;
}

const clusterRunCommand: CommandModule<object, CommandArgs> = {
  command: 'command [words..]',
  describe:
    'run a shell command as root on the online nodes (or those of -n and -g), one after another, the master last',
  builder: (yargs) =>
    nodeSelection(connectionOptions(yargs))
      // The command's own options (ls -l) are its words, not Corral's; after -- nothing is Corral's.
      .parserConfiguration({ 'unknown-options-as-args': true })
      .positional('words', {
        type: 'string',
        array: true,
        describe:
          "the command and its arguments; after -- when it has options of Corral's own (-d, -n, -g, -M)",
      })
      .option('show-machine-names', {
        alias: 'M',
        type: 'boolean',
        default: false,
        describe: 'each output line as NODE: LINE',
      })
      .option('failure-only', {
        type: 'boolean',
        default: false,
        describe: 'show only the nodes where it failed (exit code not 0)',
      }),
  handler: async (args) => {
    const words = [...(args.words ?? []), ...args._.slice(2).map(String)];
    if (words.length === 0)
      throw new CorralError('bad_request', 'say which command to run, e.g. cluster command uptime');
    const line = words.join(' ');
    const { nodes } = await selectedNodes(args);
    const call = daemonCall(args);
    for (const node of nodes) {
      const result = await call({ op: 'node-command', node: node.name, command: line }).catch(
        (error: unknown) => ({
          exitCode: UNREACHABLE_EXIT_CODE,
          timedOut: false,
          output: `${(error as Error).message}\n`,
        }),
      );
      const exitCode = result.exitCode ?? UNREACHABLE_EXIT_CODE;
      if (args['failure-only'] && exitCode === 0) continue;
      const output = (result.output ?? '').replace(/\n$/, '');
      process.stdout.write('------------------------------------------------\n');
      if (args['show-machine-names'])
        for (const outputLine of output.split('\n')) process.stdout.write(`${node.name}: ${outputLine}\n`);
      else process.stdout.write(`node: ${node.name}\n${output}\n`);
      process.stdout.write(
        `return code = ${result.timedOut === true ? `${exitCode} (killed after ${NODE_COMMAND_TIMEOUT_MS / 3_600_000} h)` : exitCode}\n`,
      );
    }
  },
};

const copyfile: CommandModule<
  object,
  NodeSelectionArgs & { file: string; 'use-replication-network': boolean }
> = {
  command: 'copyfile <file>',
  describe: 'copy a file of this node to the same path on the other online nodes (or those of -n and -g)',
  builder: (yargs) =>
    nodeSelection(connectionOptions(yargs))
      .positional('file', { type: 'string', demandOption: true })
      .option('use-replication-network', {
        type: 'boolean',
        default: false,
        describe:
          "accepted for Ganeti's command lines: Corral sends the file over its own connections between nodes",
      }),
  handler: async (args) => {
    const path = resolve(args.file);
    let info: Awaited<ReturnType<typeof stat>>;
    try {
      info = await stat(path);
    } catch {
      throw new CorralError('not_found', `No such filename '${path}'`);
    }
    if (!info.isFile()) throw new CorralError('bad_request', `${path} is not a regular file`);
    if (info.size > COPY_FILE_MAX_BYTES)
      throw new CorralError(
        'bad_request',
        `${path} is over ${COPY_FILE_MAX_BYTES / 1024 / 1024} MiB; copy it another way`,
      );
    const data = await readFile(path);
    const { nodes, self } = await selectedNodes(args);
    const call = daemonCall(args);
    for (const node of nodes) {
      if (node.id === self) continue;
      try {
        await call({ op: 'node-copy-file', node: node.name, path, mode: info.mode & 0o7777, data });
      } catch (error) {
        note(`Copy of file ${path} to node ${node.name} failed: ${(error as Error).message}`);
      }
    }
  },
};

interface ModifyArgs extends JobArgs, ParamArgs {
  'enabled-hypervisors'?: string;
  'enabled-disk-templates'?: string;
  'candidate-dead-grace'?: number;
  'auto-failover'?: string;
  'node-lease'?: number;
  'fence-margin'?: number;
  'clock-drift-ppm'?: number;
  'enabled-data-collectors'?: string;
  'data-collector-interval'?: string;
  force: boolean;
}

const modify: CommandModule<object, ModifyArgs> = {
  command: 'modify',
  describe: 'change cluster parameters',
  builder: (yargs) =>
    unusedGanetiOptions(
      forceOption(
        ipolicyOptions(paramOptions(jobOptions(yargs))),
        "accepted for Ganeti's command lines: cluster modify asks nothing and has no check to override",
      )
        .option('enabled-hypervisors', { type: 'string' })
        .option('enabled-disk-templates', { type: 'string' })
        .option('candidate-dead-grace', {
          type: 'number',
          describe: 'seconds gossip may hold a candidate dead before another node takes its seat',
        })
        .option('auto-failover', {
          type: 'string',
          choices: ['yes', 'no'],
          describe:
            "fail a dead node's instances over without an operator (harep's tags decide per instance)",
        })
        .option('node-lease', {
          type: 'number',
          describe: 'seconds a node may run instances without hearing from the master',
        })
        .option('fence-margin', {
          type: 'number',
          describe: 'seconds before its lease ends that a cut-off node kills its instances',
        })
        .option('clock-drift-ppm', {
          type: 'number',
          describe: "the most a node's clock rate may be off, in parts per million",
        })
        .option('enabled-data-collectors', {
          type: 'string',
          describe: `name=yes|no,…: which monitor collectors run on every node (${dataCollectorNames.join(', ')})`,
        })
        .option('data-collector-interval', {
          type: 'string',
          describe: 'name=seconds,…: how often each monitor collector runs (5 s by default and at least)',
        }),
      'modify',
    ),
  handler: async (args) => {
    noteUnusedOptions(args as unknown as Record<string, unknown>, 'modify', note);
    if (ipolicyGiven(args)) {
      const { config } = await readConfig(args);
      checkIpolicyOptions(args, config.cluster.enabledDiskTemplates);
    }
    const fields = paramFields(args);
    const masterIpAsked = Object.keys(fields).some(
      (key) => key.startsWith('master_') || key.startsWith('use_'),
    );
    const { config: current } = masterIpAsked ? await readConfig(args) : { config: undefined };
    const op = await checked({
      OP_ID: 'OP_CLUSTER_SET_PARAMS',
      ...(current === undefined
        ? fields
        : await withMasterIp(fields, current.cluster.name, current.cluster.masterIp?.address)),
      ...(args['enabled-hypervisors'] !== undefined && {
        enabled_hypervisors: args['enabled-hypervisors'].split(','),
      }),
      ...(args['enabled-disk-templates'] !== undefined && {
        enabled_disk_templates: args['enabled-disk-templates'].split(','),
      }),
      ...(args['candidate-dead-grace'] !== undefined && {
        candidate_dead_grace_s: args['candidate-dead-grace'],
      }),
      ...(args['auto-failover'] !== undefined && { auto_failover: args['auto-failover'] === 'yes' }),
      ...(args['node-lease'] !== undefined && { node_lease_s: args['node-lease'] }),
      ...(args['fence-margin'] !== undefined && { fence_margin_s: args['fence-margin'] }),
      ...(args['clock-drift-ppm'] !== undefined && { clock_drift_ppm: args['clock-drift-ppm'] }),
      ...(args['enabled-data-collectors'] !== undefined && {
        enabled_data_collectors: parseEnabledCollectors(args['enabled-data-collectors']),
      }),
      ...(args['data-collector-interval'] !== undefined && {
        data_collector_interval: parseCollectorIntervals(args['data-collector-interval']),
      }),
    });
    // Only the policy's options, which say what it is already: nothing to change, so no job.
    if (Object.keys(op).length === 1) {
      if (ipolicyGiven(args)) return;
      throw new CorralError('bad_request', 'no change was asked for; see cluster modify --help');
    }
    await runOps(args, [op]);
  },
};

export const clusterCommand: CommandModule = {
  command: 'cluster <command>',
  builder: (yargs) => {
    for (const command of [
      init,
      join,
      info,
      getmaster,
      masterPing,
      masterFailover,
      version,
      verify,
      verifyDisks,
      modify,
      rename,
      redistConf,
      repairDiskSizes,
      renewCrypto,
      queue,
      watcher,
      destroy,
      activateMasterIp,
      deactivateMasterIp,
      upgrade,
      showIspecsCmd,
      searchTagsCommand,
      clusterRunCommand,
      copyfile,
      epo,
      ...tagCommands('cluster'),
    ])
      yargs.command(command as CommandModule);
    return yargs.demandCommand(1);
  },
  handler: () => undefined,
};
