import { randomUUID } from 'node:crypto';
import type { JobView } from '../cluster/job-views.js';
import { isFinished, type JobStatus, SUBMITTED_VERSION } from '../cluster/jobs.js';
import type { Opcode } from '../cluster/opcodes.js';
import { CorralError, isErrorCode } from '../common/errors.js';
import type { ControlRequest } from './control-protocol.js';
import type { ControlResponse } from './control-replies.js';

/** Calls one daemon's control socket. */
export type DaemonCall = <R extends ControlRequest>(request: R) => Promise<ControlResponse<R['op']>>;

/**
 * How long one wait for a job's next change lasts before the follower asks again: a long poll, not a deadline,
 * short enough that a follower notices a daemon that went away.
 */
export const JOB_WAIT_POLL_MS = 10_000;

/** Ganeti's priorities by name. */
export const priorities = { low: 10, normal: 0, high: -10 } as const;

/** Submits a job through the local daemon (which forwards to the master) and returns its ID. */
export async function submitJob(
  call: DaemonCall,
  ops: readonly Opcode[],
  priority: number = priorities.normal,
): Promise<number> {
  const response = await call({
    op: 'master',
    request: { op: 'submit', key: randomUUID(), priority, ops: [...ops] },
  });
  if (!('job' in response))
    throw new CorralError('internal', 'the master answered a submission without a job ID');
  return response.job;
}

/**
 * Follows a job until it ends, handing every new log message to `onLog`. It reads the local daemon's
 * replica, which keeps applying across a master change, so the watch survives a failover.
 */
export async function watchJob(
  call: DaemonCall,
  job: number,
  onLog: (entry: JobView['log'][number]) => void = () => undefined,
  onChange: (view: JobView) => void = () => undefined,
  /** The version already known: the first answer comes once the job has moved past it. */
  knownVersion = -1,
): Promise<JobView> {
  // Loaded here, not with the module: the opcodes' schema in it is a tenth of a read-only command's start-up.
  const { jobViewSchema } = await import('../cluster/job-views.js');
  let version = knownVersion;
  let logged = 0;
  for (;;) {
    const response = await call({ op: 'job-wait', job, afterVersion: version, waitMs: JOB_WAIT_POLL_MS });
    const view = jobViewSchema.parse(response.job);
    for (const entry of view.log) {
      if (entry.serial > logged) {
        onLog(entry);
        logged = entry.serial;
      }
    }
    if (view.version !== version) onChange(view);
    version = view.version;
    if (isFinished(view.status)) return view;
  }
}

/** What jobFailure reads of a job: a record as the replica keeps it, or a view as the CLI gets it. */
interface EndedJob {
  readonly id: number;
  readonly status: JobStatus;
  readonly ops: readonly { readonly status: JobStatus; readonly result?: unknown }[];
}

/** The error a failed job ended with, as the CLI reports it. */
export function jobFailure(view: EndedJob): CorralError | undefined {
  if (view.status === 'success') return undefined;
  if (view.status === 'canceled') return new CorralError('aborted', `job ${view.id} was canceled`);
  const failed = view.ops.find((op) => op.status === 'error');
  const result = failed?.result as { code?: unknown; message?: unknown } | undefined;
  const code = isErrorCode(result?.code) ? result.code : 'internal';
  const message = typeof result?.message === 'string' ? result.message : `job ${view.id} failed`;
  return new CorralError(code, message);
}

/** Submits, follows to the end, and throws the job's error if it failed. */
export async function runJob(
  call: DaemonCall,
  ops: readonly Opcode[],
  onLog?: (entry: JobView['log'][number]) => void,
): Promise<JobView> {
  // Just submitted, the job has no log yet: the first wait is for its first change.
  const view = await watchJob(call, await submitJob(call, ops), onLog, undefined, SUBMITTED_VERSION);
  const failure = jobFailure(view);
  if (failure !== undefined) throw failure;
  return view;
}
