import type { Argv } from 'yargs';
import type { Opcode } from '../cluster/opcodes.js';
import { type ConfigView, configViewSchema } from '../cluster/views.js';
import { CorralError } from '../common/errors.js';
import { callDaemon, controlSocketPath } from '../daemon/control-client.js';
import { type DaemonCall, jobFailure, priorities, submitJob, watchJob } from '../daemon/job-client.js';
import { localTime } from './fields.js';

export interface ConnectionArgs {
  socket?: string;
  'data-dir'?: string;
}

export interface JobArgs extends ConnectionArgs {
  submit: boolean;
  'dry-run': boolean;
  'print-jobid': boolean;
  priority: keyof typeof priorities;
}

export function connectionOptions<T>(yargs: Argv<T>) {
  return yargs
    .option('socket', { type: 'string', describe: 'control socket path' })
    .option('data-dir', { type: 'string', describe: 'the local node data dir (finds its socket)' });
}

/** Ganeti's options of every job-submitting command. */
export function jobOptions<T>(yargs: Argv<T>) {
  return connectionOptions(yargs)
    .option('submit', { type: 'boolean', default: false, describe: 'print the job ID and return at once' })
    .option('print-jobid', {
      type: 'boolean',
      default: false,
      describe: 'print the job ID first (for scripts)',
    })
    .option('priority', { choices: ['low', 'normal', 'high'] as const, default: 'normal' as const })
    .option('dry-run', {
      type: 'boolean',
      default: false,
      describe: 'run every check and change nothing; say how far it went',
    });
}

export function daemonCall(args: ConnectionArgs): DaemonCall {
  const path = controlSocketPath({ socket: args.socket, dataDir: args['data-dir'] });
  return (request) => callDaemon(path, request);
}

/** Ganeti's yes/no option values. */
export function yesNo(value: string | undefined, option: string): boolean | undefined {
  if (value === undefined) return undefined;
  if (value === 'yes') return true;
  if (value === 'no') return false;
  throw new CorralError('bad_request', `--${option} takes yes or no, not ${value}`);
}

/**
 * Submits the opcodes as one job. With --submit it prints the job ID and returns; otherwise it follows the
 * job's log to the end (a spinner shows its state on a terminal) and fails as the job failed.
 */
export async function runOps(args: JobArgs, ops: readonly Opcode[]): Promise<unknown[] | undefined> {
  const call = daemonCall(args);
  const dryRun = args['dry-run'] === true;
  const submitted = dryRun ? ops.map((op) => ({ ...op, dry_run: true })) : ops;
  const job = await submitJob(call, submitted, priorities[args.priority]);
  if (args.submit) {
    process.stdout.write(`JobID: ${job}\n`);
    return undefined;
  }
  if (args['print-jobid']) process.stdout.write(`${job}\n`);
  const results = await follow(call, job);
  if (!dryRun) return results;
  // What the command would print after a change did not happen: the job's log has said how far it went.
  process.stdout.write('Dry run: nothing was changed.\n');
  return undefined;
}

/** Follows a job to its end, printing its log; returns each opcode's result. */
export async function follow(call: DaemonCall, job: number): Promise<unknown[]> {
  // Loaded only for a terminal that shows it: ora and its dependencies are a seventh of a call's start-up.
  const spinner = process.stderr.isTTY
    ? (await import('ora')).default({ text: `job ${job} queued`, stream: process.stderr }).start()
    : undefined;
  try {
    const view = await watchJob(
      call,
      job,
      (entry) => {
        const line = `${localTime(entry.tsMs)} ${entry.message}`;
        if (spinner) spinner.clear();
        process.stdout.write(`${line}\n`);
        spinner?.render();
      },
      (current) => {
        if (spinner) spinner.text = `job ${job} ${current.status}`;
      },
    );
    const failure = jobFailure(view);
    if (failure !== undefined) throw failure;
    return view.ops.map((op) => op.result);
  } finally {
    spinner?.stop();
  }
}

/**
 * The configuration for read-only commands: confirmed by the master when there is one, else this node's
 * replica, with a warning of its age on stderr (never silently shown as fresh).
 */
export async function readConfig(
  args: ConnectionArgs,
): Promise<{ config: ConfigView; masterName: string | undefined }> {
  const response = await daemonCall(args)({ op: 'config', consistent: true });
  if (response.config === undefined) {
    throw new CorralError(
      'unavailable',
      'this node belongs to no cluster yet: run cluster init, or node add on the master',
    );
  }
  const config = configViewSchema.parse(response.config);
  if (response.staleMs !== undefined) {
    process.stderr.write(
      `warning: the cluster has no master; showing this node's copy, which may be ${Math.round(response.staleMs / 1000)} s old\n`,
    );
  }
  const master = response.master ?? config.master;
  return { config, masterName: config.nodes.find((node) => node.id === master)?.name };
}
