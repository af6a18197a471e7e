import type { CommandModule } from 'yargs';
import { corralDiskTemplates } from '../../cluster/disk-templates.js';
import { hypervisors } from '../../cluster/hypervisors.js';
import { CorralError } from '../../common/errors.js';
import {
  type ConnectionArgs,
  connectionOptions,
  daemonCall,
  type JobArgs,
  jobOptions,
  readConfig,
  runOps,
} from '../cluster-client.js';
import { localTime } from '../fields.js';
import { type NodeAddArgs, nodeAddFields, nodeAddOptions } from '../node-add-options.js';
import { tagCommands } from './tags.js';

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

interface InitArgs extends ConnectionArgs {
  name: string;
  'secondary-ip'?: string;
  'enabled-hypervisors'?: string;
  'enabled-disk-templates'?: string;
  'candidate-pool-size'?: number;
}

const init: CommandModule<object, InitArgs> = {
  command: 'init <name>',
  describe: "found the cluster on this node's daemon, which becomes its master",
  builder: (yargs) =>
    connectionOptions(yargs)
      .positional('name', { type: 'string', demandOption: true })
      .option('secondary-ip', { alias: 's', type: 'string' })
      .option('enabled-hypervisors', { type: 'string', describe: `comma list of ${hypervisors.join(', ')}` })
      .option('enabled-disk-templates', {
        type: 'string',
        describe: `comma list of ${corralDiskTemplates.join(', ')}`,
      })
      .option('candidate-pool-size', { alias: 'C', type: 'number' }),
  handler: async (args) => {
    const hvs = known(args['enabled-hypervisors'], hypervisors, 'hypervisor');
    const templates = known(args['enabled-disk-templates'], corralDiskTemplates, 'disk template');
    await daemonCall(args)({
      op: 'cluster-init',
      name: args.name,
      ...(args['secondary-ip'] !== undefined && { secondaryIp: args['secondary-ip'] }),
      ...(hvs !== undefined && { enabledHypervisors: hvs }),
      ...(templates !== undefined && { enabledDiskTemplates: templates }),
      ...(args['candidate-pool-size'] !== undefined && { candidatePoolSize: args['candidate-pool-size'] }),
    });
    process.stdout.write(`Cluster ${args.name} initialised; this node is its master\n`);
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

const info: CommandModule<object, ConnectionArgs> = {
  command: ['info', 'show'],
  describe: 'the cluster: name, master, candidates, serial, policies',
  builder: (yargs) => connectionOptions(yargs),
  handler: async (args) => {
    const { config, masterName } = await readConfig(args);
    const c = config.cluster;
    const candidates = config.nodes
      .filter((node) => node.masterCandidate)
      .map((node) => node.name)
      .sort();
    process.stdout.write(
      [
        `Cluster name: ${c.name}`,
        `Cluster UUID: ${c.uuid}`,
        `Creation time: ${localTime(c.ctimeMs)}`,
        `Modification time: ${localTime(c.mtimeMs)}`,
        `Master node: ${masterName ?? '(none right now)'}`,
        `Master candidates: ${candidates.join(', ')}`,
        `Configuration serial number: ${config.serial}`,
        `Tags: ${c.tags.join(', ')}`,
        `Default hypervisor: ${c.enabledHypervisors[0] ?? ''}`,
        `Enabled hypervisors: ${c.enabledHypervisors.join(', ')}`,
        `Enabled disk templates: ${c.enabledDiskTemplates.join(', ')}`,
        'Cluster parameters:',
        `  candidate pool size: ${c.candidatePoolSize}`,
        `  maximal number of jobs running simultaneously: ${c.maxRunningJobs}`,
        `  candidate dead grace: ${c.candidateDeadGraceMs / 1000} s`,
        `  automatic failover: ${c.ha.autoFailover ? 'yes' : 'no'}`,
        `  node lease: ${c.ha.leaseMs / 1000} s (fence margin ${c.ha.fenceMarginMs / 1000} s, clock drift bound ${c.ha.clockDriftPpm} ppm)`,
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

const masterFailover: CommandModule<object, ConnectionArgs> = {
  command: ['master-failover', 'masterfailover'],
  describe: 'make this node the master (through Raft leadership transfer)',
  builder: (yargs) =>
    connectionOptions(yargs)
      .option('no-voting', {
        type: 'boolean',
        describe: 'accepted for Ganeti compatibility; Raft always votes',
      })
      .option('yes-do-it', { type: 'boolean' }),
  handler: async (args) => {
    const { master } = await daemonCall(args)({ op: 'master-failover' });
    process.stdout.write(`${master} is now the master\n`);
  },
};

const verify: CommandModule<object, JobArgs & { 'error-codes': boolean }> = {
  command: 'verify',
  describe: 'check the configuration, the candidate pool, Raft and every node',
  builder: (yargs) => jobOptions(yargs).option('error-codes', { type: 'boolean', default: false }),
  handler: async (args) => {
    const results = await runOps(args, [{ OP_ID: 'OP_CLUSTER_VERIFY' }]);
    if (results === undefined) return;
    const findings = (results[0] ?? []) as {
      severity: string;
      code: string;
      domain: string;
      name: string;
      message: string;
    }[];
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

const verifyDisks: CommandModule<object, JobArgs & { nodegroup?: string }> = {
  command: 'verify-disks',
  describe: 'find mirrored disks that are detached, degraded or missing, and activate them again',
  builder: (yargs) =>
    jobOptions(yargs).option('nodegroup', { alias: 'g', type: 'string', describe: 'only this node group' }),
  handler: async (args) => {
    const results = await runOps(args, [
      {
        OP_ID: 'OP_CLUSTER_VERIFY_DISKS',
        ...(args.nodegroup !== undefined && { group_name: args.nodegroup }),
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
  JobArgs & { 'new-cluster-domain-secret'?: boolean; 'new-rapi-certificate'?: boolean }
> = {
  command: 'renew-crypto',
  describe: 'draw a new cluster secret (join tokens issued before are refused), or a new RAPI certificate',
  builder: (yargs) =>
    jobOptions(yargs)
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
    const rapi = args['new-rapi-certificate'] === true;
    const secret = args['new-cluster-domain-secret'] ?? !rapi;
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

interface ModifyArgs extends JobArgs {
  'candidate-pool-size'?: number;
  'enabled-hypervisors'?: string;
  'enabled-disk-templates'?: string;
  'max-running-jobs'?: number;
  'candidate-dead-grace'?: number;
  'auto-failover'?: string;
  'node-lease'?: number;
  'fence-margin'?: number;
  'clock-drift-ppm'?: number;
}

const modify: CommandModule<object, ModifyArgs> = {
  command: 'modify',
  describe: 'change cluster parameters',
  builder: (yargs) =>
    jobOptions(yargs)
      .option('candidate-pool-size', { alias: 'C', type: 'number' })
      .option('enabled-hypervisors', { type: 'string' })
      .option('enabled-disk-templates', { type: 'string' })
      .option('max-running-jobs', { type: 'number' })
      .option('candidate-dead-grace', {
        type: 'number',
        describe: 'seconds gossip may hold a candidate dead before another node takes its seat',
      })
      .option('auto-failover', {
        type: 'string',
        choices: ['yes', 'no'],
        describe: "fail a dead node's instances over without an operator (harep's tags decide per instance)",
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
      }),
  handler: async (args) => {
    await runOps(args, [
      {
        OP_ID: 'OP_CLUSTER_SET_PARAMS',
        ...(args['candidate-pool-size'] !== undefined && {
          candidate_pool_size: args['candidate-pool-size'],
        }),
        ...(args['enabled-hypervisors'] !== undefined && {
          enabled_hypervisors: args['enabled-hypervisors'].split(','),
        }),
        ...(args['enabled-disk-templates'] !== undefined && {
          enabled_disk_templates: args['enabled-disk-templates'].split(','),
        }),
        ...(args['max-running-jobs'] !== undefined && { max_running_jobs: args['max-running-jobs'] }),
        ...(args['candidate-dead-grace'] !== undefined && {
          candidate_dead_grace_s: args['candidate-dead-grace'],
        }),
        ...(args['auto-failover'] !== undefined && { auto_failover: args['auto-failover'] === 'yes' }),
        ...(args['node-lease'] !== undefined && { node_lease_s: args['node-lease'] }),
        ...(args['fence-margin'] !== undefined && { fence_margin_s: args['fence-margin'] }),
        ...(args['clock-drift-ppm'] !== undefined && { clock_drift_ppm: args['clock-drift-ppm'] }),
      },
    ]);
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
      masterFailover,
      verify,
      verifyDisks,
      modify,
      renewCrypto,
      ...tagCommands('cluster'),
    ])
      yargs.command(command as CommandModule);
    return yargs.demandCommand(1);
  },
  handler: () => undefined,
};
