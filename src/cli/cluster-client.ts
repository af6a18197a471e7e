import type { Argv } from 'yargs';
import type { Opcode } from '../cluster/opcodes.js';
import { type ConfigView, configViewSchema } from '../cluster/views.js';
import { CorralError } from '../common/errors.js';
import { callDaemon, controlSocketPath } from '../daemon/control-client.js';
import { type DaemonCall, jobFailure, priorities, submitJob, watchJob } from '../daemon/job-client.js';
import { localTime } from './local-time.js';

export interface ConnectionArgs {
  socket?: string;
  'data-dir'?: string;
  /** Ganeti's -d/--debug: how much more an error says (its code and causes; twice, the stack too). */
  debug?: number;
  /** Ganeti's --reason: added to the reason trail of every opcode the command submits. */
  reason?: string;
}

export interface JobArgs extends ConnectionArgs {
  submit: boolean;
  'dry-run': boolean;
  'print-jobid': boolean;
  priority: keyof typeof priorities;
}

/** The socket to reach, and Ganeti's options of every command (-d/--debug, --reason). */
export function connectionOptions<T>(yargs: Argv<T>) {
  return yargs
    .option('socket', { type: 'string', describe: 'control socket path' })
    .option('data-dir', { type: 'string', describe: 'the local node data dir (finds its socket)' })
    .option('debug', {
      alias: 'd',
      type: 'count',
      describe: 'say more when it fails: the error code and its causes (-dd: the stack too)',
    })
    .option('reason', {
      type: 'string',
      describe: 'why: added to the reason trail of every opcode submitted (as gnt:user)',
    });
}

/**
 * The options of a Ganeti command that reads rather than submits a job; Ganeti still takes --priority there
 * (its queries went through the job queue). Corral answers them at once, so the priority changes nothing.
 */
export function queryOptions<T>(yargs: Argv<T>) {
  return connectionOptions(yargs).option('priority', {
    choices: ['low', 'normal', 'high'] as const,
    describe: "accepted for Ganeti's command lines: Corral answers this at once, whatever the priority",
  });
}

/** Ganeti's -f/--force; what it forces is the command's own (`describe`). */
export function forceOption<T>(yargs: Argv<T>, describe: string) {
  return yargs.option('force', { alias: 'f', type: 'boolean', default: false, describe });
}

/** Ganeti's --yes-do-it (with its old spelling --ya-rly): the confirmation of a command that destroys. */
export function yesDoItOption<T>(yargs: Argv<T>, describe = 'confirm that you mean it') {
  return yargs.option('yes-do-it', { alias: 'ya-rly', type: 'boolean', default: false, describe });
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

/** What tests put in place of the daemon (a fake that answers as one would); undefined: the real socket. */
let daemonOverride: ((args: ConnectionArgs) => DaemonCall) | undefined;

/** For tests: commands call this instead of a daemon's socket, until it is set back to undefined. */
export function setDaemonCallForTests(factory: ((args: ConnectionArgs) => DaemonCall) | undefined): void {
  daemonOverride = factory;
}

export function daemonCall(args: ConnectionArgs): DaemonCall {
  if (daemonOverride !== undefined) return daemonOverride(args);
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
  const job = await submitJob(call, jobOps(args, ops), priorities[args.priority]);
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

/** Ganeti's source of a reason the user gave with --reason. */
export const USER_REASON_SOURCE = 'gnt:user';

/**
 * The opcodes as the command's options make them: marked as a dry run with --dry-run, and with --reason
 * appended to each one's reason trail as [gnt:user, TEXT, seconds].
 */
export function jobOps(
  args: Pick<JobArgs, 'dry-run' | 'reason'>,
  ops: readonly Opcode[],
  nowMs = Date.now(),
): Opcode[] {
  const reason = args.reason;
  return ops.map(
    (op) =>
      ({
        ...op,
        ...(args['dry-run'] === true && { dry_run: true }),
        ...(reason !== undefined && {
          reason: [...(op.reason ?? []), [USER_REASON_SOURCE, reason, nowMs / 1000]],
        }),
      }) as Opcode,
  );
}

/** Submits the opcodes as one job with the command's priority, dry run and reason; returns its ID. */
export function submitOps(args: JobArgs, ops: readonly Opcode[]): Promise<number> {
  return submitJob(daemonCall(args), jobOps(args, ops), priorities[args.priority]);
}

/**
 * Ganeti's way with several jobs (one per instance, as startup --all makes): all are submitted first; with
 * --submit each prints as `ID: name`, otherwise each is followed to its end in turn. Fails at the end,
 * saying which failed and why.
 */
export async function runJobs(
  args: JobArgs,
  jobs: readonly { readonly name: string; readonly ops: readonly Opcode[] }[],
): Promise<void> {
  const call = daemonCall(args);
  const submitted: { name: string; job: number }[] = [];
  for (const entry of jobs) submitted.push({ name: entry.name, job: await submitOps(args, entry.ops) });
  if (args.submit) {
    for (const { name, job } of submitted) process.stdout.write(`${job}: ${name}\n`);
    return;
  }
  if (args['print-jobid']) for (const { job } of submitted) process.stdout.write(`${job}\n`);
  process.stdout.write(`Submitted jobs ${submitted.map((entry) => entry.job).join(', ')}\n`);
  const failures: string[] = [];
  for (const { name, job } of submitted) {
    process.stdout.write(`Waiting for job ${job} for ${name} ...\n`);
    try {
      await follow(call, job);
    } catch (error) {
      failures.push(`job ${job} for ${name}: ${(error as Error).message}`);
    }
  }
  if (failures.length > 0)
    throw new CorralError(
      'conflict',
      `${failures.length} of ${jobs.length} jobs failed: ${failures.join('; ')}`,
    );
  if (args['dry-run']) process.stdout.write('Dry run: nothing was changed.\n');
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

/** Follows the jobs an opcode submitted (node migrate and evacuate make one per instance). */
export async function runAndFollowChildren(args: JobArgs, op: Opcode): Promise<void> {
  const results = await runOps(args, [op]);
  const pairs = (results?.[0] as { jobs?: [boolean, number | string][] } | undefined)?.jobs ?? [];
  const jobs = pairs.flatMap(([submitted, job]) => (submitted && typeof job === 'number' ? [job] : []));
  await followAll(daemonCall(args), jobs);
}

/** Follows the jobs one after the other; fails at the end, saying which failed and why. */
export async function followAll(call: DaemonCall, jobs: readonly number[]): Promise<void> {
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
