import type { JobId } from './model.js';
import type { Opcode } from './opcodes.js';
import { redacted } from './os-params.js';

/** Ganeti's job and opcode states. */
export const jobStatuses = ['queued', 'waiting', 'running', 'success', 'error', 'canceled'] as const;
export type JobStatus = (typeof jobStatuses)[number];
export type OpStatus = JobStatus;

export function isFinished(status: JobStatus): boolean {
  return status === 'success' || status === 'error' || status === 'canceled';
}

export interface JobLogEntry {
  /** Numbers every message of a job in order, so a watcher asks for what came after the last it saw. */
  readonly serial: number;
  readonly tsMs: number;
  readonly type: 'message' | 'hook';
  readonly message: string;
}

export interface OpRecord {
  readonly input: Opcode;
  readonly status: OpStatus;
  readonly result?: unknown;
  readonly startMs?: number;
  readonly endMs?: number;
}

export interface JobRecord {
  readonly id: JobId;
  /** The submitter's idempotency key: a retried submission finds its job instead of making a second. */
  readonly key: string;
  readonly status: JobStatus;
  /** Ganeti's numeric priority: -20 highest, 19 lowest, 0 normal. */
  readonly priority: number;
  readonly ops: readonly OpRecord[];
  readonly log: readonly JobLogEntry[];
  readonly receivedMs: number;
  readonly startMs?: number;
  readonly endMs?: number;
  /** Changes with every update, for watchers. */
  readonly version: number;
}

/** A job's version as submitted, before any change: a watcher that submitted it waits for more. */
export const SUBMITTED_VERSION = 1;

/** Limits on what the job table keeps, so the replicated state cannot grow without bound. */
export const MAX_OPS_PER_JOB = 64;
export const MAX_LOG_ENTRIES_PER_JOB = 1000;
export const MAX_LOG_MESSAGE_CHARS = 4096;
/** Finished jobs beyond this many are archived away, oldest first (Ganeti's autoarchive). */
export const MAX_FINISHED_JOBS = 5000;
/**
 * Archived jobs the replicated state still keeps, newest last, for `gnt-job list --archived` and `info`.
 * Ganeti keeps its archive on the master's disk; Corral has no one master's disk, so the archive is part of
 * the replicated state (the same on every node, and in the snapshots), bounded like everything that grows:
 * beyond this many, the oldest archived jobs are gone.
 */
export const MAX_ARCHIVED_JOBS = 1000;
export const MAX_PENDING_JOBS = 10_000;

/**
 * A job as it is shown to users: without its idempotency key, without secret opcode fields (an enrolment
 * code stays valid until its node joins, and job records outlive that), and with private OS parameters
 * redacted, so that what is shown is still an opcode that parses.
 */
export function shownJob({ key: _key, ...job }: JobRecord): Omit<JobRecord, 'key'> {
  return { ...job, ops: job.ops.map((op) => ({ ...op, input: shownInput(op.input) })) };
}

function shownInput(input: Opcode): Opcode {
  if (input.OP_ID === 'OP_NODE_ADD' && input.enrol_code !== undefined) {
    const { enrol_code: _secret, ...shown } = input;
    return shown;
  }
  if (input.OP_ID === 'OP_INSTANCE_MULTI_ALLOC')
    return { ...input, instances: input.instances.map((create) => withRedacted(create)) };
  if (
    input.OP_ID === 'OP_INSTANCE_CREATE' ||
    input.OP_ID === 'OP_INSTANCE_SET_PARAMS' ||
    input.OP_ID === 'OP_INSTANCE_REINSTALL'
  )
    return withRedacted(input);
  return input;
}

function withRedacted<T extends { readonly osparams_private?: Readonly<Record<string, string>> | undefined }>(
  op: T,
): T {
  return op.osparams_private === undefined ? op : { ...op, osparams_private: redacted(op.osparams_private) };
}
