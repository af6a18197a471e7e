import type { CommandModule } from 'yargs';
import { type OobNodeResult, RS_NORMAL } from '../../cluster/oob.js';
import type { Opcode } from '../../cluster/opcodes.js';
import {
  type ConnectionArgs,
  daemonCall,
  follow,
  type JobArgs,
  jobOptions,
  readConfig,
  runOps,
  submitOps,
} from '../cluster-client.js';
import { confirm } from '../confirm.js';
import { epoPlan, startable } from '../epo.js';
import { oobTimeout, oobTimeoutOption, powerDelayOption } from './node-oob.js';

/**
 * gnt-cluster epo: the emergency power-off. Instances on the nodes stop (not remembered, so that --on starts
 * them again), then the nodes are powered off through their out-of-band programs; --on powers them on,
 * waits for each to be back and starts the instances whose nodes all are.
 */

/** How long --on waits for the nodes to come back (Ganeti's _EPO_REACHABLE_TIMEOUT) and how often it looks. */
const REACHABLE_TIMEOUT_MS = 15 * 60_000;
const REACHABLE_POLL_MS = 2_000;

interface EpoArgs extends JobArgs {
  targets: string[];
  on: boolean;
  groups: boolean;
  all: boolean;
  force: boolean;
  'oob-timeout': number;
  'shutdown-timeout'?: number;
  'power-delay': number;
}

const say = (line: string) => process.stdout.write(`${line}\n`);
const warn = (line: string) => process.stderr.write(`${line}\n`);

/** Ganeti's _OobPower: whether every node took the power change. */
async function oobPower(args: EpoArgs, nodes: string[], on: boolean): Promise<boolean> {
  const results = await runOps(args, [
    {
      OP_ID: 'OP_OOB_COMMAND',
      node_names: nodes,
      command: on ? 'power-on' : 'power-off',
      ignore_status: true,
      timeout: oobTimeout(args['oob-timeout']),
      power_delay: args['power-delay'],
    },
  ]);
  let ok = true;
  for (const [[, name], [status]] of (results?.[0] ?? []) as OobNodeResult[])
    if (status !== RS_NORMAL) {
      ok = false;
      warn(`There was a problem changing power for ${name}, please investigate`);
    }
  return ok;
}

/** Ganeti's _InstanceStart: one job per instance, all submitted, then each followed. */
async function instanceStart(args: EpoArgs, instances: string[], start: boolean): Promise<boolean> {
  const [submit, success, failed] = start
    ? ['startup', 'started', 'starting']
    : ['shutdown', 'stopped', 'stopping'];
  const jobs: number[] = [];
  for (const instance of instances) {
    say(`Submit ${submit} of instance ${instance}`);
    const op: Opcode = start
      ? { OP_ID: 'OP_INSTANCE_STARTUP', instance_name: instance }
      : {
          OP_ID: 'OP_INSTANCE_SHUTDOWN',
          instance_name: instance,
          no_remember: true,
          ...(args['shutdown-timeout'] !== undefined && { timeout: args['shutdown-timeout'] }),
        };
    jobs.push(await submitOps(args, [op]));
  }
  let bad = 0;
  for (const job of jobs)
    try {
      await follow(daemonCall(args), job);
    } catch (error) {
      bad++;
      warn(`job ${job}: ${(error as Error).message}`);
    }
  if (bad === 0) {
    say(`All instances have been ${success} successfully`);
    return true;
  }
  warn(
    `There were errors while ${failed} instances:\n${bad} error(s) out of ${instances.length} instance(s)`,
  );
  return false;
}

/** The nodes gossip sees alive, and the one answering (the CLI reaches the cluster through it). */
async function reachable(args: ConnectionArgs, nodes: readonly string[], self: string | undefined) {
  const rows = (await daemonCall(args)({ op: 'health' })).rows;
  const alive = new Set(rows.filter((row) => row.state === 'alive').map((row) => row.node));
  return nodes.filter((node) => alive.has(node) || node === self);
}

/** Ganeti's _EpoOn: power on, then start each instance once all its nodes are reachable again. */
async function epoOn(
  args: EpoArgs,
  allNodes: string[],
  powerNodes: string[],
  instances: Map<string, Set<string>>,
  master: string | undefined,
): Promise<boolean> {
  if (powerNodes.length > 0 && !(await oobPower(args, powerNodes, true)))
    warn('Not all nodes seem to get back up, investigate and start manually if needed');
  say('Waiting until all nodes are available again');
  const up = new Set<string>();
  let ok = true;
  const deadline = Date.now() + REACHABLE_TIMEOUT_MS;
  for (;;) {
    const ready = startable(instances, up);
    if (ready.length > 0 && !(await instanceStart(args, ready, true))) ok = false;
    const down = allNodes.filter((node) => !up.has(node));
    if (down.length === 0) break;
    if (Date.now() > deadline) {
      warn(`Time exceeded while waiting for nodes to become reachable again:\n  - ${down.join('\n  - ')}`);
      warn('Please investigate and start stopped instances manually');
      return false;
    }
    const back = await reachable(args, down, master);
    for (const node of back) {
      say(`Node ${node} became available`);
      up.add(node);
    }
    if (back.length === 0) await new Promise((resolve) => setTimeout(resolve, REACHABLE_POLL_MS));
  }
  if (!ok) warn('Please investigate and start stopped instances manually');
  return ok;
}

export const epo: CommandModule<object, EpoArgs> = {
  command: 'epo [targets..]',
  describe:
    'emergency power-off of nodes (or node groups with --groups, the whole cluster with --all): stop their instances, power them off out of band; --on recovers',
  builder: (yargs) =>
    powerDelayOption(oobTimeoutOption(jobOptions(yargs)))
      .positional('targets', { type: 'string', array: true, default: [] })
      .option('on', {
        type: 'boolean',
        default: false,
        describe: 'recover from an EPO: power on, start instances',
      })
      .option('groups', { type: 'boolean', default: false, describe: 'the arguments are node groups' })
      .option('all', { type: 'boolean', default: false, describe: 'the whole cluster, master included' })
      .option('force', { alias: 'f', type: 'boolean', default: false, describe: 'do not ask first' })
      .option('shutdown-timeout', { type: 'number', describe: 'seconds each instance has to shut down' }),
  handler: async (args) => {
    const { config, masterName } = await readConfig(args);
    const plan = epoPlan(config, args.targets, args);
    for (const note of plan.notes) say(note);
    if (!args.force)
      await confirm(
        `The epo will operate on ${plan.allNodes.length} nodes: ${plan.allNodes.join(', ')}. Do you want to continue?`,
        `epo asks before it acts on ${plan.allNodes.join(', ')}: add --force (-f) to go ahead without asking`,
      );
    if (args.on) {
      if (!(await epoOn(args, plan.allNodes, plan.powerNodes, plan.instances, masterName)))
        process.exitCode = 1;
      return;
    }
    if (!(await instanceStart(args, [...plan.instances.keys()], false))) {
      warn('Please investigate and stop instances manually before continuing');
      process.exitCode = 1;
      return;
    }
    if (plan.powerNodes.length > 0 && !(await oobPower(args, plan.powerNodes, false))) process.exitCode = 1;
  },
};
